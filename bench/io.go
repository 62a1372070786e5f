package bench

// Storage I/O workloads: Shoal's Parquet and CSV readers against arrow-go
// used directly (parquet/pqarrow, arrow/csv) over the very same bytes.
//
// The data is written by a deterministic generator (WriteIOData) straight
// through pqarrow and arrow/csv, not through Shoal, so neither side reads a
// file the other wrote for itself. Each workload hands every decoded batch
// to the same Probe function on both sides: CountRows for the timed runs
// (every row is decoded, nothing else happens), Checksum for the
// correctness tests (a per-value hash summed in an order-independent way).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/storage/s3"
)

// IOSize is one size of the I/O data set.
type IOSize struct {
	Name         string
	Rows         int64 // rows of the Parquet file
	RowGroupRows int64 // rows per Parquet row group
	CSVRows      int64 // rows of the CSV data (the first CSVRows rows)
	CSVFiles     int   // the CSV data is cut into this many files
}

// RowGroups is the number of row groups of the Parquet file.
func (s IOSize) RowGroups() int64 { return (s.Rows + s.RowGroupRows - 1) / s.RowGroupRows }

// The sizes of the iobench command and of the go test benchmarks. L is a
// Parquet file of about 1 GB (20 row groups of 1M rows); S runs in seconds.
var (
	IOSizeS = IOSize{Name: "S", Rows: 1 << 20, RowGroupRows: 64 << 10, CSVRows: 256 << 10, CSVFiles: 4}
	IOSizeM = IOSize{Name: "M", Rows: 4 << 20, RowGroupRows: 256 << 10, CSVRows: 1 << 20, CSVFiles: 8}
	IOSizeL = IOSize{Name: "L", Rows: 20 << 20, RowGroupRows: 1 << 20, CSVRows: 5 << 20, CSVFiles: 8}
	// IOSizeTest is for `go test -bench`: 16 row groups, a few MB.
	IOSizeTest = IOSize{Name: "test", Rows: 256 << 10, RowGroupRows: 16 << 10, CSVRows: 64 << 10, CSVFiles: 4}
)

// IOSizeByName returns the size called name ("S", "M", "L" or "test").
func IOSizeByName(name string) (IOSize, error) {
	for _, s := range []IOSize{IOSizeS, IOSizeM, IOSizeL, IOSizeTest} {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
	}
	return IOSize{}, fmt.Errorf("unknown size %q (want S, M, L or test)", name)
}

// IOSchema is the schema of the generated data: 8 columns, 2 nullable
// (about 10% nulls), 2 string columns (one random, one low-cardinality that
// Parquet dictionary-encodes), a bool.
var IOSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	{Name: "y", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "code", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s2", Type: arrow.BinaryTypes.String},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "z", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// ProjectedColumns are the columns of the projected-read workload.
var ProjectedColumns = []string{"x", "name"}

const (
	// genChunkRows is the generator's unit: chunk c is rows
	// [c*genChunkRows, (c+1)*genChunkRows), drawn from its own PCG stream
	// seeded (ioSeed, c), so any chunk can be made alone and alike every time.
	genChunkRows = 64 << 10
	ioSeed       = 0x5f0a1
	// ioDataVersion names the generator; cached files of another version
	// are regenerated.
	ioDataVersion = "iobench-data-v1"
)

// s2Values is the low-cardinality vocabulary of column s2.
var s2Values = func() []string {
	r := rand.New(rand.NewPCG(ioSeed, math.MaxUint64))
	out := make([]string, 200)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", randLetters(r, 4+r.IntN(8)), i)
	}
	return out
}()

func randLetters(r *rand.Rand, n int) string {
	var b [32]byte
	for i := range n {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b[:n])
}

