// Ingestbench measures training ingest, a loop pulling fixed-size batches
// with dataset.IterBatches, against arrow-go loops handing the same rows,
// cut the same way, to the same consumer, in the same process; it prints
// medians, rows/s, GB/s and the throughput ratio shoal/baseline
// (baseline_time / shoal_time).
//
// Sources, over the Parquet file of the storage I/O benchmark (generated
// once per size, cached in -dir; the same cache as iobench):
//
//   - materialized: ReadParquet(path).Materialize() outside the timer; the
//     timed region is the iteration alone. Baseline: the same materialized
//     records (the object store's blocks, from ToRecords) cut into -batch
//     row slices with NewSlice on one goroutine.
//   - parquet: ReadParquet(path) → IterBatches, the read inside the timer.
//     Baseline: pqarrow reading the file into 64K-row records and slicing
//     them; with n cores, n goroutines decode row groups ahead of the
//     consumer (at most 2n ahead) and hand them over in file order.
//
// Shoal variants, one row each: IterBatches(-batch), with Prefetch(-prefetch),
// with LocalShuffleBuffer(-shuffle rows). Shoal runs on
// exec.NewLocal(exec.WithWorkers(n)) via dataset.WithRuntime. Every batch,
// on every side, goes to bench.Touch (sums column id, int64, and column x,
// float64); every run must see all rows, and the order-preserving variants
// the baseline's Touch total.
//
// The runs of one configuration are interleaved (rotating who goes first)
// with runtime.GC() before each, after one untimed warm-up of each, with
// GOMAXPROCS set to the configuration's core count (-procs). The file is in
// the page cache after the warm-up. As in iobench, the CPU other processes
// take during each round of runs is measured and a round in which they took
// more than -maxother of the configuration's cores is redone.
//
//	go run ./bench/cmd/ingestbench -size S            # seconds
//	go run ./bench/cmd/ingestbench -size M -reps 3
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/bench"
	"github.com/shoal-data/shoal/bench/internal/measure"
	"github.com/shoal-data/shoal/exec"
)

