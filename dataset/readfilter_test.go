package dataset_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/ops"
)

// noReadFilter runs a plan with the filter left above the read, as written.
var noReadFilter = dataset.WithOptimizerRules(ops.DefaultRulesWithout(ops.PushDownPredicate)...)

func rowKeys(items []dataset.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprint(it)
	}
	sort.Strings(out)
	return out
}

// TestReadDropsFilteredRows: a filter over a file source's columns is done
// by the read (no Where stage is left), including a string column only the
// filter reads, which Parquet decodes as a dictionary; the rows equal those
// of the plan run as written, with limits, counts and nulls.
func TestReadDropsFilteredRows(t *testing.T) {
	e := setup(t)
	dir, items := tripsFile(t, e, 4000)
	read := func(o ...dataset.Option) *dataset.Dataset {
		return dataset.ReadParquet(e.ctx, dir, readOpts(append([]dataset.Option{e.opt()}, o...))...)
	}
	card := func(it dataset.Item) bool {
		d, _ := it["distance"].(float64)
		return it["payment"] == "card" && d > 5
	}
	var want []dataset.Item
	for _, it := range items {
		if card(it) {
			want = append(want, dataset.Item{"id": it["id"], "fare": it["fare"]})
		}
	}
	pred := dataset.Col("distance").Gt(5.0).And(dataset.Col("payment").Eq("card"))
	ds := read().Where(pred).SelectColumns("id", "fare")
	plan := ds.Explain()
	opt := plan[strings.Index(plan, "-- optimized plan --"):]
	if strings.Contains(opt, "Where(") || !strings.Contains(opt, "columns=[id fare]; filter=distance > 5.0 AND payment = 'card'") {
		t.Errorf("the read does not do the filter, or reads more than id and fare:\n%s", plan)
	}
	got := must(ds.TakeAll(e.ctx))(t)
	if fmt.Sprint(rowKeys(got)) != fmt.Sprint(rowKeys(want)) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	off := must(read(noReadFilter).Where(pred).SelectColumns("id", "fare").TakeAll(e.ctx))(t)
	if fmt.Sprint(rowKeys(got)) != fmt.Sprint(rowKeys(off)) {
		t.Errorf("rows differ from the plan as written")
	}

	// Count runs the filter (the footers' row counts do not apply).
	if n := must(read().Where(pred).Count(e.ctx))(t); n != int64(len(want)) {
		t.Errorf("Count = %d, want %d", n, len(want))
	}
	// A limit counts rows that pass.
	lim := must(read().Where(pred).Limit(7).TakeAll(e.ctx))(t)
	if len(lim) != 7 {
		t.Fatalf("Limit(7) gave %d rows", len(lim))
	}
	for _, it := range lim {
		if !card(it) {
			t.Errorf("Limit(7) gave a row the filter rules out: %v", it)
		}
	}
	// Nulls: a comparison with null is not true; IS NULL keeps them.
	nullTips := 0
	for _, it := range items {
		if it["tip"] == nil {
			nullTips++
		}
	}
	if n := len(must(read().Where(dataset.Col("tip").IsNull()).TakeAll(e.ctx))(t)); n != nullTips {
		t.Errorf("tip IS NULL kept %d rows, want %d", n, nullTips)
	}
	// The empty string is a value like any other, in a dictionary too.
	empty := 0
	for _, it := range items {
		if it["payment"] == "" {
			empty++
		}
	}
	if n := must(read().Where(dataset.Col("payment").Eq("")).Count(e.ctx))(t); n != int64(empty) {
		t.Errorf("payment = '' counted %d rows, want %d", n, empty)
	}
	// A filter that fails on a row names the expression and the file.
	_, err := read().Where(dataset.Col("id").Mul(int64(1) << 62).Gt(0)).Count(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "overflow") || !strings.Contains(err.Error(), ".parquet") {
		t.Errorf("overflow in the filter: %v, want an error naming the overflow and the file", err)
	}
	// A filter that keeps nothing gives nothing, with the schema.
	none := read().Where(dataset.Col("payment").Eq("no such payment")).SelectColumns("id")
	if rows := must(none.TakeAll(e.ctx))(t); len(rows) != 0 {
		t.Errorf("%d rows, want none", len(rows))
	}
}

