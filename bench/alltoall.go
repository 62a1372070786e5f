package bench

// All-to-all workloads: GroupBy().Aggregate, Sort, RandomShuffle and an
// inner Join over data generated in memory by a seeded generator, each
// against a single-goroutine Go baseline over the very same columns. The generator is
// a pure function of (seed, lo, hi), so a block holds the same rows whether
// it was built here (BuildA2ARecords, for the timed runs and the baselines)
// or by Range(n).MapBatches(A2AGen) inside a pipeline (the memory runs).

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// A2ASeed seeds every generator of the all-to-all workloads.
const A2ASeed = 42

// A2ASize is one size of the all-to-all workloads.
type A2ASize struct {
	Name string
	// GroupBy: GroupRows rows, keys uniform in [0, GroupKeys).
	GroupRows, GroupKeys int64
	// Sort: SortRows rows of key, a, f, s.
	SortRows int64
	// Shuffle: ShuffleRows rows of ShuffleWidth int64 columns.
	ShuffleRows  int64
	ShuffleWidth int
	// Join: JoinLeftRows rows of key uniform in [0, JoinRightRows) and a
	// float64 payload, inner-joined with JoinRightRows rows of unique keys
	// 0..JoinRightRows-1 and an int64 payload.
	JoinLeftRows, JoinRightRows int64
	// Blocks is the number of input blocks of every workload (of each side
	// of the join).
	Blocks int
}

// A2ASizes are the sizes: L is the full size (10M-row groupby and sort,
// a 2.05 GB shuffle, 10M x 1M-row join), M a tenth of it, S a few seconds
// in all.
var A2ASizes = map[string]A2ASize{
	"S": {Name: "S", GroupRows: 200_000, GroupKeys: 2_000, SortRows: 200_000, ShuffleRows: 200_000, ShuffleWidth: 8,
		JoinLeftRows: 200_000, JoinRightRows: 20_000, Blocks: 16},
	"M": {Name: "M", GroupRows: 1_000_000, GroupKeys: 10_000, SortRows: 1_000_000, ShuffleRows: 3_200_000, ShuffleWidth: 8,
		JoinLeftRows: 1_000_000, JoinRightRows: 100_000, Blocks: 100},
	"L": {Name: "L", GroupRows: 10_000_000, GroupKeys: 100_000, SortRows: 10_000_000, ShuffleRows: 32_000_000, ShuffleWidth: 8,
		JoinLeftRows: 10_000_000, JoinRightRows: 1_000_000, Blocks: 200},
}

// A2AWorkloads are the workload names, in table order.
var A2AWorkloads = []string{"groupby", "sort", "shuffle", "join"}

// Rows returns the input row count of a workload.
func (s A2ASize) Rows(workload string) int64 {
	switch workload {
	case "groupby":
		return s.GroupRows
	case "sort":
		return s.SortRows
	case "shuffle":
		return s.ShuffleRows
	case "join":
		return s.JoinLeftRows + s.JoinRightRows
	}
	return 0
}

// sortStrLen is the length of the sort workload's string column.
const sortStrLen = 10

// RowBytes is the Arrow bytes per input row of a workload (the string
// column counts its bytes and its 4-byte offset).
func (s A2ASize) RowBytes(workload string) int64 {
	switch workload {
	case "groupby":
		return 16
	case "sort":
		return 8 + 8 + 8 + sortStrLen + 4
	case "shuffle":
		return 8 * int64(s.ShuffleWidth)
	case "join":
		return 16 // left key + v, right key + w
	}
	return 0
}

// InputBytes is the Arrow size of a workload's input.
func (s A2ASize) InputBytes(workload string) int64 { return s.Rows(workload) * s.RowBytes(workload) }

// A2AGen returns the generator of a workload's rows [lo, hi) (join: of
// its left side; JoinRightBlock generates the right side).
func (s A2ASize) A2AGen(workload string) func(lo, hi int64) arrow.RecordBatch {
	switch workload {
	case "join":
		return func(lo, hi int64) arrow.RecordBatch { return JoinLeftBlock(lo, hi, s.JoinRightRows) }
	case "groupby":
		return func(lo, hi int64) arrow.RecordBatch { return GroupByBlock(lo, hi, s.GroupKeys) }
	case "sort":
		return SortBlock
	case "shuffle":
		return func(lo, hi int64) arrow.RecordBatch { return ShuffleBlock(lo, hi, s.ShuffleWidth) }
	}
	panic("unknown workload " + workload)
}

