package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
)

// ReadOption configures a read: any Option (runtime, parallelism) or one
// of the read options below.
type ReadOption interface{ applyRead(*readConfig) }

type readConfig struct {
	opts    []Option
	src     formats.SourceOptions
	filter  Expr
	columns []string
	csv     formats.CSVOptions
	json    formats.JSONOptions
	text    formats.TextOptions
	parquet formats.ParquetOptions
}

func (o Option) applyRead(r *readConfig) { r.opts = append(r.opts, o) }

type readOptionFunc func(*readConfig)

func (f readOptionFunc) applyRead(r *readConfig) { f(r) }

// Paths adds more files, directories or globs to a read.
func Paths(more ...string) ReadOption {
	return readOptionFunc(func(r *readConfig) { r.src.Paths = append(r.src.Paths, more...) })
}

// Columns reads only these columns, in this order (Parquet decodes no others).
func Columns(cols ...string) ReadOption {
	return readOptionFunc(func(r *readConfig) { r.columns = cols })
}

// Filter keeps only rows where e holds, as Where after the read does.
func Filter(e Expr) ReadOption {
	return readOptionFunc(func(r *readConfig) { r.filter = ops.AndExpr(r.filter, e) })
}

// Schema sets the schema instead of inferring it from the files; CSV and
// JSON values are parsed to its types.
func Schema(s *arrow.Schema) ReadOption {
	return readOptionFunc(func(r *readConfig) { r.src.Schema = s })
}

// NoPartitioning stops hive-style "key=value" directories from becoming columns.
func NoPartitioning() ReadOption {
	return readOptionFunc(func(r *readConfig) { r.src.NoPartitioning = true })
}

// Storage says how to reach S3 (endpoint, credentials) or which
// filesystem to use.
func Storage(c storage.Config) ReadWriteOption { return storageOption(c) }

// CSVOptions sets how CSV is parsed (ReadCSV) or written (WriteCSV).
func CSVOptions(o formats.CSVOptions) ReadWriteOption { return csvOption(o) }

// JSONOptions sets how JSON lines are parsed (ReadJSON) or written
// (WriteJSON).
func JSONOptions(o formats.JSONOptions) ReadWriteOption { return jsonOption(o) }

// TextOptions sets how text lines are read (ReadText).
func TextOptions(o formats.TextOptions) ReadOption {
	return readOptionFunc(func(r *readConfig) { r.text = o })
}

// ParquetOptions sets Parquet read and write options (compression, row group size).
func ParquetOptions(o formats.ParquetOptions) ReadWriteOption { return parquetOption(o) }

// BatchRows sets the rows per block a read produces.
func BatchRows(n int) ReadOption {
	return readOptionFunc(func(r *readConfig) { r.src.BatchRows = n })
}

// ReadParquet reads Parquet files: a file, a directory (recursively), a
// glob, local or s3://; Paths adds more. Only the columns a plan uses are
// decoded and row groups that a Where rules out are skipped.
func ReadParquet(ctx context.Context, path string, opts ...ReadOption) *Dataset {
	return readFiles(ctx, "ReadParquet", path, opts, func(r *readConfig) formats.Reader { return formats.Parquet(r.parquet) })
}

// ReadCSV reads CSV files, inferring column types from a sample of each
// file; see CSVOptions.
func ReadCSV(ctx context.Context, path string, opts ...ReadOption) *Dataset {
	return readFiles(ctx, "ReadCSV", path, opts, func(r *readConfig) formats.Reader { return formats.CSV(r.csv) })
}

// ReadJSON reads JSON lines files (one object per line), or files holding
// one top-level array of objects.
func ReadJSON(ctx context.Context, path string, opts ...ReadOption) *Dataset {
	return readFiles(ctx, "ReadJSON", path, opts, func(r *readConfig) formats.Reader { return formats.JSON(r.json) })
}

// ReadText reads text files as one row per line, in the column "text".
func ReadText(ctx context.Context, path string, opts ...ReadOption) *Dataset {
	return readFiles(ctx, "ReadText", path, opts, func(r *readConfig) formats.Reader { return formats.TextWith(r.text) })
}

// ReadBinaryFiles reads whole files as rows of "path" and "bytes".
func ReadBinaryFiles(ctx context.Context, path string, opts ...ReadOption) *Dataset {
	return readFiles(ctx, "ReadBinaryFiles", path, opts, func(*readConfig) formats.Reader { return formats.Binary() })
}