func main() {
	sizeName := flag.String("size", "S", "data size: S (seconds), M, or L (~1 GB Parquet)")
	reps := flag.Int("reps", 5, "timed repetitions of each measurement; the median is reported")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "shoal-iobench"), "where the generated files are cached (shared with iobench)")
	workersFlag := flag.String("workers", "1,2", "comma-separated core counts (Shoal workers, baseline decoding goroutines)")
	only := flag.String("only", "", "comma-separated sources to run (materialized,parquet); empty: both")
	batch := flag.Int("batch", bench.IngestBatchRows, "rows per batch")
	prefetch := flag.Int("prefetch", bench.IngestPrefetch, "k of the Prefetch(k) variant")
	shuffle := flag.Int("shuffle", bench.IngestShuffleRows, "minimum rows of the LocalShuffleBuffer variant")
	contention.Flags()
	flag.Parse()

	size, err := bench.IOSizeByName(*sizeName)
	if err != nil {
		log.Fatal(err)
	}
	workers, err := measure.ParseCores(*workersFlag)
	if err != nil {
		log.Fatalf("bad -workers %q", *workersFlag)
	}
	run := measure.Only(*only)
	if *batch <= 0 {
		log.Fatal("-batch must be positive")
	}

	start := time.Now()
	data, err := bench.PrepareIOData(*dir, size, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	rts := map[int]*exec.Local{}
	for _, w := range workers {
		rts[w] = exec.NewLocal(exec.WithWorkers(w))
	}
	defer func() {
		for _, rt := range rts {
			rt.Close()
		}
	}()

	// The decoded bytes the consumer receives, for GB/s.
	_, recs, err := bench.MaterializeParquet(ctx, rts[workers[0]], data.Parquet)
	if err != nil {
		log.Fatal(err)
	}
	arrowBytes := bench.ArrowBytesOf(recs)
	release(recs)

	variants := bench.IngestVariants(*prefetch, *shuffle)
	fmt.Printf("ingestbench -size %s: Parquet %s (%d rows, %d row groups of %d, 8 columns, snappy) %s, %s decoded;\n",
		size.Name, data.Parquet, size.Rows, size.RowGroups(), size.RowGroupRows, measure.MB(data.ParquetBytes), measure.MB(arrowBytes))
	fmt.Printf("  IterBatches(%d); variants: %s; probe: bench.Touch (sum of id and of x); %d reps (median), GC before each run\n",
		*batch, variantNames(variants), *reps)
	fmt.Printf("%s, CPU %q\n\n", measure.GoLine(contention.Procs()), cmp.Or(measure.CPUModel(), "?"))

	var rows []row
	if run("materialized") {
		for _, w := range workers {
			ds, recs, err := bench.MaterializeParquet(ctx, rts[w], data.Parquet)
			if err != nil {
				log.Fatal(err)
			}
			engines := []engine{{name: "hand slices", baseline: true, ordered: true, fn: func() (bench.IngestResult, error) {
				return bench.HandIngest(recs, *batch, bench.Touch), nil
			}}}
			for _, v := range variants {
				engines = append(engines, engine{name: v.Name, ordered: v.Ordered, fn: func() (bench.IngestResult, error) {
					return bench.ShoalIngest(ctx, ds, *batch, bench.Touch, v.Opts...)
				}})
			}
			rows = append(rows, measureConfig(*reps, "materialized", w, size.Rows, arrowBytes, engines)...)
			release(recs)
		}
	}
	if run("parquet") {
		for _, w := range workers {
			engines := []engine{{name: "pqarrow slices", baseline: true, ordered: true, fn: func() (bench.IngestResult, error) {
				return bench.PqarrowIngest(ctx, data.Parquet, w, *batch, bench.Touch)
			}}}
			for _, v := range variants {
				engines = append(engines, engine{name: v.Name, ordered: v.Ordered, fn: func() (bench.IngestResult, error) {
					return bench.ShoalIngest(ctx, bench.ShoalParquet(ctx, rts[w], data.Parquet, nil), *batch, bench.Touch, v.Opts...)
				}})
			}
			rows = append(rows, measureConfig(*reps, "parquet", w, size.Rows, arrowBytes, engines)...)
		}
	}

	printTable(rows)
	fmt.Printf("\ntotal wall time %.1fs\n", time.Since(start).Seconds())
}

func release(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

func variantNames(vs []bench.IngestVariant) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}

// engine is one row of a configuration: fn is one ingest run.
type engine struct {
	name     string
	baseline bool
	ordered  bool // must give the baseline's Touch total
	fn       func() (bench.IngestResult, error)
}

// row is one line of the table.
type row struct {
	source, engine string
	cores          int
	baseline       bool
	median, lo, hi time.Duration
	rows, bytes    int64
	allocBytes     uint64  // Go heap allocated per run (median)
	other          float64 // CPU other processes used during a round, in cores (median)
	redone         int
	ratio          float64
}

// contention is the contention control (-procs, -maxother, -maxwait), as
// in iobench: the CPU other processes used during each round of
// repetitions is measured; a round in which they took more than MaxOther
// cores beyond those the configuration leaves spare is redone (up to
// 4*reps times), after waiting (up to MaxWait) for a quiet half second, as
// before the first round.
var contention measure.Contention

