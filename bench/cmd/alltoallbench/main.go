// Alltoallbench measures Shoal's all-to-all operations (GroupBy.Aggregate,
// Sort, RandomShuffle, Join) against single-goroutine Go baselines over the same
// generated columns, in the same process, and then each operation's memory
// in a fresh child process per configuration.
//
// Part 1 (throughput): the input is built once as records (outside the
// timer); each repetition runs every engine once, rotating who goes first,
// with runtime.GC() before each run and GOMAXPROCS set to the engine's
// core count (1 for the baselines). Shoal reads the records with
// FromRecords on a runtime of n workers with the default store budget.
//
//   - groupby: GroupBy("key").Aggregate(SumOf("v"), MeanOf("v")); baseline a
//     Go map[int64]{sum, n}; context: a slice indexed by key (best case).
//   - sort: Sort(Asc("key")) of key, a, f, s; baseline slices.SortFunc of a
//     []struct; context: blocks.SortIndices on one block of all the keys.
//   - shuffle: RandomShuffle; baseline rand.Shuffle of an index slice and a
//     gather of every column; context: memory copy bandwidth, 1 and 2
//     goroutines, over a 256 MiB buffer.
//   - join: left.Join(right, {"key"}, InnerJoin) of left (key uniform in
//     [0, right rows), v float64) and right (unique key, w int64), output
//     consumed (rows, sum of w, sum of v); baseline a Go map[int64]int64
//     built from the right and probed with the left; context: the right
//     payload in a []int64 indexed by key (best case). Rows and bytes count
//     both sides.
//
// Part 2 (memory): per workload, workers and store budget (the default, and
// a quarter of the input so that the store must spill), a child process
// generates the input inside the pipeline (Range + MapBatches), runs the
// operation, consumes it and reports its peak RSS (VmHWM), the store's peak
// and the bytes spilled. Its time includes generating the input.
//
//	go run ./bench/cmd/alltoallbench -size S
//	go run ./bench/cmd/alltoallbench -size L -reps 3
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	osexec "os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-data/shoal/bench"
	"github.com/shoal-data/shoal/bench/internal/measure"
	"github.com/shoal-data/shoal/exec"
)

const childEnv = "SHOAL_A2A_CHILD"

type engine struct {
	name     string
	cores    int
	baseline bool // the ratio's reference
	rows     bool // processes the workload's rows (memcopy does not)
	bytes    int64
	run      func() (bench.A2AResult, int64, error) // result, spilled bytes
}

type row struct {
	workload, engine string
	cores            int
	median, lo, hi   time.Duration
	rows, bytes      int64
	spilled          int64
	baseline         bool
	ratio            float64
}

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		child(spec)
		return
	}
	sizeName := flag.String("size", "S", "S (seconds), M (1/10 of L) or L (10M-row groupby and sort, 2 GB shuffle, 10M x 1M join)")
	reps := flag.Int("reps", 3, "timed repetitions; the median is reported")
	workersFlag := flag.String("workers", "1,2", "comma-separated Shoal worker counts")
	only := flag.String("only", "", "comma-separated workloads (groupby,sort,shuffle,join); empty: all")
	mem := flag.Bool("mem", true, "run part 2, the memory runs in child processes")
	spillDir := flag.String("spilldir", os.TempDir(), "where the object store spills")
	flag.Parse()

	size, ok := bench.A2ASizes[*sizeName]
	if !ok {
		log.Fatalf("bad -size %q", *sizeName)
	}
	workers, err := measure.ParseCores(*workersFlag)
	if err != nil {
		log.Fatalf("bad -workers %q", *workersFlag)
	}
	workloads := bench.A2AWorkloads
	if *only != "" {
		workloads = strings.Split(*only, ",")
	}
	fmt.Printf("size %s, %d reps, GOMAXPROCS per engine, %d CPUs, go %s\n\n", size.Name, *reps, runtime.NumCPU(), runtime.Version())

	var rows []row
	for _, wl := range workloads {
		rows = append(rows, measureWorkload(size, wl, workers, *reps)...)
	}
	printTable(rows)

	if *mem {
		fmt.Println()
		memRuns(size, workloads, workers, *spillDir)
	}
}

