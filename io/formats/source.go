package formats

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/txlog"
	"github.com/shoal-data/shoal/ops"
)

// SourceOptions configures a file Source.
type SourceOptions struct {
	// Paths are files, directories (read recursively) and globs, local or s3://.
	Paths []string
	// Reader decodes the format.
	Reader Reader
	// Storage says how to reach the stores.
	Storage storage.Config
	// Schema, when set, replaces the schema inferred from the files; CSV and
	// JSON columns are decoded to its types.
	Schema *arrow.Schema
	// NoPartitioning turns off hive partitioning: by default "key=value"
	// directories in a file's path become columns.
	NoPartitioning bool
	// InspectConcurrency bounds how many files are inspected at once while
	// planning (default 16).
	InspectConcurrency int
	// MinTaskBytes is the least a read task reads, so many small files share
	// a task (default 4 MiB).
	MinTaskBytes int64
	// BatchRows is the target block size in rows (default DefaultBatchRows).
	BatchRows int
}

// Source is a Datasource over files of one format. It implements limit,
// projection and predicate pushdown: ops.LimitedDatasource,
// ops.ProjectableDatasource and ops.FilterableDatasource.
type Source struct {
	opts      SourceOptions
	files     []*sourceFile
	logs      []loggedDataset  // the logged datasets read
	deferred  *deferredInspect // shared by copies (WithLimit...)
	fileTypes *arrow.Schema    // unified schema of the files' own columns
	full      *arrow.Schema    // fileTypes plus the partition columns
	partCols  map[string]bool
	columns   []string // projection; nil reads all
	out       *arrow.Schema
	outFiles  *arrow.Schema // out without the partition columns: what files supply
	filter    ops.Expr      // exact: rows it rules out are dropped (source_filter.go)
	// filterFields are the columns only the filter reads; readOut and
	// readOutFiles are out and outFiles with them added: what a read
	// decodes before the filter runs.
	filterFields []arrow.Field
	readOut      *arrow.Schema
	readOutFiles *arrow.Schema
	limit        int64 // negative: none
	// dictCols are string columns the consumer takes dictionary-encoded
	// (WithDictionaryColumns).
	dictCols []string
	bytes    int64
}

type sourceFile struct {
	fs    storage.FileSystem
	info  storage.FileInfo
	meta  *FileMeta
	parts map[string]any // partition values: int64, string or nil
	// logged: meta comes from a dataset's manifest (schema and exact
	// rows), not from inspecting the file.
	logged bool
}

var (
	_ ops.LimitedDatasource     = (*Source)(nil)
	_ ops.ProjectableDatasource = (*Source)(nil)
	_ ops.FilterableDatasource  = (*Source)(nil)
)

// NewSource lists the files, inspects each (footers, headers) and unifies
// their schemas. Files whose schemas cannot be unified give an error that
// names both files, the column and both types. A dataset Shoal wrote is
// read as its latest manifest's files (package txlog), whose schema and
// row counts come from the manifest: its Parquet footers are read later,
// under ctx too, when the read is first planned into tasks.
func NewSource(ctx context.Context, o SourceOptions) (*Source, error) {
	if o.Reader == nil {
		return nil, errors.New("formats: source without a reader")
	}
	if len(o.Paths) == 0 {
		return nil, errors.New("formats: no paths to read")
	}
	if o.InspectConcurrency <= 0 {
		o.InspectConcurrency = 16
	}
	if o.MinTaskBytes <= 0 {
		o.MinTaskBytes = 4 << 20
	}
	s := &Source{opts: o, limit: -1, deferred: &deferredInspect{ctx: ctx, metas: map[*sourceFile]*FileMeta{}}}
	for _, p := range o.Paths {
		fs, path, err := storage.Resolve(ctx, p, o.Storage)
		if err != nil {
			return nil, err
		}
		snap, err := txlog.Open(ctx, fs, path)
		if err != nil {
			return nil, err
		}
		if snap != nil {
			if err := s.addSnapshot(fs, snap); err != nil {
				return nil, err
			}
			continue
		}
		infos, err := storage.Expand(ctx, fs, []string{path})
		if err != nil {
			return nil, err
		}
		if infos, err = keepExtensions(o.Reader, fs.URL(path), path, infos); err != nil {
			return nil, err
		}
		for _, info := range infos {
			s.files = append(s.files, &sourceFile{fs: fs, info: info})
			s.bytes += info.Size
		}
	}
	if err := s.inspect(ctx); err != nil {
		return nil, err
	}
	if err := s.unify(); err != nil {
		return nil, err
	}
	s.setOut(s.full)
	return s, nil
}