// GenChunk builds rows [lo, hi) of chunk c of the data (lo and hi relative
// to the chunk start, 0 <= lo <= hi <= genChunkRows). The whole chunk is
// drawn so that a sub-range has the same values as in the whole.
func GenChunk(mem memory.Allocator, c int64, lo, hi int) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(ioSeed, uint64(c)))
	b := array.NewRecordBuilder(mem, IOSchema)
	defer b.Release()
	b.Reserve(hi - lo)
	id := b.Field(0).(*array.Int64Builder)
	x := b.Field(1).(*array.Float64Builder)
	y := b.Field(2).(*array.Float64Builder)
	name := b.Field(3).(*array.StringBuilder)
	code := b.Field(4).(*array.Int64Builder)
	s2 := b.Field(5).(*array.StringBuilder)
	flag := b.Field(6).(*array.BooleanBuilder)
	z := b.Field(7).(*array.Float64Builder)
	base := c * genChunkRows
	for i := range hi {
		// Draw every value of every row, kept or not.
		vx := r.Float64()*2000 - 1000
		yNull := r.IntN(10) == 0
		vy := r.NormFloat64() * 100
		vname := randLetters(r, 8+r.IntN(17))
		codeNull := r.IntN(10) == 0
		vcode := r.Int64N(1000)
		vs2 := s2Values[r.IntN(len(s2Values))]
		vflag := r.IntN(2) == 0
		vz := r.ExpFloat64()
		if i < lo {
			continue
		}
		id.UnsafeAppend(base + int64(i))
		x.UnsafeAppend(vx)
		if yNull {
			y.AppendNull()
		} else {
			y.UnsafeAppend(vy)
		}
		name.Append(vname)
		if codeNull {
			code.AppendNull()
		} else {
			code.UnsafeAppend(vcode)
		}
		s2.Append(vs2)
		flag.UnsafeAppend(vflag)
		z.UnsafeAppend(vz)
	}
	return b.NewRecordBatch()
}