func measureWorkload(s bench.A2ASize, wl string, workers []int, reps int) []row {
	ctx := context.Background()
	t0 := time.Now()
	recs := bench.BuildA2ARecords(s, wl)
	defer bench.ReleaseRecords(recs)
	n, in := s.Rows(wl), s.InputBytes(wl)
	log.Printf("%s: %d rows, %.1f MB built in %s", wl, n, float64(in)/1e6, time.Since(t0).Round(time.Millisecond))
	ok := func(r bench.A2AResult) (bench.A2AResult, int64, error) { return r, 0, nil }

	var engines []engine
	switch wl {
	case "groupby":
		engines = []engine{
			{name: "go map", cores: 1, baseline: true, rows: true, bytes: in, run: func() (bench.A2AResult, int64, error) {
				m := bench.HandGroupByMap(recs)
				return ok(bench.GroupResult(func(yield func(bench.GroupAgg) bool) {
					for _, a := range m {
						if !yield(a) {
							return
						}
					}
				}))
			}},
			{name: "go slice[key]", cores: 1, rows: true, bytes: in, run: func() (bench.A2AResult, int64, error) {
				return ok(bench.GroupResult(slices.Values(bench.HandGroupBySlice(recs, s.GroupKeys))))
			}},
		}
	case "sort":
		keys := bench.KeysRecord(recs)
		defer keys.Release()
		engines = []engine{
			{name: "slices.SortFunc", cores: 1, baseline: true, rows: true, bytes: in, run: func() (bench.A2AResult, int64, error) {
				r, err := bench.SortResult(bench.HandSort(recs))
				return r, 0, err
			}},
			{name: "SortIndices(keys)", cores: 1, rows: true, bytes: 8 * n, run: func() (bench.A2AResult, int64, error) {
				idx, err := bench.SortIndicesOnly(keys)
				return bench.A2AResult{Rows: int64(len(idx))}, 0, err
			}},
		}
	case "shuffle":
		const cp = 256 << 20
		src, dst := make([]byte, cp), make([]byte, cp)
		for i := range src {
			src[i] = byte(i)
		}
		copy(dst, src) // fault the pages in before the timed copies
		cols := bench.Columns(recs)
		engines = []engine{
			{name: "go shuffle+gather", cores: 1, baseline: true, rows: true, bytes: in, run: func() (bench.A2AResult, int64, error) {
				_, r := bench.HandShuffle(cols)
				return ok(r)
			}},
		}
		for _, c := range []int{1, 2} {
			engines = append(engines, engine{name: "memcopy 256MiB", cores: c, bytes: cp, run: func() (bench.A2AResult, int64, error) {
				bench.MemCopy(dst, src, c)
				return ok(bench.A2AResult{})
			}})
		}
	case "join":
		left, right := bench.JoinSides(s, recs)
		engines = []engine{
			{name: "go map join", cores: 1, baseline: true, rows: true, bytes: in, run: func() (bench.A2AResult, int64, error) {
				r := bench.HandJoinMap(left, right)
				if r.Rows != s.JoinLeftRows {
					return r, 0, fmt.Errorf("go map join: %d rows, want %d", r.Rows, s.JoinLeftRows)
				}
				return ok(r)
			}},
			{name: "go slice[key] join", cores: 1, rows: true, bytes: in, run: func() (bench.A2AResult, int64, error) {
				return ok(bench.HandJoinSlice(left, right, s.JoinRightRows))
			}},
		}
	default:
		log.Fatalf("unknown workload %q", wl)
	}
	var want bench.A2AResult
	for _, w := range workers {
		rt := exec.NewLocal(exec.WithWorkers(w))
		defer rt.Close() //nolint:gocritic // the runtimes live until measure returns
		engines = append(engines, engine{name: "shoal", cores: w, rows: true, bytes: in, run: func() (bench.A2AResult, int64, error) {
			before := rt.Stats().SpilledTotal
			r, err := bench.ShoalA2A(ctx, rt, s, wl, recs)
			if err == nil {
				err = bench.CheckA2A(wl, r, want)
			}
			return r, rt.Stats().SpilledTotal - before, err
		}})
	}

	times := make([][]time.Duration, len(engines))
	spilled := make([]int64, len(engines))
	runOne := func(i int) {
		e := engines[i]
		prev := runtime.GOMAXPROCS(e.cores)
		runtime.GC()
		start := time.Now()
		r, sp, err := e.run()
		d := time.Since(start)
		runtime.GOMAXPROCS(prev)
		if err != nil {
			log.Fatalf("%s %s cores=%d: %v", wl, e.name, e.cores, err)
		}
		if e.baseline {
			want = r
		}
		times[i] = append(times[i], d)
		spilled[i] = max(spilled[i], sp)
	}
	runOne(0) // the baseline first: its result is what Shoal is checked against
	times[0] = nil
	for rep := range reps {
		order := make([]int, len(engines))
		for i := range order {
			order[i] = (i + rep) % len(engines)
		}
		// The baseline (engine 0) always has run before Shoal checks against it.
		for _, i := range order {
			runOne(i)
		}
	}

	var out []row
	var base time.Duration
	for i, e := range engines {
		// The upper middle run, not a mean of two: this table's median has
		// always been one of the runs.
		med, lo, hi := measure.Median(times[i]), slices.Min(times[i]), slices.Max(times[i])
		if e.baseline {
			base = med
		}
		r := row{workload: wl, engine: e.name, cores: e.cores, median: med, lo: lo, hi: hi, bytes: e.bytes, spilled: spilled[i], baseline: e.baseline}
		if e.rows {
			r.rows = n
		}
		out = append(out, r)
	}
	for i := range out {
		// Throughput relative to the baseline, per input byte (memcopy
		// copies another amount of bytes than the workload's input).
		out[i].ratio = (float64(out[i].bytes) / out[i].median.Seconds()) / (float64(in) / base.Seconds())
	}
	return out
}

