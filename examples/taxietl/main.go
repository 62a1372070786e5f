// Taxietl is a small taxi-trip ETL job: read raw CSV trip records, drop the
// dirty ones, compute trip features, and write the result as Parquet
// partitioned hive style by payment type; then read the output back and
// summarize it. It shows:
//
//   - dataset.ReadCSV with column types forced through CSVOptions (the
//     "2024-01-05 13:22:10" datetimes become timestamps);
//   - cleaning with vectorized expression filters (Where(Col(...)...)),
//     which the optimizer can hand to the source;
//   - features derived with expressions (WithColumn: trip_minutes from
//     DiffSeconds, speed_mph, hour_of_day and day_of_week from Hour and
//     DayOfWeek, tip_pct, fare_per_mile, null where undefined with If),
//     followed by a second Where on those features; the optimizer runs the
//     filters and the derived columns as one pass over each block;
//   - WriteParquet with PartitionBy and Mode(formats.Overwrite), so a rerun
//     into the same directory replaces the previous output;
//   - ReadParquet on the output (the "payment_type=card/" directories come
//     back as a column) and GroupBy(...).Aggregate for a summary.
//
// A row is kept when all of these hold (the dirt the generator injects
// breaks one of them each):
//
//	fare_amount > 0
//	0 < trip_distance <= 200 miles
//	passenger_count is present and > 0
//	dropoff_datetime is after pickup_datetime (trip_minutes > 0)
//	speed_mph <= 100
//
// With no -in, it first writes a deterministic synthetic NYC-taxi-like
// dataset (-rows rows, January 2024, seeded by -seed) as several CSV files
// in a temporary directory, removed at exit. Datetimes are taken as UTC
// wall-clock times, so hour_of_day and day_of_week (0 = Sunday, as Go's
// time.Weekday) are those of the text.
//
//	go run ./examples/taxietl                               # 1,000,000 generated rows
//	go run ./examples/taxietl -rows 50000 -out /tmp/trips   # rerun: same result, overwritten
//	go run ./examples/taxietl -in 's3://bucket/raw/*.csv' -out s3://bucket/trips/
//
// An -in dataset needs the generated columns' names: vendor_id,
// pickup_datetime, dropoff_datetime, passenger_count, trip_distance,
// pickup_zone, dropoff_zone, payment_type, fare_amount, tip_amount,
// total_amount. S3 uses the AWS default credentials; AWS_ENDPOINT_URL points
// it at an S3-compatible store.
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	_ "github.com/shoal-data/shoal/cluster" // runs on a cluster with SHOAL_ADDRESS
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	_ "github.com/shoal-data/shoal/io/storage/s3" // -in and -out may be s3:// URLs
)

// config is what the flags set.
type config struct {
	In   string // CSV file, directory or glob, local or s3://; "" generates one
	Out  string // output directory, local or s3://; "" makes a temporary one
	Rows int    // rows to generate when In is ""
	Seed uint64 // generator seed
	// Files is how many CSV files the generator writes (default 8).
	Files int
	// GenDir is where the generator writes them; "" makes a temporary
	// directory (which run leaves for its caller to remove).
	GenDir string
}

// partitionCol is the column the output is partitioned by.
const partitionCol = "payment_type"

// summary is what a run did.
type summary struct {
	Input     string // the CSV read (the generated directory when In was "")
	Generated bool   // whether run generated Input
	Output    string
	RowsIn    int64
	RowsKept  int64 // rows in the Parquet output, read back
	// Files counts the Parquet files per partition directory
	// ("payment_type=card").
	Files  map[string]int
	Groups []group // by payment type, sorted by it
	// WriteStats are the Stats of the ETL write run (nil where the library
	// does not record them).
	WriteStats *dataset.RunStats
	// SummaryStats are the Stats of the GroupBy run over the output.
	SummaryStats *dataset.RunStats
}

// group is one payment type's line of the summary.
type group struct {
	PaymentType string
	Trips       int64
	MeanFare    float64
	MeanTipPct  float64
	MeanSpeed   float64
}

