package bench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// Small sizes keep `go test ./bench/` (no -bench) fast.
const testRows = 1_000_000

func TestWorkloadsAgree(t *testing.T) {
	ctx := context.Background()
	want := ExpectedSum(testRows)
	for _, workers := range []int{1, 2} {
		rt := exec.NewLocal(exec.WithWorkers(workers))
		got, err := ShoalRangeMapSum(ctx, rt, testRows, Blocks)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckSum("shoal range", got, want); err != nil {
			t.Error(err)
		}
		recs := BuildRecords(testRows, Blocks)
		got, err = ShoalRecordsMapSum(ctx, rt, recs)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckSum("shoal records", got, want); err != nil {
			t.Error(err)
		}
		got, err = ShoalRecordsMapPartialSum(ctx, rt, recs)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckSum("shoal records partial", got, want); err != nil {
			t.Error(err)
		}
		got, err = ShoalRangeMapPartialSum(ctx, rt, testRows, Blocks)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckSum("shoal range partial", got, want); err != nil {
			t.Error(err)
		}
		if err := CheckSum("hand records", HandRecordsMapSum(workers, recs), want); err != nil {
			t.Error(err)
		}
		if err := CheckSum("hand range", HandRangeMapSum(workers, testRows, Blocks), want); err != nil {
			t.Error(err)
		}
		ReleaseRecords(recs)
		rt.Close()
	}
}

// TestWhichConsumerRunsTheUDF pins down what the per-row benchmarks measure:
// Count after a row-preserving Map is answered from plan metadata and never
// calls the UDF, while Sum, IterBatches, and Count after a Filter run it.
func TestWhichConsumerRunsTheUDF(t *testing.T) {
	ctx := context.Background()
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	const n = 10_000
	var calls atomic.Int64
	counted := func(r dataset.Row) (dataset.Item, error) {
		calls.Add(1)
		return RowDouble(r)
	}
	ds := dataset.Range(n, dataset.WithRuntime(rt)).Map(counted)

	if c, err := ds.Count(ctx); err != nil || c != n {
		t.Fatalf("Count = %d, %v", c, err)
	}
	if got := calls.Swap(0); got != 0 {
		t.Errorf("Map.Count called the UDF %d times; expected metadata only", got)
	}
	if s, err := ds.Sum(ctx, "id"); err != nil || s.Int64() != ExpectedSum(n) {
		t.Fatalf("Sum = %v, %v", s, err)
	}
	if got := calls.Swap(0); got != n {
		t.Errorf("Map.Sum called the UDF %d times, want %d", got, n)
	}
	for _, err := range ds.IterBatches(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Swap(0); got != n {
		t.Errorf("Map.IterBatches called the UDF %d times, want %d", got, n)
	}
	var fcalls atomic.Int64
	keep := func(r dataset.Row) (bool, error) { fcalls.Add(1); return RowAll(r) }
	if c, err := dataset.Range(n, dataset.WithRuntime(rt)).Filter(keep).Count(ctx); err != nil || c != n {
		t.Fatalf("Filter.Count = %d, %v", c, err)
	}
	if got := fcalls.Load(); got != n {
		t.Errorf("Filter.Count called the UDF %d times, want %d", got, n)
	}
}

// TestPlansFuse checks that workload 1 runs as one fused operator (read,
// MapBatches and Sum's partial aggregate in one task per block), so the
// benchmark measures the fused path.
func TestPlansFuse(t *testing.T) {
	rt := exec.NewLocal(exec.WithWorkers(1))
	defer rt.Close()
	plan := dataset.Range(Rows, dataset.WithRuntime(rt)).MapBatches(Double).MapBatches(PartialSum).Explain()
	t.Log(plan)
	if !strings.Contains(plan, "Read[Range(50000000)->MapBatches(") {
		t.Errorf("Range and MapBatches are not fused:\n%s", plan)
	}
}

var workerCounts = []int{1, 2}

func reportRows(b *testing.B, rows int64) {
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRangeMapSum is workload 1, variant (a): the records are generated
// inside the timed region, by Shoal's Range source or by the hand loop.
func BenchmarkRangeMapSum(b *testing.B) {
	ctx := context.Background()
	want := ExpectedSum(Rows)
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("shoal/workers=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			b.SetBytes(8 * Rows)
			for b.Loop() {
				got, err := ShoalRangeMapSum(ctx, rt, Rows, Blocks)
				if err != nil {
					b.Fatal(err)
				}
				if err := CheckSum("shoal", got, want); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, Rows)
		})
		b.Run(fmt.Sprintf("shoal-partialsum/workers=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			b.SetBytes(8 * Rows)
			for b.Loop() {
				got, err := ShoalRangeMapPartialSum(ctx, rt, Rows, Blocks)
				if err != nil {
					b.Fatal(err)
				}
				if err := CheckSum("shoal-partialsum", got, want); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, Rows)
		})
		b.Run(fmt.Sprintf("hand/workers=%d", w), func(b *testing.B) {
			b.SetBytes(8 * Rows)
			for b.Loop() {
				if err := CheckSum("hand", HandRangeMapSum(w, Rows, Blocks), want); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, Rows)
		})
	}
}

