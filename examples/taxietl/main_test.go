package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// trip is one CSV row as the test parses it, on its own, with encoding/csv.
type trip struct {
	key     tripKey
	pickup  time.Time
	dropoff time.Time
	valid   bool
	reason  string // the first rule the row breaks
}

// tripKey identifies a trip by all its raw fields (comparable, for maps).
type tripKey struct {
	vendor, pickup, dropoff, passengers, puZone, doZone int64
	payment                                             string
	dist, fare, tip, total                              float64
}

// readTrips parses every CSV file under dir and applies the cleaning rules
// of the package comment.
func readTrips(t *testing.T, dir string) []trip {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CSV files in %s (%v)", dir, err)
	}
	var trips []trip
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
			t.Fatalf("%s: header %v", p, recs[0])
		}
		for _, r := range recs[1:] {
			trips = append(trips, parseTrip(t, r))
		}
	}
	return trips
}

func parseTrip(t *testing.T, r []string) trip {
	t.Helper()
	atoi := func(s string) int64 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("row %v: %v", r, err)
		}
		return v
	}
	atof := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("row %v: %v", r, err)
		}
		return v
	}
	date := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04:05", s)
		if err != nil {
			t.Fatalf("row %v: %v", r, err)
		}
		return v
	}
	tr := trip{pickup: date(r[1]), dropoff: date(r[2])}
	tr.key = tripKey{
		vendor: atoi(r[0]), pickup: tr.pickup.Unix(), dropoff: tr.dropoff.Unix(),
		passengers: -1, dist: atof(r[4]), puZone: atoi(r[5]), doZone: atoi(r[6]),
		payment: r[7], fare: atof(r[8]), tip: atof(r[9]), total: atof(r[10]),
	}
	if r[3] != "" {
		tr.key.passengers = atoi(r[3])
	}
	k := tr.key
	minutes := tr.dropoff.Sub(tr.pickup).Minutes()
	switch {
	case k.fare <= 0:
		tr.reason = "fare <= 0"
	case k.dist <= 0:
		tr.reason = "distance <= 0"
	case k.dist > 200:
		tr.reason = "distance > 200"
	case k.passengers <= 0: // -1: missing
		tr.reason = "no passengers"
	case minutes <= 0:
		tr.reason = "dropoff not after pickup"
	case k.dist/(minutes/60) > 100:
		tr.reason = "speed > 100 mph"
	default:
		tr.valid = true
	}
	return tr
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case float64:
		return x
	}
	t.Fatalf("value %v (%T) is not a number", v, v)
	return 0
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestTaxiETL(t *testing.T) {
	ctx := context.Background()
	const rows = 20000
	out := t.TempDir()
	cfg := config{Rows: rows, Seed: 42, Files: 4, Out: out, GenDir: t.TempDir()}
	var report bytes.Buffer
	sum, err := run(ctx, cfg, &report)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", report.String())

	// The kept count is what the rules, applied here with plain Go, keep.
	trips := readTrips(t, cfg.GenDir)
	if len(trips) != rows {
		t.Fatalf("the generator wrote %d rows, want %d", len(trips), rows)
	}
	var kept int64
	keptBy := map[string]int64{}
	fareBy := map[string]float64{}
	reasons := map[string]int{}
	want := map[tripKey]int{} // valid trips by content
	for _, tr := range trips {
		if !tr.valid {
			reasons[tr.reason]++
			continue
		}
		kept++
		keptBy[tr.key.payment]++
		fareBy[tr.key.payment] += tr.key.fare
		want[tr.key]++
	}
	// Every kind of dirt is there to be dropped, around 2% in all.
	for _, r := range []string{"fare <= 0", "distance <= 0", "distance > 200", "no passengers", "dropoff not after pickup", "speed > 100 mph"} {
		if reasons[r] == 0 {
			t.Errorf("no generated row breaks the rule %q (dropped: %v)", r, reasons)
		}
	}
	if dropped := rows - kept; dropped < rows/100 || dropped > rows/20 {
		t.Errorf("%d of %d rows are dirty, want about 2%%", dropped, rows)
	}
	if sum.RowsIn != rows {
		t.Errorf("rows in = %d, want %d", sum.RowsIn, rows)
	}
	if sum.RowsKept != kept {
		t.Errorf("rows kept = %d, want %d (dropped by reason: %v)", sum.RowsKept, kept, reasons)
	}
	for _, line := range []string{
		fmt.Sprintf("rows in       %9d\n", rows),
		fmt.Sprintf("rows kept     %9d\n", kept),
		fmt.Sprintf("rows dropped  %9d ", rows-kept),
	} {
		if !strings.Contains(report.String(), line) {
			t.Errorf("the report lacks %q", line)
		}
	}

	// The summary: a group per payment type with its count and mean fare.
	if len(sum.Groups) != len(keptBy) {
		t.Errorf("%d summary groups, want %d (%v)", len(sum.Groups), len(keptBy), keptBy)
	}
	for i, g := range sum.Groups {
		if i > 0 && sum.Groups[i-1].PaymentType >= g.PaymentType {
			t.Errorf("groups not sorted: %q before %q", sum.Groups[i-1].PaymentType, g.PaymentType)
		}
		if g.Trips != keptBy[g.PaymentType] {
			t.Errorf("%s: %d trips, want %d", g.PaymentType, g.Trips, keptBy[g.PaymentType])
		}
		if wantMean := fareBy[g.PaymentType] / float64(keptBy[g.PaymentType]); !near(g.MeanFare, wantMean) {
			t.Errorf("%s: mean fare %v, want %v", g.PaymentType, g.MeanFare, wantMean)
		}
	}

	// A directory per payment type, each with Parquet files, as counted.
	checkPartitions(t, out, keptBy, sum.Files)

	// Every output row is a valid input row, each valid row is there once,
	// and its features are what this test computes from the CSV text.
	items, err := dataset.ReadParquet(ctx, out).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(items)) != kept {
		t.Fatalf("read back %d rows, want %d", len(items), kept)
	}
	byKey := map[tripKey]trip{}
	for _, tr := range trips {
		byKey[tr.key] = tr
	}
	for i, it := range items {
		k := tripKey{
			vendor: int64(num(t, it["vendor_id"])), pickup: it["pickup_datetime"].(time.Time).Unix(),
			dropoff: it["dropoff_datetime"].(time.Time).Unix(), passengers: int64(num(t, it["passenger_count"])),
			puZone: int64(num(t, it["pickup_zone"])), doZone: int64(num(t, it["dropoff_zone"])),
			payment: it["payment_type"].(string), dist: num(t, it["trip_distance"]),
			fare: num(t, it["fare_amount"]), tip: num(t, it["tip_amount"]), total: num(t, it["total_amount"]),
		}
		if want[k] == 0 {
			t.Fatalf("output row %d %v is not a valid input row (or is there too often)", i, it)
		}
		want[k]--
		tr := byKey[k]
		minutes := tr.dropoff.Sub(tr.pickup).Minutes()
		feats := map[string]float64{
			"trip_minutes":  minutes,
			"speed_mph":     k.dist / (minutes / 60),
			"hour_of_day":   float64(tr.pickup.Hour()),
			"day_of_week":   float64(tr.pickup.Weekday()),
			"tip_pct":       100 * k.tip / k.fare,
			"fare_per_mile": k.fare / k.dist,
		}
		for name, w := range feats {
			if got := num(t, it[name]); !near(got, w) {
				t.Errorf("row %d (%v): %s = %v, want %v", i, k, name, got, w)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	// Rerun into the same directory, regenerating the input elsewhere: the
	// same seed gives the same files, and Overwrite replaces the output
	// rather than adding to it.
	cfg2 := cfg
	cfg2.GenDir = t.TempDir()
	sum2, err := run(ctx, cfg2, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"trips-00.csv", "trips-03.csv"} {
		a, err1 := os.ReadFile(filepath.Join(cfg.GenDir, name))
		b, err2 := os.ReadFile(filepath.Join(cfg2.GenDir, name))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with seed %d (%v, %v)", name, cfg.Seed, err1, err2)
		}
	}
	if sum2.RowsIn != sum.RowsIn || sum2.RowsKept != sum.RowsKept {
		t.Errorf("rerun: %d in, %d kept; first run: %d in, %d kept", sum2.RowsIn, sum2.RowsKept, sum.RowsIn, sum.RowsKept)
	}
	if fmt.Sprint(sum2.Groups) != fmt.Sprint(sum.Groups) {
		t.Errorf("rerun summary %v, first %v", sum2.Groups, sum.Groups)
	}
	checkPartitions(t, out, keptBy, sum2.Files)
	if fmt.Sprint(sum2.Files) != fmt.Sprint(sum.Files) {
		t.Errorf("rerun wrote files %v, first run %v", sum2.Files, sum.Files)
	}
}

// checkPartitions checks that out has a payment_type=<type> directory of
// Parquet files for each kept payment type, nothing else, and that files
// counts them.
func checkPartitions(t *testing.T, out string, keptBy map[string]int64, files map[string]int) {
	t.Helper()
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "_") && !strings.HasPrefix(e.Name(), ".") {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != len(keptBy) || len(files) != len(keptBy) {
		t.Errorf("output holds %v, summary counts %v; want one directory per payment type of %v", dirs, files, keptBy)
	}
	for pt := range keptBy {
		dir := "payment_type=" + pt
		parquet, err := filepath.Glob(filepath.Join(out, dir, "*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if len(parquet) == 0 {
			t.Errorf("%s: no Parquet files", dir)
		}
		all, _ := os.ReadDir(filepath.Join(out, dir))
		if len(all) != len(parquet) {
			t.Errorf("%s holds %d entries, %d of them Parquet files", dir, len(all), len(parquet))
		}
		if files[dir] != len(parquet) {
			t.Errorf("%s: summary counts %d files, the directory holds %d", dir, files[dir], len(parquet))
		}
	}
}

// The features of three rows worked out by hand, from timestamps in
// milliseconds (the CSV read gives seconds; both must work).
func TestFeatures(t *testing.T) {
	mem := memory.DefaultAllocator
	ms := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	stamp := func(s string) arrow.Timestamp {
		tm, err := time.Parse("2006-01-02 15:04:05.000", s)
		if err != nil {
			t.Fatal(err)
		}
		return arrow.Timestamp(tm.UnixMilli())
	}
	tsCol := func(vals ...string) arrow.Array {
		b := array.NewTimestampBuilder(mem, ms)
		defer b.Release()
		for _, v := range vals {
			b.Append(stamp(v))
		}
		return b.NewArray()
	}
	f64Col := func(vals ...float64) arrow.Array {
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
	cols := []arrow.Array{
		tsCol("2024-01-05 13:22:10.000", "2024-01-07 23:59:59.000", "2024-01-01 00:10:00.000"),
		tsCol("2024-01-05 13:52:10.000", "2024-01-08 00:14:59.000", "2024-01-01 00:05:00.000"),
		f64Col(5, 3, 0),
		f64Col(20, 0, 10),
		f64Col(4, 0, 1),
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "pickup_datetime", Type: ms}, {Name: "dropoff_datetime", Type: ms},
		{Name: "trip_distance", Type: arrow.PrimitiveTypes.Float64},
		{Name: "fare_amount", Type: arrow.PrimitiveTypes.Float64},
		{Name: "tip_amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	in := array.NewRecordBatch(schema, cols, 3)
	for _, c := range cols {
		c.Release()
	}
	defer in.Release()
	rt := exec.NewLocal(exec.WithWorkers(1))
	defer rt.Close()
	recs, err := withFeatures(dataset.FromRecords([]arrow.RecordBatch{in}, dataset.WithRuntime(rt))).ToRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	out := recs[0]
	defer out.Release()

	null := math.NaN() // stands for a null here
	want := map[string][]float64{
		// 30 minutes; 15 minutes across midnight; dropoff 5 minutes early.
		"trip_minutes": {30, 15, -5},
		// 5 miles in half an hour; 3 in a quarter; no speed going backwards.
		"speed_mph":   {10, 12, null},
		"hour_of_day": {13, 23, 0},
		// Friday 5 January, Sunday 7 January, Monday 1 January 2024.
		"day_of_week": {5, 0, 1},
		// 4 on 20; no percentage of a zero fare; 1 on 10.
		"tip_pct": {20, null, 10},
		// $20 over 5 miles; $0 over 3; nothing per mile of no distance.
		"fare_per_mile": {4, 0, null},
	}
	if out.NumRows() != 3 || out.NumCols() != int64(len(cols)+len(want)) {
		t.Fatalf("got %d rows, %d columns: %v", out.NumRows(), out.NumCols(), out.Schema())
	}
	for name, vals := range want {
		idx := out.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("no column %q in %v", name, out.Schema())
		}
		col := out.Column(idx[0])
		for i, w := range vals {
			if math.IsNaN(w) {
				if !col.IsNull(i) {
					t.Errorf("%s[%d] = %v, want null", name, i, col.GetOneForMarshal(i))
				}
				continue
			}
			var got float64
			switch c := col.(type) {
			case *array.Float64:
				got = c.Value(i)
			case *array.Int32:
				got = float64(c.Value(i))
			default:
				t.Fatalf("%s is %s", name, col.DataType())
			}
			if col.IsNull(i) || got != w {
				t.Errorf("%s[%d] = %v (null %v), want %v", name, i, got, col.IsNull(i), w)
			}
		}
	}
}