// ReadDatasource reads a user's Datasource.
func ReadDatasource(src ops.Datasource, opts ...Option) *Dataset {
	if src == nil {
		return errDataset(errors.New("dataset.ReadDatasource: nil source"), opts)
	}
	cfg := newConfig(opts)
	return &Dataset{plan: &ops.Read{Source: src, Parallelism: cfg.parallelismFor(src.NumRows()), CPUs: cfg.readCPUs, MaxConcurrency: cfg.readConcurrency}, cfg: cfg}
}

func readFiles(ctx context.Context, method, path string, opts []ReadOption, reader func(*readConfig) formats.Reader) *Dataset {
	rc := &readConfig{}
	rc.src.Paths = []string{path}
	for _, o := range opts {
		if o != nil {
			o.applyRead(rc)
		}
	}
	rc.src.Reader = reader(rc)
	src, err := formats.NewSource(ctx, rc.src)
	if err != nil {
		return errDataset(fmt.Errorf("dataset.%s: %w", method, err), rc.opts)
	}
	d := ReadDatasource(src, rc.opts...)
	if !rc.filter.IsZero() {
		d = d.Where(rc.filter)
	}
	if rc.columns != nil {
		d = d.SelectColumns(rc.columns...)
	}
	return d
}

// ReadWriteOption is an option that applies to reads and writes alike.
type ReadWriteOption interface {
	ReadOption
	WriteOption
}

type storageOption storage.Config

func (o storageOption) applyRead(r *readConfig)   { r.src.Storage = storage.Config(o) }
func (o storageOption) applyWrite(w *writeConfig) { w.sink.Storage = storage.Config(o) }

type csvOption formats.CSVOptions

func (o csvOption) applyRead(r *readConfig)   { r.csv = formats.CSVOptions(o) }
func (o csvOption) applyWrite(w *writeConfig) { w.csv = formats.CSVOptions(o) }

type jsonOption formats.JSONOptions

func (o jsonOption) applyRead(r *readConfig)   { r.json = formats.JSONOptions(o) }
func (o jsonOption) applyWrite(w *writeConfig) { w.json = formats.JSONOptions(o) }

type parquetOption formats.ParquetOptions

func (o parquetOption) applyRead(r *readConfig)   { r.parquet = formats.ParquetOptions(o) }
func (o parquetOption) applyWrite(w *writeConfig) { w.parquet = formats.ParquetOptions(o) }

// WriteOption configures a write.
type WriteOption interface{ applyWrite(*writeConfig) }

type writeConfig struct {
	minRows int64
	sink    formats.SinkOptions
	csv     formats.CSVOptions
	json    formats.JSONOptions
	parquet formats.ParquetOptions
}

type writeOptionFunc func(*writeConfig)

func (f writeOptionFunc) applyWrite(w *writeConfig) { f(w) }

// MinRowsPerFile gathers consecutive blocks until they hold at least n rows
// and writes them as one file (per partition), so small blocks (an actor
// stage's batches, a selective filter's output) do not become many small
// files. The default writes each block as it comes.
func MinRowsPerFile(n int) WriteOption {
	return writeOptionFunc(func(w *writeConfig) { w.minRows = int64(max(n, 0)) })
}

// MaxRowsPerFile writes a block of more than n rows as several files of
// at most n rows each (per partition), so a large block does not become
// one huge file. With MinRowsPerFile it bounds file sizes from both sides.
func MaxRowsPerFile(n int) WriteOption {
	return writeOptionFunc(func(w *writeConfig) { w.sink.MaxRowsPerFile = int64(max(n, 0)) })
}

// MaxBytesPerFile writes a block of more than n bytes (in memory, as
// Arrow holds it; the file is smaller once encoded) as several files of
// equal rows. The default is formats.DefaultMaxFileBytes (128 MiB, Ray
// Data's target); n <= 0 removes the bound, so that Repartition(1) writes
// one file whatever its size.
func MaxBytesPerFile(n int64) WriteOption {
	if n <= 0 {
		n = -1 // formats.SinkOptions: negative is no bound, 0 the default
	}
	return writeOptionFunc(func(w *writeConfig) { w.sink.MaxFileBytes = n })
}

// PartitionBy writes rows under "col=value/" directories, hive style.
func PartitionBy(cols ...string) WriteOption {
	return writeOptionFunc(func(w *writeConfig) { w.sink.PartitionBy = cols })
}

// Mode says what happens to the dataset already in the output directory:
// formats.Append (the default), formats.Overwrite or formats.ErrorIfExists.
func Mode(m formats.WriteMode) WriteOption {
	return writeOptionFunc(func(w *writeConfig) { w.sink.Mode = m })
}

// WriteID fixes the ID in the written files' names
// ("part-<id>-000003.parquet"). A write refuses an ID that names files of
// the dataset already.
func WriteID(id string) WriteOption {
	return writeOptionFunc(func(w *writeConfig) { w.sink.WriteID = id })
}

