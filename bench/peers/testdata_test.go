package peers_test

// A tiny dataset in the layout and schemas of bench/suite/SPEC.md, written
// with arrow-go (pqarrow for Parquet, encoding/csv for CSV), and the answers
// every workload must give on it, computed here from the very rows written.

import (
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// trip is one row of trips/ (and, dirtied, of trips_csv/).
type trip struct {
	id, vendor    int64
	pickupUnixSec int64
	passengers    int64
	noPassengers  bool // only in trips_csv: an empty passengers field
	distance      float64
	fare, tip     float64
	payment       string
	zone          int64
}

// testData is the generated dataset, kept in memory for the answers.
type testData struct {
	n                int
	trips, tripsCSV  []trip
	gK100, gK1m      []int64
	gV               []float64
	sortK            []int64
	sortS            []string
	leftK, rightK    []int64
	leftA, rightB    []float64
	shuffleID        []int64
	shuffleX         []float64
	tripsFiles       int // files of trips/ and of trips_csv/
	tripsRowGroupLen int
	expr             *exprData
}

var tripsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "vendor", Type: arrow.PrimitiveTypes.Int64},
	{Name: "pickup_ts", Type: arrow.FixedWidthTypes.Timestamp_us},
	{Name: "passengers", Type: arrow.PrimitiveTypes.Int64},
	{Name: "distance", Type: arrow.PrimitiveTypes.Float64},
	{Name: "fare", Type: arrow.PrimitiveTypes.Float64},
	{Name: "tip", Type: arrow.PrimitiveTypes.Float64},
	{Name: "payment", Type: arrow.BinaryTypes.String},
	{Name: "zone", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// genTestData generates n rows (the size's N) with seed; n must be a
// multiple of 80 (8 files, N/10 join keys ≡ 0 mod 10 left out).
func genTestData(n int, seed uint64) *testData {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	d := &testData{n: n, tripsFiles: 8, tripsRowGroupLen: 256}

	payments := []string{"card", "cash", "dispute", "unknown"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	d.trips = make([]trip, n)
	for i := range d.trips {
		dist := 0.1 + r.Float64()*49.9
		pay := payments[0]
		switch u := r.Float64(); {
		case u < 0.3:
			pay = payments[1]
		case u < 0.35:
			pay = payments[2]
		case u < 0.4:
			pay = payments[3]
		}
		fare := 3 + dist*2.5 + r.Float64()*5
		tip := 0.0
		if pay == "card" {
			tip = fare * r.Float64() * 0.3
		}
		d.trips[i] = trip{
			id:            int64(i),
			vendor:        1 + r.Int64N(4),
			pickupUnixSec: base + int64(i)*37 + r.Int64N(30),
			passengers:    1 + r.Int64N(6),
			distance:      dist,
			fare:          fare,
			tip:           tip,
			payment:       pay,
			zone:          1 + r.Int64N(265),
		}
	}
	// trips_csv: the first N/4 rows, about 2% of them dirty.
	d.tripsCSV = slices.Clone(d.trips[:n/4])
	for i := range d.tripsCSV {
		if r.Float64() >= 0.02 {
			continue
		}
		switch r.IntN(3) {
		case 0:
			d.tripsCSV[i].fare = -d.tripsCSV[i].fare
		case 1:
			d.tripsCSV[i].noPassengers = true
		case 2:
			d.tripsCSV[i].distance = 0
		}
	}

	groups := n / 10
	for range n {
		d.gK100 = append(d.gK100, r.Int64N(100))
		d.gK1m = append(d.gK1m, r.Int64N(int64(groups)))
		d.gV = append(d.gV, r.NormFloat64()*10+50)
	}

	for range n {
		d.sortK = append(d.sortK, r.Int64N(int64(n/2))) // duplicates
		var b strings.Builder
		for range 12 {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
		d.sortS = append(d.sortS, b.String())
	}

	keys := n / 10
	for range n {
		d.leftK = append(d.leftK, r.Int64N(int64(keys)))
		d.leftA = append(d.leftA, r.Float64()*100)
	}
	for _, k := range r.Perm(keys) {
		if k%10 == 0 {
			continue
		}
		d.rightK = append(d.rightK, int64(k))
		d.rightB = append(d.rightB, r.Float64()*100)
	}

	for i := range n {
		d.shuffleID = append(d.shuffleID, int64(i))
		d.shuffleX = append(d.shuffleX, r.Float64())
	}
	d.expr = genExprData(n, r)
	return d
}

// write lays the dataset out under dir as SPEC.md does for a size.
func (d *testData) write(dir string) error {
	for _, sub := range []string{"trips", "trips_csv"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	nf := d.tripsFiles
	for f := range nf {
		lo, hi := len(d.trips)*f/nf, len(d.trips)*(f+1)/nf
		if err := writeParquet(filepath.Join(dir, "trips", fmt.Sprintf("part-%03d.parquet", f)), tripsRecord(d.trips[lo:hi]), d.tripsRowGroupLen); err != nil {
			return err
		}
		lo, hi = len(d.tripsCSV)*f/nf, len(d.tripsCSV)*(f+1)/nf
		if err := writeTripsCSV(filepath.Join(dir, "trips_csv", fmt.Sprintf("part-%03d.csv", f)), d.tripsCSV[lo:hi]); err != nil {
			return err
		}
	}
	if err := writeTripsCSV(filepath.Join(dir, "trips_one.csv"), d.tripsCSV); err != nil {
		return err
	}
	rgl := 1000
	files := []struct {
		name string
		rec  arrow.RecordBatch
	}{
		{"groupby.parquet", record(
			col{"k100", d.gK100}, col{"k1m", d.gK1m}, col{"v", d.gV})},
		{"sortdata.parquet", record(
			col{"k", d.sortK}, col{"s", d.sortS},
			col{"p1", mapSlice(d.sortK, func(k int64) float64 { return float64(k) / 3 })},
			col{"p2", mapSlice(d.sortK, func(k int64) int64 { return k * 7 })})},
		{"join_left.parquet", record(col{"k", d.leftK}, col{"a", d.leftA})},
		{"join_right.parquet", record(col{"k", d.rightK}, col{"b", d.rightB})},
		{"shuffle.parquet", record(
			col{"id", d.shuffleID}, col{"x", d.shuffleX},
			col{"pad", mapSlice(d.shuffleID, func(id int64) string {
				return strings.Repeat(strconv.FormatInt(id%10, 10), 180)
			})})},
	}
	for _, f := range files {
		if err := writeParquet(filepath.Join(dir, f.name), f.rec, rgl); err != nil {
			return err
		}
	}
	return d.expr.write(dir)
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// col is a named column of a record: []int64, []float64 or []string.
type col struct {
	name string
	vals any
}

func record(cols ...col) arrow.RecordBatch {
	mem := memory.DefaultAllocator
	var fields []arrow.Field
	var arrs []arrow.Array
	n := -1
	for _, c := range cols {
		switch v := c.vals.(type) {
		case []int64:
			b := array.NewInt64Builder(mem)
			b.AppendValues(v, nil)
			fields = append(fields, arrow.Field{Name: c.name, Type: arrow.PrimitiveTypes.Int64})
			arrs = append(arrs, b.NewArray())
			n = len(v)
		case []float64:
			b := array.NewFloat64Builder(mem)
			b.AppendValues(v, nil)
			fields = append(fields, arrow.Field{Name: c.name, Type: arrow.PrimitiveTypes.Float64})
			arrs = append(arrs, b.NewArray())
			n = len(v)
		case []string:
			b := array.NewStringBuilder(mem)
			b.AppendValues(v, nil)
			fields = append(fields, arrow.Field{Name: c.name, Type: arrow.BinaryTypes.String})
			arrs = append(arrs, b.NewArray())
			n = len(v)
		default:
			panic(fmt.Sprintf("record: column %s of type %T", c.name, c.vals))
		}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(n))
}

func tripsRecord(rows []trip) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, tripsSchema)
	defer b.Release()
	for _, t := range rows {
		b.Field(0).(*array.Int64Builder).Append(t.id)
		b.Field(1).(*array.Int64Builder).Append(t.vendor)
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(t.pickupUnixSec * 1_000_000))
		b.Field(3).(*array.Int64Builder).Append(t.passengers)
		b.Field(4).(*array.Float64Builder).Append(t.distance)
		b.Field(5).(*array.Float64Builder).Append(t.fare)
		b.Field(6).(*array.Float64Builder).Append(t.tip)
		b.Field(7).(*array.StringBuilder).Append(t.payment)
		b.Field(8).(*array.Int64Builder).Append(t.zone)
	}
	return b.NewRecordBatch()
}

// writeParquet writes rec as snappy Parquet with row groups of rowGroup rows.
func writeParquet(path string, rec arrow.RecordBatch, rowGroup int) error {
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(int64(rowGroup)),
		parquet.WithStats(true),
	)
	fw, err := pqarrow.NewFileWriter(rec.Schema(), f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Close()
		return err
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return err
	}
	return fw.Close() // closes f
}

func writeTripsCSV(path string, rows []trip) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	ff := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	fi := func(v int64) string { return strconv.FormatInt(v, 10) }
	w.Write([]string{"id", "vendor", "pickup_ts", "passengers", "distance", "fare", "tip", "payment", "zone"})
	for _, t := range rows {
		pass := fi(t.passengers)
		if t.noPassengers {
			pass = ""
		}
		w.Write([]string{
			fi(t.id), fi(t.vendor),
			time.Unix(t.pickupUnixSec, 0).UTC().Format("2006-01-02 15:04:05"),
			pass, ff(t.distance), ff(t.fare), ff(t.tip), t.payment, fi(t.zone),
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// key64 is the sort_str key of s: its first 8 bytes (zero-padded) as a
// big-endian uint64, as float64.
func key64(s string) float64 {
	var b [8]byte
	copy(b[:], s)
	return float64(binary.BigEndian.Uint64(b[:]))
}

// probes are the 100 sorted positions of SPEC.md: j*n/100, j = 0..99.
func probes(n int) []int {
	p := make([]int, 100)
	for j := range p {
		p[j] = j * n / 100
	}
	return p
}

// answers are the expected answers of every workload.
func (d *testData) answers() map[string]map[string]float64 {
	a := map[string]map[string]float64{}

	var rows, sumFare, sumTip, sumY, sumID float64
	for _, t := range d.trips {
		if t.distance > 5 && t.payment == "card" {
			rows++
			sumFare += t.fare
			sumTip += t.tip
		}
		sumY += t.fare*1.08 + t.tip - t.distance*0.5
		sumID += float64(t.id)
	}
	a["scan_filter_sum"] = map[string]float64{"rows": rows, "sum_fare": sumFare, "sum_tip": sumTip}
	a["map_arith"] = map[string]float64{"rows": float64(len(d.trips)), "sum_y": sumY}

	var fareAll float64
	for _, t := range d.trips {
		fareAll += t.fare
	}
	a["ingest"] = map[string]float64{
		"rows":     float64(len(d.trips)),
		"batches":  float64((len(d.trips) + 1023) / 1024),
		"sum_id":   sumID,
		"sum_fare": fareAll,
	}

	groupby := func(keys []int64) map[string]float64 {
		cnt := map[int64]float64{}
		sum := map[int64]float64{}
		for i, k := range keys {
			cnt[k]++
			sum[k] += d.gV[i]
		}
		var sc, ss, sm float64
		for k, c := range cnt {
			sc += c
			ss += sum[k]
			sm += sum[k] / c
		}
		return map[string]float64{"groups": float64(len(cnt)), "sum_count": sc, "sum_sum": ss, "sum_mean": sm}
	}
	a["groupby_100"] = groupby(d.gK100)
	a["groupby_1m"] = groupby(d.gK1m)
	distinct := map[int64]bool{}
	var keySum float64
	for _, k := range d.gK1m {
		if !distinct[k] {
			distinct[k] = true
			keySum += float64(k)
		}
	}
	a["unique"] = map[string]float64{"distinct": float64(len(distinct)), "sum_keys": keySum}

	ks := slices.Clone(d.sortK)
	slices.Sort(ks)
	ans := map[string]float64{"rows": float64(len(ks)), "first": float64(ks[0]), "last": float64(ks[len(ks)-1])}
	for _, i := range probes(len(ks)) {
		ans["probe"] += float64(ks[i])
	}
	a["sort_int"] = ans
	ss := slices.Clone(d.sortS)
	slices.Sort(ss)
	ans = map[string]float64{"rows": float64(len(ss)), "first": key64(ss[0]), "last": key64(ss[len(ss)-1])}
	for _, i := range probes(len(ss)) {
		ans["probe"] += key64(ss[i])
	}
	a["sort_str"] = ans

	var shufSum float64
	for _, id := range d.shuffleID {
		shufSum += float64(id)
	}
	a["shuffle"] = map[string]float64{"rows": float64(len(d.shuffleID)), "sum_id": shufSum, "moved": 1}

	right := map[int64]float64{}
	for i, k := range d.rightK {
		right[k] = d.rightB[i]
	}
	var jrows, ja, jb float64
	for i, k := range d.leftK {
		if b, ok := right[k]; ok {
			jrows++
			ja += d.leftA[i]
			jb += b
		}
	}
	a["join"] = map[string]float64{"rows": jrows, "sum_a": ja, "sum_b": jb}

	var crows, cfpm float64
	for _, t := range d.tripsCSV {
		if t.fare > 0 && t.distance > 0 && !t.noPassengers {
			crows++
			cfpm += t.fare / t.distance
		}
	}
	a["csv_etl"] = map[string]float64{"rows": crows, "sum_fare_per_mile": cfpm}
	var fares float64
	for _, t := range d.tripsCSV {
		fares += t.fare
	}
	a["csv_convert"] = map[string]float64{"rows": float64(len(d.tripsCSV)), "sum_fare": fares}
	d.expr.answers(a, d.trips)
	return a
}

// tolerance is the relative tolerance SPEC.md allows for key of workload:
// 0 (exact) for integers, 1e-6 for means and sums of products, 1e-9 for
// other floats.
func tolerance(workload, key string) float64 {
	switch {
	case key == "rows" || key == "groups" || key == "sum_count" || key == "batches" ||
		key == "sum_id" || key == "moved" || key == "columns":
		return 0
	case workload == "sort_int":
		return 0 // integer keys: first, last and probe are exact
	case key == "sum_mean" || key == "sum_y" || strings.HasPrefix(key, "sum_avg_") ||
		key == "sum_disc_price" || key == "sum_charge" || key == "revenue":
		return 1e-6
	}
	return 1e-9
}

func within(got, want, rel float64) bool {
	if rel == 0 {
		return got == want
	}
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-300)
}
