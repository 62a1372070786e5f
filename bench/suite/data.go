// Package suite is shoalbench: the workloads of SPEC.md run on Shoal, on
// the peer engines (DuckDB and Polars through bench/peers) and on raw
// arrow-go baselines, over data generated here, with every engine's answer
// checked against Shoal's. Run is the whole harness; cmd/shoalbench is its
// flag wrapper.
package suite

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/shoal-data/shoal/bench"
)

// Size is one size of the data: Rows rows in the main tables.
type Size struct {
	Name string
	Rows int64
}

// The sizes of SPEC.md.
var (
	SizeS = Size{Name: "S", Rows: 200_000}
	SizeM = Size{Name: "M", Rows: 10_000_000}
	SizeL = Size{Name: "L", Rows: 30_000_000}
)

// SizeByName returns the size called name (S, M or L).
func SizeByName(name string) (Size, error) {
	for _, s := range []Size{SizeS, SizeM, SizeL} {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
	}
	return Size{}, fmt.Errorf("suite: unknown size %q (want S, M or L)", name)
}

const (
	// TripsFiles and CSVFiles are the file counts of trips/ and trips_csv/.
	TripsFiles = 8
	CSVFiles   = 8
	// maxRowGroupRows bounds every row group.
	maxRowGroupRows = 1_000_000
	// padLen is the length of shuffle.parquet's pad column.
	padLen = 180
	// sortStrLen is the length of sortdata.parquet's s column.
	sortStrLen = 12
	// DefaultSeed seeds the generator unless Config.Seed says otherwise.
	DefaultSeed = 0x5ea1
	// dataVersion names the generator: a cache made by another version (or
	// seed, or size) is regenerated.
	dataVersion = "shoalbench-data-v2"
	// doneFile is written last into a complete data directory.
	doneFile = "DONE"
)

// CSVRows is the row count of trips_csv/: the first quarter of trips.
func (s Size) CSVRows() int64 { return s.Rows / 4 }

// GroupKeys1M is the key range of groupby.parquet's k1m.
func (s Size) GroupKeys1M() int64 {
	if s.Rows < 10_000_000 {
		return max(s.Rows/10, 1)
	}
	return 1_000_000
}

// JoinKeys is the key range of the join: left keys are uniform in
// [0, JoinKeys); the right side holds each key not ≡ 0 mod 10 once.
func (s Size) JoinKeys() int64 { return max(s.Rows/10, 1) }

// JoinRightRows is the row count of join_right.parquet.
func (s Size) JoinRightRows() int64 { k := s.JoinKeys(); return k - (k+9)/10 }

// ShuffleRows is the row count of shuffle.parquet (~200 decoded bytes per
// row): N, but at most 20M (4 GB decoded) so that size L fits a
// workstation's memory.
func (s Size) ShuffleRows() int64 { return min(s.Rows, 20_000_000) }

// Data is the generated data of one size, on local disk.
type Data struct {
	Size Size
	Seed uint64
	Dir  string // dir/<size>

	TripsDir  string   // trips/
	Trips     []string // trips/part-NNN.parquet
	TripsCSV  string   // trips_csv/
	CSVs      []string // trips_csv/part-NNN.csv
	CSVOne    string   // trips_one.csv: the rows of trips_csv/ in one file
	GroupBy   string
	SortData  string
	JoinLeft  string
	JoinRight string
	Shuffle   string

	LineitemDir string   // lineitem/
	Lineitem    []string // lineitem/part-NNN.parquet
	TopK        string
	Zones       string

	TotalBytes int64 // of all files
}

func dataPaths(dir string, size Size, seed uint64) *Data {
	d := DataIn(filepath.Join(dir, size.Name))
	d.Size, d.Seed = size, seed
	return d
}