// WriteParquet writes the dataset as Parquet files, one per block, into a
// directory (local or s3://). A block of more than 128 MiB becomes several
// files (MaxBytesPerFile, MaxRowsPerFile); Repartition(1) with
// MaxBytesPerFile(0) gives one file whatever its size. The
// write commits as a whole: Shoal's readers see the dataset as it was or
// as the write left it, never part of it, even if the process dies at any
// instant (see formats.Sink). A write of no rows still writes one file and
// records the schema.
func (d *Dataset) WriteParquet(ctx context.Context, path string, opts ...WriteOption) error {
	return d.writeFiles(ctx, path, opts, func(w *writeConfig) formats.Encoder { return formats.Parquet(w.parquet) })
}

// WriteCSV writes the dataset as CSV files with a header line.
func (d *Dataset) WriteCSV(ctx context.Context, path string, opts ...WriteOption) error {
	return d.writeFiles(ctx, path, opts, func(w *writeConfig) formats.Encoder { return formats.CSV(w.csv) })
}

// WriteJSON writes the dataset as JSON lines files.
func (d *Dataset) WriteJSON(ctx context.Context, path string, opts ...WriteOption) error {
	return d.writeFiles(ctx, path, opts, func(w *writeConfig) formats.Encoder { return formats.JSON(w.json) })
}

func (d *Dataset) writeFiles(ctx context.Context, path string, opts []WriteOption, enc func(*writeConfig) formats.Encoder) error {
	if d.err != nil {
		return d.err
	}
	wc := &writeConfig{}
	wc.sink.Path = path
	for _, o := range opts {
		if o != nil {
			o.applyWrite(wc)
		}
	}
	wc.sink.Encoder = enc(wc)
	wc.sink.Schema = d.plan.Schema()
	if s := d.plan.Schema(); s != nil {
		for _, c := range wc.sink.PartitionBy {
			if len(s.FieldIndices(c)) == 0 {
				return fmt.Errorf("dataset.PartitionBy: %w", &blocks.UnknownColumnError{Column: c, Schema: s})
			}
		}
	}
	sink, err := formats.NewSink(ctx, wc.sink)
	if err != nil {
		return err
	}
	return d.write(ctx, sink, wc.minRows)
}

// writeResultSchema is the block a write task returns: one null row per
// row written, taking no memory, so that the write's rows out (in the
// progress display and Stats) are the rows it wrote; its WriteResult, as
// JSON, is in the block's schema metadata (writeResultKey), so that it
// travels from a cluster node like any block.
var writeResultSchema = arrow.NewSchema([]arrow.Field{{Name: "written", Type: arrow.Null}}, nil)

// writeResultKey is the schema metadata key holding a write's result.
const writeResultKey = "shoal.write.result"

// wireWriteResult is ops.WriteResult as JSON.
type wireWriteResult struct {
	Rows      int64    `json:"rows"`
	Bytes     int64    `json:"bytes"`
	Files     []string `json:"files,omitempty"`
	FileRows  []int64  `json:"file_rows,omitempty"`
	FileBytes []int64  `json:"file_bytes,omitempty"`
	Schema    []byte   `json:"schema,omitempty"`
}

const (
	// commitTimeout bounds a write's commit, which goes on when ctx is
	// cancelled once it started: a commit cut short may or may not have
	// landed, and finding out costs more than finishing.
	commitTimeout = time.Minute
	// writeAbortTimeout bounds the cleanup after a failed or cancelled
	// write: it runs after Ctrl-C too, and must end even when the store
	// does not answer.
	writeAbortTimeout = 5 * time.Second
)

// Write writes the dataset to a Datasink: each block in a task of its own,
// then Commit once all succeeded, or Abort if any failed or ctx was
// cancelled. The error of a failed block names it.
func (d *Dataset) Write(ctx context.Context, sink ops.Datasink) error {
	return d.write(ctx, sink, 0)
}