// inspect inspects the files that no manifest describes.
func (s *Source) inspect(ctx context.Context) error {
	var todo []*sourceFile
	for _, f := range s.files {
		if f.meta == nil {
			todo = append(todo, f)
		}
	}
	metas := make([]*FileMeta, len(todo))
	if err := s.inspectFiles(ctx, todo, metas); err != nil {
		return err
	}
	for i, f := range todo {
		f.meta = metas[i]
	}
	return nil
}

// inspectFiles inspects files into metas, InspectConcurrency at a time.
func (s *Source) inspectFiles(ctx context.Context, files []*sourceFile, metas []*FileMeta) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.InspectConcurrency)
	for i, f := range files {
		g.Go(func() error {
			file, err := f.fs.Open(gctx, f.info.Path)
			if err != nil {
				return err
			}
			defer file.Close()
			meta, err := s.opts.Reader.Inspect(gctx, file)
			if err != nil {
				return withFile(err, f.fs.URL(f.info.Path))
			}
			metas[i] = meta
			return nil
		})
	}
	return g.Wait()
}

// withFile makes sure an error names the file it came from.
func withFile(err error, url string) error {
	if strings.Contains(err.Error(), url) {
		return err
	}
	return fmt.Errorf("%s: %w", url, err)
}

// SchemaConflictError says two files disagree on a column's type.
type SchemaConflictError struct {
	Column       string
	FileA, FileB string
	TypeA, TypeB arrow.DataType
}

func (e *SchemaConflictError) Error() string {
	return fmt.Sprintf("files disagree on column %q: it is %s in %s but %s in %s",
		e.Column, e.TypeA, e.FileA, e.TypeB, e.FileB)
}

func (s *Source) unify() error {
	if s.opts.Schema != nil {
		s.fileTypes = s.opts.Schema
	} else {
		// A logged dataset's schema is its manifest's; other files' are
		// their own, as inspected.
		type origin struct {
			url    string
			schema *arrow.Schema
		}
		var origins []origin
		for _, l := range s.logs {
			origins = append(origins, origin{l.url, l.m.FileSchema()})
		}
		for _, f := range s.files {
			if !f.logged {
				origins = append(origins, origin{f.fs.URL(f.info.Path), f.meta.Schema})
			}
		}
		var cur *arrow.Schema
		firstWith := map[string]string{} // column -> first file that has it
		for _, o := range origins {
			switch {
			case cur == nil:
				cur = o.schema
			case !cur.Equal(o.schema):
				next, err := blocks.UnifySchemas(cur, o.schema)
				var conflict *blocks.SchemaConflictError
				if errors.As(err, &conflict) {
					return &SchemaConflictError{Column: conflict.Column, FileA: firstWith[conflict.Column], TypeA: conflict.A, FileB: o.url, TypeB: conflict.B}
				}
				if err != nil {
					return err
				}
				cur = next
			}
			for _, fld := range o.schema.Fields() {
				if _, ok := firstWith[fld.Name]; !ok {
					firstWith[fld.Name] = o.url
				}
			}
		}
		if cur == nil {
			cur = arrow.NewSchema(nil, nil)
		}
		s.fileTypes = cur
	}
	fields := append([]arrow.Field(nil), s.fileTypes.Fields()...)
	if !s.opts.NoPartitioning {
		partFields, err := s.parsePartitions()
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, pf := range partFields {
			seen[pf.Name] = true
		}
		partFields = append(partFields, s.loggedPartitions(seen)...)
		s.partCols = map[string]bool{}
		for _, pf := range partFields {
			if len(s.fileTypes.FieldIndices(pf.Name)) > 0 {
				continue // a column in the files wins over a directory name
			}
			s.partCols[pf.Name] = true
			fields = append(fields, pf)
		}
	}
	s.full = arrow.NewSchema(fields, nil)
	return nil
}