// TestReadFilterAcrossFileSchemas: the read filters rows of files that lack
// a filter column (nulls) or store it in another type, and on partition
// columns, the same as a filter stage would.
func TestReadFilterAcrossFileSchemas(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	mem := memory.NewGoAllocator()
	// part=a: n int32, no "extra"; part=b: n int64 and "extra".
	write := func(sub string, schema *arrow.Schema, cols func(i int, b *array.RecordBuilder)) {
		t.Helper()
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for i := range 50 {
			cols(i, b)
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		if err := dataset.FromRecords([]arrow.RecordBatch{rec}, e.opt()).WriteParquet(e.ctx, filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	write("part=a", arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil),
		func(i int, b *array.RecordBuilder) {
			b.Field(0).(*array.Int32Builder).Append(int32(i))
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("s", i%5))
		})
	write("part=b", arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "extra", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil),
		func(i int, b *array.RecordBuilder) {
			b.Field(0).(*array.Int64Builder).Append(int64(100 + i))
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("s", i%5))
			b.Field(2).(*array.Int64Builder).Append(int64(i % 10))
		})
	cases := []struct {
		name string
		pred dataset.Expr
		want int
	}{
		{"a column one file lacks", dataset.Col("extra").Lt(3), 15},
		{"IS NULL on a column one file lacks", dataset.Col("extra").IsNull(), 50},
		{"a column stored as int32 in one file", dataset.Col("n").Ge(int64(40)), 60},
		{"a partition column with a file column", dataset.Col("part").Eq("a").And(dataset.Col("s").Eq("s1")), 10},
		{"a partition column or a string column", dataset.Col("part").Eq("b").Or(dataset.Col("s").Eq("s0")), 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			read := func(o ...dataset.Option) *dataset.Dataset {
				return dataset.ReadParquet(e.ctx, dir, readOpts(append([]dataset.Option{e.opt()}, o...))...)
			}
			ds := read().Where(c.pred).SelectColumns("n")
			if p := ds.Explain(); strings.Contains(p[strings.Index(p, "-- optimized plan --"):], "Where(") {
				t.Errorf("the read does not do the filter:\n%s", p)
			}
			got := must(ds.TakeAll(e.ctx))(t)
			if len(got) != c.want {
				t.Errorf("%d rows, want %d", len(got), c.want)
			}
			off := must(read(noReadFilter).Where(c.pred).SelectColumns("n").TakeAll(e.ctx))(t)
			if fmt.Sprint(rowKeys(got)) != fmt.Sprint(rowKeys(off)) {
				t.Errorf("rows differ from the plan as written: %v vs %v", rowKeys(got), rowKeys(off))
			}
			if n := must(read().Where(c.pred).Count(e.ctx))(t); n != int64(c.want) {
				t.Errorf("Count = %d, want %d", n, c.want)
			}
		})
	}
}

