package dataset_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/dataset"
)

func TestTake(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(4)...)
	for _, c := range []struct {
		n    int
		want []int64
	}{{0, nil}, {1, []int64{0}}, {3, seq(0, 3)}, {30, seq(0, 30)}, {100, seq(0, 100)}, {1000, seq(0, 100)}} {
		items := must(ds.Take(e.ctx, c.n))(t)
		equalInts(t, fmt.Sprintf("Take(%d)", c.n), ints(t, items, "id"), c.want)
	}
	// Take after a filter, and on an empty dataset.
	odd := ds.Filter(func(r dataset.Row) (bool, error) { return idOf(r)%2 == 1, nil })
	equalInts(t, "odd.Take(4)", ints(t, must(odd.Take(e.ctx, 4))(t), "id"), []int64{1, 3, 5, 7})
	if items := must(dataset.Range(0, e.opt()).Take(e.ctx, 5))(t); len(items) != 0 {
		t.Errorf("Take on empty = %v", items)
	}
	// Take does not change the dataset.
	equalInts(t, "after Take", takeIDs(t, e, ds), seq(0, 100))
}

func TestTakeAll(t *testing.T) {
	e := setup(t)
	equalInts(t, "TakeAll", takeIDs(t, e, dataset.Range(1000, e.par(13)...)), seq(0, 1000))
	// Items are copies: they outlive the blocks they came from.
	items := must(dataset.FromItems([]dataset.Item{{"s": "hello", "b": []byte("xy"), "l": []any{1, 2}, "m": map[string]any{"k": 1.5}}}, e.opt()).TakeAll(e.ctx))(t)
	if fmt.Sprint(items) != "[map[b:[120 121] l:[1 2] m:map[k:1.5] s:hello]]" {
		t.Errorf("TakeAll = %v", items)
	}
}

