// Iobench measures Shoal's storage I/O against arrow-go used directly, in
// the same process, and prints medians and the throughput ratio
// shoal/baseline (baseline_time / shoal_time).
//
// Workloads, over data the command generates once per size (cached in -dir):
//
//   - parquet-full: every column of a Parquet file. Baseline: pqarrow
//     (file.OpenParquetFile, pqarrow.NewFileReader, GetRecordReader), on 1
//     goroutine or with row groups shared by n goroutines. Shoal:
//     ReadParquet(path).MapBatches(one row of NumRows).Sum("n") on a runtime
//     of n workers.
//   - parquet-proj: the same with only columns x and name (pqarrow with
//     those leaf indices; Shoal with dataset.Columns("x", "name")).
//   - csv: a quarter of the rows as CSV files, read by arrow/csv's reader or
//     by Shoal's ReadCSV, both with the schema given; with n cores the
//     files are shared by n goroutines (Shoal: one task per file).
//   - s3: when SHOAL_TEST_S3_ENDPOINT (and _ACCESS_KEY, _SECRET_KEY) are set,
//     the Parquet file is uploaded and Shoal reads s3://bucket/data.parquet
//     against the local path (and pqarrow over Shoal's S3 file).
//   - s3-csv: the CSV files joined into one (bench.OneCSV), uploaded, and
//     read by Shoal from S3 (byte ranges, one ranged GET stream each) against
//     the same file on the local disk.
//   - memcopy: copying a 256 MiB buffer with n goroutines, for context.
//
// The runs of one configuration are interleaved (baseline, shoal, then the
// next repetition, rotating who goes first) with runtime.GC() before each,
// after one untimed warm-up of each, with GOMAXPROCS set to the
// configuration's core count (-procs). The files are read from the page
// cache after the warm-up: the figures are decode throughput, not disk.
// The machine may be shared: the CPU other processes use during each run is
// measured; each round of repetitions waits (up to -maxwait) for a quiet
// moment, and a round where others still took more than -maxother of the
// cores the configuration may use is redone (the table says how many).
//
//	go run ./bench/cmd/iobench -size S             # seconds
//	go run ./bench/cmd/iobench -size L -reps 5     # ~1 GB Parquet file
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

	"github.com/shoal-data/shoal/bench"
	"github.com/shoal-data/shoal/bench/internal/measure"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/storage"
)

func main() {
	sizeName := flag.String("size", "S", "data size: S (seconds), M, or L (~1 GB Parquet)")
	reps := flag.Int("reps", 5, "timed repetitions of each measurement; the median is reported")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "shoal-iobench"), "where the generated files are cached")
	workersFlag := flag.String("workers", "1,2", "comma-separated core counts (Shoal workers, baseline goroutines)")
	only := flag.String("only", "", "comma-separated workloads to run (parquet-full,parquet-proj,csv,s3,s3-csv,memcopy); empty: all")
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

	start := time.Now()
	data, err := bench.PrepareIOData(*dir, size, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("iobench -size %s: Parquet %s (%d rows, %d row groups of %d, 8 columns, snappy) %s;\n",
		size.Name, data.Parquet, size.Rows, size.RowGroups(), size.RowGroupRows, measure.MB(data.ParquetBytes))
	fmt.Printf("  CSV %d rows in %d files, %s; %d reps (median), GC before each run\n",
		size.CSVRows, size.CSVFiles, measure.MB(data.CSVBytes), *reps)
	fmt.Printf("%s, CPU %q\n\n", measure.GoLine(contention.Procs()), cmp.Or(measure.CPUModel(), "?"))

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
	var rows []row
	var notes []string

	// Bytes each workload reads of the file, for GB/s.
	projBytes, err := bench.ParquetColumnBytes(data.Parquet, bench.ProjectedColumns)
	if err != nil {
		log.Fatal(err)
	}

	if run("parquet-full") {
		for _, w := range workers {
			rows = append(rows, measureConfig(*reps, "parquet-full", w, size.Rows, data.ParquetBytes, []engine{
				{name: "pqarrow", baseline: true, fn: func() (int64, int64, error) {
					r, err := bench.PqarrowScan(ctx, data.Parquet, nil, w, bench.CountRows)
					return r.Rows, r.ArrowBytes, err
				}},
				{name: "shoal", fn: func() (int64, int64, error) {
					n, err := bench.ShoalParquetScan(ctx, rts[w], data.Parquet, nil, bench.CountRows)
					return n, 0, err
				}},
			})...)
		}
	}
	if run("parquet-proj") {
		for _, w := range workers {
			rows = append(rows, measureConfig(*reps, "parquet-proj", w, size.Rows, projBytes, []engine{
				{name: "pqarrow", baseline: true, fn: func() (int64, int64, error) {
					r, err := bench.PqarrowScan(ctx, data.Parquet, bench.ProjectedColumns, w, bench.CountRows)
					return r.Rows, r.ArrowBytes, err
				}},
				{name: "shoal", fn: func() (int64, int64, error) {
					n, err := bench.ShoalParquetScan(ctx, rts[w], data.Parquet, bench.ProjectedColumns, bench.CountRows)
					return n, 0, err
				}},
			})...)
		}
	}
	if run("csv") {
		for _, w := range workers {
			rows = append(rows, measureConfig(*reps, "csv", w, size.CSVRows, data.CSVBytes, []engine{
				{name: "arrow/csv", baseline: true, fn: func() (int64, int64, error) {
					r, err := bench.ArrowCSVScan(data.CSVFiles, w, bench.CountRows)
					return r.Rows, r.ArrowBytes, err
				}},
				{name: "shoal", fn: func() (int64, int64, error) {
					n, err := bench.ShoalCSVScan(ctx, rts[w], data.CSVDir, bench.CountRows)
					return n, 0, err
				}},
			})...)
		}
	}
	if run("s3") {
		s3rows, note := measureS3(ctx, *reps, workers, rts, data)
		rows = append(rows, s3rows...)
		if note != "" {
			notes = append(notes, note)
		}
	}
	if run("s3-csv") {
		s3rows, note := measureS3CSV(ctx, *reps, workers, rts, data)
		rows = append(rows, s3rows...)
		if note != "" {
			notes = append(notes, note)
		}
	}
	if run("memcopy") {
		const n = 256 << 20
		src, dst := make([]byte, n), make([]byte, n)
		for i := range src {
			src[i] = byte(i)
		}
		copy(dst, src) // fault the pages in
		for _, w := range workers {
			rows = append(rows, measureConfig(*reps, "memcopy 256MiB", w, 0, n, []engine{
				{name: "copy", baseline: true, fn: func() (int64, int64, error) {
					bench.MemCopy(dst, src, w)
					return 0, 0, nil
				}},
			})...)
		}
	}

	printTable(rows)
	printGoals(rows)
	for _, n := range notes {
		fmt.Println(n)
	}
	fmt.Printf("\ntotal wall time %.1fs\n", time.Since(start).Seconds())
}