func blockRNG(lo int64) *rand.Rand { return rand.New(rand.NewPCG(A2ASeed, uint64(lo))) }

func record(names []string, cols []arrow.Array, rows int64) arrow.RecordBatch {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: names[i], Type: c.DataType()}
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rows)
}

// GroupByBlock is rows [lo, hi) of the groupby input: key int64 uniform in
// [0, keys), v float64 uniform in [0, 1).
func GroupByBlock(lo, hi, keys int64) arrow.RecordBatch {
	rng := blockRNG(lo)
	n := hi - lo
	k := make([]int64, n)
	v := make([]float64, n)
	for i := range k {
		k[i] = rng.Int64N(keys)
		v[i] = rng.Float64()
	}
	return record([]string{"key", "v"}, []arrow.Array{blocks.NumericArray(k), blocks.NumericArray(v)}, n)
}

// SortBlock is rows [lo, hi) of the sort input: key int64 random, a int64
// (the row number, for the checksum), f float64, s a 10-letter string.
func SortBlock(lo, hi int64) arrow.RecordBatch {
	rng := blockRNG(lo)
	n := hi - lo
	key := make([]int64, n)
	a := make([]int64, n)
	f := make([]float64, n)
	offs := make([]int32, n+1)
	data := make([]byte, n*sortStrLen)
	for i := range key {
		key[i] = rng.Int64()
		a[i] = lo + int64(i)
		f[i] = rng.Float64()
		offs[i+1] = int32((i + 1) * sortStrLen)
		x := rng.Uint64()
		for j := range sortStrLen {
			data[i*sortStrLen+j] = 'a' + byte(x%26)
			x /= 26
		}
	}
	sd := array.NewData(arrow.BinaryTypes.String, int(n),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offs)), memory.NewBufferBytes(data)}, nil, 0, 0)
	s := array.NewStringData(sd)
	sd.Release()
	return record([]string{"key", "a", "f", "s"}, []arrow.Array{blocks.NumericArray(key), blocks.NumericArray(a), blocks.NumericArray(f), s}, n)
}

// ShuffleBlock is rows [lo, hi) of the shuffle input: width int64 columns,
// c0 the row number (its sum is the checksum), the others mixed from it.
func ShuffleBlock(lo, hi int64, width int) arrow.RecordBatch {
	n := hi - lo
	cols := make([]arrow.Array, width)
	names := make([]string, width)
	for c := range width {
		vals := make([]int64, n)
		for i := range vals {
			if c == 0 {
				vals[i] = lo + int64(i)
			} else {
				vals[i] = int64(mix64(uint64(lo+int64(i)) + uint64(c)))
			}
		}
		cols[c] = blocks.NumericArray(vals)
		names[c] = fmt.Sprintf("c%d", c)
	}
	return record(names, cols, n)
}

// JoinLeftBlock is rows [lo, hi) of the join's left side: key int64
// uniform in [0, keys), v float64 uniform in [0, 1).
func JoinLeftBlock(lo, hi, keys int64) arrow.RecordBatch {
	rng := blockRNG(lo)
	n := hi - lo
	k := make([]int64, n)
	v := make([]float64, n)
	for i := range k {
		k[i] = rng.Int64N(keys)
		v[i] = rng.Float64()
	}
	return record([]string{"key", "v"}, []arrow.Array{blocks.NumericArray(k), blocks.NumericArray(v)}, n)
}

// JoinPayload is the right side's w for a key: in [0, 1e6), so that the
// sum over 10M output rows stays exact in a float64.
func JoinPayload(key int64) int64 { return int64(mix64(uint64(key)+1) % 1_000_000) }