// measureConfig runs each engine reps times, interleaved, and checks that
// every run saw wantRows rows and that the ordered engines agree with the
// baseline's Touch total (taken from the warm-up).
func measureConfig(reps int, source string, cores int, wantRows, bytes int64, engines []engine) []row {
	defer contention.SetGOMAXPROCS(cores)()
	limit := contention.Limit()
	check := contention.MaxOther > 0
	samples := make([][]measure.Sample, len(engines))
	var wantTouch int64
	once := func(i int) measure.Sample {
		e := engines[i]
		var r bench.IngestResult
		var err error
		s := measure.Run(func() { r, err = e.fn() })
		switch {
		case err != nil:
		case r.Rows != wantRows:
			err = fmt.Errorf("got %d rows, want %d", r.Rows, wantRows)
		case e.baseline:
			wantTouch = r.Probe
		case e.ordered && r.Probe != wantTouch:
			err = fmt.Errorf("touch total %d, baseline's %d", r.Probe, wantTouch)
		}
		if err != nil {
			log.Fatalf("%s %s cores=%d: %v", source, e.name, cores, err)
		}
		return s
	}
	for i := range engines { // warm-up; the baseline (first) sets wantTouch
		once(i)
	}
	redone := 0
	quiet := false // the last round was quiet: no need to wait for quiet
	for r := 0; len(samples[0]) < reps; r++ {
		if check && !quiet {
			measure.WaitQuiet(limit, contention.MaxWait)
		}
		// Others' CPU is sampled over the whole round: /proc/stat counts in
		// 10 ms ticks, too coarse for the few-ms runs of the materialized
		// source.
		round := make([]measure.Sample, len(engines))
		c0, t0 := measure.ReadCPU(), time.Now()
		for k := range engines {
			i := (k + r) % len(engines) // rotate who goes first
			round[i] = once(i)
		}
		other := measure.ReadCPU().Others(c0, time.Since(t0))
		quiet = other <= limit
		if check && !quiet && redone < 4*reps {
			redone++
			continue
		}
		for i, s := range round {
			s.Others = other // the round's
			samples[i] = append(samples[i], s)
		}
	}
	out := make([]row, len(engines))
	var base time.Duration
	for i, e := range engines {
		sum := measure.Summarize(samples[i])
		if e.baseline {
			base = sum.Median
		}
		out[i] = row{source: source, engine: e.name, cores: cores, baseline: e.baseline,
			median: sum.Median, lo: sum.Min, hi: sum.Max, rows: wantRows, bytes: bytes,
			allocBytes: sum.Alloc, other: sum.Others, redone: redone}
	}
	for i := range out {
		out[i].ratio = base.Seconds() / out[i].median.Seconds()
	}
	fmt.Fprintf(os.Stderr, "  done %s cores=%d (%d noisy rounds redone)\n", source, cores, redone)
	return out
}

func printTable(rows []row) {
	tw := measure.Table(os.Stdout)
	fmt.Fprintln(tw, "source\tvariant\tworkers\tmedian ms\tmin–max ms\tMrows/s\tGB/s\talloc MB/run\tothers\tredone\tratio\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s–%s\t%.1f\t%.2f\t%.0f\t%.2f\t%d\t%s\t\n",
			r.source, r.engine, r.cores, measure.Ms(r.median), measure.Ms(r.lo), measure.Ms(r.hi),
			float64(r.rows)/r.median.Seconds()/1e6, float64(r.bytes)/r.median.Seconds()/1e9,
			float64(r.allocBytes)/1e6, r.other, r.redone, measure.Ratio(r.baseline, r.ratio))
	}
	tw.Flush()
	fmt.Println("\nratio = baseline_time / variant_time, same run and configuration (throughput relative to (base)).")
	fmt.Println("GB/s: decoded Arrow bytes handed to the consumer (every column). alloc: Go heap allocated per run.")
	fmt.Println("workers: Shoal's exec.WithWorkers(n), the pqarrow baseline's decoding goroutines, and GOMAXPROCS;")
	fmt.Println("the consumer is one loop everywhere (the materialized baseline is one goroutine on every row).")
	fmt.Println("others: CPU used by other processes during a round, in cores (median); redone: rounds discarded because")
	fmt.Println("others exceeded -maxother of this configuration's cores.")
}