// engine is one side of a measurement: fn returns the rows it saw and, for
// a baseline, the decoded Arrow bytes.
type engine struct {
	name     string
	baseline bool
	fn       func() (rows, arrowBytes int64, err error)
}

// row is one line of the table.
type row struct {
	workload, engine string
	cores            int
	baseline         bool
	median, lo, hi   time.Duration
	rows             int64
	fileBytes        int64
	arrowBytes       int64
	allocBytes       uint64  // Go heap allocated per run (median)
	other            float64 // CPU other processes used during a run, in cores (median)
	redone           int     // rounds redone because others were busy
	ratio            float64
}

// contention is the contention control (-procs, -maxother, -maxwait): the
// machine is shared, so each run also measures the CPU that other
// processes used meanwhile (from /proc/stat, less this process's own). A
// round of repetitions in which others took more than MaxOther cores
// beyond those the configuration leaves spare is redone, up to 4*reps
// extra rounds; before each round it waits (up to MaxWait) for a quiet
// half second.
var contention measure.Contention

// measureConfig runs each engine reps times, interleaved, and checks every
// run saw wantRows rows (unless wantRows is 0). GOMAXPROCS is set to cores
// for the duration when contention.SetProcs is on.
func measureConfig(reps int, workload string, cores int, wantRows, fileBytes int64, engines []engine) []row {
	defer contention.SetGOMAXPROCS(cores)()
	// Cores others may use without touching ours, plus the tolerance.
	limit := contention.Limit()
	check := contention.MaxOther > 0 && !strings.HasPrefix(workload, "s3") // the S3 server is an "other" by design
	samples := make([][]measure.Sample, len(engines))
	var arrowBytes int64
	once := func(i int) measure.Sample {
		e := engines[i]
		var n, ab int64
		var err error
		s := measure.RunCPU(func() { n, ab, err = e.fn() })
		if err == nil && wantRows > 0 && n != wantRows {
			err = fmt.Errorf("got %d rows, want %d", n, wantRows)
		}
		if err != nil {
			log.Fatalf("%s %s cores=%d: %v", workload, e.name, cores, err)
		}
		if ab > 0 {
			arrowBytes = ab
		}
		return s
	}
	for i := range engines { // warm-up: page cache, heap size, code paths
		once(i)
	}
	redone := 0
	for r := 0; len(samples[0]) < reps; r++ {
		if check {
			measure.WaitQuiet(limit, contention.MaxWait)
		}
		round := make([]measure.Sample, len(engines))
		noisy := false
		for k := range engines {
			i := (k + r) % len(engines) // rotate who goes first
			round[i] = once(i)
			if check && round[i].Others > limit {
				noisy = true
			}
		}
		if noisy && redone < 4*reps {
			redone++
			continue
		}
		for i, s := range round {
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
		out[i] = row{workload: workload, engine: e.name, cores: cores, baseline: e.baseline,
			median: sum.Median, lo: sum.Min, hi: sum.Max, rows: wantRows, fileBytes: fileBytes, arrowBytes: arrowBytes,
			allocBytes: sum.Alloc, other: sum.Others, redone: redone}
	}
	for i := range out {
		if base > 0 {
			out[i].ratio = base.Seconds() / out[i].median.Seconds()
		}
	}
	fmt.Fprintf(os.Stderr, "  done %s cores=%d (%d noisy rounds redone)\n", workload, cores, redone)
	return out
}

// measureS3 uploads the Parquet file to the S3 test server and compares
// Shoal reading it there with Shoal reading the local file.
func measureS3(ctx context.Context, reps int, workers []int, rts map[int]*exec.Local, data *bench.IOData) ([]row, string) {
	o, ok := bench.S3FromEnv()
	if !ok {
		msg := "s3: SKIPPED: " + bench.EnvS3Endpoint + " is not set (scripts/test starts versitygw and sets it)"
		fmt.Fprintln(os.Stderr, msg)
		return nil, msg
	}
	bucket := fmt.Sprintf("shoal-iobench-%d", time.Now().UnixNano())
	t0 := time.Now()
	fs, cleanup, err := bench.S3Upload(ctx, o, bucket, "data.parquet", data.Parquet)
	if err != nil {
		log.Fatalf("s3 upload: %v", err)
	}
	defer cleanup()
	up := time.Since(t0)
	url := "s3://" + bucket + "/data.parquet"
	note := fmt.Sprintf("s3: endpoint %s, uploaded %s in %.1fs (%.2f GB/s) with s3.FileSystem's multipart writer",
		o.Endpoint, measure.MB(data.ParquetBytes), up.Seconds(), float64(data.ParquetBytes)/up.Seconds()/1e9)
	fmt.Fprintln(os.Stderr, note)
	cfg := dataset.Storage(storage.Config{S3: o})
	var out []row
	for _, w := range workers {
		rs := measureConfig(reps, "s3 parquet-full", w, data.Size.Rows, data.ParquetBytes, []engine{
			{name: "shoal local", baseline: true, fn: func() (int64, int64, error) {
				n, err := bench.ShoalParquetScan(ctx, rts[w], data.Parquet, nil, bench.CountRows)
				return n, 0, err
			}},
			{name: "shoal s3", fn: func() (int64, int64, error) {
				n, err := bench.ShoalParquetScan(ctx, rts[w], url, nil, bench.CountRows, cfg)
				return n, 0, err
			}},
			{name: "pqarrow s3", fn: func() (int64, int64, error) {
				r, err := bench.PqarrowScanFile(ctx, func() (storage.File, error) {
					return fs.Open(ctx, bucket+"/data.parquet")
				}, nil, w, bench.CountRows)
				return r.Rows, r.ArrowBytes, err
			}},
		})
		out = append(out, rs...)
	}
	return out, note
}

// measureS3CSV uploads one large CSV file to the S3 test server and
// compares Shoal reading it there with Shoal reading the local file: both
// split it into byte ranges, read by as many tasks.
func measureS3CSV(ctx context.Context, reps int, workers []int, rts map[int]*exec.Local, data *bench.IOData) ([]row, string) {
	o, ok := bench.S3FromEnv()
	if !ok {
		msg := "s3-csv: SKIPPED: " + bench.EnvS3Endpoint + " is not set (scripts/test starts versitygw and sets it)"
		fmt.Fprintln(os.Stderr, msg)
		return nil, msg
	}
	local, size, err := bench.OneCSV(data)
	if err != nil {
		log.Fatalf("s3-csv: joining the CSV files: %v", err)
	}
	bucket := fmt.Sprintf("shoal-iobench-csv-%d", time.Now().UnixNano())
	_, cleanup, err := bench.S3Upload(ctx, o, bucket, "one.csv", local)
	if err != nil {
		log.Fatalf("s3-csv upload: %v", err)
	}
	defer cleanup()
	url := "s3://" + bucket + "/one.csv"
	cfg := dataset.Storage(storage.Config{S3: o})
	var out []row
	for _, w := range workers {
		scan := func(path string, opts ...dataset.ReadOption) (int64, int64, error) {
			opts = append(opts, dataset.WithRuntime(rts[w]), dataset.Schema(bench.IOSchema))
			n, err := bench.ShoalProbe(ctx, dataset.ReadCSV(ctx, path, opts...), bench.CountRows)
			return n, 0, err
		}
		out = append(out, measureConfig(reps, "s3-csv one file", w, data.Size.CSVRows, size, []engine{
			{name: "shoal local", baseline: true, fn: func() (int64, int64, error) { return scan(local) }},
			{name: "shoal s3", fn: func() (int64, int64, error) { return scan(url, cfg) }},
		})...)
	}
	return out, fmt.Sprintf("s3-csv: one CSV file of %s at endpoint %s", measure.MB(size), o.Endpoint)
}

func printTable(rows []row) {
	tw := measure.Table(os.Stdout)
	fmt.Fprintln(tw, "workload\tengine\tcores\tmedian ms\tmin–max ms\tMrows/s\tfile GB/s\tarrow GB/s\talloc MB/run\tothers\tredone\tratio\t")
	for _, r := range rows {
		mrows, arrow := "-", "-"
		if r.rows > 0 {
			mrows = fmt.Sprintf("%.1f", float64(r.rows)/r.median.Seconds()/1e6)
		}
		if r.arrowBytes > 0 {
			arrow = fmt.Sprintf("%.2f", float64(r.arrowBytes)/r.median.Seconds()/1e9)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s–%s\t%s\t%.2f\t%s\t%.0f\t%.2f\t%d\t%s\t\n",
			r.workload, r.engine, r.cores, measure.Ms(r.median), measure.Ms(r.lo), measure.Ms(r.hi), mrows,
			float64(r.fileBytes)/r.median.Seconds()/1e9, arrow, float64(r.allocBytes)/1e6, r.other, r.redone,
			measure.Ratio(r.baseline, r.ratio))
	}
	tw.Flush()
	fmt.Println("\nratio = baseline_time / engine_time, same run (throughput relative to the baseline marked (base)).")
	fmt.Println("file GB/s: bytes of the file read (parquet-proj: the compressed chunks of x and name; memcopy: bytes copied).")
	fmt.Println("arrow GB/s: decoded Arrow buffer bytes, as the baseline counted them. alloc: Go heap allocated per run.")
	fmt.Println("others: CPU used by other processes during a run, in cores (median); redone: rounds discarded because")
	fmt.Println("others exceeded -maxother of this configuration's cores (not checked for s3: the S3 server is one of them).")
}

// printGoals restates the table against the goals: Shoal >= 0.9x its
// baseline at each core count, scaling with cores, projection pays.
func printGoals(rows []row) {
	find := func(workload, engine string, cores int) *row {
		for i := range rows {
			if rows[i].workload == workload && rows[i].engine == engine && rows[i].cores == cores {
				return &rows[i]
			}
		}
		return nil
	}
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Println("\ngoals:")
	for _, wl := range []struct{ workload, base string }{{"parquet-full", "pqarrow"}, {"parquet-proj", "pqarrow"}, {"csv", "arrow/csv"}} {
		var one, two *row
		for _, c := range []int{1, 2} {
			s := find(wl.workload, "shoal", c)
			if s == nil {
				continue
			}
			fmt.Printf("  %-13s cores=%d  shoal/%s = %.2fx (goal >= 0.9: %s)\n", wl.workload, c, wl.base, s.ratio, yes(s.ratio >= 0.9))
			if c == 1 {
				one = s
			} else {
				two = s
			}
		}
		if one != nil && two != nil {
			b1, b2 := find(wl.workload, wl.base, 1), find(wl.workload, wl.base, 2)
			fmt.Printf("  %-13s scaling 1->2 cores: shoal %.2fx, %s %.2fx\n", wl.workload,
				one.median.Seconds()/two.median.Seconds(), wl.base, b1.median.Seconds()/b2.median.Seconds())
		}
	}
	for _, c := range []int{1, 2} {
		for _, e := range []string{"shoal", "pqarrow"} {
			full, proj := find("parquet-full", e, c), find("parquet-proj", e, c)
			if full != nil && proj != nil {
				fmt.Printf("  projection (2 of 8 columns) speedup over the full read, %s cores=%d: %.2fx\n",
					e, c, full.median.Seconds()/proj.median.Seconds())
			}
		}
	}
	for _, c := range []int{1, 2} {
		if s := find("s3-csv one file", "shoal s3", c); s != nil {
			fmt.Printf("  s3-csv cores=%d: shoal s3 / shoal local throughput = %.2fx (goal >= 0.8: %s)\n", c, s.ratio, yes(s.ratio >= 0.8))
		}
		if s := find("s3 parquet-full", "shoal s3", c); s != nil {
			p := find("s3 parquet-full", "pqarrow s3", c)
			fmt.Printf("  s3 cores=%d: shoal s3 / shoal local throughput = %.2fx; pqarrow s3 / shoal local = %.2fx\n",
				c, s.ratio, p.ratio)
		}
	}
}