// JoinRightBlock is rows [lo, hi) of the join's right side: key = the row
// number (unique), w = JoinPayload(key).
func JoinRightBlock(lo, hi int64) arrow.RecordBatch {
	n := hi - lo
	k := make([]int64, n)
	w := make([]int64, n)
	for i := range k {
		k[i] = lo + int64(i)
		w[i] = JoinPayload(k[i])
	}
	return record([]string{"key", "w"}, []arrow.Array{blocks.NumericArray(k), blocks.NumericArray(w)}, n)
}

func buildRecords(n int64, blocksN int, gen func(lo, hi int64) arrow.RecordBatch) []arrow.RecordBatch {
	parts := int(min(int64(blocksN), n))
	recs := make([]arrow.RecordBatch, parts)
	for i := range recs {
		lo, hi := blockBounds(n, parts, i)
		recs[i] = gen(lo, hi)
	}
	return recs
}

// BuildA2ARecords builds a workload's input as s.Blocks records, split as
// dataset.Range splits rows. For the join it is the s.Blocks left records
// followed by the s.Blocks right records (JoinSides splits them).
func BuildA2ARecords(s A2ASize, workload string) []arrow.RecordBatch {
	if workload == "join" {
		left := buildRecords(s.JoinLeftRows, s.Blocks, s.A2AGen(workload))
		return append(left, buildRecords(s.JoinRightRows, s.Blocks, JoinRightBlock)...)
	}
	return buildRecords(s.Rows(workload), s.Blocks, s.A2AGen(workload))
}

// JoinSides splits the join's BuildA2ARecords into its left and right
// records.
func JoinSides(s A2ASize, recs []arrow.RecordBatch) (left, right []arrow.RecordBatch) {
	nl := int(min(int64(s.Blocks), s.JoinLeftRows))
	return recs[:nl], recs[nl:]
}

// A2ASource is the workload's input generated inside the pipeline:
// Range(n) cut into s.Blocks blocks, each mapped to its generated rows
// (join: the left side; JoinRightSource is the right).
func A2ASource(s A2ASize, workload string, opts ...dataset.Option) *dataset.Dataset {
	n := s.Rows(workload)
	if workload == "join" {
		n = s.JoinLeftRows
	}
	return genSource(n, s.Blocks, s.A2AGen(workload), opts...)
}

// JoinRightSource is the join's right side generated inside the pipeline.
func JoinRightSource(s A2ASize, opts ...dataset.Option) *dataset.Dataset {
	return genSource(s.JoinRightRows, s.Blocks, JoinRightBlock, opts...)
}

func genSource(n int64, blocksN int, gen func(lo, hi int64) arrow.RecordBatch, opts ...dataset.Option) *dataset.Dataset {
	opts = append([]dataset.Option{dataset.WithParallelism(blocksN)}, opts...)
	return dataset.Range(n, opts...).MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids, err := blocks.Values[int64](b.Column(0))
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return gen(0, 0), nil
		}
		return gen(ids[0], ids[0]+int64(len(ids))), nil
	})
}

// A2AResult is what consuming an all-to-all output (or a baseline) found.
type A2AResult struct {
	Rows int64   // output rows (groupby: groups)
	Sum  float64 // groupby: sum of sum(v); sort, shuffle: sum of a / c0; join: sum of w
	Aux  float64 // groupby: sum of mean(v) over the groups; join: sum of v
}

// A2AJoin is the join workload's operation: left inner join right on key.
func A2AJoin(left, right *dataset.Dataset) *dataset.Dataset {
	return left.Join(right, []string{"key"}, dataset.InnerJoin)
}

// A2AOp applies a workload's all-to-all operation to ds (not the join,
// which has two inputs: A2AJoin).
func A2AOp(workload string, ds *dataset.Dataset) *dataset.Dataset {
	switch workload {
	case "groupby":
		return ds.GroupBy("key").Aggregate(dataset.SumOf("v"), dataset.MeanOf("v"))
	case "sort":
		return ds.Sort(dataset.Asc("key"))
	case "shuffle":
		return ds.RandomShuffle(A2ASeed)
	}
	return ds
}