// genRange calls fn with the rows [from, to) of the data, chunk by chunk.
func genRange(from, to int64, fn func(arrow.RecordBatch) error) error {
	for c := from / genChunkRows; c*genChunkRows < to; c++ {
		start := c * genChunkRows
		lo := int(max(from-start, 0))
		hi := int(min(to-start, genChunkRows))
		rec := GenChunk(memory.DefaultAllocator, c, lo, hi)
		err := fn(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// IOData is the generated data of one size, on local disk.
type IOData struct {
	Size         IOSize
	Dir          string
	Parquet      string   // the Parquet file
	CSVDir       string   // the directory of the CSV files
	CSVFiles     []string // the CSV files, in row order
	ParquetBytes int64
	CSVBytes     int64
}

// PrepareIOData returns the data of size under dir/<size>, generating it
// when it is missing or was made by another version of the generator. The
// Parquet file and the CSV files are written concurrently (2 goroutines).
func PrepareIOData(dir string, size IOSize, logw io.Writer) (*IOData, error) {
	d := &IOData{Size: size, Dir: filepath.Join(dir, size.Name)}
	d.Parquet = filepath.Join(d.Dir, "data.parquet")
	d.CSVDir = filepath.Join(d.Dir, "csv")
	for i := range size.CSVFiles {
		d.CSVFiles = append(d.CSVFiles, filepath.Join(d.CSVDir, fmt.Sprintf("part-%03d.csv", i)))
	}
	stamp := filepath.Join(d.Dir, "DONE")
	want := fmt.Sprintf("%s %+v\n", ioDataVersion, size)
	if got, err := os.ReadFile(stamp); err != nil || string(got) != want {
		if logw != nil {
			fmt.Fprintf(logw, "generating %s data in %s ...\n", size.Name, d.Dir)
		}
		t0 := time.Now()
		if err := os.RemoveAll(d.Dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d.CSVDir, 0o755); err != nil {
			return nil, err
		}
		var wg sync.WaitGroup
		var perr, cerr error
		wg.Go(func() { perr = writeParquetData(d.Parquet, size) })
		wg.Go(func() { cerr = writeCSVData(d.CSVFiles, size) })
		wg.Wait()
		if err := errors.Join(perr, cerr); err != nil {
			return nil, err
		}
		if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
			return nil, err
		}
		if logw != nil {
			fmt.Fprintf(logw, "generated in %.1fs\n", time.Since(t0).Seconds())
		}
	}
	st, err := os.Stat(d.Parquet)
	if err != nil {
		return nil, err
	}
	d.ParquetBytes = st.Size()
	for _, f := range d.CSVFiles {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		d.CSVBytes += st.Size()
	}
	return d, nil
}

// WriteFileAtomic writes the file path through path+".tmp", renamed to
// path only once write has returned nil and the file is closed, so that a
// generator that fails or is interrupted never leaves a partial file under
// the name a reader (or a later cache check) would take for data; on any
// failure the temporary file is removed. write gets the file as a plain
// io.Writer: WriteFileAtomic closes it.
func WriteFileAtomic(path string, write func(w io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	// Hide f's Close from writers that close their sink (pqarrow's does).
	err = write(struct{ io.Writer }{f})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// WriteParquetFile writes a Parquet file of schema with pqarrow's file
// writer, through WriteFileAtomic: write adds the rows (WriteBuffered or
// Write), WriteParquetFile then closes the writer, which writes the footer.
// The generators of the I/O data (PrepareIOData) and of bench/suite share it.
func WriteParquetFile(path string, schema *arrow.Schema, props *parquet.WriterProperties, arrowProps pqarrow.ArrowWriterProperties, write func(*pqarrow.FileWriter) error) error {
	return WriteFileAtomic(path, func(w io.Writer) error {
		fw, err := pqarrow.NewFileWriter(schema, w, props, arrowProps)
		if err != nil {
			return err
		}
		if err := write(fw); err != nil {
			fw.Close()
			return err
		}
		return fw.Close()
	})
}

// writeParquetData writes the size's rows with pqarrow: snappy, dictionary
// encoding on (arrow-go's default; it falls back to plain for the
// high-cardinality columns), statistics, row groups of size.RowGroupRows.
func writeParquetData(path string, size IOSize) error {
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(size.RowGroupRows),
		parquet.WithStats(true),
		parquet.WithCreatedBy("shoal iobench generator (arrow-go pqarrow)"),
	)
	arrowProps := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
	return WriteParquetFile(path, IOSchema, props, arrowProps, func(fw *pqarrow.FileWriter) error {
		return genRange(0, size.Rows, fw.WriteBuffered)
	})
}

// writeCSVData writes the first size.CSVRows rows with arrow/csv's writer,
// cut into len(paths) files of about equal rows, each with a header line;
// nulls are empty fields.
func writeCSVData(paths []string, size IOSize) error {
	n := int64(len(paths))
	for i, path := range paths {
		from, to := size.CSVRows*int64(i)/n, size.CSVRows*int64(i+1)/n
		if err := writeCSVFile(path, from, to); err != nil {
			return err
		}
	}
	return nil
}

func writeCSVFile(path string, from, to int64) error {
	return WriteFileAtomic(path, func(f io.Writer) error {
		w := csv.NewWriter(f, IOSchema, csv.WithHeader(true), csv.WithNullWriter(""))
		if err := genRange(from, to, w.Write); err != nil {
			return err
		}
		w.Flush()
		return w.Error()
	})
}

// Probe is the per-batch work both engines do in a workload. It returns an
// int64 that is summed over all batches.
type Probe func(arrow.RecordBatch) int64

// CountRows is the probe of the timed runs: it touches nothing but the row
// count, so the time is the read's.
func CountRows(b arrow.RecordBatch) int64 { return b.NumRows() }

// Checksum is the probe of the correctness tests: the sum over all values
// of a 32-bit hash of (column name, value), with nulls hashed alike. It does
// not depend on how rows are cut into batches nor on their order, and it
// stays far from int64 overflow (under 2^32 per value).
func Checksum(b arrow.RecordBatch) int64 {
	var sum int64
	for i, col := range b.Columns() {
		salt := hashString(b.Schema().Field(i).Name)
		for j := range col.Len() {
			var v uint64
			if col.IsNull(j) {
				v = 0x6e756c6c // "null"
			} else {
				switch a := col.(type) {
				case *array.Int64:
					v = uint64(a.Value(j))
				case *array.Float64:
					v = math.Float64bits(a.Value(j))
				case *array.String:
					v = hashString(a.Value(j))
				case *array.LargeString:
					v = hashString(a.Value(j))
				case *array.Boolean:
					v = 1
					if a.Value(j) {
						v = 2
					}
				default:
					panic(fmt.Sprintf("bench.Checksum: column %s of type %s", b.Schema().Field(i).Name, col.DataType()))
				}
			}
			sum += int64(mix64(v^salt) >> 32)
		}
	}
	return sum
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// mix64 is splitmix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// ArrowBytes is the size of a batch's Arrow buffers (validity, offsets,
// values, of every column): the decoded bytes a reader produced.
func ArrowBytes(b arrow.RecordBatch) int64 {
	var n int64
	for _, col := range b.Columns() {
		n += dataBytes(col.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, buf := range d.Buffers() {
		if buf != nil {
			n += int64(buf.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}

// ParquetColumnBytes sums the compressed bytes of the named columns' chunks
// over all row groups: what a projected read fetches of the file.
func ParquetColumnBytes(path string, cols []string) (int64, error) {
	pr, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, err
	}
	defer pr.Close()
	md := pr.MetaData()
	var n int64
	for _, c := range cols {
		j := md.Schema.ColumnIndexByName(c)
		if j < 0 {
			return 0, fmt.Errorf("%s: no column %q", path, c)
		}
		for rg := range md.NumRowGroups() {
			cc, err := md.RowGroup(rg).ColumnChunk(j)
			if err != nil {
				return 0, err
			}
			n += cc.TotalCompressedSize()
		}
	}
	return n, nil
}

// ScanResult is what a baseline scan returns.
type ScanResult struct {
	Rows       int64
	Probe      int64 // the sum of the probe over all batches
	ArrowBytes int64 // decoded bytes (ArrowBytes summed)
}

func (r *ScanResult) add(o ScanResult) {
	r.Rows += o.Rows
	r.Probe += o.Probe
	r.ArrowBytes += o.ArrowBytes
}

// scanRecords feeds the batches of rr to probe.
func scanRecords(rr interface {
	Next() bool
	RecordBatch() arrow.RecordBatch
	Err() error
}, probe Probe) (ScanResult, error) {
	var r ScanResult
	for rr.Next() {
		b := rr.RecordBatch()
		r.Rows += b.NumRows()
		r.Probe += probe(b)
		r.ArrowBytes += ArrowBytes(b)
	}
	err := rr.Err()
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return r, err
}

// openPqarrow opens a Parquet file with pqarrow: the reader properties are
// arrow-go's defaults (whole column chunks read at once, as Shoal's
// default), batches of formats.DefaultBatchRows rows (Shoal's default).
func openPqarrow(src parquet.ReaderAtSeeker, path string) (*file.Reader, *pqarrow.FileReader, error) {
	var pr *file.Reader
	var err error
	if src != nil {
		pr, err = file.NewParquetReader(src)
	} else {
		pr, err = file.OpenParquetFile(path, false)
	}
	if err != nil {
		return nil, nil, err
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: formats.DefaultBatchRows}, memory.DefaultAllocator)
	if err != nil {
		pr.Close()
		return nil, nil, err
	}
	return pr, fr, nil
}

// leafIndices maps column names to leaf column indices (nil: all).
func leafIndices(pr *file.Reader, cols []string) ([]int, error) {
	if cols == nil {
		return nil, nil
	}
	out := make([]int, len(cols))
	for i, c := range cols {
		out[i] = pr.MetaData().Schema.ColumnIndexByName(c)
		if out[i] < 0 {
			return nil, fmt.Errorf("no column %q", c)
		}
	}
	return out, nil
}

// PqarrowScan is the Parquet baseline: arrow-go's pqarrow reading the
// columns cols (nil: all) of a local file, every batch passed to probe.
// With 1 worker one reader reads all row groups in one record reader; with
// more, each goroutine opens its own reader and takes row groups from a
// shared counter (the dynamic assignment Shoal's worker pool gives its
// one-task-per-row-group reads).
func PqarrowScan(ctx context.Context, path string, cols []string, workers int, probe Probe) (ScanResult, error) {
	return pqarrowScan(ctx, func() (*file.Reader, *pqarrow.FileReader, error) { return openPqarrow(nil, path) }, cols, workers, probe)
}

// PqarrowScanFile is PqarrowScan over a storage.File (an S3 object read
// with ranged GETs through Shoal's storage layer); open is called once per
// goroutine.
func PqarrowScanFile(ctx context.Context, open func() (storage.File, error), cols []string, workers int, probe Probe) (ScanResult, error) {
	var mu sync.Mutex
	var files []storage.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	return pqarrowScan(ctx, func() (*file.Reader, *pqarrow.FileReader, error) {
		f, err := open()
		if err != nil {
			return nil, nil, err
		}
		mu.Lock()
		files = append(files, f)
		mu.Unlock()
		return openPqarrow(io.NewSectionReader(f, 0, f.Size()), "")
	}, cols, workers, probe)
}

func pqarrowScan(ctx context.Context, open func() (*file.Reader, *pqarrow.FileReader, error), cols []string, workers int, probe Probe) (ScanResult, error) {
	if workers <= 1 {
		pr, fr, leaves, err := openCols(open, cols)
		if err != nil {
			return ScanResult{}, err
		}
		defer pr.Close()
		rr, err := fr.GetRecordReader(ctx, leaves, nil)
		if err != nil {
			return ScanResult{}, err
		}
		defer rr.Release()
		return scanRecords(rr, probe)
	}
	return scanShared(workers, func(next func() int) (ScanResult, error) {
		pr, fr, leaves, err := openCols(open, cols)
		if err != nil {
			return ScanResult{}, err
		}
		defer pr.Close()
		var mine ScanResult
		for rg := next(); rg < pr.NumRowGroups(); rg = next() {
			r, err := scanRowGroup(ctx, fr, leaves, rg, probe)
			if err != nil {
				return ScanResult{}, err
			}
			mine.add(r)
		}
		return mine, nil
	})
}

// openCols opens a reader with open and maps cols (nil: all) to its leaf
// column indices; the caller closes pr.
func openCols(open func() (*file.Reader, *pqarrow.FileReader, error), cols []string) (pr *file.Reader, fr *pqarrow.FileReader, leaves []int, err error) {
	pr, fr, err = open()
	if err != nil {
		return nil, nil, nil, err
	}
	if leaves, err = leafIndices(pr, cols); err != nil {
		pr.Close()
		return nil, nil, nil, err
	}
	return pr, fr, leaves, nil
}

// scanShared runs workers goroutines (at least one) that share the units
// of work 0, 1, 2, ... through one counter, as Shoal's worker pool shares
// its tasks: each calls worker, which takes units with next until it
// reaches one that does not exist, and returns what it scanned. The sum of
// all is returned, with the errors of all joined.
func scanShared(workers int, worker func(next func() int) (ScanResult, error)) (ScanResult, error) {
	var counter atomic.Int64
	next := func() int { return int(counter.Add(1) - 1) }
	var mu sync.Mutex
	var total ScanResult
	errs := make([]error, max(workers, 1))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			mine, err := worker(next)
			if err != nil {
				errs[w] = err
				return
			}
			mu.Lock()
			total.add(mine)
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// scanRowGroup feeds row group rg of fr, columns leaves, to probe.
func scanRowGroup(ctx context.Context, fr *pqarrow.FileReader, leaves []int, rg int, probe Probe) (ScanResult, error) {
	rr, err := fr.GetRecordReader(ctx, leaves, []int{rg})
	if err != nil {
		return ScanResult{}, err
	}
	defer rr.Release()
	return scanRecords(rr, probe)
}

var probeSchema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

// probeBatch is the MapBatches function of the Shoal side: the batch
// becomes one row holding probe(batch), so that Sum("n") afterwards needs
// every row decoded but adds almost nothing.
func probeBatch(probe Probe) dataset.BatchFunc {
	return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		col := blocks.NumericArray([]int64{probe(b)})
		defer col.Release()
		return array.NewRecordBatch(probeSchema, []arrow.Array{col}, 1), nil
	}
}

// ShoalProbe runs ds.MapBatches(probe as one row).Sum("n"): the Shoal side
// of every I/O workload. (Count would answer from the footers without
// reading anything.)
func ShoalProbe(ctx context.Context, ds *dataset.Dataset, probe Probe) (int64, error) {
	s, err := ds.MapBatches(probeBatch(probe)).Sum(ctx, "n")
	if err != nil {
		return 0, err
	}
	return s.Int64(), nil
}

// ShoalParquet is the dataset ReadParquet(path) on rt, projected to cols
// when cols is not nil.
func ShoalParquet(ctx context.Context, rt exec.Runtime, path string, cols []string, opts ...dataset.ReadOption) *dataset.Dataset {
	opts = append([]dataset.ReadOption{dataset.WithRuntime(rt)}, opts...)
	if cols != nil {
		opts = append(opts, dataset.Columns(cols...))
	}
	return dataset.ReadParquet(ctx, path, opts...)
}

// ShoalParquetScan reads a Parquet file (local or s3://) with Shoal on rt
// and returns the probe's sum.
func ShoalParquetScan(ctx context.Context, rt exec.Runtime, path string, cols []string, probe Probe, opts ...dataset.ReadOption) (int64, error) {
	return ShoalProbe(ctx, ShoalParquet(ctx, rt, path, cols, opts...), probe)
}

// csvReadOptions are the arrow/csv options of the baseline: the schema is
// given (no inference), a header line, empty fields are nulls, batches of
// formats.DefaultBatchRows rows.
func csvReadOptions() []csv.Option {
	return []csv.Option{
		csv.WithHeader(true),
		csv.WithNullReader(false, ""),
		csv.WithChunk(formats.DefaultBatchRows),
	}
}

// ArrowCSVScan is the CSV baseline: arrow-go's arrow/csv reader with the
// schema given, over files taken from a shared counter by workers
// goroutines (one file at a time per goroutine, as Shoal reads one file per
// task).
func ArrowCSVScan(files []string, workers int, probe Probe) (ScanResult, error) {
	return scanShared(workers, func(next func() int) (ScanResult, error) {
		var mine ScanResult
		for i := next(); i < len(files); i = next() {
			r, err := arrowCSVFile(files[i], probe)
			if err != nil {
				return ScanResult{}, err
			}
			mine.add(r)
		}
		return mine, nil
	})
}

func arrowCSVFile(path string, probe Probe) (ScanResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return ScanResult{}, err
	}
	defer f.Close()
	rd := csv.NewReader(f, IOSchema, csvReadOptions()...)
	defer rd.Release()
	return scanRecords(rd, probe)
}

// ShoalCSVScan reads the CSV files of dir with Shoal's ReadCSV on rt, the
// schema given as to the baseline (dataset.Schema: no inference), and
// returns the probe's sum.
func ShoalCSVScan(ctx context.Context, rt exec.Runtime, dir string, probe Probe) (int64, error) {
	ds := dataset.ReadCSV(ctx, dir, dataset.WithRuntime(rt), dataset.Schema(IOSchema))
	return ShoalProbe(ctx, ds, probe)
}

// OneCSV returns the CSV files of d joined into one file (one header),
// written on first use beside them: the single large file that Shoal
// reads in byte ranges.
func OneCSV(d *IOData) (path string, size int64, err error) {
	path = filepath.Join(d.Dir, "one.csv")
	if st, err := os.Stat(path); err == nil {
		return path, st.Size(), nil
	}
	err = WriteFileAtomic(path, func(w io.Writer) error {
		for i, f := range d.CSVFiles {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if i > 0 {
				data = data[bytes.IndexByte(data, '\n')+1:] // the header, once
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	return path, st.Size(), nil
}

// S3 helpers: the environment of scripts/test.

// S3 test environment variables (scripts/test starts versitygw and sets them).
const (
	EnvS3Endpoint  = "SHOAL_TEST_S3_ENDPOINT"
	EnvS3AccessKey = "SHOAL_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey = "SHOAL_TEST_S3_SECRET_KEY"
)

// S3FromEnv returns S3 options for the test server, or ok=false when
// SHOAL_TEST_S3_ENDPOINT is not set.
func S3FromEnv() (o storage.S3Options, ok bool) {
	ep := os.Getenv(EnvS3Endpoint)
	if ep == "" {
		return storage.S3Options{}, false
	}
	return storage.S3Options{
		Endpoint:        ep,
		Region:          "us-east-1",
		AccessKeyID:     os.Getenv(EnvS3AccessKey),
		SecretAccessKey: os.Getenv(EnvS3SecretKey),
	}, true
}

// S3Upload makes bucket (if it does not exist) and uploads the local file
// to bucket/key with the storage layer's multipart writer. It returns the
// filesystem and a cleanup that deletes the bucket.
func S3Upload(ctx context.Context, o storage.S3Options, bucket, key, local string) (*s3.FileSystem, func(), error) {
	fs, err := s3.New(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	if _, err := fs.Client().CreateBucket(ctx, &s3api.CreateBucketInput{Bucket: &bucket}); err != nil {
		if _, statErr := fs.List(ctx, bucket); statErr != nil {
			return nil, nil, fmt.Errorf("create bucket %s: %w", bucket, err)
		}
	}
	cleanup := func() {
		c := context.Background()
		_ = fs.RemoveAll(c, bucket)
		_, _ = fs.Client().DeleteBucket(c, &s3api.DeleteBucketInput{Bucket: &bucket})
	}
	src, err := os.Open(local)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	defer src.Close()
	w, err := fs.Create(ctx, bucket+"/"+key)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	if _, err := io.Copy(w, src); err != nil {
		w.Abort()
		cleanup()
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		cleanup()
		return nil, nil, err
	}
	return fs, cleanup, nil
}

// MemCopy copies src to dst with workers goroutines, each a contiguous
// share: the machine's memory copy bandwidth, for context.
func MemCopy(dst, src []byte, workers int) {
	n := len(src)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() { copy(dst[lo:hi], src[lo:hi]) })
	}
	wg.Wait()
}

// PqarrowScanFiles is PqarrowScan over several local files read as one
// data set: the units of work are (file, row group) pairs, taken in order
// from a shared counter by workers goroutines, each of which opens a file
// once when it first needs it (with 1 worker, one goroutine reads every row
// group of every file in order). probe is called concurrently when workers
// > 1.
func PqarrowScanFiles(ctx context.Context, paths []string, cols []string, workers int, probe Probe) (ScanResult, error) {
	type unit struct{ file, rg int }
	var units []unit
	for i, p := range paths {
		pr, err := file.OpenParquetFile(p, false)
		if err != nil {
			return ScanResult{}, err
		}
		for rg := range pr.NumRowGroups() {
			units = append(units, unit{i, rg})
		}
		pr.Close()
	}
	return scanShared(workers, func(next func() int) (ScanResult, error) {
		type opened struct {
			pr     *file.Reader
			fr     *pqarrow.FileReader
			leaves []int
		}
		open := map[int]opened{}
		defer func() {
			for _, o := range open {
				o.pr.Close()
			}
		}()
		var mine ScanResult
		for i := next(); i < len(units); i = next() {
			u := units[i]
			o, ok := open[u.file]
			if !ok {
				pr, fr, leaves, err := openCols(func() (*file.Reader, *pqarrow.FileReader, error) {
					return openPqarrow(nil, paths[u.file])
				}, cols)
				if err != nil {
					return ScanResult{}, err
				}
				o = opened{pr, fr, leaves}
				open[u.file] = o
			}
			r, err := scanRowGroup(ctx, o.fr, o.leaves, u.rg, probe)
			if err != nil {
				return ScanResult{}, err
			}
			mine.add(r)
		}
		return mine, nil
	})
}