func TestShowTo(t *testing.T) {
	e := setup(t)
	ds := dataset.FromItems([]dataset.Item{
		{"name": "a", "n": 1, "x": 1.5},
		{"name": "b \"q\"", "n": nil, "x": 2},
		{"name": "c", "n": 3, "x": -0.25},
	}, e.par(2)...)
	var buf bytes.Buffer
	if err := ds.ShowTo(e.ctx, &buf, 10); err != nil {
		t.Fatal(err)
	}
	want := `{n: 1, name: "a", x: 1.5}
{n: <nil>, name: "b \"q\"", x: 2}
{n: 3, name: "c", x: -0.25}
`
	if buf.String() != want {
		t.Errorf("ShowTo(10):\n got %q\nwant %q", buf.String(), want)
	}

	buf.Reset()
	if err := ds.ShowTo(e.ctx, &buf, 2); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "{n: 1, name: \"a\", x: 1.5}\n{n: <nil>, name: \"b \\\"q\\\"\", x: 2}\n" {
		t.Errorf("ShowTo(2) = %q", buf.String())
	}

	buf.Reset()
	if err := ds.ShowTo(e.ctx, &buf, 0); err != nil || buf.Len() != 0 {
		t.Errorf("ShowTo(0) = %q, %v", buf.String(), err)
	}

	buf.Reset()
	if err := dataset.Range(3, e.opt()).ShowTo(e.ctx, &buf, 5); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "{id: 0}\n{id: 1}\n{id: 2}\n" {
		t.Errorf("Range(3).ShowTo = %q", buf.String())
	}

	// A write error stops the output and is returned.
	werr := errors.New("disk full")
	if err := dataset.Range(3, e.opt()).ShowTo(e.ctx, failingWriter{werr}, 5); !errors.Is(err, werr) {
		t.Errorf("ShowTo to a failing writer: %v", err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestCount(t *testing.T) {
	e := setup(t)
	var calls atomic.Int64
	mapped := dataset.Range(100, e.par(4)...).Map(func(r dataset.Row) (dataset.Item, error) {
		calls.Add(1)
		return r.Item(), nil
	})
	// Static: the source knows its size and Map keeps rows, so nothing runs.
	if n := must(mapped.Count(e.ctx))(t); n != 100 {
		t.Errorf("Count = %d", n)
	}
	if c := calls.Load(); c != 0 {
		t.Errorf("a static Count ran the UDF %d times", c)
	}
	// Executed: a filter makes the row count unknown.
	filtered := mapped.Filter(func(r dataset.Row) (bool, error) { return idOf(r) < 37, nil })
	if n := must(filtered.Count(e.ctx))(t); n != 37 {
		t.Errorf("Count = %d", n)
	}
	if c := calls.Load(); c != 100 {
		t.Errorf("an executed Count ran the UDF %d times, want 100", c)
	}
	// FlatMap and MapBatches do not keep rows either.
	fm := dataset.Range(10, e.opt()).FlatMap(func(r dataset.Row) ([]dataset.Item, error) {
		return []dataset.Item{r.Item(), r.Item()}, nil
	})
	if n := must(fm.Count(e.ctx))(t); n != 20 {
		t.Errorf("FlatMap Count = %d", n)
	}
	half := dataset.Range(20, e.par(2)...).MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		return b.NewSlice(0, b.NumRows()/2), nil
	})
	if n := must(half.Count(e.ctx))(t); n != 10 {
		t.Errorf("MapBatches Count = %d", n)
	}
}

func TestSchema(t *testing.T) {
	e := setup(t)
	var calls atomic.Int64
	src := dataset.Range(100000, e.par(100)...)
	// Static.
	s := must(src.Schema(e.ctx))(t)
	if !slices.Equal(schemaNames(s), []string{"id"}) || !arrow.TypeEqual(s.Field(0).Type, arrow.PrimitiveTypes.Int64) {
		t.Errorf("Schema = %v", s)
	}
	// Executed: a Map's schema is known only from its output; the run stops
	// at the first block.
	m := src.Map(func(r dataset.Row) (dataset.Item, error) {
		calls.Add(1)
		return dataset.Item{"id": idOf(r), "f": float64(idOf(r)), "s": "x"}, nil
	})
	s = must(m.Schema(e.ctx))(t)
	if !slices.Equal(schemaNames(s), []string{"f", "id", "s"}) {
		t.Errorf("Map schema = %v", s)
	}
	if !arrow.TypeEqual(s.Field(0).Type, arrow.PrimitiveTypes.Float64) || !arrow.TypeEqual(s.Field(2).Type, arrow.BinaryTypes.String) {
		t.Errorf("Map schema types = %v", s)
	}
	if c := calls.Load(); c == 0 || c >= 100000 {
		t.Errorf("Schema ran the UDF on %d rows; want some, not all", c)
	}
	// A dataset whose transforms produce no rows has an empty schema.
	none := src.Limit(10).FlatMap(func(dataset.Row) ([]dataset.Item, error) { return nil, nil })
	if s := must(none.Schema(e.ctx))(t); s.NumFields() != 0 {
		t.Errorf("schema of nothing = %v", s)
	}
	// Filter keeps the schema statically, even when no row survives.
	f := src.Filter(func(dataset.Row) (bool, error) { return false, nil })
	if s := must(f.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"id"}) {
		t.Errorf("Filter schema = %v", s)
	}
}

func TestNumBlocks(t *testing.T) {
	e := setup(t)
	src := dataset.Range(100, e.par(7)...)
	cases := []struct {
		name string
		ds   *dataset.Dataset
		want int
	}{
		{"source", src, 7},
		{"map (executed)", src.Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), nil }), 7},
		{"filter (executed)", src.Filter(keepAll), 7},
		{"union", src.Union(dataset.Range(5, e.par(2)...)), 9},
		{"repartition", src.Repartition(3), 3},
		{"empty", dataset.Range(0, e.opt()), 0},
		{"items", dataset.FromItems([]dataset.Item{{"a": 1}, {"a": 2}, {"a": 3}}, e.par(2)...), 2},
	}
	for _, c := range cases {
		if n := must(c.ds.NumBlocks(e.ctx))(t); n != c.want {
			t.Errorf("%s: NumBlocks = %d, want %d", c.name, n, c.want)
		}
	}
	m := must(src.Materialize(e.ctx))(t)
	if n := must(m.NumBlocks(e.ctx))(t); n != 7 {
		t.Errorf("materialized NumBlocks = %d", n)
	}
}

