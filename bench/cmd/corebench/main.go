// Corebench runs Shoal's workload 1, Range -> MapBatches(x*2) -> Sum("id"),
// against a hand-written arrow-go loop doing the same work, in the same
// process, and prints the medians and the throughput ratio shoal/hand
// (hand_time / shoal_time; the goal is >= 0.8).
//
// Variants: "range" generates the records inside the timed region (Shoal's
// Range source, or the hand loop writing the same int64 buffers); "records"
// builds them once beforehand (Shoal reads them with FromRecords). Each runs
// on 1 and 2 workers (Shoal: exec.WithWorkers(n); hand: n goroutines).
//
// The runs of one configuration are interleaved (shoal, hand, diagnostic,
// then the next repetition) so that noise from other work on the machine
// hits all of them alike. The diagnostic "shoal+partialsum" fuses a
// user-level partial sum before dataset.Sum: the difference from "shoal" is
// the cost of Sum's own aggregation kernel.
//
//	go run ./bench/cmd/corebench            # 50M rows, 200 blocks, 7 repetitions
//	go run ./bench/cmd/corebench -reps 3 -rows 10000000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"time"

	"github.com/shoal-data/shoal/bench"
	"github.com/shoal-data/shoal/bench/internal/measure"
	"github.com/shoal-data/shoal/exec"
)

func main() {
	rows := flag.Int64("rows", bench.Rows, "rows of the Range")
	parts := flag.Int("blocks", bench.Blocks, "blocks (read tasks / records)")
	reps := flag.Int("reps", 7, "repetitions of each measurement; the median is reported")
	workersFlag := flag.String("workers", "1,2", "comma-separated worker counts")
	diag := flag.Bool("diag", true, "also run the shoal+partialsum diagnostic")
	flag.Parse()

	workers, err := measure.ParseCores(*workersFlag)
	if err != nil {
		log.Fatalf("bad -workers %q", *workersFlag)
	}

	fmt.Printf("corebench: Range(%d) -> MapBatches(x*2) -> Sum(\"id\"), %d blocks of ~%d rows, %d reps (median)\n",
		*rows, *parts, *rows/int64(*parts), *reps)
	fmt.Printf("%s\n\n", measure.GoLine(fmt.Sprint(runtime.GOMAXPROCS(0))))

	start := time.Now()
	ctx := context.Background()
	want := bench.ExpectedSum(*rows)
	var results []result

	// Variant (a): generation inside the timed region.
	for _, w := range workers {
		rt := exec.NewLocal(exec.WithWorkers(w))
		results = append(results, measureVariant("range", w, *reps, *diag,
			func() (int64, error) { return bench.ShoalRangeMapSum(ctx, rt, *rows, *parts) },
			func() (int64, error) { return bench.ShoalRangeMapPartialSum(ctx, rt, *rows, *parts) },
			func() (int64, error) { return bench.HandRangeMapSum(w, *rows, *parts), nil },
			want))
		rt.Close()
	}

	// Variant (b): records built once, outside the timer.
	recs := bench.BuildRecords(*rows, *parts)
	for _, w := range workers {
		rt := exec.NewLocal(exec.WithWorkers(w))
		results = append(results, measureVariant("records", w, *reps, *diag,
			func() (int64, error) { return bench.ShoalRecordsMapSum(ctx, rt, recs) },
			func() (int64, error) { return bench.ShoalRecordsMapPartialSum(ctx, rt, recs) },
			func() (int64, error) { return bench.HandRecordsMapSum(w, recs), nil },
			want))
		rt.Close()
	}
	bench.ReleaseRecords(recs)

	printTable(results, *rows, *diag)
	fmt.Printf("\ntotal wall time %.1fs\n", time.Since(start).Seconds())
}

type result struct {
	variant string
	workers int
	// medians and spreads (max-min) of each measurement
	shoal, hand, partial          time.Duration
	shoalSpr, handSpr, partialSpr time.Duration
}

// measureVariant times shoal, diagnostic and hand runs interleaved, reps times each.
func measureVariant(variant string, workers, reps int, diag bool, shoal, partial, hand func() (int64, error), want int64) result {
	var ts, tp, th []time.Duration
	run := func(name string, fn func() (int64, error)) time.Duration {
		runtime.GC() // start each run from a collected heap
		t0 := time.Now()
		got, err := fn()
		d := time.Since(t0)
		if err == nil {
			err = bench.CheckSum(fmt.Sprintf("%s %s workers=%d", variant, name, workers), got, want)
		}
		if err != nil {
			log.Fatal(err)
		}
		return d
	}
	// One untimed warm-up of each, so the first timed run is not the one
	// that grows the heap.
	run("shoal", shoal)
	run("hand", hand)
	for i := range reps {
		// Alternate who goes first, so neither always runs right after the
		// other's garbage.
		if i%2 == 0 {
			ts = append(ts, run("shoal", shoal))
			th = append(th, run("hand", hand))
		} else {
			th = append(th, run("hand", hand))
			ts = append(ts, run("shoal", shoal))
		}
		if diag {
			tp = append(tp, run("shoal+partialsum", partial))
		}
	}
	r := result{variant: variant, workers: workers}
	r.shoal, r.shoalSpr = medianSpread(ts)
	r.hand, r.handSpr = medianSpread(th)
	r.partial, r.partialSpr = medianSpread(tp)
	fmt.Fprintf(os.Stderr, "  done %s workers=%d\n", variant, workers)
	return r
}

// medianSpread is the median of ds and its spread (max-min); 0, 0 when
// ds is empty (the diagnostic was not run).
func medianSpread(ds []time.Duration) (median, spread time.Duration) {
	median, lo, hi := measure.Stats(ds)
	return median, hi - lo
}

func printTable(results []result, rows int64, diag bool) {
	bytes := float64(8 * rows)
	gbs := func(d time.Duration) float64 { return bytes / d.Seconds() / 1e9 }
	mrows := func(d time.Duration) float64 { return float64(rows) / d.Seconds() / 1e6 }
	ms := measure.Ms

	tw := measure.Table(os.Stdout)
	header := "variant\tworkers\tshoal ms\t(spread)\thand ms\t(spread)\tshoal GB/s\thand GB/s\tshoal Mrows/s\thand Mrows/s\tratio shoal/hand\tgoal>=0.8\t"
	if diag {
		header += "shoal+partialsum ms\tratio\t"
	}
	fmt.Fprintln(tw, header)
	for _, r := range results {
		ratio := r.hand.Seconds() / r.shoal.Seconds()
		ok := "no"
		if ratio >= 0.8 {
			ok = "yes"
		}
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.0f\t%.0f\t%.2fx\t%s\t",
			r.variant, r.workers, ms(r.shoal), ms(r.shoalSpr), ms(r.hand), ms(r.handSpr),
			gbs(r.shoal), gbs(r.hand), mrows(r.shoal), mrows(r.hand), ratio, ok)
		if diag {
			line += fmt.Sprintf("%s\t%.2fx\t", ms(r.partial), r.hand.Seconds()/r.partial.Seconds())
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fmt.Println("\nratio = hand_time / shoal_time (throughput of Shoal relative to the hand loop, same run).")
	fmt.Println("GB/s counts the 8-byte input values once per run (as b.SetBytes in the go test benchmarks).")
	if diag {
		fmt.Println("shoal+partialsum: the same pipeline with a user partial sum fused before dataset.Sum (diagnostic).")
	}
}
