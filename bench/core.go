// Package bench holds Shoal's core benchmarks: the workloads, a hand-written
// arrow-go baseline for each, and the helpers the `go test -bench` suite
// (core_bench_test.go) and the `corebench` command (cmd/corebench) share.
//
// Workload 1 is Range(n) -> MapBatches(x*2) -> Sum("id"). The hand loop does
// the same work without the engine: it builds the same int64 records (same
// block count, values written straight into a memory buffer as
// dataset.Range does), doubles each into a new array with the very same
// batch function Shoal runs, and sums, on as many goroutines as Shoal has
// workers. The ratio hand_time / shoal_time is Shoal's throughput relative
// to that baseline (1.0 = as fast as the hand loop).
package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// Default sizes of workload 1: 50M int64 rows in 200 blocks of 250K rows
// (dataset.DefaultParallelism splits Range(50M) that way).
const (
	Rows   = 50_000_000
	Blocks = dataset.DefaultParallelism
)

var idSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

// ExpectedSum is the sum of 2*i for i in [0, n): n*(n-1).
func ExpectedSum(n int64) int64 { return n * (n - 1) }

// RangeBlock builds rows [lo, hi) of column "id" the way dataset.Range does:
// an int64 buffer filled directly, no builder.
func RangeBlock(mem memory.Allocator, lo, hi int64) arrow.RecordBatch {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(hi-lo) * 8)
	vals := arrow.Int64Traits.CastFromBytes(buf.Bytes())
	for i := range vals {
		vals[i] = lo + int64(i)
	}
	data := array.NewData(arrow.PrimitiveTypes.Int64, int(hi-lo), []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	col := array.NewInt64Data(data)
	data.Release()
	defer col.Release()
	return array.NewRecordBatch(idSchema, []arrow.Array{col}, hi-lo)
}

// blockBounds returns the row range of block i when n rows are cut into
// parts blocks (the same split as dataset.Range).
func blockBounds(n int64, parts, i int) (lo, hi int64) {
	return n * int64(i) / int64(parts), n * int64(i+1) / int64(parts)
}

// BuildRecords makes the records of Range(n) cut into parts blocks.
func BuildRecords(n int64, parts int) []arrow.RecordBatch {
	recs := make([]arrow.RecordBatch, parts)
	for i := range recs {
		lo, hi := blockBounds(n, parts, i)
		recs[i] = RangeBlock(memory.DefaultAllocator, lo, hi)
	}
	return recs
}

// ReleaseRecords releases every record.
func ReleaseRecords(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// Double is the MapBatches function of workload 1: column "id" times two,
// into a new Go slice wrapped as an Arrow array (blocks.NumericArray, the
// cheap way documented for vectorized UDFs). Both Shoal and the hand loop
// call it, so the per-value work is identical.
func Double(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	ids, err := blocks.Values[int64](b.Column(0))
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(ids))
	for i, v := range ids {
		out[i] = v * 2
	}
	col := blocks.NumericArray(out)
	defer col.Release()
	return array.NewRecordBatch(b.Schema(), []arrow.Array{col}, b.NumRows()), nil
}

// SumInt64 adds up column 0 of an int64 record (no nulls in this workload).
func SumInt64(b arrow.RecordBatch) int64 {
	vals := b.Column(0).(*array.Int64).Int64Values()
	var s int64
	for _, v := range vals {
		s += v
	}
	return s
}

// doubleAndSum is the hand loop's per-block work after the block exists.
func doubleAndSum(rec arrow.RecordBatch) int64 {
	d, err := Double(rec)
	if err != nil {
		panic(err)
	}
	s := SumInt64(d)
	d.Release()
	return s
}

// parallelBlocks runs fn(i) for i in [0, parts) on workers goroutines that
// take block indices from a shared counter (the same dynamic assignment a
// worker pool gives), and returns the sum of the results.
func parallelBlocks(workers, parts int, fn func(i int) int64) int64 {
	var next atomic.Int64
	var total atomic.Int64
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			var s int64
			for {
				i := int(next.Add(1) - 1)
				if i >= parts {
					break
				}
				s += fn(i)
			}
			total.Add(s)
		})
	}
	wg.Wait()
	return total.Load()
}