func TestIterRows(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(250, e.par(6)...)
	var got []int64
	for row, err := range ds.IterRows(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Int64("id"))
	}
	equalInts(t, "IterRows", got, seq(0, 250))

	// Rows of a transformed dataset, with nulls.
	items := []dataset.Item{{"a": 1, "s": "x"}, {"a": nil, "s": "y"}, {"a": 3, "s": nil}}
	var lines []string
	for row, err := range dataset.FromItems(items, e.par(3)...).IterRows(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, dataset.FormatRow(row))
	}
	if strings.Join(lines, ";") != `{a: 1, s: "x"};{a: <nil>, s: "y"};{a: 3, s: <nil>}` {
		t.Errorf("rows = %v", lines)
	}

	// Empty dataset: no rows, no error.
	for row, err := range dataset.Range(0, e.opt()).IterRows(e.ctx) {
		t.Errorf("row %v, err %v from an empty dataset", row, err)
	}
}

func TestIterRowsBreakStopsEarly(t *testing.T) {
	e := setup(t)
	var calls atomic.Int64
	ds := dataset.Range(1_000_000, e.opt()).Map(func(r dataset.Row) (dataset.Item, error) {
		calls.Add(1)
		return dataset.Item{"id": idOf(r)}, nil
	})
	var got []int64
	for row, err := range ds.IterRows(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Int64("id"))
		if len(got) == 5 {
			break
		}
	}
	equalInts(t, "first rows", got, seq(0, 5))
	if c := calls.Load(); c >= 100_000 {
		t.Errorf("breaking out ran the UDF on %d rows", c)
	}
	// The runtime is still usable, and nothing is left running (goleak in
	// TestMain; the leak check in setup's cleanup).
	equalInts(t, "next run", takeIDs(t, e, dataset.Range(3, e.opt())), seq(0, 3))
	// Breaking out again at once, before any row.
	for range ds.IterRows(e.ctx) {
		break
	}
}

func TestIterBatches(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(7)...) // blocks of 14 or 15
	batches := func(t *testing.T, ds *dataset.Dataset, size int) (sizes, ids []int64) {
		t.Helper()
		for b, err := range ds.IterBatches(e.ctx, size) {
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, b.NumRows())
			if b.NumRows() > 0 {
				ids = append(ids, b.Column(0).(*array.Int64).Int64Values()...)
			}
		}
		return sizes, ids
	}
	cases := []struct {
		size  int
		sizes []int64
	}{
		{30, []int64{30, 30, 30, 10}}, // across block boundaries
		{10, slices.Repeat([]int64{10}, 10)},
		{1, slices.Repeat([]int64{1}, 100)},
		{100, []int64{100}},
		{1000, []int64{100}},
		{14, []int64{14, 14, 14, 14, 14, 14, 14, 2}},
		{0, []int64{14, 14, 14, 14, 14, 15, 15}}, // size 0: the blocks as they are
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.size), func(t *testing.T) {
			sizes, ids := batches(t, ds, c.size)
			if c.size == 0 {
				slices.Sort(sizes)
			}
			equalInts(t, "batch sizes", sizes, c.sizes)
			equalInts(t, "rows", ids, seq(0, 100))
		})
	}
	t.Run("empty blocks", func(t *testing.T) {
		f := dataset.Range(100, e.par(10)...).Filter(func(r dataset.Row) (bool, error) { id := idOf(r); return id < 15 || id >= 85, nil })
		sizes, ids := batches(t, f, 8)
		equalInts(t, "batch sizes", sizes, []int64{8, 8, 8, 6})
		equalInts(t, "rows", ids, append(seq(0, 15), seq(85, 100)...))
		sizes, _ = batches(t, f, 0)
		equalInts(t, "size 0 skips empty blocks", sizes, []int64{10, 5, 5, 10})
	})
	t.Run("empty dataset", func(t *testing.T) {
		for _, size := range []int{0, 5} {
			sizes, _ := batches(t, dataset.Range(0, e.opt()), size)
			if len(sizes) != 0 {
				t.Errorf("size %d: batches %v", size, sizes)
			}
		}
	})
	t.Run("break", func(t *testing.T) {
		n := 0
		for b, err := range dataset.Range(10000, e.opt()).IterBatches(e.ctx, 7) {
			if err != nil {
				t.Fatal(err)
			}
			if b.NumRows() != 7 {
				t.Errorf("batch of %d", b.NumRows())
			}
			n++
			if n == 3 {
				break
			}
		}
	})
	t.Run("retained batch outlives the loop", func(t *testing.T) {
		var kept []arrow.RecordBatch
		for b, err := range ds.IterBatches(e.ctx, 40) {
			if err != nil {
				t.Fatal(err)
			}
			b.Retain()
			kept = append(kept, b)
		}
		var ids []int64
		for _, b := range kept {
			ids = append(ids, b.Column(0).(*array.Int64).Int64Values()...)
			b.Release()
		}
		equalInts(t, "kept rows", ids, seq(0, 100))
	})
	t.Run("string columns", func(t *testing.T) {
		items := make([]dataset.Item, 25)
		for i := range items {
			items[i] = dataset.Item{"s": fmt.Sprint("v", i)}
		}
		var got []string
		for b, err := range dataset.FromItems(items, e.par(4)...).IterBatches(e.ctx, 10) {
			if err != nil {
				t.Fatal(err)
			}
			col := b.Column(0).(*array.String)
			for i := range col.Len() {
				got = append(got, col.Value(i))
			}
		}
		if len(got) != 25 || got[0] != "v0" || got[24] != "v24" || got[13] != "v13" {
			t.Errorf("strings %v", got)
		}
	})
}