// write is Write with each task gathering at least minRows rows.
func (d *Dataset) write(ctx context.Context, sink ops.Datasink, minRows int64) error {
	if d.err != nil {
		return d.err
	}
	if sink == nil {
		return errors.New("dataset.Write: nil sink")
	}
	if err := sink.Start(ctx); err != nil {
		return writeErr(sink, err)
	}
	// BatchRows 1 gives every block its own task, numbered in order, so a
	// block's index (and the file name built from it) is stable; a larger
	// one gathers consecutive blocks in order, which is as stable.
	// A file sink's writes can run on a cluster's nodes: the sink travels
	// as data, and Start, Commit and Abort stay here.
	var spec *ops.Spec
	if fs, ok := sink.(*formats.Sink); ok {
		if args, ok := fs.SpecArgs(); ok {
			spec = &ops.Spec{Kind: writeKind, Args: args}
		}
	}
	w := d.with(&ops.OneToOne{
		Input:     d.plan,
		Label:     sink.Name(),
		BatchRows: max(minRows, 1),
		OutSchema: func(*arrow.Schema) (*arrow.Schema, error) { return writeResultSchema, nil },
		Fn:        writeStage(sink),
		Spec:      spec,
	})
	var results []ops.WriteResult
	err := w.forEachBlock(ctx, func(b blocks.Block) error {
		data, ok := b.Schema().Metadata().GetValue(writeResultKey)
		if !ok {
			return fmt.Errorf("%s: a write task's output has no result", sink.Name())
		}
		r, err := decodeWriteResult([]byte(data))
		if err != nil {
			return err
		}
		results = append(results, r)
		return nil
	})
	d.setStats(w.Stats()) // the write's run is this dataset's latest
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx) // cancelled after the last block: do not commit
	}
	if err == nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		err = sink.Commit(cctx, results)
		cancel()
	}
	if err == nil {
		return nil
	}
	// The rollback runs with its own deadline, whatever became of ctx, and
	// its failure is reported beside the cause.
	err = writeErr(sink, err)
	if aerr := abortWrite(context.WithoutCancel(ctx), sink, results); aerr != nil {
		return errors.Join(err, fmt.Errorf("cleaning up the failed write: %w", aerr))
	}
	return err
}

// writeErr says which write failed: "write parquet out/: ...", and
// "cancelled" when ctx was. A file sink's errors that name its directory
// already stay as they are.
func writeErr(sink ops.Datasink, err error) error {
	op, url := sink.Name(), ""
	if fs, ok := sink.(*formats.Sink); ok {
		op, url = fs.Operation(), fs.URL()
	}
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: cancelled: %w", op, err)
	case url == "" || strings.Contains(err.Error(), url):
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// abortWrite aborts a write under a deadline of its own. A cleanup cut
// short leaves files no manifest lists: readers skip them and the next
// write to the directory (or shoal clean) removes them.
func abortWrite(ctx context.Context, sink ops.Datasink, results []ops.WriteResult) error {
	ctx, cancel := context.WithTimeout(ctx, writeAbortTimeout)
	defer cancel()
	err := sink.Abort(ctx, results)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (the cleanup stopped after %v)", err, writeAbortTimeout)
	}
	return err
}

// writeStage is the function of a write's tasks: write the block, report
// what was written.
func writeStage(sink ops.Datasink) ops.BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		res, err := sink.Write(tc, tc.Index, in)
		if err != nil {
			return nil, err
		}
		return writeResultBlock(tc, res)
	}
}

// writeKind is the ops stage kind of a file write's tasks.
const writeKind = "dataset.write"

func init() {
	ops.RegisterStage(writeKind, func(args json.RawMessage) (ops.BlockFn, error) {
		sink, err := formats.SinkFromSpecArgs(args)
		if err != nil {
			return nil, err
		}
		return writeStage(sink), nil
	})
}

func writeResultBlock(tc *exec.TaskContext, r ops.WriteResult) (blocks.Block, error) {
	w := wireWriteResult{Rows: r.Rows, Bytes: r.Bytes, Files: r.Files, FileRows: r.FileRows, FileBytes: r.FileBytes}
	var err error
	if w.Schema, err = ops.MarshalSchema(r.Schema); err != nil {
		return nil, err
	}
	data, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encoding a write's result: %w", err)
	}
	md := arrow.NewMetadata([]string{writeResultKey, pipeline.FilesWrittenKey}, []string{string(data), strconv.Itoa(len(r.Files))})
	schema := arrow.NewSchema(writeResultSchema.Fields(), &md)
	col := array.NewNull(int(r.Rows))
	defer col.Release()
	return array.NewRecordBatch(schema, []arrow.Array{col}, r.Rows), nil
}

func decodeWriteResult(data []byte) (ops.WriteResult, error) {
	var w wireWriteResult
	if err := json.Unmarshal(data, &w); err != nil {
		return ops.WriteResult{}, fmt.Errorf("decoding a write's result: %w", err)
	}
	schema, err := ops.UnmarshalSchema(w.Schema)
	if err != nil {
		return ops.WriteResult{}, err
	}
	return ops.WriteResult{Rows: w.Rows, Bytes: w.Bytes, Files: w.Files, FileRows: w.FileRows, FileBytes: w.FileBytes, Schema: schema}, nil
}