// ConsumeA2A reads every output batch of a workload's operation, checks
// what can be checked batch by batch (sort: the keys never decrease) and
// returns the row count and checksums.
func ConsumeA2A(ctx context.Context, workload string, ds *dataset.Dataset) (A2AResult, error) {
	var r A2AResult
	last := int64(math.MinInt64)
	for b, err := range ds.IterBatches(ctx, 0) {
		if err != nil {
			return r, err
		}
		r.Rows += b.NumRows()
		switch workload {
		case "groupby":
			sums, err := colValues[float64](b, "sum(v)")
			if err != nil {
				return r, err
			}
			means, err := colValues[float64](b, "mean(v)")
			if err != nil {
				return r, err
			}
			for i := range sums {
				r.Sum += sums[i]
				r.Aux += means[i]
			}
		case "sort":
			keys, err := colValues[int64](b, "key")
			if err != nil {
				return r, err
			}
			for _, k := range keys {
				if k < last {
					return r, fmt.Errorf("sort: key %d after %d", k, last)
				}
				last = k
			}
			a, err := colValues[int64](b, "a")
			if err != nil {
				return r, err
			}
			r.Sum += float64(sumInts(a))
		case "shuffle":
			c0, err := colValues[int64](b, "c0")
			if err != nil {
				return r, err
			}
			r.Sum += float64(sumInts(c0))
		case "join":
			w, err := colValues[int64](b, "w")
			if err != nil {
				return r, err
			}
			v, err := colValues[float64](b, "v")
			if err != nil {
				return r, err
			}
			r.Sum += float64(sumInts(w))
			for _, x := range v {
				r.Aux += x
			}
		}
	}
	return r, nil
}

func sumInts(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

func colValues[T blocks.Numeric](b arrow.RecordBatch, name string) ([]T, error) {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("no column %q in {%s}", name, b.Schema())
	}
	return blocks.Values[T](b.Column(idx[0]))
}

// ShoalA2A runs a workload's operation over recs on rt and consumes it.
// For the join, s splits recs into the two sides (JoinSides).
func ShoalA2A(ctx context.Context, rt exec.Runtime, s A2ASize, workload string, recs []arrow.RecordBatch) (A2AResult, error) {
	if workload == "join" {
		left, right := JoinSides(s, recs)
		return ConsumeA2A(ctx, workload, A2AJoin(ShoalFromRecords(rt, left), ShoalFromRecords(rt, right)))
	}
	return ConsumeA2A(ctx, workload, A2AOp(workload, ShoalFromRecords(rt, recs)))
}

// GroupAgg is one group's state in the hand-written groupby.
type GroupAgg struct {
	Sum float64
	N   int64
}

// HandGroupByMap is the groupby baseline: one goroutine, a Go map.
func HandGroupByMap(recs []arrow.RecordBatch) map[int64]GroupAgg {
	m := make(map[int64]GroupAgg)
	for _, r := range recs {
		ks := r.Column(0).(*array.Int64).Int64Values()
		vs := r.Column(1).(*array.Float64).Float64Values()
		for i, k := range ks {
			a := m[k]
			a.Sum += vs[i]
			a.N++
			m[k] = a
		}
	}
	return m
}

// HandGroupBySlice is the best case: a slice indexed by the key, which
// works because the keys are known to be [0, keys).
func HandGroupBySlice(recs []arrow.RecordBatch, keys int64) []GroupAgg {
	s := make([]GroupAgg, keys)
	for _, r := range recs {
		ks := r.Column(0).(*array.Int64).Int64Values()
		vs := r.Column(1).(*array.Float64).Float64Values()
		for i, k := range ks {
			s[k].Sum += vs[i]
			s[k].N++
		}
	}
	return s
}

// GroupResult folds hand groupby states into an A2AResult.
func GroupResult(aggs func(yield func(GroupAgg) bool)) A2AResult {
	var r A2AResult
	for a := range aggs {
		if a.N == 0 {
			continue
		}
		r.Rows++
		r.Sum += a.Sum
		r.Aux += a.Sum / float64(a.N)
	}
	return r
}

// SortRow is one row of the hand-written sort.
type SortRow struct {
	Key, A int64
	F      float64
	S      string
}