// DataIn is the layout of SPEC.md in dir (the files are not checked), for
// running the workloads over data made elsewhere (bench/peers's tests).
func DataIn(dir string) *Data {
	d := &Data{Dir: dir}
	d.TripsDir = filepath.Join(d.Dir, "trips")
	d.TripsCSV = filepath.Join(d.Dir, "trips_csv")
	for i := range TripsFiles {
		d.Trips = append(d.Trips, filepath.Join(d.TripsDir, fmt.Sprintf("part-%03d.parquet", i)))
	}
	for i := range CSVFiles {
		d.CSVs = append(d.CSVs, filepath.Join(d.TripsCSV, fmt.Sprintf("part-%03d.csv", i)))
	}
	d.CSVOne = filepath.Join(d.Dir, "trips_one.csv")
	d.GroupBy = filepath.Join(d.Dir, "groupby.parquet")
	d.SortData = filepath.Join(d.Dir, "sortdata.parquet")
	d.JoinLeft = filepath.Join(d.Dir, "join_left.parquet")
	d.JoinRight = filepath.Join(d.Dir, "join_right.parquet")
	d.Shuffle = filepath.Join(d.Dir, "shuffle.parquet")
	d.exprPaths()
	return d
}

func (d *Data) files() []string {
	out := slices.Concat(d.Trips, d.CSVs, d.Lineitem)
	return append(out, d.CSVOne, d.GroupBy, d.SortData, d.JoinLeft, d.JoinRight, d.Shuffle, d.TopK, d.Zones)
}

// PrepareData returns the data of size under dir/<size>, generating it
// when the directory lacks the completion marker of this generator
// version, seed and size (the marker is written last, so an interrupted
// generation is redone). Files are generated in parallel, up to
// GOMAXPROCS at once, largest first.
func PrepareData(dir string, size Size, seed uint64, logw io.Writer) (*Data, error) {
	d := dataPaths(dir, size, seed)
	stamp := filepath.Join(d.Dir, doneFile)
	want := fmt.Sprintf("%s seed=%d size=%s rows=%d\n", dataVersion, seed, size.Name, size.Rows)
	if got, err := os.ReadFile(stamp); err != nil || string(got) != want {
		if logw != nil {
			fmt.Fprintf(logw, "shoalbench: generating size %s (%d rows, seed %d) in %s ...\n", size.Name, size.Rows, seed, d.Dir)
		}
		t0 := time.Now()
		if err := os.RemoveAll(d.Dir); err != nil {
			return nil, err
		}
		if err := generate(d); err != nil {
			return nil, err
		}
		if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
			return nil, err
		}
		if logw != nil {
			fmt.Fprintf(logw, "shoalbench: generated in %.1fs\n", time.Since(t0).Seconds())
		}
	}
	if _, err := os.Stat(d.CSVOne); errors.Is(err, fs.ErrNotExist) {
		// Added after the data layout: made on first use rather than by
		// regenerating every file.
		if err := writeTripsCSV(d.CSVOne, d.Seed, 0, d.Size.CSVRows()); err != nil {
			return nil, err
		}
	}
	for _, f := range d.files() {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("suite: data incomplete (remove %s to regenerate): %w", d.Dir, err)
		}
		d.TotalBytes += st.Size()
	}
	return d, nil
}

// genJob writes one file; cost orders the jobs (largest first).
type genJob struct {
	cost int64
	run  func() error
}