func TestMaterialize(t *testing.T) {
	e := setup(t)
	var calls atomic.Int64
	ds := dataset.Range(100, e.par(5)...).Map(func(r dataset.Row) (dataset.Item, error) {
		calls.Add(1)
		return dataset.Item{"id": idOf(r), "sq": idOf(r) * idOf(r)}, nil
	}).Filter(keepAll)
	m := must(ds.Materialize(e.ctx))(t)
	if c := calls.Load(); c != 100 {
		t.Fatalf("Materialize ran the UDF %d times", c)
	}
	// Consuming the result (twice, and through new transforms) reads the
	// stored blocks and does not rerun the UDF.
	for range 2 {
		equalInts(t, "ids", takeIDs(t, e, m), seq(0, 100))
	}
	if n := must(m.Count(e.ctx))(t); n != 100 {
		t.Errorf("Count = %d", n)
	}
	if n := must(m.NumBlocks(e.ctx))(t); n != 5 {
		t.Errorf("NumBlocks = %d", n)
	}
	if s := must(m.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"id", "sq"}) {
		t.Errorf("Schema = %v", s)
	}
	sum := must(m.Sum(e.ctx, "sq"))(t)
	if sum.Int64() != 328350 {
		t.Errorf("Sum = %v", sum)
	}
	doubled := m.Map(func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"id": 2 * idOf(r)}, nil })
	if got := takeIDs(t, e, doubled.Limit(3)); !slices.Equal(got, []int64{0, 2, 4}) {
		t.Errorf("derived = %v", got)
	}
	if c := calls.Load(); c != 100 {
		t.Errorf("consuming the materialized dataset reran the UDF: %d calls", c)
	}
	// The original dataset is still lazy: consuming it reruns the UDF.
	must(ds.Count(e.ctx))(t)
	if c := calls.Load(); c != 200 {
		t.Errorf("the original ran the UDF %d times in all, want 200", c)
	}
	// Materializing an empty dataset.
	em := must(dataset.Range(0, e.opt()).Materialize(e.ctx))(t)
	if n := must(em.Count(e.ctx))(t); n != 0 {
		t.Errorf("empty Count = %d", n)
	}
	if items := must(em.TakeAll(e.ctx))(t); len(items) != 0 {
		t.Errorf("empty TakeAll = %v", items)
	}
	// Materialize of a materialized dataset.
	mm := must(m.Materialize(e.ctx))(t)
	equalInts(t, "twice materialized", takeIDs(t, e, mm), seq(0, 100))
}

