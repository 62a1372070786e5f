package formats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"golang.org/x/sync/errgroup"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/io/txlog"
	"github.com/shoal-data/shoal/ops"
)

// Commit makes the write the dataset's new version: it creates the next
// manifest in the log, naming the files written (Append: with those of the
// latest version; Overwrite: alone). A write of no rows first writes one
// empty file that keeps the schema. Nothing is renamed or copied. After an
// Overwrite, the files the new version replaced are removed; a failure to
// remove them is a warning (they are garbage no reader sees).
func (s *Sink) Commit(ctx context.Context, results []ops.WriteResult) error {
	if s.inFlight == nil {
		return fmt.Errorf("%s: Commit without Start", s.Operation())
	}
	schema, err := s.writeSchema(results)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Operation(), err)
	}
	var files []txlog.File
	for _, r := range results {
		for i, f := range r.Files {
			tf := txlog.File{Path: f, Rows: -1, Bytes: -1}
			if i < len(r.FileRows) && i < len(r.FileBytes) {
				tf.Rows, tf.Bytes = r.FileRows[i], r.FileBytes[i]
			}
			files = append(files, tf)
		}
	}
	if len(files) == 0 {
		f, err := s.writeEmpty(ctx, schema)
		if err != nil {
			return err
		}
		files = []txlog.File{f}
	}
	if err := s.inFlight.Alive(ctx); err != nil {
		return fmt.Errorf("%s: %w", s.Operation(), err)
	}
	_, err = txlog.Commit(ctx, s.fs, s.dir, func(prev *txlog.Manifest) (*txlog.Manifest, error) {
		m := &txlog.Manifest{Format: s.format, Schema: schema, PartitionBy: s.opts.PartitionBy,
			Files: files, WriteID: s.opts.WriteID, Mode: s.opts.Mode.String()}
		switch {
		case prev == nil && s.opts.Mode == Append:
			theirs, theirSchema, err := s.adopt(ctx)
			if err != nil {
				return nil, err
			}
			return s.appendTo(m, theirs, theirSchema, "the files already in the directory")
		case prev == nil || s.opts.Mode == Overwrite:
			return m, nil
		case s.opts.Mode == ErrorIfExists && len(prev.Files) > 0:
			return nil, fmt.Errorf("write %s: another write committed %d files meanwhile (version %d); choose Overwrite or Append",
				s.fs.URL(s.dir), len(prev.Files), prev.Version)
		case s.opts.Mode == ErrorIfExists:
			return m, nil
		}
		if prev.Format != s.format {
			return nil, fmt.Errorf("append to %s: the dataset is %s, this write %s", s.fs.URL(s.dir), prev.Format, s.format)
		}
		if prev.Rows() != 0 && !slices.Equal(prev.PartitionBy, s.opts.PartitionBy) {
			return nil, fmt.Errorf("append to %s: the dataset is partitioned by %v, this write by %v",
				s.fs.URL(s.dir), prev.PartitionBy, s.opts.PartitionBy)
		}
		return s.appendTo(m, prev.Files, prev.Schema, fmt.Sprintf("version %d of the dataset", prev.Version))
	})
	if err != nil {
		if errors.Is(err, txlog.ErrOutcomeUnknown) {
			s.keepFiles = true
		}
		return fmt.Errorf("%s: %w", s.Operation(), err)
	}
	if err := s.inFlight.End(ctx); err != nil {
		s.warn(err)
	}
	s.inFlight = nil
	if s.opts.Mode == Overwrite {
		s.clean(ctx, true)
	}
	return nil
}

