package formats

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/ops"
)

// ReadKind is the ops read kind of a Source's read tasks: BuildRead of
// their spec rebuilds, in another process, the same read of the same parts
// of the same files.
//
// A read task has a spec when everything it needs is data: the files are
// on the local filesystem (which the other process must see at the same
// paths: a shared mount, or the same node) or on S3 configured by options
// alone (no HTTPClient, and no explicit keys: credentials do not travel in
// specs, so the other process uses its own credential chain); the format
// is Parquet, CSV, JSON lines, text or binary with its options (a CSV or
// JSON BadRows counter stays in the driver, so with one set the reads do
// not ship). The files are not inspected again: each file's schema, row
// count and row group count travel with the task, so every process decodes
// them to the same types (Parquet also checks the row group count).
const ReadKind = "formats.files"

func init() { ops.RegisterRead(ReadKind, buildRead) }

// formatArgs describe a format and its options (for reading or writing).
type formatArgs struct {
	Format  string          `json:"format"`
	Options json.RawMessage `json:"options,omitempty"`
	// Columns holds CSVOptions.Columns or JSONOptions.Columns as a schema:
	// Arrow types are not JSON values.
	Columns []byte `json:"columns,omitempty"`
}

// encodeFormat describes f, false when it cannot travel: a format of
// another package, or a CSV or JSON format with a BadRows counter (which
// stays in this process).
func encodeFormat(f any) (formatArgs, bool) {
	var a formatArgs
	var columns map[string]arrow.DataType
	var opts any
	switch r := f.(type) {
	case *ParquetFormat:
		a.Format, opts = "parquet", r.opts
	case *CSVFormat:
		if r.o.BadRows != nil {
			return a, false
		}
		o := r.o
		columns, o.Columns = o.Columns, nil
		a.Format, opts = "csv", o
	case *JSONFormat:
		if r.o.BadRows != nil {
			return a, false
		}
		o := r.o
		columns, o.Columns = o.Columns, nil
		a.Format, opts = "json", o
	case *TextFormat:
		a.Format, opts = "text", r.o
	case *BinaryFormat:
		a.Format = "binary"
	default:
		return a, false
	}
	if opts != nil {
		data, err := json.Marshal(opts)
		if err != nil {
			return a, false
		}
		a.Options = data
	}
	if columns != nil {
		fields := make([]arrow.Field, 0, len(columns))
		for name, t := range columns {
			fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: true})
		}
		enc, err := ops.MarshalSchema(arrow.NewSchema(fields, nil))
		if err != nil {
			return a, false
		}
		a.Columns = enc
	}
	return a, true
}

// s3Args are the S3 options of st when they can travel (no explicit keys,
// no HTTP client: the other process uses its own credential chain), nil
// otherwise; custom reports a filesystem other than the local one, which
// cannot travel at all.
func s3Args(st storage.Config) (s3 *storage.S3Options, custom bool) {
	if st.FileSystem != nil {
		_, local := st.FileSystem.(storage.Local)
		return nil, !local
	}
	if st.S3.HTTPClient != nil || st.S3.AccessKeyID != "" || st.S3.SecretAccessKey != "" {
		return nil, false
	}
	o := st.S3
	return &o, false
}

type readArgs struct {
	formatArgs
	S3        *storage.S3Options `json:"s3,omitempty"`
	FileTypes []byte             `json:"file_types"`
	Out       []byte             `json:"out"`
	PartCols  []string           `json:"part_cols,omitempty"`
	// Filter is the source's exact filter (ops.MarshalExpr), FilterCols
	// the columns only it reads.
	Filter     []byte `json:"filter,omitempty"`
	FilterCols []byte `json:"filter_cols,omitempty"`
	// DictCols are the columns read dictionary-encoded where stored so.
	DictCols  []string   `json:"dict_cols,omitempty"`
	BatchRows int        `json:"batch_rows,omitempty"`
	Limit     int64      `json:"limit"`
	Files     []fileArgs `json:"files"`
	Units     [][2]int   `json:"units"` // file index, unit index (-1: whole file)
	// Ranges are the byte ranges of the units, index by index, when any
	// unit is one ([0, 0]: the whole unit).
	Ranges [][2]int64 `json:"ranges,omitempty"`
}

type fileArgs struct {
	URL    string           `json:"url"`
	Info   storage.FileInfo `json:"info"`
	Schema []byte           `json:"schema"`
	Rows   int64            `json:"rows"`
	Units  int              `json:"units,omitempty"`
	// Parts are the file's partition values; a nil value is null.
	Parts map[string]*partValue `json:"parts,omitempty"`
	// Logged says Rows comes from a dataset's manifest: exact, even for a
	// file whose format cannot record it.
	Logged bool `json:"logged,omitempty"`
	// DataStart is FileMeta.DataStart, which range reads need.
	DataStart int64 `json:"data_start,omitempty"`
}