// parsePartitions reads hive-style "key=value" directories from each
// file's path. A key whose values all parse as integers is an int64
// column, otherwise a string column; __HIVE_DEFAULT_PARTITION__ is null.
func (s *Source) parsePartitions() ([]arrow.Field, error) {
	var order []string
	allInts := map[string]bool{}
	for _, f := range s.files {
		f.parts = map[string]any{}
		segs := strings.FieldsFunc(f.info.Path, func(r rune) bool { return r == '/' || r == '\\' })
		if len(segs) > 0 {
			segs = segs[:len(segs)-1] // the file name itself
		}
		for _, seg := range segs {
			k, v, ok := strings.Cut(seg, "=")
			if !ok || k == "" {
				continue
			}
			if uv, err := url.PathUnescape(v); err == nil {
				v = uv
			}
			if _, seen := allInts[k]; !seen {
				order = append(order, k)
				allInts[k] = true
			}
			if v == "__HIVE_DEFAULT_PARTITION__" {
				f.parts[k] = nil
				continue
			}
			f.parts[k] = v
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				allInts[k] = false
			}
		}
	}
	fields := make([]arrow.Field, len(order))
	for i, k := range order {
		typ := arrow.DataType(arrow.BinaryTypes.String)
		if allInts[k] {
			typ = arrow.PrimitiveTypes.Int64
		}
		fields[i] = arrow.Field{Name: k, Type: typ, Nullable: true}
		for _, f := range s.files {
			v, ok := f.parts[k]
			switch {
			case !ok:
				f.parts[k] = nil
			case allInts[k] && v != nil:
				n, _ := strconv.ParseInt(v.(string), 10, 64)
				f.parts[k] = n
			}
		}
	}
	return fields, nil
}

// Name labels the read in plans: "ReadParquet[3 files, 1.2 GiB; columns=[a b]; filter=a > 5]".
func (s *Source) Name() string {
	var b strings.Builder
	format := s.opts.Reader.Format()
	fmt.Fprintf(&b, "Read%s[%d files, %s", titleCase(format), len(s.files), humanBytes(s.bytes))
	if s.columns != nil {
		fmt.Fprintf(&b, "; columns=%v", s.columns)
	}
	if !s.filter.IsZero() {
		fmt.Fprintf(&b, "; filter=%s", s.filter)
	}
	if s.limit >= 0 {
		fmt.Fprintf(&b, "; limit=%d", s.limit)
	}
	if n := s.wholeLarge(); n > 0 {
		fmt.Fprintf(&b, "; %d large files read whole (compressed, quoted newlines or one JSON array)", n)
	}
	b.WriteByte(']')
	return b.String()
}

// wholeLarge counts the files of a line format that are large enough to
// be read in ranges but cannot be (compressed, a CSV with quoted newlines,
// a JSON array): each is read by one task, which the plan says.
func (s *Source) wholeLarge() int {
	switch s.opts.Reader.(type) {
	case *CSVFormat, *JSONFormat, *TextFormat:
	default:
		return 0
	}
	n := 0
	for _, f := range s.files {
		if m := s.meta(f); !f.logged && m != nil && !m.Splittable && s.opts.MinTaskBytes > 0 && f.info.Size >= 2*s.opts.MinTaskBytes {
			n++
		}
	}
	return n
}