// appendTo puts the files of a snapshot (or adopted files) before m's and
// unifies the schemas; a column of two types is an error naming both.
func (s *Sink) appendTo(m *txlog.Manifest, files []txlog.File, schema *arrow.Schema, what string) (*txlog.Manifest, error) {
	if len(files) == 0 {
		return m, nil
	}
	m.Files = append(slices.Clip(files), m.Files...)
	if schema == nil || schema.Equal(m.Schema) {
		return m, nil
	}
	unified, err := blocks.UnifySchemas(schema, m.Schema)
	var conflict *blocks.SchemaConflictError
	if errors.As(err, &conflict) {
		return nil, fmt.Errorf("append to %s: column %q is %s in %s but %s in this write",
			s.fs.URL(s.dir), conflict.Column, conflict.A, what, conflict.B)
	}
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", s.fs.URL(s.dir), err)
	}
	m.Schema = unified
	return m, nil
}

// writeSchema is the schema the blocks had (unified, should they differ),
// else SinkOptions.Schema, else no columns.
func (s *Sink) writeSchema(results []ops.WriteResult) (*arrow.Schema, error) {
	var schema *arrow.Schema
	for _, r := range results {
		switch {
		case r.Schema == nil || schema != nil && r.Schema.Equal(schema):
		case schema == nil:
			schema = r.Schema
		default:
			u, err := blocks.UnifySchemas(schema, r.Schema)
			if err != nil {
				return nil, fmt.Errorf("the blocks' schemas differ: %w", err)
			}
			schema = u
		}
	}
	if schema == nil {
		schema = s.opts.Schema
	}
	if schema == nil {
		schema = arrow.NewSchema(nil, nil)
	}
	return schema, nil
}

// writeEmpty writes the one file of a write with no rows: the format's
// empty file for the schema's columns (a Parquet file with no row groups, a
// CSV header), so that other engines see the columns too.
func (s *Sink) writeEmpty(ctx context.Context, schema *arrow.Schema) (txlog.File, error) {
	var fields []arrow.Field
	for _, f := range schema.Fields() {
		if !contains(s.opts.PartitionBy, f.Name) {
			fields = append(fields, f)
		}
	}
	md := schema.Metadata()
	name := txlog.DataFileName(s.opts.WriteID, 0, s.opts.Encoder.Ext())
	n, err := s.encodeFile(ctx, name, arrow.NewSchema(fields, &md), nil)
	if err != nil {
		return txlog.File{}, err
	}
	return txlog.File{Path: name, Rows: 0, Bytes: n}, nil
}

// adopt lists the files a first logged Append finds in the directory (from
// before the log, or another tool's) of this format, so that the snapshot
// keeps them: nothing the user had disappears from Shoal's view. Their
// rows and schema come from inspecting each, where the encoder reads its
// format too.
func (s *Sink) adopt(ctx context.Context) ([]txlog.File, *arrow.Schema, error) {
	found, err := txlog.Unlogged(ctx, s.fs, s.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.Operation(), err)
	}
	exts := []string{strings.ToLower(s.opts.Encoder.Ext())}
	if e, ok := s.opts.Encoder.(Extensions); ok {
		exts = e.Extensions()
	}
	var files []txlog.File
	for _, f := range found {
		if ext := strings.ToLower(fileExt(f.Path)); ext == "" || slices.Contains(exts, ext) {
			files = append(files, f)
		}
	}
	reader, ok := s.opts.Encoder.(Reader)
	if !ok || len(files) == 0 {
		return files, nil, nil
	}
	schemas := make([]*arrow.Schema, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range files {
		g.Go(func() error {
			path := s.fs.Join(s.dir, files[i].Path)
			file, err := s.fs.Open(gctx, path)
			if err != nil {
				return err
			}
			defer file.Close()
			meta, err := reader.Inspect(gctx, file)
			if err != nil {
				return withFile(err, s.fs.URL(path))
			}
			files[i].Rows, schemas[i] = meta.Rows, meta.Schema
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, fmt.Errorf("append to %s: reading the files already there: %w", s.fs.URL(s.dir), err)
	}
	schema, err := blocks.UnifySchemas(schemas...)
	if err != nil {
		return nil, nil, fmt.Errorf("append to %s: the files already there disagree: %w", s.fs.URL(s.dir), err)
	}
	return files, schema, nil
}