// partValue keeps a partition value's type (int64 or string), which a JSON
// number would lose.
type partValue struct {
	Int *int64  `json:"int,omitempty"`
	Str *string `json:"str,omitempty"`
}

// specEncoder encodes what the read tasks of one ReadTasks call share, once.
type specEncoder struct {
	base    *readArgs // nil: the source's tasks do not ship
	schemas map[*sourceFile][]byte
	meta    func(*sourceFile) *FileMeta
}

// newSpecEncoder describes the source as far as its tasks share it, or
// returns an encoder that gives no specs when the source cannot ship.
func (s *Source) newSpecEncoder() *specEncoder {
	enc := &specEncoder{schemas: map[*sourceFile][]byte{}, meta: s.meta}
	a, ok := s.baseArgs()
	if ok {
		enc.base = a
	}
	return enc
}

func (s *Source) baseArgs() (*readArgs, bool) {
	a := &readArgs{BatchRows: s.opts.BatchRows, Limit: s.limit, DictCols: s.dictCols}
	f, ok := encodeFormat(s.opts.Reader)
	if !ok {
		return nil, false
	}
	a.formatArgs = f
	s3, custom := s3Args(s.opts.Storage)
	if custom {
		return nil, false
	}
	a.S3 = s3
	var err error
	if a.FileTypes, err = ops.MarshalSchema(s.fileTypes); err != nil {
		return nil, false
	}
	if a.Out, err = ops.MarshalSchema(s.out); err != nil {
		return nil, false
	}
	for c := range s.partCols {
		a.PartCols = append(a.PartCols, c)
	}
	if !s.filter.IsZero() {
		if a.Filter, err = ops.MarshalExpr(s.filter); err != nil {
			return nil, false
		}
		if a.FilterCols, err = ops.MarshalSchema(arrow.NewSchema(s.filterFields, nil)); err != nil {
			return nil, false
		}
	}
	return a, true
}

// spec describes the read of units, or is nil.
func (enc *specEncoder) spec(units []readUnit) *ops.Spec {
	if enc.base == nil {
		return nil
	}
	a := *enc.base
	index := map[*sourceFile]int{}
	for _, u := range units {
		k, ok := index[u.file]
		if !ok {
			f, ok := enc.file(u.file, a.S3 != nil)
			if !ok {
				return nil
			}
			k = len(a.Files)
			index[u.file] = k
			a.Files = append(a.Files, f)
		}
		a.Units = append(a.Units, [2]int{k, u.index})
		if u.rng.End > 0 && a.Ranges == nil {
			a.Ranges = make([][2]int64, len(a.Units)-1, len(units))
		}
		if a.Ranges != nil {
			a.Ranges = append(a.Ranges, [2]int64{u.rng.Start, u.rng.End})
		}
	}
	spec, err := ops.NewSpec(ReadKind, a)
	if err != nil {
		return nil
	}
	return spec
}

func (enc *specEncoder) file(f *sourceFile, s3OK bool) (fileArgs, bool) {
	meta := enc.meta(f)
	fa := fileArgs{Info: f.info, Rows: meta.Rows, Units: len(meta.Units), Logged: f.logged, DataStart: meta.DataStart}
	switch fs := f.fs.(type) {
	case storage.Local:
		// An absolute path means the same file whatever the worker's
		// working directory.
		abs, err := filepath.Abs(f.info.Path)
		if err != nil {
			return fa, false
		}
		fa.URL, fa.Info.Path = "file://"+abs, abs
	default:
		// Filesystems from storage.Resolve only: a custom one stops the
		// source from shipping before this.
		if fs.Scheme() != "s3" || !s3OK {
			return fa, false
		}
		fa.URL = fs.URL(f.info.Path)
	}
	schema, ok := enc.schemas[f]
	if !ok {
		var err error
		if schema, err = ops.MarshalSchema(meta.Schema); err != nil {
			return fa, false
		}
		enc.schemas[f] = schema
	}
	fa.Schema = schema
	if len(f.parts) > 0 {
		fa.Parts = map[string]*partValue{}
		for k, v := range f.parts {
			switch x := v.(type) {
			case nil:
				fa.Parts[k] = nil
			case int64:
				fa.Parts[k] = &partValue{Int: &x}
			case string:
				fa.Parts[k] = &partValue{Str: &x}
			default:
				return fa, false
			}
		}
	}
	return fa, true
}