func titleCase(s string) string {
	switch s {
	case "csv", "json":
		return strings.ToUpper(s)
	}
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// setOut sets the output schema and the part of it that files supply.
func (s *Source) setOut(out *arrow.Schema) {
	var fields []arrow.Field
	for _, fld := range out.Fields() {
		if !s.partCols[fld.Name] {
			fields = append(fields, fld)
		}
	}
	s.out, s.outFiles = out, arrow.NewSchema(fields, nil)
	s.setReadSchema()
}

// Schema is the output schema: the files' unified columns, then the
// partition columns, or the projection.
func (s *Source) Schema() *arrow.Schema { return s.out }

// Files lists the URLs of the files the source reads.
func (s *Source) Files() []string {
	out := make([]string, len(s.files))
	for i, f := range s.files {
		out[i] = f.fs.URL(f.info.Path)
	}
	return out
}

// NumRows is the exact number of rows the source emits, when the files
// say (Parquet footers) and no filter drops rows, after the limit.
func (s *Source) NumRows() int64 {
	if !s.filter.IsZero() {
		return -1
	}
	var n int64
	for _, u := range s.units() {
		if u.rows < 0 {
			return -1
		}
		n += u.rows
	}
	if s.limit >= 0 {
		n = min(n, s.limit)
	}
	return n
}

// WithLimit reads only the first n rows.
func (s *Source) WithLimit(n int64) ops.Datasource {
	c := *s
	c.limit = n
	if s.limit >= 0 {
		c.limit = min(n, s.limit)
	}
	return &c
}

// WithColumns reads only cols, in that order.
func (s *Source) WithColumns(cols []string) (ops.Datasource, error) {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		idx := s.full.FieldIndices(c)
		if len(idx) == 0 {
			return nil, &blocks.UnknownColumnError{Column: c, Schema: s.full}
		}
		fields[i] = s.full.Field(idx[0])
	}
	c := *s
	c.columns = append([]string(nil), cols...)
	c.setOut(arrow.NewSchema(fields, nil))
	return &c, nil
}

// WithFilter reads only the rows where e is true: it skips files and
// units whose partition values or statistics rule e out, and drops the
// other rows it rules out as it reads.
func (s *Source) WithFilter(e ops.Expr) ops.Datasource {
	c := *s
	c.filter = ops.AndExpr(s.filter, e)
	c.setReadSchema()
	return &c
}

// readUnit is a part of one file that a task reads.
type readUnit struct {
	file  *sourceFile
	index int       // unit index in the file; -1 for a whole file without units
	rng   ByteRange // with index -1, a byte range of a splittable file
	rows  int64
	bytes int64
}

// splitUnits cuts the whole-file units of splittable files larger than
// size into byte ranges of about size bytes, each its own unit.
func (s *Source) splitUnits(units []readUnit, size int64) []readUnit {
	var out []readUnit
	for _, u := range units {
		total := u.file.info.Size
		if u.index >= 0 || u.rng.End > 0 || !s.meta(u.file).Splittable || size <= 0 || total < 2*size {
			out = append(out, u)
			continue
		}
		n := (total + size - 1) / size
		for k := range n {
			start, end := total*k/n, total*(k+1)/n
			out = append(out, readUnit{file: u.file, index: -1, rng: ByteRange{start, end}, rows: -1, bytes: end - start})
		}
	}
	return out
}

// units lists what is left to read after pruning by filter and limit.
func (s *Source) units() []readUnit {
	var out []readUnit
	var rows int64
	for _, f := range s.files {
		if !s.filter.IsZero() && !s.filter.MayMatch(s.fileStats(f, nil)) {
			continue
		}
		var us []readUnit
		meta := s.meta(f)
		if len(meta.Units) == 0 {
			us = []readUnit{{file: f, index: -1, rows: meta.Rows, bytes: f.info.Size}}
		} else {
			for i, u := range meta.Units {
				if !s.filter.IsZero() && !s.filter.MayMatch(s.fileStats(f, &meta.Units[i])) {
					continue
				}
				us = append(us, readUnit{file: f, index: i, rows: u.Rows, bytes: u.Bytes})
			}
		}
		for _, u := range us {
			if s.limit >= 0 && rows >= s.limit && s.filter.IsZero() {
				return out
			}
			out = append(out, u)
			if u.rows < 0 {
				rows = -1 << 62 // unknown: never cut by the limit
			} else {
				rows += u.rows
			}
		}
	}
	return out
}