func main() {
	dataset.Init() // in a cluster's worker process, serves tasks instead
	var cfg config
	flag.StringVar(&cfg.In, "in", "", "input CSV file, directory or glob (local or s3://); empty generates synthetic trips")
	flag.StringVar(&cfg.Out, "out", "", "output directory (local or s3://); empty makes a temporary directory")
	flag.IntVar(&cfg.Rows, "rows", 1_000_000, "rows to generate when -in is empty")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of the generated data")
	flag.Parse()

	ctx := context.Background()
	sum, err := run(ctx, cfg, os.Stdout)
	if sum.Generated {
		os.RemoveAll(sum.Input)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// run generates the input if needed, runs the ETL, reads the output back and
// prints a report to w.
func run(ctx context.Context, cfg config, w io.Writer) (summary, error) {
	var sum summary
	in := cfg.In
	if in == "" {
		dir := cfg.GenDir
		if dir == "" {
			d, err := os.MkdirTemp("", "taxietl-in-")
			if err != nil {
				return sum, err
			}
			dir = d
		}
		sum.Input, sum.Generated = dir, cfg.GenDir == ""
		files := cfg.Files
		if files <= 0 {
			files = 8
		}
		start := time.Now()
		files, err := generate(dir, cfg.Rows, files, cfg.Seed)
		if err != nil {
			return sum, err
		}
		fmt.Fprintf(w, "generated %d synthetic trips (seed %d) in %d CSV files under %s in %s\n",
			cfg.Rows, cfg.Seed, files, dir, time.Since(start).Round(time.Millisecond))
		in = dir
	} else {
		sum.Input = in
	}
	out := cfg.Out
	if out == "" {
		d, err := os.MkdirTemp("", "taxietl-out-")
		if err != nil {
			return sum, err
		}
		out = d
	}
	sum.Output = out

	// Extract. The datetimes have a space for the 'T' and no offset, which
	// inference leaves as strings; forced to timestamps they parse (as UTC).
	// The other types are forced too, so that a file whose sample happens to
	// hold only whole fares, or no passenger counts, still reads as the rest.
	ts := &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}
	f64, i64 := arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Int64
	trips := dataset.ReadCSV(ctx, in, dataset.CSVOptions(formats.CSVOptions{Columns: map[string]arrow.DataType{
		"vendor_id":        i64,
		"pickup_datetime":  ts,
		"dropoff_datetime": ts,
		"passenger_count":  i64,
		"trip_distance":    f64,
		"pickup_zone":      i64,
		"dropoff_zone":     i64,
		"payment_type":     arrow.BinaryTypes.String,
		"fare_amount":      f64,
		"tip_amount":       f64,
		"total_amount":     f64,
	}}))
	start := time.Now()
	rowsIn, err := trips.Count(ctx) // a pass over the CSV of its own
	if err != nil {
		return sum, err
	}
	sum.RowsIn = rowsIn

	// Transform: drop what a single column rules out, vectorized...
	clean := trips.Where(dataset.And(
		dataset.Col("fare_amount").Gt(0),
		dataset.Col("trip_distance").Gt(0),
		dataset.Col("trip_distance").Le(200),
		dataset.Col("passenger_count").Gt(0), // a null passenger_count is never > 0
	))
	// ...compute the features on whole batches, then drop what needs them:
	// a trip_minutes of null or <= 0 (dropoff not after pickup) and
	// impossible speeds (a null speed_mph is never <= 100).
	etl := withFeatures(clean).Where(dataset.And(
		dataset.Col("trip_minutes").Gt(0),
		dataset.Col("speed_mph").Le(100),
	))

	// Load: one directory per payment type, replacing any earlier output.
	if err := etl.WriteParquet(ctx, out, dataset.PartitionBy(partitionCol), dataset.Mode(formats.Overwrite)); err != nil {
		return sum, err
	}
	etlTime := time.Since(start)
	sum.WriteStats = etl.Stats()

	if sum.Files, err = countFiles(ctx, out); err != nil {
		return sum, err
	}
	if len(sum.Files) == 0 { // no row was kept, so no file was written
		report(w, sum, etlTime)
		return sum, nil
	}

	// Read the output back: the partition directories become a column again.
	back := dataset.ReadParquet(ctx, out)
	if sum.RowsKept, err = back.Count(ctx); err != nil { // from the Parquet footers
		return sum, err
	}
	// SelectColumns first, so that only these columns are decoded.
	byType := back.SelectColumns(partitionCol, "fare_amount", "tip_pct", "speed_mph").GroupBy(partitionCol).Aggregate(
		dataset.CountRows(),
		dataset.MeanOf("fare_amount"),
		dataset.MeanOf("tip_pct"),
		dataset.MeanOf("speed_mph"),
	).Sort(dataset.Asc(partitionCol))
	rows, err := byType.TakeAll(ctx)
	if err != nil {
		return sum, err
	}
	sum.SummaryStats = byType.Stats()
	for _, r := range rows {
		g := group{PaymentType: fmt.Sprint(r[partitionCol])}
		g.Trips, _ = r["count()"].(int64)
		g.MeanFare, _ = r["mean(fare_amount)"].(float64)
		g.MeanTipPct, _ = r["mean(tip_pct)"].(float64)
		g.MeanSpeed, _ = r["mean(speed_mph)"].(float64)
		sum.Groups = append(sum.Groups, g)
	}

	report(w, sum, etlTime)
	return sum, nil
}

// report prints a run's summary.
func report(w io.Writer, sum summary, etlTime time.Duration) {
	dropped := sum.RowsIn - sum.RowsKept
	pct := 0.0
	if sum.RowsIn > 0 {
		pct = 100 * float64(dropped) / float64(sum.RowsIn)
	}
	fmt.Fprintf(w, "ETL %s -> %s (Parquet, partitioned by %s) in %s\n", sum.Input, sum.Output, partitionCol, etlTime.Round(time.Millisecond))
	fmt.Fprintf(w, "rows in       %9d\n", sum.RowsIn)
	fmt.Fprintf(w, "rows kept     %9d\n", sum.RowsKept)
	fmt.Fprintf(w, "rows dropped  %9d (%.2f%%)\n", dropped, pct)

	fmt.Fprintln(w, "\nParquet files written per partition:")
	parts := make([]string, 0, len(sum.Files))
	for p := range sum.Files {
		parts = append(parts, p)
	}
	sort.Strings(parts)
	for _, p := range parts {
		fmt.Fprintf(w, "  %-24s %4d\n", p+"/", sum.Files[p])
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)

	fmt.Fprintln(w, "\nread back, by payment type:")
	fmt.Fprintln(tw, "payment_type\ttrips\tmean fare\tmean tip %\tmean mph\t")
	for _, g := range sum.Groups {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t\n", g.PaymentType, g.Trips, g.MeanFare, g.MeanTipPct, g.MeanSpeed)
	}
	tw.Flush()

	if sum.WriteStats != nil { // nil where WriteParquet records no Stats
		fmt.Fprintf(w, "\nETL write run stats:\n%s", sum.WriteStats)
	}
	if sum.SummaryStats != nil {
		fmt.Fprintf(w, "\nsummary (GroupBy) run stats:\n%s", sum.SummaryStats)
	}
}

// ---------------------------------------------------------------------------
// Features
// ---------------------------------------------------------------------------

// withFeatures adds the trip features as expressions, each null where it
// is undefined: no speed for a trip that does not move forward in time, no
// tip percentage of a zero fare, no fare per mile of no distance.
func withFeatures(trips *dataset.Dataset) *dataset.Dataset {
	col, lit := dataset.Col, dataset.Lit
	minutes := dataset.DiffSeconds(col("dropoff_datetime"), col("pickup_datetime")).Div(60.0)
	return trips.
		WithColumn("trip_minutes", minutes).
		WithColumn("speed_mph", dataset.If(col("trip_minutes").Gt(0), col("trip_distance").Div(col("trip_minutes").Div(60.0)), lit(nil))).
		WithColumn("hour_of_day", dataset.Hour(col("pickup_datetime")).Cast(arrow.PrimitiveTypes.Int32)).
		WithColumn("day_of_week", dataset.DayOfWeek(col("pickup_datetime")).Cast(arrow.PrimitiveTypes.Int32)).
		WithColumn("tip_pct", dataset.If(col("fare_amount").Gt(0), lit(100.0).Mul(col("tip_amount")).Div(col("fare_amount")), lit(nil))).
		WithColumn("fare_per_mile", dataset.If(col("trip_distance").Gt(0), col("fare_amount").Div(col("trip_distance")), lit(nil)))
}

// countFiles counts the Parquet files under each partition directory of out.
func countFiles(ctx context.Context, out string) (map[string]int, error) {
	fs, dir, err := storage.Resolve(ctx, out, storage.Config{})
	if err != nil {
		return nil, err
	}
	files, err := fs.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, f := range files {
		rel := strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(f.Path, dir)), "/")
		part, name, ok := strings.Cut(rel, "/")
		if !ok || !strings.HasPrefix(part, partitionCol+"=") || !strings.HasSuffix(name, ".parquet") ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		counts[part]++
	}
	return counts, nil
}