func generate(d *Data) error {
	for _, dir := range []string{d.TripsDir, d.TripsCSV, d.LineitemDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	n, seed := d.Size.Rows, d.Seed
	var jobs []genJob
	perFile := func(total int64, files, i int) (lo, hi int64) {
		return total * int64(i) / int64(files), total * int64(i+1) / int64(files)
	}
	for i, p := range d.Trips {
		lo, hi := perFile(n, len(d.Trips), i)
		jobs = append(jobs, genJob{cost: (hi - lo) * 60, run: func() error {
			return writeParquet(p, tripsSchema, hi-lo, tripsRowGroupRows(hi-lo), nil,
				func(a, b int64) arrow.RecordBatch { return tripsBlock(seed, lo+a, lo+b) })
		}})
	}
	for i, p := range d.CSVs {
		lo, hi := perFile(d.Size.CSVRows(), len(d.CSVs), i)
		jobs = append(jobs, genJob{cost: (hi - lo) * 100, run: func() error { return writeTripsCSV(p, seed, lo, hi) }})
	}
	jobs = append(jobs, genJob{cost: d.Size.CSVRows() * 100, run: func() error { return writeTripsCSV(d.CSVOne, seed, 0, d.Size.CSVRows()) }})
	rg := singleRowGroupRows(n)
	jobs = append(jobs,
		genJob{cost: n * 20, run: func() error {
			k1m := d.Size.GroupKeys1M()
			return writeParquet(d.GroupBy, groupBySchema, n, rg, nil, func(a, b int64) arrow.RecordBatch { return groupByBlock(seed, k1m, a, b) })
		}},
		genJob{cost: n * 40, run: func() error {
			return writeParquet(d.SortData, sortSchema, n, rg, nil, func(a, b int64) arrow.RecordBatch { return sortBlock(seed, n, a, b) })
		}},
		genJob{cost: n * 16, run: func() error {
			keys := d.Size.JoinKeys()
			return writeParquet(d.JoinLeft, joinLeftSchema, n, rg, nil, func(a, b int64) arrow.RecordBatch { return joinLeftBlock(seed, keys, a, b) })
		}},
		genJob{cost: d.Size.JoinKeys() * 16, run: func() error {
			keys := JoinRightKeys(seed, d.Size.JoinKeys())
			return writeParquet(d.JoinRight, joinRightSchema, int64(len(keys)), singleRowGroupRows(int64(len(keys))), nil,
				func(a, b int64) arrow.RecordBatch { return joinRightBlock(seed, keys[a:b]) })
		}},
		genJob{cost: d.Size.ShuffleRows() * 200, run: func() error {
			sn := d.Size.ShuffleRows()
			// The pad is incompressible by dictionary: plain encoding.
			return writeParquet(d.Shuffle, shuffleSchema, sn, singleRowGroupRows(sn),
				[]parquet.WriterProperty{parquet.WithDictionaryFor("pad", false)},
				func(a, b int64) arrow.RecordBatch { return shuffleBlock(seed, a, b) })
		}},
	)
	jobs = append(jobs, d.exprJobs()...)
	slices.SortStableFunc(jobs, func(a, b genJob) int { return int(b.cost - a.cost) })
	sem := make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = j.run()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tripsRowGroupRows cuts a trips file into equal row groups of at most
// maxRowGroupRows rows.
func tripsRowGroupRows(rows int64) int64 {
	groups := (rows + maxRowGroupRows - 1) / maxRowGroupRows
	return max((rows+max(groups, 1)-1)/max(groups, 1), 1)
}

// singleRowGroupRows cuts a one-file table into at least 8 row groups (so
// that every engine can read it in parallel) of at most maxRowGroupRows.
func singleRowGroupRows(rows int64) int64 {
	return max(min((rows+7)/8, maxRowGroupRows), 1)
}

const genChunkRows = 64 << 10

// writeParquet writes rows [0, n) built by gen (called on chunks of
// genChunkRows) with pqarrow (bench.WriteParquetFile): snappy, statistics,
// row groups of rgRows.
func writeParquet(path string, schema *arrow.Schema, n, rgRows int64, extra []parquet.WriterProperty, gen func(lo, hi int64) arrow.RecordBatch) error {
	props := parquet.NewWriterProperties(append([]parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(rgRows),
		parquet.WithStats(true),
		parquet.WithCreatedBy("shoalbench generator (arrow-go pqarrow)"),
	}, extra...)...)
	return bench.WriteParquetFile(path, schema, props, pqarrow.DefaultWriterProps(), func(fw *pqarrow.FileWriter) error {
		for lo := int64(0); lo < n; lo += genChunkRows {
			rec := gen(lo, min(lo+genChunkRows, n))
			err := fw.WriteBuffered(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// rng is splitmix64: the generator draws every row from its own stream,
// seeded by (seed, table, row), so that a row's values depend on nothing
// else and any range of rows can be made alone, in any order.
type rng struct{ s uint64 }

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Table ids of the row streams.
const (
	tTrips uint64 = iota + 1
	tGroupBy
	tSort
	tJoinLeft
	tJoinRight
	tShuffle
)

func rowRNG(seed, table uint64, row int64) rng {
	return rng{s: mix64(seed*0x100000001b3^table<<56) ^ uint64(row)*0xd1342543de82ef95}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float is uniform in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn is uniform in [0, n) (the modulo bias is below 2^-40 for our n).
func (r *rng) intn(n int64) int64 { return int64(r.next() % uint64(n)) }

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// Trip is one row of trips (and, made dirty, of trips_csv).
type Trip struct {
	ID, Vendor     int64
	PickupSec      int64 // seconds since the Unix epoch (whole seconds)
	Passengers     int64
	Distance       float64
	Fare, Tip      float64
	Payment        string
	Zone           int64
	dirtyRoll      uint64
	PassengersNull bool // passengers is null (trips_csv only)
}

// Payments are the values of trips.payment.
var Payments = []string{"card", "cash", "dispute", "unknown"}

var tripsEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// TripRow is row i of trips.
func TripRow(seed uint64, i int64) Trip {
	r := rowRNG(seed, tTrips, i)
	t := Trip{ID: i}
	t.Vendor = 1 + r.intn(4)
	t.PickupSec = tripsEpoch + r.intn(366*86400)
	t.Passengers = 1 + r.intn(6)
	t.Distance = round2(0.1 + r.float()*49.9)
	t.Fare = round2(3 + t.Distance*2.5 + r.float()*5)
	switch p := r.intn(100); {
	case p < 60:
		t.Payment = "card"
	case p < 90:
		t.Payment = "cash"
	case p < 95:
		t.Payment = "dispute"
	default:
		t.Payment = "unknown"
	}
	tipFrac := r.float() * 0.3
	if t.Payment == "card" {
		t.Tip = round2(t.Fare * tipFrac)
	}
	t.Zone = 1 + r.intn(265)
	t.dirtyRoll = r.next()
	return t
}

// CSVTripRow is row i of trips_csv: TripRow made dirty for about 2% of
// the rows (a negative fare, no passenger count, or a zero distance).
func CSVTripRow(seed uint64, i int64) Trip {
	t := TripRow(seed, i)
	if t.dirtyRoll%100 < 2 {
		switch (t.dirtyRoll >> 8) % 3 {
		case 0:
			t.Fare = -t.Fare
		case 1:
			t.PassengersNull = true
		case 2:
			t.Distance = 0
		}
	}
	return t
}

var tripsTS = &arrow.TimestampType{Unit: arrow.Microsecond}

var tripsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "vendor", Type: arrow.PrimitiveTypes.Int64},
	{Name: "pickup_ts", Type: tripsTS},
	{Name: "passengers", Type: arrow.PrimitiveTypes.Int64},
	{Name: "distance", Type: arrow.PrimitiveTypes.Float64},
	{Name: "fare", Type: arrow.PrimitiveTypes.Float64},
	{Name: "tip", Type: arrow.PrimitiveTypes.Float64},
	{Name: "payment", Type: arrow.BinaryTypes.String},
	{Name: "zone", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// TripsCSVSchema is the schema of trips_csv (passengers may be null).
var TripsCSVSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "vendor", Type: arrow.PrimitiveTypes.Int64},
	{Name: "pickup_ts", Type: tripsTS},
	{Name: "passengers", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "distance", Type: arrow.PrimitiveTypes.Float64},
	{Name: "fare", Type: arrow.PrimitiveTypes.Float64},
	{Name: "tip", Type: arrow.PrimitiveTypes.Float64},
	{Name: "payment", Type: arrow.BinaryTypes.String},
	{Name: "zone", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func tripsBlock(seed uint64, lo, hi int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, tripsSchema)
	defer b.Release()
	b.Reserve(int(hi - lo))
	id := b.Field(0).(*array.Int64Builder)
	vendor := b.Field(1).(*array.Int64Builder)
	ts := b.Field(2).(*array.TimestampBuilder)
	pass := b.Field(3).(*array.Int64Builder)
	dist := b.Field(4).(*array.Float64Builder)
	fare := b.Field(5).(*array.Float64Builder)
	tip := b.Field(6).(*array.Float64Builder)
	pay := b.Field(7).(*array.StringBuilder)
	zone := b.Field(8).(*array.Int64Builder)
	for i := lo; i < hi; i++ {
		t := TripRow(seed, i)
		id.UnsafeAppend(t.ID)
		vendor.UnsafeAppend(t.Vendor)
		ts.UnsafeAppend(arrow.Timestamp(t.PickupSec * 1_000_000))
		pass.UnsafeAppend(t.Passengers)
		dist.UnsafeAppend(t.Distance)
		fare.UnsafeAppend(t.Fare)
		tip.UnsafeAppend(t.Tip)
		pay.Append(t.Payment)
		zone.UnsafeAppend(t.Zone)
	}
	return b.NewRecordBatch()
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// writeTripsCSV writes rows [lo, hi) of trips_csv with encoding/csv: a
// header line, pickup_ts as "2024-01-05 13:22:10", an empty field for a
// null passenger count.
func writeTripsCSV(path string, seed uint64, lo, hi int64) error {
	return bench.WriteFileAtomic(path, func(f io.Writer) error {
		w := csv.NewWriter(f)
		if err := w.Write([]string{"id", "vendor", "pickup_ts", "passengers", "distance", "fare", "tip", "payment", "zone"}); err != nil {
			return err
		}
		rec := make([]string, 9)
		for i := lo; i < hi; i++ {
			t := CSVTripRow(seed, i)
			rec[0] = strconv.FormatInt(t.ID, 10)
			rec[1] = strconv.FormatInt(t.Vendor, 10)
			rec[2] = time.Unix(t.PickupSec, 0).UTC().Format(time.DateTime)
			rec[3] = ""
			if !t.PassengersNull {
				rec[3] = strconv.FormatInt(t.Passengers, 10)
			}
			rec[4] = fmtFloat(t.Distance)
			rec[5] = fmtFloat(t.Fare)
			rec[6] = fmtFloat(t.Tip)
			rec[7] = t.Payment
			rec[8] = strconv.FormatInt(t.Zone, 10)
			if err := w.Write(rec); err != nil {
				return err
			}
		}
		w.Flush()
		return w.Error()
	})
}

var groupBySchema = arrow.NewSchema([]arrow.Field{
	{Name: "k100", Type: arrow.PrimitiveTypes.Int64},
	{Name: "k1m", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// GroupByRow is row i of groupby.parquet.
func GroupByRow(seed uint64, k1mRange, i int64) (k100, k1m int64, v float64) {
	r := rowRNG(seed, tGroupBy, i)
	return r.intn(100), r.intn(k1mRange), r.float() * 100
}

func groupByBlock(seed uint64, k1mRange, lo, hi int64) arrow.RecordBatch {
	n := hi - lo
	a, b, v := make([]int64, n), make([]int64, n), make([]float64, n)
	for i := range n {
		a[i], b[i], v[i] = GroupByRow(seed, k1mRange, lo+i)
	}
	return newRecord(groupBySchema, n, int64Array(a), int64Array(b), float64Array(v))
}

var sortSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "s", Type: arrow.BinaryTypes.String},
	{Name: "p1", Type: arrow.PrimitiveTypes.Float64},
	{Name: "p2", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// SortRow is row i of sortdata.parquet: k uniform in [0, n) (so about a
// third of the keys repeat), s 12 random lowercase letters.
func SortRow(seed uint64, n, i int64) (k int64, s [sortStrLen]byte, p1 float64, p2 int64) {
	r := rowRNG(seed, tSort, i)
	k = r.intn(n)
	x, y := r.next(), r.next()
	for j := range 6 {
		s[j] = 'a' + byte(x%26)
		x /= 26
		s[6+j] = 'a' + byte(y%26)
		y /= 26
	}
	return k, s, r.float(), int64(r.next() >> 1)
}

func sortBlock(seed uint64, n, lo, hi int64) arrow.RecordBatch {
	rows := hi - lo
	k, p1, p2 := make([]int64, rows), make([]float64, rows), make([]int64, rows)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	defer sb.Release()
	sb.Reserve(int(rows))
	sb.ReserveData(int(rows) * sortStrLen)
	for i := range rows {
		var s [sortStrLen]byte
		k[i], s, p1[i], p2[i] = SortRow(seed, n, lo+i)
		sb.BinaryBuilder.Append(s[:])
	}
	return newRecord(sortSchema, rows, int64Array(k), sb.NewArray(), float64Array(p1), int64Array(p2))
}

var joinLeftSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "a", Type: arrow.PrimitiveTypes.Float64},
}, nil)

var joinRightSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "b", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// JoinLeftRow is row i of join_left.parquet.
func JoinLeftRow(seed uint64, keys, i int64) (k int64, a float64) {
	r := rowRNG(seed, tJoinLeft, i)
	return r.intn(keys), r.float()
}

// JoinB is join_right's b for key k.
func JoinB(seed uint64, k int64) float64 {
	r := rowRNG(seed, tJoinRight, k)
	return r.float() * 10
}

// JoinRightKeys are join_right's keys in file order: the keys of [0, keys)
// not ≡ 0 mod 10, permuted.
func JoinRightKeys(seed uint64, keys int64) []int64 {
	out := make([]int64, 0, keys)
	for k := range keys {
		if k%10 != 0 {
			out = append(out, k)
		}
	}
	r := rand.New(rand.NewPCG(seed, tJoinRight))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func joinLeftBlock(seed uint64, keys, lo, hi int64) arrow.RecordBatch {
	n := hi - lo
	k, a := make([]int64, n), make([]float64, n)
	for i := range n {
		k[i], a[i] = JoinLeftRow(seed, keys, lo+i)
	}
	return newRecord(joinLeftSchema, n, int64Array(k), float64Array(a))
}

func joinRightBlock(seed uint64, keys []int64) arrow.RecordBatch {
	k := slices.Clone(keys)
	b := make([]float64, len(k))
	for i, key := range k {
		b[i] = JoinB(seed, key)
	}
	return newRecord(joinRightSchema, int64(len(k)), int64Array(k), float64Array(b))
}

var shuffleSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	{Name: "pad", Type: arrow.BinaryTypes.String},
}, nil)

// shuffleBlock is rows [lo, hi) of shuffle.parquet: id = the row number, x
// uniform, pad 180 letters (a random 20-letter word, 9 times).
func shuffleBlock(seed uint64, lo, hi int64) arrow.RecordBatch {
	n := hi - lo
	id, x := make([]int64, n), make([]float64, n)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	defer sb.Release()
	sb.Reserve(int(n))
	sb.ReserveData(int(n) * padLen)
	var pad [padLen]byte
	for i := range n {
		r := rowRNG(seed, tShuffle, lo+i)
		id[i] = lo + i
		x[i] = r.float()
		for j := 0; j < 20; j += 10 {
			w := r.next()
			for c := range 10 {
				pad[j+c] = 'a' + byte(w%26)
				w /= 26
			}
		}
		for j := 20; j < padLen; j += 20 {
			copy(pad[j:j+20], pad[:20])
		}
		sb.BinaryBuilder.Append(pad[:])
	}
	return newRecord(shuffleSchema, n, int64Array(id), float64Array(x), sb.NewArray())
}

func int64Array(v []int64) arrow.Array {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	return b.NewArray()
}

func float64Array(v []float64) arrow.Array {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	return b.NewArray()
}

func newRecord(schema *arrow.Schema, n int64, cols ...arrow.Array) arrow.RecordBatch {
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecordBatch(schema, cols, n)
}