// fileStats answers what is known of a column in a file (or one unit):
// partition values are exact, columns the file lacks are all null.
func (s *Source) fileStats(f *sourceFile, u *Unit) ops.StatsFunc {
	meta := s.meta(f)
	return func(col string) (any, any, int64, bool) {
		if s.partCols[col] {
			v := f.parts[col]
			if v == nil {
				return nil, nil, max(meta.Rows, 1), true
			}
			return v, v, 0, true
		}
		if len(meta.Schema.FieldIndices(col)) == 0 && meta.Rows >= 0 {
			return nil, nil, meta.Rows, true
		}
		if u == nil {
			return nil, nil, -1, false
		}
		st, ok := u.Stats[col]
		if !ok {
			return nil, nil, -1, false
		}
		if !st.HasMinMax {
			return nil, nil, st.NullCount, st.NullCount >= 0 && st.NullCount == u.Rows
		}
		return st.Min, st.Max, st.NullCount, true
	}
}

// ReadTasks groups units into about parallelism tasks of similar size; a
// large file is split at unit (row group) boundaries, small files share a task.
func (s *Source) ReadTasks(parallelism int) ([]ops.ReadTask, error) {
	if err := s.inspectDeferred(); err != nil {
		return nil, err
	}
	units := s.units()
	var total int64
	for _, u := range units {
		total += u.bytes
	}
	target := max(total/int64(max(parallelism, 1)), s.opts.MinTaskBytes)
	// A large CSV, JSON lines or text file is read in byte ranges of
	// about a task's share, so one file alone still spreads over the
	// tasks the parallelism asks for.
	units = s.splitUnits(units, target)
	enc := s.newSpecEncoder()
	var tasks []ops.ReadTask
	var group []readUnit
	var groupBytes int64
	flush := func() {
		if len(group) > 0 {
			tasks = append(tasks, s.task(group, enc))
			group, groupBytes = nil, 0
		}
	}
	for _, u := range units {
		group = append(group, u)
		groupBytes += u.bytes
		if groupBytes >= target {
			flush()
		}
	}
	flush()
	return tasks, nil
}

func (s *Source) task(units []readUnit, enc *specEncoder) ops.ReadTask {
	rows, bytes := int64(0), int64(0)
	for _, u := range units {
		if rows >= 0 && u.rows >= 0 {
			rows += u.rows
		} else {
			rows = -1
		}
		bytes += u.bytes
	}
	if s.limit >= 0 && rows > s.limit {
		rows = s.limit
	}
	if !s.filter.IsZero() {
		rows = -1 // known only once the filter has run
	}
	return ops.ReadTask{Rows: rows, Bytes: bytes, Blocks: s.knownBlocks(units), Spec: enc.spec(units),
		Read: func(tc *exec.TaskContext) ([]blocks.Block, error) {
			return s.read(tc, units)
		},
		Stream: func(tc *exec.TaskContext, emit func(blocks.Block) error) error {
			return s.stream(tc, units, emit)
		}}
}

// knownBlocks is how many blocks a read of units gives, when the units
// are row groups of known size read whole (no filter, no limit): a block
// per batch of rows in each row group. 0 means unknown.
func (s *Source) knownBlocks(units []readUnit) int {
	if !s.filter.IsZero() || s.limit >= 0 {
		return 0
	}
	batch := int64(s.opts.BatchRows)
	if p, ok := s.opts.Reader.(*ParquetFormat); ok && batch <= 0 {
		batch = int64(p.opts.BatchRows)
	}
	if batch <= 0 {
		batch = DefaultBatchRows
	}
	n := 0
	for _, u := range units {
		if u.index < 0 || u.rows < 0 {
			return 0
		}
		n += int((u.rows + batch - 1) / batch)
	}
	return n
}

