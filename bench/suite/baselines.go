package suite

// The raw arrow-go baselines: what the machine allows without an engine.
// scan_filter_sum and map_arith are also run as hand-written loops over
// pqarrow's decoded batches (bench.PqarrowScanFiles: the same pqarrow
// reader as bench/io.go's Parquet baseline, over the eight trips files),
// which gives a time to hold Shoal against and a second answer to check.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/bench"
)

// RawEngine is the name of the raw arrow-go engine in reports.
const RawEngine = "arrow-go"

// HasRaw says whether a workload has a raw arrow-go baseline.
func HasRaw(workload string) bool { return workload == ScanFilterSum || workload == MapArith }

// RunRaw runs the raw arrow-go baseline of workload on threads goroutines.
func RunRaw(ctx context.Context, d *Data, workload string, threads int) (Answer, time.Duration, error) {
	var mu sync.Mutex
	var rows int64
	var s1, s2 float64
	var cols []string
	var probe bench.Probe
	switch workload {
	case ScanFilterSum:
		cols = []string{"distance", "payment", "fare", "tip"}
		probe = func(b arrow.RecordBatch) int64 {
			dist, pay := col[*array.Float64](b, "distance"), col[*array.String](b, "payment")
			fare, tip := col[*array.Float64](b, "fare"), col[*array.Float64](b, "tip")
			dv, fv, tv := dist.Float64Values(), fare.Float64Values(), tip.Float64Values()
			var n int64
			var sf, st float64
			for i, x := range dv {
				if x > 5 && pay.Value(i) == "card" {
					n++
					sf += fv[i]
					st += tv[i]
				}
			}
			mu.Lock()
			rows, s1, s2 = rows+n, s1+sf, s2+st
			mu.Unlock()
			return b.NumRows()
		}
	case MapArith:
		cols = []string{"fare", "tip", "distance"}
		probe = func(b arrow.RecordBatch) int64 {
			fv := col[*array.Float64](b, "fare").Float64Values()
			tv := col[*array.Float64](b, "tip").Float64Values()
			dv := col[*array.Float64](b, "distance").Float64Values()
			// A new column, as MapBatches makes, then its sum.
			y := make([]float64, len(fv))
			for i := range y {
				y[i] = MapArithY(fv[i], tv[i], dv[i])
			}
			var s float64
			for _, v := range y {
				s += v
			}
			mu.Lock()
			rows, s1 = rows+int64(len(y)), s1+s
			mu.Unlock()
			return b.NumRows()
		}
	default:
		return nil, 0, fmt.Errorf("suite: no raw baseline for %q", workload)
	}
	start := time.Now()
	if _, err := bench.PqarrowScanFiles(ctx, d.Trips, cols, threads, probe); err != nil {
		return nil, time.Since(start), err
	}
	el := time.Since(start)
	if workload == ScanFilterSum {
		return Answer{"rows": float64(rows), "sum_fare": s1, "sum_tip": s2}, el, nil
	}
	return Answer{"rows": float64(rows), "sum_y": s1}, el, nil
}

// col returns the named column of b as a T; it panics (as a bug in the
// baseline would) when the type differs.
func col[T arrow.Array](b arrow.RecordBatch, name string) T {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		panic(fmt.Sprintf("suite: no column %q in %s", name, b.Schema()))
	}
	return b.Column(idx[0]).(T)
}

// Limit is one measured limit of the machine.
type Limit struct {
	Name    string
	Threads int
	Runs    []time.Duration
	Bytes   int64 // moved (memory copy) or decoded (pqarrow) per run
	Rows    int64 // decoded per run (pqarrow); 0 for the copy
}

// memCopyBytes is the buffer the memory copy limit copies.
const memCopyBytes = 256 << 20

// memCopyRounds copies per timed run; the run's time is their mean.
const memCopyRounds = 4

// MeasureMemCopy times one run of copying a 256 MiB buffer with threads
// goroutines (bench.MemCopy), the mean over a few copies.
func MeasureMemCopy(dst, src []byte, threads int) time.Duration {
	bench.MemCopy(dst, src, threads) // touch the pages
	start := time.Now()
	for range memCopyRounds {
		bench.MemCopy(dst, src, threads)
	}
	return time.Since(start) / memCopyRounds
}

// MeasureDecode times pqarrow decoding every column of trips on threads
// goroutines (bench.PqarrowScanFiles with bench.CountRows) and returns the
// time, the rows and the decoded Arrow bytes.
func MeasureDecode(ctx context.Context, d *Data, threads int) (time.Duration, int64, int64, error) {
	start := time.Now()
	r, err := bench.PqarrowScanFiles(ctx, d.Trips, nil, threads, bench.CountRows)
	return time.Since(start), r.Rows, r.ArrowBytes, err
}