// HandSort is the sort baseline: copy the rows into a []SortRow (the
// string references the Arrow buffer, no copy) and slices.SortFunc it by
// key, on one goroutine.
func HandSort(recs []arrow.RecordBatch) []SortRow {
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	rows := make([]SortRow, 0, n)
	for _, r := range recs {
		k := r.Column(0).(*array.Int64).Int64Values()
		a := r.Column(1).(*array.Int64).Int64Values()
		f := r.Column(2).(*array.Float64).Float64Values()
		s := r.Column(3).(*array.String)
		for i := range k {
			rows = append(rows, SortRow{Key: k[i], A: a[i], F: f[i], S: s.Value(i)})
		}
	}
	slices.SortFunc(rows, func(x, y SortRow) int {
		switch {
		case x.Key < y.Key:
			return -1
		case x.Key > y.Key:
			return 1
		}
		return 0
	})
	return rows
}

// SortResult checks a hand sort's order and folds it into an A2AResult.
func SortResult(rows []SortRow) (A2AResult, error) {
	r := A2AResult{Rows: int64(len(rows))}
	for i, x := range rows {
		if i > 0 && x.Key < rows[i-1].Key {
			return r, fmt.Errorf("hand sort: out of order at %d", i)
		}
		r.Sum += float64(x.A)
	}
	return r, nil
}

// KeysRecord concatenates the key column of recs into one record, for
// timing blocks.SortIndices alone.
func KeysRecord(recs []arrow.RecordBatch) arrow.RecordBatch {
	var keys []int64
	for _, r := range recs {
		keys = append(keys, r.Column(0).(*array.Int64).Int64Values()...)
	}
	return record([]string{"key"}, []arrow.Array{blocks.NumericArray(keys)}, int64(len(keys)))
}

// SortIndicesOnly times blocks.SortIndices over one block of every key.
func SortIndicesOnly(keys arrow.RecordBatch) ([]int64, error) {
	return blocks.SortIndices(keys, []blocks.SortKey{{Column: "key"}})
}

// Columns concatenates every column of recs (all int64) into Go slices,
// the shuffle baseline's input.
func Columns(recs []arrow.RecordBatch) [][]int64 {
	cols := make([][]int64, recs[0].NumCols())
	for c := range cols {
		for _, r := range recs {
			cols[c] = append(cols[c], r.Column(c).(*array.Int64).Int64Values()...)
		}
	}
	return cols
}