// read reads the units of one task, one file after the other.
func (s *Source) read(tc *exec.TaskContext, units []readUnit) ([]blocks.Block, error) {
	var out []blocks.Block
	err := s.stream(tc, units, func(b blocks.Block) error {
		out = append(out, b)
		return nil
	})
	if err != nil {
		for _, b := range out {
			b.Release()
		}
		return nil, err
	}
	return out, nil
}

// stream reads the units of one task, one file after the other, handing
// each block to emit as it is decoded.
func (s *Source) stream(tc *exec.TaskContext, units []readUnit, emit func(blocks.Block) error) error {
	remaining := s.limit
	for i := 0; i < len(units); {
		f := units[i].file
		var idx []int
		var rng ByteRange
		if units[i].rng.End > 0 {
			// A byte range, joined with the ranges of the file that follow on.
			rng = units[i].rng
			for i++; i < len(units) && units[i].file == f && units[i].rng.End > 0 && units[i].rng.Start == rng.End; i++ {
				rng.End = units[i].rng.End
			}
		} else {
			for ; i < len(units) && units[i].file == f && units[i].rng.End == 0; i++ {
				if units[i].index >= 0 {
					idx = append(idx, units[i].index)
				}
			}
		}
		if remaining == 0 {
			break
		}
		n, err := s.readFile(tc, f, idx, rng, remaining, emit)
		if err != nil {
			return err
		}
		if remaining > 0 {
			remaining = max(remaining-n, 0)
		}
	}
	return nil
}

// readFile reads the units of one file (all of it when units is empty and
// rng is the zero range, else the byte range rng),
// at most limit rows unless negative, handing each block to emit; it
// returns the rows emitted.
func (s *Source) readFile(tc *exec.TaskContext, f *sourceFile, units []int, rng ByteRange, limit int64, emit func(blocks.Block) error) (int64, error) {
	url := f.fs.URL(f.info.Path)
	meta := s.meta(f)
	raw, dict := s.filterOnFile(meta)
	for _, c := range s.dictCols {
		if !slices.Contains(dict, c) {
			dict = append(dict, c)
		}
	}
	var cols []string
	for _, fld := range s.readOut.Fields() {
		if !s.partCols[fld.Name] && len(meta.Schema.FieldIndices(fld.Name)) > 0 {
			cols = append(cols, fld.Name)
		}
	}
	c := &collector{s: s, tc: tc, f: f, raw: raw, limit: limit, emit: emit}
	if len(cols) == 0 && f.logged && len(units) == 0 && rng.End == 0 && meta.Rows >= 0 {
		// No column of the file is wanted and the manifest knows its rows
		// (a file of no columns keeps its count only there): no read.
		if err := s.countedBlocks(c, meta.Rows); err != nil {
			return c.rows, withFile(err, url)
		}
		return c.rows, nil
	}
	file, err := storage.OpenInfo(tc, f.fs, f.info)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	if len(cols) == 0 && s.readOut.NumFields() > 0 && meta.Schema.NumFields() > 0 {
		// Only partition columns (or columns this file lacks) are wanted;
		// still read one column to learn the row count.
		cols = []string{meta.Schema.Field(0).Name}
	}
	req := ReadRequest{
		Alloc:       tc.Alloc,
		Columns:     cols,
		Units:       units,
		Schema:      s.fileTypes,
		BatchRows:   s.opts.BatchRows,
		Limit:       limit,
		DictColumns: dict,
		LocalFile:   isLocal(f.fs),
		Recycle:     tc.ReadBlocksStayInTask,
		Range:       rng,
	}
	if !s.filter.IsZero() {
		req.Limit = -1 // the collector stops the read once enough rows pass
	}
	if raw {
		req.Filter = s.filter // over the file's own columns and types
	}
	err = s.opts.Reader.Read(tc, file, meta, req, func(b arrow.RecordBatch) error {
		defer b.Release()
		return c.add(b)
	})
	if err != nil && !errors.Is(err, errReadEnough) {
		return c.rows, withFile(err, url)
	}
	return c.rows, nil
}

// isLocal says fs is the local disk.
func isLocal(fs storage.FileSystem) bool {
	_, ok := fs.(storage.Local)
	return ok
}