// Blocks of a materialized dataset are freed once it is unreachable, before
// the runtime is closed.
func TestMaterializeFreesBlocksOnGC(t *testing.T) {
	e := setup(t)
	func() {
		m := must(dataset.Range(1000, e.par(4)...).Materialize(e.ctx))(t)
		must(m.Count(e.ctx))(t)
		if st := e.rt.Stats(); st.Objects != 4 {
			t.Errorf("store holds %d objects, want the 4 materialized blocks", st.Objects)
		}
	}()
	waitFreed(e.mem)
	if st := e.rt.Stats(); st.Objects != 0 {
		t.Errorf("store holds %d objects after the materialized dataset was collected", st.Objects)
	}
}

func TestToRecords(t *testing.T) {
	e := setup(t)
	recs := must(dataset.Range(10, e.par(3)...).ToRecords(e.ctx))(t)
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	var ids []int64
	for _, r := range recs {
		if !slices.Equal(schemaNames(r.Schema()), []string{"id"}) {
			t.Errorf("schema %v", r.Schema())
		}
		ids = append(ids, r.Column(0).(*array.Int64).Int64Values()...)
	}
	equalInts(t, "ids", ids, seq(0, 10))
	// The caller owns the records: they stay valid after another run.
	must(dataset.Range(5, e.opt()).Count(e.ctx))(t)
	if recs[2].Column(0).(*array.Int64).Value(0) != 6 {
		t.Errorf("record changed")
	}
	for _, r := range recs {
		r.Release()
	}
	if recs := must(dataset.Range(0, e.opt()).ToRecords(e.ctx))(t); len(recs) != 0 {
		t.Errorf("empty ToRecords = %d records", len(recs))
	}
}

type idOnly struct {
	ID int64 `arrow:"id"`
}

type wrongShape struct {
	Name string `arrow:"name"`
}

func TestToStructs(t *testing.T) {
	e := setup(t)
	got := must(dataset.ToStructs[idOnly](e.ctx, dataset.Range(5, e.par(2)...)))(t)
	if fmt.Sprint(got) != "[{0} {1} {2} {3} {4}]" {
		t.Errorf("ToStructs = %v", got)
	}
	if _, err := dataset.ToStructs[wrongShape](e.ctx, dataset.Range(5, e.opt())); err == nil {
		t.Errorf("ToStructs into a struct without the columns: no error")
	}
	if got := must(dataset.ToStructs[idOnly](e.ctx, dataset.Range(0, e.opt())))(t); len(got) != 0 {
		t.Errorf("empty ToStructs = %v", got)
	}
}

// Every consumer agrees on a dataset of one row, and on one with no row.
func TestConsumersOnTinyDatasets(t *testing.T) {
	e := setup(t)
	one := dataset.FromItems([]dataset.Item{{"v": 7}}, e.opt())
	if n := must(one.Count(e.ctx))(t); n != 1 {
		t.Errorf("Count = %d", n)
	}
	if items := must(one.Take(e.ctx, 5))(t); fmt.Sprint(items) != "[map[v:7]]" {
		t.Errorf("Take = %v", items)
	}
	var n int
	for b, err := range one.IterBatches(e.ctx, 4) {
		if err != nil || b.NumRows() != 1 {
			t.Errorf("batch %v, %v", b, err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d batches", n)
	}
	if s := must(one.Std(e.ctx, "v"))(t); !math.IsNaN(s) {
		t.Errorf("Std of one value = %v, want NaN", s)
	}
	if m := must(one.Mean(e.ctx, "v"))(t); m != 7 {
		t.Errorf("Mean = %v", m)
	}

	none := dataset.Range(100, e.opt()).Filter(func(dataset.Row) (bool, error) { return false, nil })
	if items := must(none.TakeAll(e.ctx))(t); len(items) != 0 {
		t.Errorf("TakeAll = %v", items)
	}
	for b, err := range none.IterBatches(e.ctx, 3) {
		t.Errorf("batch %v, %v from no rows", b, err)
	}
	var buf bytes.Buffer
	if err := none.ShowTo(e.ctx, &buf, 3); err != nil || buf.Len() != 0 {
		t.Errorf("ShowTo = %q, %v", buf.String(), err)
	}
}