func printTable(rows []row) {
	tw := measure.Table(os.Stdout)
	fmt.Fprintln(tw, "workload\tengine\tcores\tmedian ms\tmin–max ms\tMrows/s\tGB/s\tspilled MB\tratio\t")
	for _, r := range rows {
		mrows := "-"
		if r.rows > 0 {
			mrows = fmt.Sprintf("%.2f", float64(r.rows)/r.median.Seconds()/1e6)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s–%s\t%s\t%.3f\t%.0f\t%s\t\n", r.workload, r.engine, r.cores,
			measure.Ms(r.median), measure.Ms(r.lo), measure.Ms(r.hi), mrows, float64(r.bytes)/r.median.Seconds()/1e9,
			float64(r.spilled)/1e6, measure.Ratio(r.baseline, r.ratio))
	}
	tw.Flush()
	fmt.Println("\nratio = throughput in bytes/s relative to the (base) row of the workload, same run (= base_time / time")
	fmt.Println("for rows over the same input). GB/s: Arrow bytes of the input (SortIndices: the 8-byte keys; memcopy: bytes")
	fmt.Println("copied). Baselines run on one goroutine with GOMAXPROCS=1; shoal with GOMAXPROCS = workers, default budget.")
}

// memRuns runs part 2: one child process per configuration.
func memRuns(s bench.A2ASize, workloads []string, workers []int, spillDir string) {
	tw := measure.Table(os.Stdout)
	fmt.Fprintln(tw, "workload\tworkers\tinput MB\tbudget MB\ttime s\tMrows/s\tGB/s\tpeak RSS MB\tRSS/budget\tRSS/input\tstore peak MB\tspilled MB\t")
	for _, wl := range workloads {
		in := s.InputBytes(wl)
		for _, w := range workers {
			for _, budget := range []int64{0, in / 4} {
				spec := fmt.Sprintf("%s,%s,%d,%d,%s", s.Name, wl, w, budget, spillDir)
				cmd := osexec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), childEnv+"="+spec)
				cmd.Stderr = os.Stderr
				outb, err := cmd.Output()
				if err != nil {
					fmt.Fprintf(tw, "%s\t%d\t%.0f\tFAILED: %v\t\n", wl, w, float64(in)/1e6, err)
					continue
				}
				var r bench.A2AMemResult
				if err := json.Unmarshal(outb, &r); err != nil {
					log.Fatalf("child %s: %v: %s", spec, err, outb)
				}
				n := float64(s.Rows(wl))
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.3f\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t\n", wl, w, float64(in)/1e6,
					float64(r.Budget)/1e6, r.Elapsed.Seconds(), n/r.Elapsed.Seconds()/1e6, float64(in)/r.Elapsed.Seconds()/1e9,
					float64(r.PeakRSS)/1e6, float64(r.PeakRSS)/float64(r.Budget), float64(r.PeakRSS)/float64(in),
					float64(r.StorePeak)/1e6, float64(r.Spilled)/1e6)
			}
		}
	}
	tw.Flush()
	fmt.Println("\nOne fresh process per row; the input is generated inside the pipeline (Range + MapBatches) and")
	fmt.Println("the time includes generating it. budget: the object store's (default: 0.3 x system memory).")
	fmt.Println("peak RSS: the child's VmHWM (Go runtime, binary and all).")
}

func child(spec string) {
	f := strings.SplitN(spec, ",", 5)
	if len(f) != 5 {
		log.Fatalf("bad %s=%q", childEnv, spec)
	}
	s := bench.A2ASizes[f[0]]
	w, _ := strconv.Atoi(f[2])
	budget, _ := strconv.ParseInt(f[3], 10, 64)
	runtime.GOMAXPROCS(w)
	r, err := bench.A2AMemRun(context.Background(), s, f[1], w, budget, f[4])
	if err != nil {
		log.Fatalf("%s: %v", spec, err)
	}
	if f[1] == "groupby" && r.Result.Rows != s.GroupKeys {
		log.Fatalf("%s: %d groups, want %d", spec, r.Result.Rows, s.GroupKeys)
	}
	if f[1] == "join" {
		if want := bench.JoinWant(s); bench.CheckA2A("join", r.Result, want) != nil || r.Result.Sum != want.Sum {
			log.Fatalf("%s: %+v, want %+v", spec, r.Result, want)
		}
	}
	if f[1] == "sort" || f[1] == "shuffle" {
		n := s.Rows(f[1])
		if r.Result.Rows != n || r.Result.Sum != float64(n)*float64(n-1)/2 {
			log.Fatalf("%s: rows %d checksum %v, want %d and %v", spec, r.Result.Rows, r.Result.Sum, n, float64(n)*float64(n-1)/2)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		log.Fatal(err)
	}
}