// BenchmarkRecordsMapSum is workload 1, variant (b): the 200 records are
// built once, outside the timer; Shoal reads them with FromRecords.
func BenchmarkRecordsMapSum(b *testing.B) {
	ctx := context.Background()
	want := ExpectedSum(Rows)
	recs := BuildRecords(Rows, Blocks)
	defer ReleaseRecords(recs)
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("shoal/workers=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			b.SetBytes(8 * Rows)
			for b.Loop() {
				got, err := ShoalRecordsMapSum(ctx, rt, recs)
				if err != nil {
					b.Fatal(err)
				}
				if err := CheckSum("shoal", got, want); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, Rows)
		})
		b.Run(fmt.Sprintf("shoal-partialsum/workers=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			b.SetBytes(8 * Rows)
			for b.Loop() {
				got, err := ShoalRecordsMapPartialSum(ctx, rt, recs)
				if err != nil {
					b.Fatal(err)
				}
				if err := CheckSum("shoal-partialsum", got, want); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, Rows)
		})
		b.Run(fmt.Sprintf("hand/workers=%d", w), func(b *testing.B) {
			b.SetBytes(8 * Rows)
			for b.Loop() {
				if err := CheckSum("hand", HandRecordsMapSum(w, recs), want); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, Rows)
		})
	}
}

// rowRows is the size of the per-row workloads.
const rowRows = 2_000_000

// BenchmarkRowMap is workload 2: Range(2M).Map(row -> {"id": id*2}).Sum("id").
// Sum, not Count: Count of a row-preserving Map comes from metadata and
// would not run the UDF (see TestWhichConsumerRunsTheUDF).
func BenchmarkRowMap(b *testing.B) {
	ctx := context.Background()
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			for b.Loop() {
				s, err := dataset.Range(rowRows, dataset.WithRuntime(rt)).Map(RowDouble).Sum(ctx, "id")
				if err != nil {
					b.Fatal(err)
				}
				if err := CheckSum("map", s.Int64(), ExpectedSum(rowRows)); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, rowRows)
		})
	}
}

// BenchmarkRowFilter is workload 2's filter: Range(2M).Filter(fn).Count().
// Filter does not preserve rows, so Count runs it. "even" keeps every other
// row (the kept rows are gathered with a take); "all" keeps a contiguous run
// (the block is sliced, no copy). rows/s counts input rows.
func BenchmarkRowFilter(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(dataset.Row) (bool, error)
		want int64
	}{{"even", RowEven, rowRows / 2}, {"all", RowAll, rowRows}}
	for _, c := range cases {
		for _, w := range workerCounts {
			b.Run(fmt.Sprintf("%s/workers=%d", c.name, w), func(b *testing.B) {
				rt := exec.NewLocal(exec.WithWorkers(w))
				defer rt.Close()
				for b.Loop() {
					n, err := dataset.Range(rowRows, dataset.WithRuntime(rt)).Filter(c.fn).Count(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if n != c.want {
						b.Fatalf("count %d, want %d", n, c.want)
					}
				}
				reportRows(b, rowRows)
			})
		}
	}
}

// BenchmarkTaskOverhead measures the engine's fixed cost per task: 200 read
// tasks of one row each, fused with a one-row MapBatches and Sum's partial
// aggregate, so nearly all the time is scheduling, the object store, the
// executor loop and the per-block aggregation bookkeeping.
func BenchmarkTaskOverhead(b *testing.B) {
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			taskOverhead(b, rt)
		})
	}
}

// taskOverhead runs BenchmarkTaskOverhead's job on rt b.N times and
// reports the time per task.
func taskOverhead(b *testing.B, rt exec.Runtime) {
	ctx := context.Background()
	const tasks = Blocks
	for b.Loop() {
		s, err := dataset.Range(tasks, dataset.WithRuntime(rt), dataset.WithParallelism(tasks)).
			MapBatches(Double).Sum(ctx, "id")
		if err != nil {
			b.Fatal(err)
		}
		if err := CheckSum("overhead", s.Int64(), ExpectedSum(tasks)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/tasks, "µs/task")
}