// HandRangeMapSum is the hand-written baseline of variant (a): build the n
// rows as parts records, double and sum each, on workers goroutines.
func HandRangeMapSum(workers int, n int64, parts int) int64 {
	return parallelBlocks(workers, parts, func(i int) int64 {
		lo, hi := blockBounds(n, parts, i)
		rec := RangeBlock(memory.DefaultAllocator, lo, hi)
		s := doubleAndSum(rec)
		rec.Release()
		return s
	})
}

// HandRecordsMapSum is the hand-written baseline of variant (b): double each
// pre-built record into a new array and sum it, on workers goroutines.
func HandRecordsMapSum(workers int, recs []arrow.RecordBatch) int64 {
	return parallelBlocks(workers, len(recs), func(i int) int64 {
		return doubleAndSum(recs[i])
	})
}

// ShoalRangeMapSum runs Range(n).MapBatches(Double).Sum("id") on rt, split
// into parts blocks.
func ShoalRangeMapSum(ctx context.Context, rt exec.Runtime, n int64, parts int) (int64, error) {
	s, err := dataset.Range(n, dataset.WithRuntime(rt), dataset.WithParallelism(parts)).
		MapBatches(Double).Sum(ctx, "id")
	if err != nil {
		return 0, err
	}
	return s.Int64(), nil
}

// ShoalRecordsMapSum runs FromRecords(recs).MapBatches(Double).Sum("id") on rt.
func ShoalRecordsMapSum(ctx context.Context, rt exec.Runtime, recs []arrow.RecordBatch) (int64, error) {
	s, err := dataset.FromRecords(recs, dataset.WithRuntime(rt)).MapBatches(Double).Sum(ctx, "id")
	if err != nil {
		return 0, err
	}
	return s.Int64(), nil
}

// CheckSum reports a wrong result.
func CheckSum(what string, got, want int64) error {
	if got != want {
		return fmt.Errorf("%s: sum %d, want %d", what, got, want)
	}
	return nil
}

// Workload 2: per-row UDFs.

// RowDouble is the per-row Map of workload 2: {"id": id*2}.
func RowDouble(r dataset.Row) (dataset.Item, error) {
	return dataset.Item{"id": r.Int64("id") * 2}, nil
}

// RowEven keeps even ids (half the rows, not contiguous: Filter must gather).
func RowEven(r dataset.Row) (bool, error) { return r.Int64("id")%2 == 0, nil }

// RowAll keeps every row (a contiguous run: Filter slices without copying).
func RowAll(r dataset.Row) (bool, error) { return r.Int64("id") >= 0, nil }

// Diagnostic: Shoal without dataset.Sum's aggregation kernel.

var sumSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

// PartialSum reduces a batch to one row holding the sum of column 0: a
// user-level partial aggregate. Run after Double and before Sum, it leaves
// dataset.Sum one row per block to aggregate, so the time left is the
// engine's (read, fused stages, scheduling, store) plus a plain sum loop.
func PartialSum(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	col := blocks.NumericArray([]int64{SumInt64(b)})
	defer col.Release()
	return array.NewRecordBatch(sumSchema, []arrow.Array{col}, 1), nil
}

// ShoalRangeMapPartialSum is ShoalRangeMapSum with PartialSum fused in
// before Sum (a diagnostic: it isolates the cost of Sum's kernel).
func ShoalRangeMapPartialSum(ctx context.Context, rt exec.Runtime, n int64, parts int) (int64, error) {
	s, err := dataset.Range(n, dataset.WithRuntime(rt), dataset.WithParallelism(parts)).
		MapBatches(Double).MapBatches(PartialSum).Sum(ctx, "id")
	if err != nil {
		return 0, err
	}
	return s.Int64(), nil
}

// ShoalRecordsMapPartialSum is ShoalRecordsMapSum with PartialSum fused in.
func ShoalRecordsMapPartialSum(ctx context.Context, rt exec.Runtime, recs []arrow.RecordBatch) (int64, error) {
	s, err := dataset.FromRecords(recs, dataset.WithRuntime(rt)).MapBatches(Double).MapBatches(PartialSum).Sum(ctx, "id")
	if err != nil {
		return 0, err
	}
	return s.Int64(), nil
}