// countedBlocks makes the blocks of rows rows of a file none of whose
// columns are wanted (partition values and nulls only) and hands them to c.
func (s *Source) countedBlocks(c *collector, rows int64) error {
	if c.limit >= 0 && s.filter.IsZero() {
		rows = min(rows, c.limit)
	}
	batch := int64(s.opts.BatchRows)
	if batch <= 0 {
		batch = DefaultBatchRows
	}
	none := arrow.NewSchema(nil, nil)
	for done := int64(0); done < rows; done += batch {
		empty := array.NewRecordBatch(none, nil, min(batch, rows-done))
		err := c.add(empty)
		empty.Release()
		if errors.Is(err, errReadEnough) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// conform gives a block the schema out (outFiles: the part of it files
// supply): columns in order and of the unified types, nulls for columns
// the file lacks, partition values as constant columns.
func (s *Source) conform(mem memory.Allocator, f *sourceFile, b arrow.RecordBatch, out, outFiles *arrow.Schema) (arrow.RecordBatch, error) {
	n := int(b.NumRows())
	cols := make([]arrow.Array, out.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	// Drop columns read only to count rows.
	keep := make([]string, 0, b.NumCols())
	for _, fld := range b.Schema().Fields() {
		if len(out.FieldIndices(fld.Name)) > 0 && !s.partCols[fld.Name] {
			keep = append(keep, fld.Name)
		}
	}
	sel, err := blocks.Select(b, keep)
	if err != nil {
		return nil, err
	}
	defer sel.Release()
	out, outFiles = s.keepDictionaries(sel, out, outFiles)
	conformed, err := blocks.Conform(mem, sel, outFiles)
	if err != nil {
		return nil, err
	}
	defer conformed.Release()
	for i, fld := range out.Fields() {
		if s.partCols[fld.Name] {
			cols[i] = constantColumn(mem, fld.Type, f.parts[fld.Name], n)
			continue
		}
		c := conformed.Column(conformed.Schema().FieldIndices(fld.Name)[0])
		c.Retain()
		cols[i] = c
	}
	return array.NewRecordBatch(out, cols, int64(n)), nil
}

func constantColumn(mem memory.Allocator, typ arrow.DataType, v any, n int) arrow.Array {
	if v == nil {
		return array.MakeArrayOfNull(mem, typ, n)
	}
	switch x := v.(type) {
	case int64:
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Reserve(n)
		for range n {
			b.UnsafeAppend(x)
		}
		return b.NewArray()
	default:
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.Reserve(n)
		s := fmt.Sprint(x)
		for range n {
			b.Append(s)
		}
		return b.NewArray()
	}
}

// Extensions is implemented by readers whose files have known name
// extensions ("." included, lower case).
type Extensions interface{ Extensions() []string }

// keepExtensions drops, from files found by listing a directory or glob,
// those whose name has an extension the reader does not read, so that a
// trace.json or README.md beside Parquet files does not fail the read.
// Files without an extension, and a file named outright, are kept.
func keepExtensions(r Reader, url, path string, infos []storage.FileInfo) ([]storage.FileInfo, error) {
	exts, ok := r.(Extensions)
	if !ok || len(infos) == 1 && infos[0].Path == path {
		return infos, nil
	}
	want := exts.Extensions()
	var out []storage.FileInfo
	var skipped []string
	for _, f := range infos {
		ext := FormatExt(f.Path)
		if ext == "" || slices.Contains(want, ext) {
			out = append(out, f)
		} else {
			skipped = append(skipped, f.Path[strings.LastIndex(f.Path, "/")+1:])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no %s files (extensions %s) among %d: %s", url, r.Format(),
			strings.Join(want, " "), len(infos), strings.Join(skipped[:min(len(skipped), 5)], ", "))
	}
	return out, nil
}

// fileExt is the extension of the last element of a slash-separated path.
func fileExt(p string) string {
	base := p[strings.LastIndex(p, "/")+1:]
	if i := strings.LastIndex(base, "."); i > 0 {
		return base[i:]
	}
	return ""
}