// HandShuffle is the shuffle baseline on one goroutine: rand.Shuffle of an
// index slice, then a gather of every column by it into new slices.
func HandShuffle(cols [][]int64) ([][]int64, A2AResult) {
	n := len(cols[0])
	perm := make([]int64, n)
	for i := range perm {
		perm[i] = int64(i)
	}
	rng := rand.New(rand.NewPCG(A2ASeed, 0))
	rng.Shuffle(n, func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
	out := make([][]int64, len(cols))
	for c, col := range cols {
		o := make([]int64, n)
		for i, p := range perm {
			o[i] = col[p]
		}
		out[c] = o
	}
	return out, A2AResult{Rows: int64(n), Sum: float64(sumInts(out[0]))}
}

// HandJoinMap is the join baseline on one goroutine: build a Go
// map[int64]int64 (key -> w, sized for the right rows) from the right
// side, probe it with every left row and fold the matches (the output is
// consumed, not materialized).
func HandJoinMap(left, right []arrow.RecordBatch) A2AResult {
	var nr int64
	for _, r := range right {
		nr += r.NumRows()
	}
	m := make(map[int64]int64, nr)
	for _, r := range right {
		ks := r.Column(0).(*array.Int64).Int64Values()
		ws := r.Column(1).(*array.Int64).Int64Values()
		for i, k := range ks {
			m[k] = ws[i]
		}
	}
	var res A2AResult
	var sum int64
	for _, r := range left {
		ks := r.Column(0).(*array.Int64).Int64Values()
		vs := r.Column(1).(*array.Float64).Float64Values()
		for i, k := range ks {
			if w, ok := m[k]; ok {
				res.Rows++
				sum += w
				res.Aux += vs[i]
			}
		}
	}
	res.Sum = float64(sum)
	return res
}

// HandJoinSlice is the join's best case: the right payload in a []int64
// indexed by key, which works because the right keys are known to be
// exactly [0, keys).
func HandJoinSlice(left, right []arrow.RecordBatch, keys int64) A2AResult {
	ws := make([]int64, keys)
	for _, r := range right {
		ks := r.Column(0).(*array.Int64).Int64Values()
		w := r.Column(1).(*array.Int64).Int64Values()
		for i, k := range ks {
			ws[k] = w[i]
		}
	}
	var res A2AResult
	var sum int64
	for _, r := range left {
		ks := r.Column(0).(*array.Int64).Int64Values()
		vs := r.Column(1).(*array.Float64).Float64Values()
		for i, k := range ks {
			res.Rows++
			sum += ws[k]
			res.Aux += vs[i]
		}
	}
	res.Sum = float64(sum)
	return res
}

// JoinWant is the join's expected result computed from the generators,
// one left block at a time (for checking a run without holding its input).
func JoinWant(s A2ASize) A2AResult {
	var res A2AResult
	var sum int64
	parts := int(min(int64(s.Blocks), s.JoinLeftRows))
	for i := range parts {
		lo, hi := blockBounds(s.JoinLeftRows, parts, i)
		b := JoinLeftBlock(lo, hi, s.JoinRightRows)
		ks := b.Column(0).(*array.Int64).Int64Values()
		vs := b.Column(1).(*array.Float64).Float64Values()
		for i, k := range ks {
			res.Rows++
			sum += JoinPayload(k)
			res.Aux += vs[i]
		}
		b.Release()
	}
	res.Sum = float64(sum)
	return res
}

// A2AMemResult is one memory-bounded run (meant for a fresh process).
type A2AMemResult struct {
	Workload    string
	Workers     int
	Budget      int64
	InputBytes  int64
	Result      A2AResult
	Elapsed     time.Duration
	PeakRSS     int64
	StorePeak   int64
	Spilled     int64
	SpillErrors int
}

// A2AMemRun generates a workload's input inside the pipeline
// (Range + MapBatches, so the input is never held whole outside the store),
// runs its operation on a runtime of workers workers with an object store
// of budget bytes (0: the default) spilling to spillDir, and consumes it.
// The elapsed time includes generating the input.
func A2AMemRun(ctx context.Context, s A2ASize, workload string, workers int, budget int64, spillDir string) (A2AMemResult, error) {
	opts := []exec.LocalOption{exec.WithWorkers(workers), exec.WithSpillDir(spillDir)}
	if budget > 0 {
		opts = append(opts, exec.WithObjectStoreMemory(budget))
	}
	rt := exec.NewLocal(opts...)
	defer rt.Close()
	res := A2AMemResult{Workload: workload, Workers: workers, Budget: rt.Resources().ObjectStoreMemory, InputBytes: s.InputBytes(workload)}
	start := time.Now()
	var ds *dataset.Dataset
	if workload == "join" {
		ds = A2AJoin(A2ASource(s, workload, dataset.WithRuntime(rt)), JoinRightSource(s, dataset.WithRuntime(rt)))
	} else {
		ds = A2AOp(workload, A2ASource(s, workload, dataset.WithRuntime(rt)))
	}
	r, err := ConsumeA2A(ctx, workload, ds)
	if err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	res.Result = r
	st := rt.Stats()
	res.StorePeak, res.Spilled, res.SpillErrors = st.PeakMemory, st.SpilledTotal, st.SpillFailures
	res.PeakRSS = PeakRSS()
	return res, nil
}

// CheckA2A compares a Shoal result with the baseline's: same rows, same
// checksums within 1e-6 relative (float sums added in another order).
func CheckA2A(workload string, got, want A2AResult) error {
	if got.Rows != want.Rows {
		return fmt.Errorf("%s: %d rows, baseline %d", workload, got.Rows, want.Rows)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(b), 1) }
	if !near(got.Sum, want.Sum) || !near(got.Aux, want.Aux) {
		return fmt.Errorf("%s: checksums %v/%v, baseline %v/%v", workload, got.Sum, got.Aux, want.Sum, want.Aux)
	}
	return nil
}

// ShoalFromRecords is a dataset over recs on rt.
func ShoalFromRecords(rt exec.Runtime, recs []arrow.RecordBatch) *dataset.Dataset {
	return dataset.FromRecords(recs, dataset.WithRuntime(rt))
}
