package formats

// Reading a dataset Shoal wrote (package txlog): its latest manifest names
// the files, their schema and row counts, so nothing is listed or opened
// to plan the read; Parquet footers are read only once a read is planned
// into tasks, and only for the files it may need.

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/txlog"
)

// loggedDataset is a logged dataset a Source reads: its URL, for errors,
// and latest manifest.
type loggedDataset struct {
	url string
	m   *txlog.Manifest
}

// deferredInspect holds what inspecting logged Parquet files learned (row
// groups and their statistics). A file is inspected when a read is first
// planned into tasks that need it, not before: Schema and NumRows need
// only the manifest, and files that a Where or a limit rules out by the
// manifest alone are never opened.
type deferredInspect struct {
	ctx   context.Context // NewSource's
	mu    sync.Mutex
	metas map[*sourceFile]*FileMeta
}

// addSnapshot adds the committed files of a logged dataset. When the
// reader reads the dataset's format, the manifest gives each file's schema
// and row count, so nothing is inspected now; text and binary readers read
// the files as they read any.
func (s *Source) addSnapshot(fs storage.FileSystem, snap *txlog.Snapshot) error {
	m := snap.Manifest
	own := s.opts.Reader.Format() == m.Format
	switch s.opts.Reader.Format() {
	case "parquet", "csv", "json":
		if !own {
			return fmt.Errorf("%s is a %s dataset (says its log, version %d); read it as %s",
				fs.URL(snap.Root), m.Format, m.Version, m.Format)
		}
	}
	if own {
		s.logs = append(s.logs, loggedDataset{fs.URL(snap.Root), m})
	}
	fileSchema := m.FileSchema()
	for i, info := range snap.Files {
		f := &sourceFile{fs: fs, info: info}
		if own {
			f.meta, f.logged = &FileMeta{Schema: fileSchema, Rows: snap.Rows[i]}, true
		}
		s.files = append(s.files, f)
		s.bytes += info.Size
	}
	return nil
}

// meta is what is known of f: its inspection's result, deferred or not.
func (s *Source) meta(f *sourceFile) *FileMeta {
	if f.logged && s.deferred != nil {
		s.deferred.mu.Lock()
		defer s.deferred.mu.Unlock()
		if m := s.deferred.metas[f]; m != nil {
			return m
		}
	}
	return f.meta
}

// inspectDeferred inspects the logged Parquet files this read may need
// and that are not inspected yet: those the filter does not rule out by
// partition values, up to the limit's rows.
func (s *Source) inspectDeferred() error {
	if _, ok := s.opts.Reader.(*ParquetFormat); !ok {
		return nil
	}
	var todo []*sourceFile
	var rows int64
	for _, f := range s.files {
		if s.limit >= 0 && rows >= s.limit {
			break
		}
		if !s.filter.IsZero() && !s.filter.MayMatch(s.fileStats(f, nil)) {
			continue
		}
		meta := s.meta(f)
		rows += max(meta.Rows, 0)
		// A file of no columns keeps its row count in the manifest only
		// (Parquet writers record none): its manifest entry stands.
		if f.logged && meta == f.meta && f.meta.Schema.NumFields() > 0 {
			todo = append(todo, f)
		}
	}
	metas := make([]*FileMeta, len(todo))
	if err := s.inspectFiles(s.deferred.ctx, todo, metas); err != nil {
		return err
	}
	s.deferred.mu.Lock()
	defer s.deferred.mu.Unlock()
	for i, f := range todo {
		s.deferred.metas[f] = metas[i]
	}
	return nil
}

// loggedPartitions are the partition columns that logged datasets declare
// and no file's path shows (a dataset of no rows has no partition
// directories): typed as a path would type them, int64 for integers.
func (s *Source) loggedPartitions(seen map[string]bool) []arrow.Field {
	var out []arrow.Field
	for _, l := range s.logs {
		for _, c := range l.m.PartitionBy {
			if seen[c] {
				continue
			}
			seen[c] = true
			typ := arrow.DataType(arrow.BinaryTypes.String)
			if idx := l.m.Schema.FieldIndices(c); len(idx) > 0 && arrow.IsInteger(l.m.Schema.Field(idx[0]).Type.ID()) {
				typ = arrow.PrimitiveTypes.Int64
			}
			out = append(out, arrow.Field{Name: c, Type: typ, Nullable: true})
		}
	}
	return out
}