// TestReadFilterCSV: CSV reads do the filter too, and a limit over a
// filter stops at rows that pass.
func TestReadFilterCSV(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(10000, e.par(4)...).WriteCSV(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	d := dataset.ReadCSV(e.ctx, dir, e.opt()).Where(dataset.Col("id").Mod(1000).Eq(999))
	rows := must(d.TakeAll(e.ctx))(t)
	if len(rows) != 10 {
		t.Fatalf("%d rows, want 10", len(rows))
	}
	lim := must(d.Limit(3).TakeAll(e.ctx))(t)
	if len(lim) != 3 {
		t.Fatalf("Limit(3) gave %d rows", len(lim))
	}
	for _, r := range lim {
		if r["id"].(int64)%1000 != 999 {
			t.Errorf("row %v fails the filter", r)
		}
	}
}

// TestAggregateReadsItsInput: an aggregation over a file read runs its
// partial aggregation inside the read tasks (one operator in the physical
// plan), so the decoded blocks never enter the object store: its peak stays
// at the partial states' size. The groups equal a Go reference, and a
// filter nothing passes gives no groups (grouped) or one row of count 0
// and null sums (global).
func TestAggregateReadsItsInput(t *testing.T) {
	dir, items := tripsFile(t, setup(t), 60000)
	e := setup(t) // a store that has held nothing else
	read := dataset.ReadParquet(e.ctx, dir, e.opt())
	ds := read.Where(dataset.Col("fare").Gt(10.0)).GroupBy("payment").
		Aggregate(dataset.CountRows(), dataset.SumOfExpr(dataset.Col("fare").Mul(2)).As("fare2"))
	plan := ds.Explain()
	phys := plan[strings.Index(plan, "-- physical plan --"):]
	if !strings.Contains(phys, "Exchange[ReadParquet[") || strings.Contains(phys, "\n  Read[") {
		t.Errorf("the aggregation does not read its input itself:\n%s", plan)
	}
	type agg struct {
		n   int64
		sum float64
	}
	want := map[string]agg{}
	for _, it := range items {
		if f := it["fare"].(float64); f > 10 {
			a := want[it["payment"].(string)]
			a.n++
			a.sum += 2 * f
			want[it["payment"].(string)] = a
		}
	}
	rows := must(ds.TakeAll(e.ctx))(t)
	if len(rows) != len(want) {
		t.Fatalf("%d groups, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		w := want[r["payment"].(string)]
		if r["count()"] != w.n || math.Abs(r["fare2"].(float64)-w.sum) > 1e-9*w.sum {
			t.Errorf("group %v, want count %d sum %g", r, w.n, w.sum)
		}
	}
	// 60,000 rows of 7 columns decode to megabytes; the store held only
	// the partial states.
	if peak := ds.Stats().PeakMemory; peak > 256<<10 {
		t.Errorf("the store peaked at %d bytes: decoded blocks went through it", peak)
	}

	none := read.Where(dataset.Col("payment").Eq("no such payment"))
	if g := must(none.GroupBy("payment").Aggregate(dataset.CountRows()).TakeAll(e.ctx))(t); len(g) != 0 {
		t.Errorf("grouped aggregate of no rows: %v, want no groups", g)
	}
	all := must(none.Aggregate(dataset.CountRows(), dataset.SumOf("fare")).TakeAll(e.ctx))(t)
	if len(all) != 1 || all[0]["count()"] != int64(0) || all[0]["sum(fare)"] != nil {
		t.Errorf("global aggregate of no rows: %v, want count 0 and a null sum", all)
	}
}

// TestGroupByDictionaryKeys: string keys that Parquet stores with
// dictionaries (read as such for the grouping) group as their values:
// several keys, null keys, a filter on a key, and a key that is also
// aggregated (read plain), against a Go reference.
func TestGroupByDictionaryKeys(t *testing.T) {
	e := setup(t)
	rng := rand.New(rand.NewPCG(11, 12))
	cities := []any{"Oslo", "Lima", "Kyoto", "", nil}
	kinds := []any{"a", "b", nil}
	items := make([]dataset.Item, 20000)
	for i := range items {
		items[i] = dataset.Item{"city": cities[rng.IntN(len(cities))], "kind": kinds[rng.IntN(len(kinds))], "v": int64(rng.IntN(100))}
	}
	dir := t.TempDir()
	if err := dataset.FromItems(items, e.par(6)...).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	read := dataset.ReadParquet(e.ctx, dir, e.opt())
	key := func(vals ...any) string { return fmt.Sprint(vals...) }
	type agg struct{ n, sum, kinds int64 }
	want := map[string]agg{}
	for _, it := range items {
		if it["city"] == "Lima" {
			continue
		}
		k := key(it["city"], "|", it["kind"])
		a := want[k]
		a.n++
		a.sum += it["v"].(int64)
		if it["kind"] != nil {
			a.kinds++
		}
		want[k] = a
	}
	ds := read.Where(dataset.Col("city").Ne("Lima").Or(dataset.Col("city").IsNull())).
		GroupBy("city", "kind").Aggregate(dataset.CountRows(), dataset.SumOf("v"), dataset.CountOf(dataset.Col("kind")))
	rows := must(ds.TakeAll(e.ctx))(t)
	if len(rows) != len(want) {
		t.Fatalf("%d groups, want %d: %v", len(rows), len(want), rows)
	}
	for _, r := range rows {
		w, ok := want[key(r["city"], "|", r["kind"])]
		if !ok || r["count()"] != w.n || r["sum(v)"] != w.sum || r["count(kind)"] != w.kinds {
			t.Errorf("group %v, want %+v", r, w)
		}
	}
	// Go code between the read and the grouping sees plain strings.
	plainOnly := func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		if _, ok := b.Column(b.Schema().FieldIndices("city")[0]).(*array.String); !ok {
			return nil, fmt.Errorf("city is %s", b.Schema().Field(b.Schema().FieldIndices("city")[0]).Type)
		}
		return b, nil
	}
	n := must(read.MapBatches(plainOnly).GroupBy("city").Aggregate(dataset.CountRows()).Count(e.ctx))(t)
	if n != int64(len(cities)) {
		t.Errorf("%d cities, want %d", n, len(cities))
	}
}

// TestReadSkipsPagesByPageIndex: a filtered read of a Parquet file with a
// page index decodes only the pages that may match. The last pages of x
// are overwritten with 0xFF bytes (x = -1, which x < 100 would keep): the
// filtered read never decodes them and gives x 0..99 exactly, while the
// plan run as written (filter above a full read) sees the damage.
func TestReadSkipsPagesByPageIndex(t *testing.T) {
	e := setup(t)
	const n = 5000
	sc := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(memory.NewGoAllocator())
	for i := range int64(n) {
		b.Append(i)
	}
	col := b.NewArray()
	rec := array.NewRecordBatch(sc, []arrow.Array{col}, n)
	col.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithDictionaryDefault(false), parquet.WithDataPageSize(1024),
		parquet.WithBatchSize(128), parquet.WithCompression(compress.Codecs.Uncompressed), parquet.WithPageIndexEnabled(true))
	w := must(pqarrow.NewFileWriter(sc, &buf, props, pqarrow.DefaultWriterProps()))(t)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	pr := must(file.NewParquetReader(bytes.NewReader(data)))(t)
	rg := must(pr.GetPageIndexReader().RowGroup(0))(t)
	locs := must(rg.GetOffsetIndex(0))(t).GetPageLocations()
	pr.Close()
	if len(locs) < 4 {
		t.Fatalf("%d pages, want several", len(locs))
	}
	for _, loc := range locs[len(locs)-2:] {
		end := loc.Offset + int64(loc.CompressedPageSize)
		for i := end - 64; i < end; i++ {
			data[i] = 0xFF
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.parquet"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	pred := dataset.Col("x").Lt(int64(100))
	xs := func(o ...dataset.Option) []int64 {
		items := must(dataset.ReadParquet(e.ctx, dir, readOpts(append([]dataset.Option{e.opt()}, o...))...).Where(pred).TakeAll(e.ctx))(t)
		out := make([]int64, len(items))
		for i, it := range items {
			out[i] = it["x"].(int64)
		}
		slices.Sort(out)
		return out
	}
	got := xs()
	if len(got) != 100 || got[0] != 0 || got[99] != 99 {
		t.Errorf("filtered read gave %d rows (%v...): damaged pages were decoded", len(got), got[:min(len(got), 3)])
	}
	if all := xs(noReadFilter); len(all) == 100 {
		t.Errorf("the full read gave the same 100 rows: the damage did not reach the data, the test proves nothing")
	}
}