// buildRead rebuilds the Source a spec describes, as far as reading needs
// it, and reads the units with the Source's own code.
func buildRead(data json.RawMessage) (ops.ReadFunc, error) {
	var a readArgs
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decoding arguments: %w", err)
	}
	reader, err := readerFor(a)
	if err != nil {
		return nil, err
	}
	s := &Source{opts: SourceOptions{Reader: reader, BatchRows: a.BatchRows}, limit: a.Limit, partCols: map[string]bool{}, dictCols: a.DictCols}
	if s.fileTypes, err = ops.UnmarshalSchema(a.FileTypes); err != nil {
		return nil, err
	}
	out, err := ops.UnmarshalSchema(a.Out)
	if err != nil {
		return nil, err
	}
	if s.fileTypes == nil || out == nil {
		return nil, fmt.Errorf("a read without schemas")
	}
	for _, c := range a.PartCols {
		s.partCols[c] = true
	}
	s.setOut(out)
	if len(a.Filter) > 0 {
		if s.filter, err = ops.UnmarshalExpr(a.Filter); err != nil {
			return nil, fmt.Errorf("decoding the filter: %w", err)
		}
		fc, err := ops.UnmarshalSchema(a.FilterCols)
		if err != nil {
			return nil, fmt.Errorf("decoding the filter's columns: %w", err)
		}
		if fc != nil {
			s.filterFields = fc.Fields()
		}
		s.setReadOut()
	}
	cfg := storage.Config{}
	if a.S3 != nil {
		cfg.S3 = *a.S3
	}
	files := make([]*sourceFile, len(a.Files))
	for i, fa := range a.Files {
		f := &sourceFile{info: fa.Info, meta: &FileMeta{Rows: fa.Rows, DataStart: fa.DataStart}, logged: fa.Logged}
		if f.meta.Schema, err = ops.UnmarshalSchema(fa.Schema); err != nil {
			return nil, err
		}
		if f.meta.Schema == nil {
			return nil, fmt.Errorf("%s: no schema", fa.URL)
		}
		if fa.Units > 0 {
			f.meta.Units = make([]Unit, fa.Units)
		}
		// Resolving needs no I/O for local paths; for S3 it builds (or
		// reuses) the client.
		if f.fs, _, err = storage.Resolve(context.Background(), fa.URL, cfg); err != nil {
			return nil, err
		}
		f.parts = map[string]any{}
		for k, v := range fa.Parts {
			switch {
			case v == nil:
				f.parts[k] = nil
			case v.Int != nil:
				f.parts[k] = *v.Int
			case v.Str != nil:
				f.parts[k] = *v.Str
			default:
				f.parts[k] = nil
			}
		}
		files[i] = f
	}
	units := make([]readUnit, len(a.Units))
	for i, u := range a.Units {
		if u[0] < 0 || u[0] >= len(files) {
			return nil, fmt.Errorf("unit %d names file %d of %d", i, u[0], len(files))
		}
		units[i] = readUnit{file: files[u[0]], index: u[1]}
		if i < len(a.Ranges) {
			units[i].rng = ByteRange{a.Ranges[i][0], a.Ranges[i][1]}
		}
	}
	return func(tc *exec.TaskContext) ([]blocks.Block, error) {
		return s.read(tc, units)
	}, nil
}

// readerFor rebuilds the format with its options.
func readerFor(a readArgs) (Reader, error) {
	var columns map[string]arrow.DataType
	if len(a.Columns) > 0 {
		schema, err := ops.UnmarshalSchema(a.Columns)
		if err != nil {
			return nil, err
		}
		columns = map[string]arrow.DataType{}
		for _, f := range schema.Fields() {
			columns[f.Name] = f.Type
		}
	}
	switch a.Format {
	case "parquet":
		var o ParquetOptions
		if err := json.Unmarshal(a.Options, &o); err != nil {
			return nil, fmt.Errorf("parquet options: %w", err)
		}
		return Parquet(o), nil
	case "csv":
		var o CSVOptions
		if err := json.Unmarshal(a.Options, &o); err != nil {
			return nil, fmt.Errorf("csv options: %w", err)
		}
		o.Columns = columns
		return CSV(o), nil
	case "json":
		var o JSONOptions
		if err := json.Unmarshal(a.Options, &o); err != nil {
			return nil, fmt.Errorf("json options: %w", err)
		}
		o.Columns = columns
		return JSON(o), nil
	case "text":
		var o TextOptions
		if len(a.Options) > 0 {
			if err := json.Unmarshal(a.Options, &o); err != nil {
				return nil, fmt.Errorf("text options: %w", err)
			}
		}
		return TextWith(o), nil
	case "binary":
		return Binary(), nil
	}
	return nil, fmt.Errorf("unknown format %q", a.Format)
}