// ---------------------------------------------------------------------------
// Synthetic input
// ---------------------------------------------------------------------------

var csvHeader = []string{
	"vendor_id", "pickup_datetime", "dropoff_datetime", "passenger_count", "trip_distance",
	"pickup_zone", "dropoff_zone", "payment_type", "fare_amount", "tip_amount", "total_amount",
}

// timeLayout is how the datetimes are written.
const timeLayout = "2006-01-02 15:04:05"

// generate writes rows synthetic trips as files CSV files (trips-00.csv, …)
// in dir, and says how many files it wrote. File k draws from its own
// generator seeded by (seed, k), so the files are the same for the same
// arguments however they are scheduled.
func generate(dir string, rows, files int, seed uint64) (int, error) {
	if rows < 0 {
		return 0, fmt.Errorf("negative row count %d", rows)
	}
	files = min(files, max(rows, 1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	errs := make([]error, files)
	var wg sync.WaitGroup
	for k := range files {
		n := rows / files
		if k < rows%files {
			n++
		}
		wg.Go(func() {
			errs[k] = generateFile(filepath.Join(dir, fmt.Sprintf("trips-%02d.csv", k)), n, seed, uint64(k))
		})
	}
	wg.Wait()
	return files, errors.Join(errs...)
}

// Dirt kinds; about 2% of the trips get one.
const (
	dirtNone = iota
	dirtNegativeFare
	dirtZeroDistance
	dirtDropoffBeforePickup
	dirtNoPassengers
	dirtAbsurdDistance
	dirtTooFast
	dirtKinds
)

// passengerCount maps a uniform draw to 1-6 passengers, mostly one.
func passengerCount(u float64) int {
	for i, c := range []float64{0.6, 0.8, 0.88, 0.93, 0.97} {
		if u < c {
			return i + 1
		}
	}
	return 6
}

func generateFile(path string, rows int, seed, stream uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, stream))
	cw := csv.NewWriter(f)
	err = cw.Write(csvHeader)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := make([]string, len(csvHeader))
	money := func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }
	for range rows {
		if err != nil {
			break
		}
		dirt := dirtNone
		if rng.Float64() < 0.02 {
			dirt = 1 + rng.IntN(dirtKinds-1)
		}
		// Most trips are short: a log-normal distance around 2 miles, at
		// 5-30 mph through traffic.
		dist := math.Round(100*min(0.3+1.7*math.Exp(0.8*rng.NormFloat64()), 60)) / 100
		mph := 5 + 25*rng.Float64()
		secs := int64(60 + dist/mph*3600 + 120*rng.Float64())
		pickup := base.Add(time.Duration(rng.Int64N(31*86400)) * time.Second)
		passengers := strconv.Itoa(passengerCount(rng.Float64()))
		payment := "card"
		switch p := rng.Float64(); {
		case p < 0.25:
			payment = "cash"
		case p < 0.27:
			payment = "dispute"
		case p < 0.30:
			payment = "unknown"
		}
		fare := math.Round(100*(3+2.5*dist+0.5*float64(secs)/60)) / 100
		tip := 0.0
		if payment == "card" {
			tip = math.Round(100*fare*(0.1+0.15*rng.Float64())) / 100
		}
		switch dirt {
		case dirtNegativeFare:
			fare = -fare
		case dirtZeroDistance:
			dist = 0
		case dirtDropoffBeforePickup:
			secs = -secs
		case dirtNoPassengers:
			passengers = ""
		case dirtAbsurdDistance:
			dist = math.Round(100*(200.01+1800*rng.Float64())) / 100
		case dirtTooFast:
			secs = 30 + rng.Int64N(60)
			dist = math.Round(100*(5+20*rng.Float64())) / 100 // over 180 mph
		}
		total := fare + tip + 1.5 // taxes and surcharges
		rec[0] = strconv.Itoa(1 + rng.IntN(2))
		rec[1] = pickup.Format(timeLayout)
		rec[2] = pickup.Add(time.Duration(secs) * time.Second).Format(timeLayout)
		rec[3] = passengers
		rec[4] = strconv.FormatFloat(dist, 'f', -1, 64)
		rec[5] = strconv.Itoa(1 + rng.IntN(263))
		rec[6] = strconv.Itoa(1 + rng.IntN(263))
		rec[7] = payment
		rec[8], rec[9], rec[10] = money(fare), money(tip), money(total)
		err = cw.Write(rec)
	}
	cw.Flush()
	return errors.Join(err, cw.Error(), f.Close())
}
