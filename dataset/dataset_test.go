package dataset_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/watchdog"
	"github.com/shoal-data/shoal/pipeline"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// test (and example) runs on a runtime it closes, never on DefaultRuntime.
// With cancelChildEnv set, the binary is a child process of a cancellation
// test instead (see cancel_test.go).
func TestMain(m *testing.M) {
	if job := os.Getenv(cancelChildEnv); job != "" {
		os.Exit(cancelChild(job))
	}
	goleak.VerifyTestMain(m)
}

// ---------------------------------------------------------------------------
// Helpers shared by every test file of the package.
// ---------------------------------------------------------------------------

// hangLimit is how long a test may run its datasets under testEnv.ctx:
// far above what any takes, far below go test's timeout, so a hang fails
// its test with every goroutine's stack.
const hangLimit = 2 * time.Minute

// testEnv is a runtime with a checked allocator, closed (and checked for
// leaked Arrow memory) when the test ends, and a context limited to
// hangLimit.
type testEnv struct {
	rt  *exec.Local
	mem *memory.CheckedAllocator
	ctx context.Context
}

func (e *testEnv) opt() dataset.Option { return dataset.WithRuntime(e.rt) }

// opts is the runtime option plus a parallelism (block count) option.
func (e *testEnv) par(n int) []dataset.Option {
	return []dataset.Option{dataset.WithRuntime(e.rt), dataset.WithParallelism(n)}
}

func newRuntime(t *testing.T, mem *memory.CheckedAllocator) *exec.Local {
	return exec.NewLocal(exec.WithAllocator(mem), exec.WithWorkers(2), exec.WithObjectStoreMemory(64<<20),
		exec.WithSpillDir(t.TempDir()))
}

// setup returns a runtime whose blocks must all be freed by the time the
// runtime is closed.
func setup(t *testing.T) *testEnv {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rt := newRuntime(t, mem)
	t.Cleanup(func() {
		rt.Close()
		mem.AssertSize(t, 0)
	})
	return &testEnv{rt: rt, mem: mem, ctx: watchdog.Context(t, context.Background(), hangLimit)}
}

// setupGC is setup for tests that use FromRecords: the records a dataset
// holds are released by a runtime.AddCleanup when the dataset is garbage
// collected, not when the runtime closes. The leak check therefore runs
// after the test function has returned (so its datasets are unreachable)
// and after garbage collections have let the cleanups run.
func setupGC(t *testing.T) *testEnv {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rt := newRuntime(t, mem)
	t.Cleanup(func() {
		rt.Close()
		waitFreed(mem)
		mem.AssertSize(t, 0)
	})
	return &testEnv{rt: rt, mem: mem, ctx: watchdog.Context(t, context.Background(), hangLimit)}
}

// waitFreed runs garbage collections until mem holds nothing or 5 s pass.
func waitFreed(mem *memory.CheckedAllocator) {
	deadline := time.Now().Add(5 * time.Second)
	for mem.CurrentAlloc() != 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
}

// must(f())(t) is f's value, failing the test if f returned an error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func seq(lo, hi int64) []int64 {
	out := make([]int64, 0, max(hi-lo, 0))
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// ints returns column name of items as int64s, failing on another type.
func ints(t *testing.T, items []dataset.Item, name string) []int64 {
	t.Helper()
	out := make([]int64, len(items))
	for i, it := range items {
		v, ok := it[name].(int64)
		if !ok {
			t.Fatalf("item %d: %s = %#v (%T), want an int64", i, name, it[name], it[name])
		}
		out[i] = v
	}
	return out
}

func equalInts(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, abbrev(got), abbrev(want))
	}
}

func abbrev(xs []int64) string {
	if len(xs) <= 40 {
		return fmt.Sprint(xs)
	}
	return fmt.Sprintf("%v ... %v (%d values)", xs[:20], xs[len(xs)-20:], len(xs))
}

func takeIDs(t *testing.T, e *testEnv, ds *dataset.Dataset) []int64 {
	t.Helper()
	return ints(t, must(ds.TakeAll(e.ctx))(t), "id")
}

// blockRows runs ds and returns each block's row count, in order.
func blockRows(t *testing.T, e *testEnv, ds *dataset.Dataset) []int64 {
	t.Helper()
	recs := must(ds.ToRecords(e.ctx))(t)
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.NumRows()
		r.Release()
	}
	return out
}

func schemaNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

func int64Array(mem memory.Allocator, vals []int64, valid []bool) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(vals, valid)
	return b.NewArray()
}

// int64Record is a one-column record built with mem.
func int64Record(mem memory.Allocator, name string, vals []int64) arrow.RecordBatch {
	col := int64Array(mem, vals, nil)
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: name, Type: arrow.PrimitiveTypes.Int64}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{col}, int64(len(vals)))
}

func idOf(r dataset.Row) int64 { return r.Int64("id") }

func keepAll(dataset.Row) (bool, error) { return true, nil }

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

func TestRange(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(10, e.opt())
	if n := must(ds.Count(e.ctx))(t); n != 10 {
		t.Errorf("Count = %d, want 10", n)
	}
	equalInts(t, "Range(10)", takeIDs(t, e, ds), seq(0, 10))
	schema := must(ds.Schema(e.ctx))(t)
	if schema.NumFields() != 1 || schema.Field(0).Name != "id" || !arrow.TypeEqual(schema.Field(0).Type, arrow.PrimitiveTypes.Int64) {
		t.Errorf("Schema = %v, want id: int64", schema)
	}
	// The default parallelism is capped at one block per row.
	if n := must(ds.NumBlocks(e.ctx))(t); n != 10 {
		t.Errorf("NumBlocks = %d, want 10 (one block per row)", n)
	}

	big := dataset.Range(1000, e.par(7)...)
	equalInts(t, "Range(1000)", takeIDs(t, e, big), seq(0, 1000))
	rows := blockRows(t, e, big)
	if len(rows) != 7 {
		t.Fatalf("Range(1000, parallelism 7) has %d blocks, want 7", len(rows))
	}
	for _, r := range rows {
		if r != 142 && r != 143 {
			t.Errorf("block sizes %v, want 142 or 143 rows each", rows)
			break
		}
	}

	def := dataset.Range(10000, e.opt())
	if n := must(def.NumBlocks(e.ctx))(t); n != dataset.DefaultParallelism {
		t.Errorf("Range(10000) NumBlocks = %d, want DefaultParallelism %d", n, dataset.DefaultParallelism)
	}
}

func TestRangeEmpty(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(0, e.opt())
	if n := must(ds.Count(e.ctx))(t); n != 0 {
		t.Errorf("Count = %d", n)
	}
	if items := must(ds.TakeAll(e.ctx))(t); len(items) != 0 {
		t.Errorf("TakeAll = %v", items)
	}
	if n := must(ds.NumBlocks(e.ctx))(t); n != 0 {
		t.Errorf("NumBlocks = %d, want 0", n)
	}
	if s := must(ds.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"id"}) {
		t.Errorf("Schema = %v", s)
	}
	// Transforms of an empty dataset run no UDF and give nothing.
	var calls atomic.Int64
	m := ds.Map(func(r dataset.Row) (dataset.Item, error) { calls.Add(1); return r.Item(), nil }).
		Filter(func(dataset.Row) (bool, error) { calls.Add(1); return true, nil })
	if items := must(m.TakeAll(e.ctx))(t); len(items) != 0 {
		t.Errorf("TakeAll = %v", items)
	}
	if n := must(m.Count(e.ctx))(t); n != 0 {
		t.Errorf("Count = %d", n)
	}
	if calls.Load() != 0 {
		t.Errorf("UDFs called %d times on an empty dataset", calls.Load())
	}
}

func TestRangeSingleRow(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(1, e.opt())
	equalInts(t, "Range(1)", takeIDs(t, e, ds), []int64{0})
	m := ds.Map(func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"v": idOf(r) + 7}, nil })
	if got := ints(t, must(m.TakeAll(e.ctx))(t), "v"); !slices.Equal(got, []int64{7}) {
		t.Errorf("Map = %v", got)
	}
	if n := must(ds.NumBlocks(e.ctx))(t); n != 1 {
		t.Errorf("NumBlocks = %d", n)
	}
}

func TestFromItems(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{
		{"name": "a", "n": 1, "x": 1.5, "ok": true},
		{"name": "b", "n": int32(2), "x": 2, "ok": false},
		{"name": "c", "n": int64(3), "x": float32(0.25), "ok": true},
	}
	ds := dataset.FromItems(items, e.opt())
	if err := ds.Err(); err != nil {
		t.Fatal(err)
	}
	schema := must(ds.Schema(e.ctx))(t)
	want := map[string]arrow.DataType{
		"name": arrow.BinaryTypes.String, "n": arrow.PrimitiveTypes.Int64,
		"x": arrow.PrimitiveTypes.Float64, "ok": arrow.FixedWidthTypes.Boolean,
	}
	if schema.NumFields() != len(want) {
		t.Fatalf("schema %v, want 4 fields", schema)
	}
	for name, typ := range want {
		idx := schema.FieldIndices(name)
		if len(idx) != 1 || !arrow.TypeEqual(schema.Field(idx[0]).Type, typ) {
			t.Errorf("schema %v: field %q should be %s", schema, name, typ)
		}
	}
	got := must(ds.TakeAll(e.ctx))(t)
	wantItems := []dataset.Item{
		{"name": "a", "n": int64(1), "x": 1.5, "ok": true},
		{"name": "b", "n": int64(2), "x": 2.0, "ok": false},
		{"name": "c", "n": int64(3), "x": 0.25, "ok": true},
	}
	if fmt.Sprint(got) != fmt.Sprint(wantItems) {
		t.Errorf("TakeAll:\n got %v\nwant %v", got, wantItems)
	}
	if n := must(ds.Count(e.ctx))(t); n != 3 {
		t.Errorf("Count = %d", n)
	}
}

func TestFromItemsNulls(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{
		{"a": 1, "b": nil, "s": "x"},
		{"a": nil, "b": 2.5},           // "s" missing: null
		{"a": 3, "b": nil, "s": nil},   // explicit nil
		{"a": nil, "b": nil, "s": "z"}, // all numeric null
	}
	ds := dataset.FromItems(items, e.par(2)...)
	got := must(ds.TakeAll(e.ctx))(t)
	want := []dataset.Item{
		{"a": int64(1), "b": nil, "s": "x"},
		{"a": nil, "b": 2.5, "s": nil},
		{"a": int64(3), "b": nil, "s": nil},
		{"a": nil, "b": nil, "s": "z"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("TakeAll:\n got %v\nwant %v", got, want)
	}
	// A row UDF sees nulls as such.
	var nulls atomic.Int64
	m := ds.Map(func(r dataset.Row) (dataset.Item, error) {
		if r.IsNull("a") {
			nulls.Add(1)
		}
		return dataset.Item{"a": r.Get("a")}, nil
	})
	if got := must(m.TakeAll(e.ctx))(t); fmt.Sprint(got) != "[map[a:1] map[a:<nil>] map[a:3] map[a:<nil>]]" {
		t.Errorf("Map over nulls = %v", got)
	}
	if nulls.Load() != 2 {
		t.Errorf("UDF saw %d nulls, want 2", nulls.Load())
	}
	// A column with only nulls.
	onlyNull := dataset.FromItems([]dataset.Item{{"v": nil}, {"v": nil}}, e.opt())
	if got := must(onlyNull.TakeAll(e.ctx))(t); fmt.Sprint(got) != "[map[v:<nil>] map[v:<nil>]]" {
		t.Errorf("all-null column = %v", got)
	}
}

func TestFromItemsEmpty(t *testing.T) {
	e := setup(t)
	for _, items := range [][]dataset.Item{nil, {}} {
		ds := dataset.FromItems(items, e.opt())
		if err := ds.Err(); err != nil {
			t.Fatal(err)
		}
		if n := must(ds.Count(e.ctx))(t); n != 0 {
			t.Errorf("Count = %d", n)
		}
		if got := must(ds.TakeAll(e.ctx))(t); len(got) != 0 {
			t.Errorf("TakeAll = %v", got)
		}
		if s := must(ds.Schema(e.ctx))(t); s.NumFields() != 0 {
			t.Errorf("Schema = %v, want no fields", s)
		}
		if n := must(ds.NumBlocks(e.ctx))(t); n != 0 {
			t.Errorf("NumBlocks = %d", n)
		}
	}
}

func TestFromItemsSingleRow(t *testing.T) {
	e := setup(t)
	ds := dataset.FromItems([]dataset.Item{{"k": "only", "v": 42}}, e.opt())
	got := must(ds.TakeAll(e.ctx))(t)
	if fmt.Sprint(got) != "[map[k:only v:42]]" {
		t.Errorf("TakeAll = %v", got)
	}
	if n := must(ds.NumBlocks(e.ctx))(t); n != 1 {
		t.Errorf("NumBlocks = %d", n)
	}
}

func TestFromRecords(t *testing.T) {
	e := setupGC(t)
	recs := []arrow.RecordBatch{
		int64Record(e.mem, "id", seq(0, 5)),
		int64Record(e.mem, "id", seq(5, 5)), // an empty record in the middle
		int64Record(e.mem, "id", seq(5, 12)),
	}
	ds := dataset.FromRecords(recs, e.opt())
	// The dataset holds its own references: the caller may release its own.
	for _, r := range recs {
		r.Release()
	}
	if err := ds.Err(); err != nil {
		t.Fatal(err)
	}
	if n := must(ds.Count(e.ctx))(t); n != 12 {
		t.Errorf("Count = %d", n)
	}
	if n := must(ds.NumBlocks(e.ctx))(t); n != 3 {
		t.Errorf("NumBlocks = %d, want one block per record", n)
	}
	equalInts(t, "FromRecords", takeIDs(t, e, ds), seq(0, 12))
	// Consumed twice, and transformed.
	equalInts(t, "FromRecords again", takeIDs(t, e, ds), seq(0, 12))
	sq := ds.Map(func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"id": idOf(r) * idOf(r)}, nil })
	want := seq(0, 12)
	for i := range want {
		want[i] *= want[i]
	}
	equalInts(t, "FromRecords.Map", takeIDs(t, e, sq), want)
	equalInts(t, "block rows", blockRows(t, e, ds), []int64{5, 0, 7})
}

type person struct {
	Name  string   `arrow:"name"`
	Age   int64    `arrow:"age"`
	Score *float64 `arrow:"score"`
	Small int32    `arrow:"small"`
}

func TestFromStructsRoundTrip(t *testing.T) {
	e := setup(t)
	f := func(v float64) *float64 { return &v }
	people := []person{
		{Name: "ann", Age: 31, Score: f(9.5), Small: -1},
		{Name: "bob", Age: 42, Score: nil, Small: 2},
		{Name: "cid", Age: 7, Score: f(1.25), Small: 3},
		{Name: "dee", Age: 55, Score: f(0), Small: 4},
	}
	ds := dataset.FromStructs(people, e.par(3)...)
	if err := ds.Err(); err != nil {
		t.Fatal(err)
	}
	schema := must(ds.Schema(e.ctx))(t)
	if got := schemaNames(schema); !slices.Equal(got, []string{"name", "age", "score", "small"}) {
		t.Errorf("schema fields %v", got)
	}
	if n := must(ds.Count(e.ctx))(t); n != 4 {
		t.Errorf("Count = %d", n)
	}
	back := must(dataset.ToStructs[person](e.ctx, ds))(t)
	if fmt.Sprint(derefPeople(back)) != fmt.Sprint(derefPeople(people)) {
		t.Errorf("round trip:\n got %v\nwant %v", derefPeople(back), derefPeople(people))
	}
	items := must(ds.TakeAll(e.ctx))(t)
	if items[1]["score"] != nil || items[0]["score"] != 9.5 || items[2]["small"] != int64(3) {
		t.Errorf("TakeAll = %v", items)
	}
	// Through a transform that keeps the schema.
	adults := ds.Filter(func(r dataset.Row) (bool, error) { return r.Int64("age") >= 18, nil })
	got := must(dataset.ToStructs[person](e.ctx, adults))(t)
	if names := fmt.Sprint(namesOf(got)); names != "[ann bob dee]" {
		t.Errorf("filtered structs %s", names)
	}
	// No values: the schema is still T's.
	empty := dataset.FromStructs([]person{}, e.opt())
	if n := must(empty.Count(e.ctx))(t); n != 0 {
		t.Errorf("empty Count = %d", n)
	}
	if s := must(empty.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"name", "age", "score", "small"}) {
		t.Errorf("empty schema %v", s)
	}
	if got := must(dataset.ToStructs[person](e.ctx, empty))(t); len(got) != 0 {
		t.Errorf("empty ToStructs = %v", got)
	}
}

func derefPeople(ps []person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		s := "nil"
		if p.Score != nil {
			s = fmt.Sprint(*p.Score)
		}
		out[i] = fmt.Sprintf("%s/%d/%s/%d", p.Name, p.Age, s, p.Small)
	}
	return out
}

func namesOf(ps []person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// ---------------------------------------------------------------------------
// Row transforms
// ---------------------------------------------------------------------------

func TestMap(t *testing.T) {
	e := setup(t)
	var calls atomic.Int64
	ds := dataset.Range(100, e.par(7)...).Map(func(r dataset.Row) (dataset.Item, error) {
		calls.Add(1)
		x := idOf(r)
		return dataset.Item{"id": x, "sq": x * x, "s": fmt.Sprint("n", x)}, nil
	})
	items := must(ds.TakeAll(e.ctx))(t)
	if calls.Load() != 100 {
		t.Errorf("UDF called %d times, want 100", calls.Load())
	}
	equalInts(t, "ids", ints(t, items, "id"), seq(0, 100))
	for i, it := range items {
		if it["sq"] != int64(i*i) || it["s"] != fmt.Sprint("n", i) {
			t.Fatalf("item %d = %v", i, it)
		}
	}
	schema := must(ds.Schema(e.ctx))(t)
	if got := schemaNames(schema); !slices.Equal(got, []string{"id", "s", "sq"}) {
		t.Errorf("schema %v", got)
	}
	// A Map that changes the column set entirely, then another Map.
	chain := ds.Map(func(r dataset.Row) (dataset.Item, error) {
		return dataset.Item{"half": float64(r.Int64("sq")) / 2}, nil
	}).Map(func(r dataset.Row) (dataset.Item, error) {
		return dataset.Item{"half": r.Float64("half"), "big": r.Float64("half") > 100}, nil
	})
	got := must(chain.TakeAll(e.ctx))(t)
	if len(got) != 100 || got[3]["half"] != 4.5 || got[3]["big"] != false || got[99]["big"] != true {
		t.Errorf("chained Map: %v ...", got[:4])
	}
}

func TestMapBatchesDefaultPassesWholeBlocks(t *testing.T) {
	e := setup(t)
	var mu sync.Mutex
	var sizes []int64
	ds := dataset.Range(100, e.par(10)...).MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		mu.Lock()
		sizes = append(sizes, b.NumRows())
		mu.Unlock()
		return b, nil // the input itself: Shoal retains it
	})
	equalInts(t, "MapBatches(identity)", takeIDs(t, e, ds), seq(0, 100))
	equalInts(t, "batch sizes", sizes, slices.Repeat([]int64{10}, 10))

	// Blocks of unequal sizes are passed whole as well.
	sizes = nil
	uneven := dataset.Range(100, e.par(7)...).MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		mu.Lock()
		sizes = append(sizes, b.NumRows())
		mu.Unlock()
		return b, nil
	})
	must(uneven.TakeAll(e.ctx))(t)
	slices.Sort(sizes)
	equalInts(t, "batch sizes", sizes, []int64{14, 14, 14, 14, 14, 15, 15})
}

// doubleIDs is a vectorized UDF that builds a new column with mem.
func doubleIDs(mem memory.Allocator) dataset.BatchFunc {
	return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids := b.Column(0).(*array.Int64).Int64Values()
		out := make([]int64, len(ids))
		for i, v := range ids {
			out[i] = 2 * v
		}
		col := int64Array(mem, out, nil)
		defer col.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "x2", Type: arrow.PrimitiveTypes.Int64}}, nil)
		return array.NewRecordBatch(schema, []arrow.Array{b.Column(0), col}, b.NumRows()), nil
	}
}

func TestMapBatchesNewColumn(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(50, e.par(4)...).MapBatches(doubleIDs(e.mem))
	items := must(ds.TakeAll(e.ctx))(t)
	equalInts(t, "id", ints(t, items, "id"), seq(0, 50))
	want := seq(0, 50)
	for i := range want {
		want[i] *= 2
	}
	equalInts(t, "x2", ints(t, items, "x2"), want)
}

type batchSeen struct{ first, rows int64 }

func recordBatches(mu *sync.Mutex, seen *[]batchSeen) dataset.BatchFunc {
	return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		first := int64(-1)
		if b.NumRows() > 0 {
			first = b.Column(0).(*array.Int64).Value(0)
		}
		mu.Lock()
		*seen = append(*seen, batchSeen{first, b.NumRows()})
		mu.Unlock()
		return b, nil
	}
}

func sortedSeen(seen []batchSeen) []batchSeen {
	out := slices.Clone(seen)
	slices.SortFunc(out, func(a, b batchSeen) int { return int(a.first - b.first) })
	return out
}

func TestMapBatchesBatchSize(t *testing.T) {
	e := setup(t)
	var mu sync.Mutex
	cases := []struct {
		name       string
		rows       int64
		blocks     int
		size       int
		wantCounts []batchSeen
	}{
		// Blocks of 10; a task gathers three (30 rows) and cuts 25 + 5; the
		// last task has the last block alone.
		{"gather", 100, 10, 25, []batchSeen{{0, 25}, {25, 5}, {30, 25}, {55, 5}, {60, 25}, {85, 5}, {90, 10}}},
		// Blocks of 10 cut into 3+3+3+1.
		{"split", 30, 3, 3, []batchSeen{{0, 3}, {3, 3}, {6, 3}, {9, 1}, {10, 3}, {13, 3}, {16, 3}, {19, 1}, {20, 3}, {23, 3}, {26, 3}, {29, 1}}},
		// Exactly one block per batch.
		{"exact", 40, 4, 10, []batchSeen{{0, 10}, {10, 10}, {20, 10}, {30, 10}}},
		// A batch size above the row count: one batch of everything.
		{"larger than dataset", 100, 7, 1000, []batchSeen{{0, 100}}},
		// Batch size 1.
		{"one", 5, 2, 1, []batchSeen{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seen []batchSeen
			ds := dataset.Range(c.rows, e.par(c.blocks)...).MapBatches(recordBatches(&mu, &seen), dataset.BatchSize(c.size))
			equalInts(t, "output", takeIDs(t, e, ds), seq(0, c.rows))
			got := sortedSeen(seen)
			if fmt.Sprint(got) != fmt.Sprint(c.wantCounts) {
				t.Errorf("batches (first id, rows):\n got %v\nwant %v", got, c.wantCounts)
			}
		})
	}
}

func TestMapBatchesBatchSizeAfterFilter(t *testing.T) {
	e := setup(t)
	var mu sync.Mutex
	var seen []batchSeen
	// Filter leaves 5 rows of each block of 10 (one block keeps none).
	ds := dataset.Range(100, e.par(10)...).
		Filter(func(r dataset.Row) (bool, error) { id := idOf(r); return id%2 == 0 && (id < 40 || id >= 50), nil }).
		MapBatches(recordBatches(&mu, &seen), dataset.BatchSize(8))
	want := []int64{}
	for i := int64(0); i < 100; i += 2 {
		if i < 40 || i >= 50 {
			want = append(want, i)
		}
	}
	equalInts(t, "output", takeIDs(t, e, ds), want)
	total := int64(0)
	for _, s := range seen {
		total += s.rows
		if s.rows > 8 || s.rows == 0 {
			t.Errorf("batch of %d rows with BatchSize(8): %v", s.rows, seen)
		}
	}
	if total != int64(len(want)) {
		t.Errorf("UDF saw %d rows, want %d", total, len(want))
	}
	// Tasks gather >= 8 rows (two blocks of 5, = 10) and cut 8 + 2: at most
	// one short batch per task, so at least as many full batches as short.
	full := 0
	for _, s := range seen {
		if s.rows == 8 {
			full++
		}
	}
	if full < len(seen)-full-1 {
		t.Errorf("too many short batches: %v", sortedSeen(seen))
	}
}

func TestFlatMap(t *testing.T) {
	e := setup(t)
	base := dataset.Range(6, e.par(3)...)
	t.Run("none", func(t *testing.T) {
		ds := base.FlatMap(func(dataset.Row) ([]dataset.Item, error) { return nil, nil })
		if n := must(ds.Count(e.ctx))(t); n != 0 {
			t.Errorf("Count = %d", n)
		}
		if items := must(ds.TakeAll(e.ctx))(t); len(items) != 0 {
			t.Errorf("TakeAll = %v", items)
		}
	})
	t.Run("one", func(t *testing.T) {
		ds := base.FlatMap(func(r dataset.Row) ([]dataset.Item, error) {
			return []dataset.Item{{"id": idOf(r) + 10}}, nil
		})
		equalInts(t, "one each", takeIDs(t, e, ds), seq(10, 16))
		if n := must(ds.Count(e.ctx))(t); n != 6 {
			t.Errorf("Count = %d", n)
		}
	})
	t.Run("many", func(t *testing.T) {
		// Row i gives i copies of i: 0 rows for row 0.
		ds := base.FlatMap(func(r dataset.Row) ([]dataset.Item, error) {
			out := make([]dataset.Item, idOf(r))
			for i := range out {
				out[i] = dataset.Item{"id": idOf(r)}
			}
			return out, nil
		})
		equalInts(t, "i copies of i", takeIDs(t, e, ds), []int64{1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5})
		if n := must(ds.Count(e.ctx))(t); n != 15 {
			t.Errorf("Count = %d", n)
		}
	})
	t.Run("some blocks empty", func(t *testing.T) {
		// Only rows of the last block produce output.
		ds := base.FlatMap(func(r dataset.Row) ([]dataset.Item, error) {
			if idOf(r) < 4 {
				return nil, nil
			}
			return []dataset.Item{{"id": idOf(r)}, {"id": -idOf(r)}}, nil
		})
		equalInts(t, "output", takeIDs(t, e, ds), []int64{4, -4, 5, -5})
	})
}

func TestFilter(t *testing.T) {
	e := setup(t)
	base := dataset.Range(100, e.par(10)...)
	t.Run("none kept", func(t *testing.T) {
		ds := base.Filter(func(dataset.Row) (bool, error) { return false, nil })
		if n := must(ds.Count(e.ctx))(t); n != 0 {
			t.Errorf("Count = %d", n)
		}
		if items := must(ds.TakeAll(e.ctx))(t); len(items) != 0 {
			t.Errorf("TakeAll = %v", items)
		}
		// The schema is still known: Filter keeps it.
		if s := must(ds.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"id"}) {
			t.Errorf("Schema = %v", s)
		}
	})
	t.Run("all kept", func(t *testing.T) {
		ds := base.Filter(keepAll)
		equalInts(t, "all", takeIDs(t, e, ds), seq(0, 100))
		if n := must(ds.Count(e.ctx))(t); n != 100 {
			t.Errorf("Count = %d", n)
		}
	})
	t.Run("some", func(t *testing.T) {
		ds := base.Filter(func(r dataset.Row) (bool, error) { return idOf(r)%3 == 0, nil })
		var want []int64
		for i := int64(0); i < 100; i += 3 {
			want = append(want, i)
		}
		equalInts(t, "multiples of 3", takeIDs(t, e, ds), want)
		if n := must(ds.Count(e.ctx))(t); n != int64(len(want)) {
			t.Errorf("Count = %d", n)
		}
	})
	t.Run("empty blocks in the middle", func(t *testing.T) {
		ds := base.Filter(func(r dataset.Row) (bool, error) { id := idOf(r); return id < 20 || id >= 80, nil })
		want := append(seq(0, 20), seq(80, 100)...)
		equalInts(t, "ends", takeIDs(t, e, ds), want)
		equalInts(t, "block rows", blockRows(t, e, ds), []int64{10, 10, 0, 0, 0, 0, 0, 0, 10, 10})
		if n := must(ds.Count(e.ctx))(t); n != 40 {
			t.Errorf("Count = %d", n)
		}
		// Later transforms see the empty blocks too.
		m := ds.Filter(func(r dataset.Row) (bool, error) { return idOf(r)%2 == 1, nil })
		if n := must(m.Count(e.ctx))(t); n != 20 {
			t.Errorf("Count after second filter = %d", n)
		}
	})
	t.Run("non-contiguous keep", func(t *testing.T) {
		// Rows kept are not one run: the filter copies them.
		ds := dataset.FromItems([]dataset.Item{{"s": "a"}, {"s": "bb"}, {"s": "c"}, {"s": "dd"}}, e.opt()).
			Filter(func(r dataset.Row) (bool, error) { return len(r.String("s")) == 2, nil })
		if got := must(ds.TakeAll(e.ctx))(t); fmt.Sprint(got) != "[map[s:bb] map[s:dd]]" {
			t.Errorf("TakeAll = %v", got)
		}
	})
}

type idX struct {
	ID int64 `arrow:"id"`
	X  int64 `arrow:"x"`
}

// A Map after a Filter that empties some blocks. The empty blocks reach the
// Map, which must still give a dataset whose columns every consumer and
// later operator can use.
func TestMapAfterFilterEmptiesBlocks(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(10)...).
		Filter(func(r dataset.Row) (bool, error) { id := idOf(r); return id < 20 || id >= 80, nil }).
		Map(func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"id": idOf(r), "x": 2 * idOf(r)}, nil })
	want := append(seq(0, 20), seq(80, 100)...)
	equalInts(t, "TakeAll", takeIDs(t, e, ds), want)
	if n := must(ds.Count(e.ctx))(t); n != 40 {
		t.Errorf("Count = %d", n)
	}
	if s := must(ds.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"id", "x"}) {
		t.Errorf("Schema = %v", s)
	}
	t.Run("SelectColumns", func(t *testing.T) {
		items, err := ds.SelectColumns("x").TakeAll(e.ctx)
		if err != nil {
			t.Fatalf("SelectColumns after a Map over emptied blocks: %v", err)
		}
		if len(items) != 40 {
			t.Errorf("%d rows", len(items))
		}
	})
	t.Run("Sum", func(t *testing.T) {
		sum, err := ds.Sum(e.ctx, "x")
		if err != nil {
			t.Fatalf("Sum after a Map over emptied blocks: %v", err)
		}
		if sum.Int64() != 2*(190+1790) {
			t.Errorf("Sum = %v", sum)
		}
	})
	t.Run("ToStructs", func(t *testing.T) {
		got, err := dataset.ToStructs[idX](e.ctx, ds)
		if err != nil {
			t.Fatalf("ToStructs after a Map over emptied blocks: %v", err)
		}
		if len(got) != 40 || got[39] != (idX{99, 198}) {
			t.Errorf("ToStructs = %v", got)
		}
	})
	t.Run("AddColumn", func(t *testing.T) {
		items, err := ds.AddColumn("y", func(b arrow.RecordBatch) (arrow.Array, error) {
			return int64Array(e.mem, make([]int64, b.NumRows()), nil), nil
		}).TakeAll(e.ctx)
		if err != nil {
			t.Fatalf("AddColumn after a Map over emptied blocks: %v", err)
		}
		if len(items) != 40 {
			t.Errorf("%d rows", len(items))
		}
	})
	t.Run("MapBatches with BatchSize", func(t *testing.T) {
		var mu sync.Mutex
		var seen []batchSeen
		items, err := ds.MapBatches(recordBatches(&mu, &seen), dataset.BatchSize(25)).TakeAll(e.ctx)
		if err != nil {
			t.Fatalf("MapBatches(BatchSize) after a Map over emptied blocks: %v", err)
		}
		equalInts(t, "ids", ints(t, items, "id"), want)
	})
	t.Run("Repartition", func(t *testing.T) {
		items, err := ds.Repartition(3).TakeAll(e.ctx)
		if err != nil {
			t.Fatalf("Repartition after a Map over emptied blocks: %v", err)
		}
		equalInts(t, "ids", ints(t, items, "id"), want)
	})
}

func TestAddColumn(t *testing.T) {
	e := setup(t)
	triple := func(b arrow.RecordBatch) (arrow.Array, error) {
		ids := b.Column(0).(*array.Int64).Int64Values()
		out := make([]int64, len(ids))
		for i, v := range ids {
			out[i] = 3 * v
		}
		return int64Array(e.mem, out, nil), nil
	}
	ds := dataset.Range(20, e.par(3)...).AddColumn("x3", triple)
	items := must(ds.TakeAll(e.ctx))(t)
	equalInts(t, "id", ints(t, items, "id"), seq(0, 20))
	for i, it := range items {
		if it["x3"] != int64(3*i) {
			t.Fatalf("row %d = %v", i, it)
		}
	}
	if s := must(ds.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"id", "x3"}) {
		t.Errorf("Schema = %v", s)
	}
	// AddColumn keeps the row count: Count is known without running.
	if n := must(ds.Count(e.ctx))(t); n != 20 {
		t.Errorf("Count = %d", n)
	}
	// A column of the same name is replaced in place.
	repl := dataset.Range(5, e.opt()).AddColumn("id", triple)
	if s := must(repl.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"id"}) {
		t.Errorf("replaced Schema = %v", s)
	}
	equalInts(t, "replaced", takeIDs(t, e, repl), []int64{0, 3, 6, 9, 12})
	// A string column with nulls.
	label := func(b arrow.RecordBatch) (arrow.Array, error) {
		sb := array.NewStringBuilder(e.mem)
		defer sb.Release()
		for _, v := range b.Column(0).(*array.Int64).Int64Values() {
			if v%2 == 0 {
				sb.Append(fmt.Sprint("even", v))
			} else {
				sb.AppendNull()
			}
		}
		return sb.NewArray(), nil
	}
	got := must(dataset.Range(4, e.par(2)...).AddColumn("label", label).TakeAll(e.ctx))(t)
	if fmt.Sprint(got) != "[map[id:0 label:even0] map[id:1 label:<nil>] map[id:2 label:even2] map[id:3 label:<nil>]]" {
		t.Errorf("TakeAll = %v", got)
	}
}

func columnItems() []dataset.Item {
	return []dataset.Item{
		{"a": 1, "b": "x", "c": 1.5},
		{"a": 2, "b": "y", "c": 2.5},
		{"a": 3, "b": "z", "c": 3.5},
	}
}

func TestSelectDropRenameColumns(t *testing.T) {
	e := setup(t)
	ds := dataset.FromItems(columnItems(), e.par(2)...)

	sel := ds.SelectColumns("c", "a")
	if err := sel.Err(); err != nil {
		t.Fatal(err)
	}
	// The schema of a column edit is known without running anything.
	if s := must(sel.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"c", "a"}) {
		t.Errorf("SelectColumns schema %v", s)
	}
	if got := must(sel.TakeAll(e.ctx))(t); fmt.Sprint(got) != "[map[a:1 c:1.5] map[a:2 c:2.5] map[a:3 c:3.5]]" {
		t.Errorf("SelectColumns = %v", got)
	}
	recs := must(sel.ToRecords(e.ctx))(t)
	for _, r := range recs {
		if !slices.Equal(schemaNames(r.Schema()), []string{"c", "a"}) {
			t.Errorf("SelectColumns block schema %v", r.Schema())
		}
		r.Release()
	}

	drop := ds.DropColumns("b")
	if s := must(drop.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"a", "c"}) {
		t.Errorf("DropColumns schema %v", s)
	}
	if got := must(drop.TakeAll(e.ctx))(t); fmt.Sprint(got) != "[map[a:1 c:1.5] map[a:2 c:2.5] map[a:3 c:3.5]]" {
		t.Errorf("DropColumns = %v", got)
	}
	dropAll := ds.DropColumns("a", "b", "c")
	if s := must(dropAll.Schema(e.ctx))(t); s.NumFields() != 0 {
		t.Errorf("DropColumns(all) schema %v", s)
	}
	if n := must(dropAll.Count(e.ctx))(t); n != 3 {
		t.Errorf("DropColumns(all) Count = %d", n)
	}

	ren := ds.RenameColumns(map[string]string{"a": "alpha", "c": "gamma"})
	if s := must(ren.Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"alpha", "b", "gamma"}) {
		t.Errorf("RenameColumns schema %v", s)
	}
	if got := must(ren.TakeAll(e.ctx))(t); fmt.Sprint(got) != "[map[alpha:1 b:x gamma:1.5] map[alpha:2 b:y gamma:2.5] map[alpha:3 b:z gamma:3.5]]" {
		t.Errorf("RenameColumns = %v", got)
	}
	// Swapping two names.
	swap := ds.RenameColumns(map[string]string{"a": "b", "b": "a"})
	if got := must(swap.TakeAll(e.ctx))(t); fmt.Sprint(got) != "[map[a:x b:1 c:1.5] map[a:y b:2 c:2.5] map[a:z b:3 c:3.5]]" {
		t.Errorf("swap = %v", got)
	}
	// Column edits keep the row count.
	for _, d := range []*dataset.Dataset{sel, drop, ren} {
		if n := must(d.Count(e.ctx))(t); n != 3 {
			t.Errorf("%v: Count = %d", d, n)
		}
	}
}

func TestColumnOpsWithUnknownSchema(t *testing.T) {
	e := setup(t)
	// After a Map the schema is known only by running: the edits are checked
	// per block.
	ds := dataset.FromItems(columnItems(), e.opt()).
		Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), nil })
	got := must(ds.SelectColumns("b").RenameColumns(map[string]string{"b": "B"}).DropColumns().TakeAll(e.ctx))(t)
	if fmt.Sprint(got) != "[map[B:x] map[B:y] map[B:z]]" {
		t.Errorf("TakeAll = %v", got)
	}
	got = must(ds.DropColumns("a", "c").TakeAll(e.ctx))(t)
	if fmt.Sprint(got) != "[map[b:x] map[b:y] map[b:z]]" {
		t.Errorf("TakeAll = %v", got)
	}
}

// ---------------------------------------------------------------------------
// Limit, Union, Repartition
// ---------------------------------------------------------------------------

func TestLimit(t *testing.T) {
	e := setup(t)
	base := dataset.Range(100, e.par(4)...) // blocks of 25
	cases := []struct {
		n    int64
		want []int64
	}{
		{0, nil},
		{5, seq(0, 5)},     // less than one block
		{25, seq(0, 25)},   // exactly one block
		{60, seq(0, 60)},   // across blocks
		{100, seq(0, 100)}, // all
		{1000, seq(0, 100)},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.n), func(t *testing.T) {
			ds := base.Limit(c.n)
			equalInts(t, "Limit", takeIDs(t, e, ds), c.want)
			if n := must(ds.Count(e.ctx))(t); n != int64(len(c.want)) {
				t.Errorf("Count = %d", n)
			}
			// The same through a filter (no static row count) and a map.
			f := base.Filter(keepAll).Limit(c.n)
			equalInts(t, "Filter.Limit", takeIDs(t, e, f), c.want)
			if n := must(f.Count(e.ctx))(t); n != int64(len(c.want)) {
				t.Errorf("Filter.Limit Count = %d", n)
			}
			m := base.Limit(c.n).Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), nil })
			equalInts(t, "Limit.Map", takeIDs(t, e, m), c.want)
		})
	}
	// Nested limits keep the smaller.
	equalInts(t, "Limit(30).Limit(10)", takeIDs(t, e, base.Limit(30).Limit(10)), seq(0, 10))
	equalInts(t, "Limit(10).Limit(30)", takeIDs(t, e, base.Limit(10).Limit(30)), seq(0, 10))
	// A limit after a filter takes the first matching rows, in order.
	odd := base.Filter(func(r dataset.Row) (bool, error) { return idOf(r)%2 == 1, nil }).Limit(15)
	equalInts(t, "odd.Limit(15)", takeIDs(t, e, odd), []int64{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29})
	// A limit in the middle of a plan.
	mid := base.Limit(30).Filter(func(r dataset.Row) (bool, error) { return idOf(r) >= 20, nil })
	equalInts(t, "Limit(30).Filter", takeIDs(t, e, mid), seq(20, 30))
}

func TestLimitStopsUpstreamEarly(t *testing.T) {
	e := setup(t)
	const n = 1_000_000
	count := func(calls *atomic.Int64) func(dataset.Row) (dataset.Item, error) {
		return func(r dataset.Row) (dataset.Item, error) {
			calls.Add(1)
			return dataset.Item{"id": idOf(r)}, nil
		}
	}
	t.Run("Map after Limit", func(t *testing.T) {
		var calls atomic.Int64
		ds := dataset.Range(n, e.opt()).Limit(10).Map(count(&calls))
		equalInts(t, "rows", takeIDs(t, e, ds), seq(0, 10))
		if c := calls.Load(); c > 1000 {
			t.Errorf("Map saw %d rows for a Limit(10)", c)
		}
	})
	t.Run("Map before Limit", func(t *testing.T) {
		var calls atomic.Int64
		ds := dataset.Range(n, e.opt()).Map(count(&calls)).Limit(10)
		equalInts(t, "rows", takeIDs(t, e, ds), seq(0, 10))
		if c := calls.Load(); c > 1000 {
			t.Errorf("Map saw %d rows for a Limit(10)", c)
		}
	})
	t.Run("Filter before Limit", func(t *testing.T) {
		// A filter may drop rows, so the limit cannot move below it; it must
		// still stop the reads once it has its rows.
		var calls atomic.Int64
		ds := dataset.Range(n, e.opt()).Filter(func(r dataset.Row) (bool, error) {
			calls.Add(1)
			return true, nil
		}).Limit(10)
		equalInts(t, "rows", takeIDs(t, e, ds), seq(0, 10))
		if c := calls.Load(); c > n/10 {
			t.Errorf("Filter saw %d of %d rows for a Limit(10)", c, n)
		}
	})
	t.Run("Take", func(t *testing.T) {
		var calls atomic.Int64
		ds := dataset.Range(n, e.opt()).Map(count(&calls))
		equalInts(t, "rows", ints(t, must(ds.Take(e.ctx, 3))(t), "id"), seq(0, 3))
		if c := calls.Load(); c > 1000 {
			t.Errorf("Map saw %d rows for a Take(3)", c)
		}
	})
}

func TestUnion(t *testing.T) {
	e := setup(t)
	a := dataset.Range(50, e.par(3)...)
	b := dataset.Range(130, e.par(4)...).Filter(func(r dataset.Row) (bool, error) { return idOf(r) >= 100, nil })
	u := a.Union(b)
	if err := u.Err(); err != nil {
		t.Fatal(err)
	}
	want := append(seq(0, 50), seq(100, 130)...)
	equalInts(t, "a then b", takeIDs(t, e, u), want)
	if n := must(u.Count(e.ctx))(t); n != 80 {
		t.Errorf("Count = %d", n)
	}

	// Static counts and block counts add up.
	s := dataset.Range(5, e.opt()).Union(dataset.Range(7, e.par(3)...), dataset.Range(0, e.opt()))
	if n := must(s.Count(e.ctx))(t); n != 12 {
		t.Errorf("Count = %d", n)
	}
	if n := must(s.NumBlocks(e.ctx))(t); n != 8 {
		t.Errorf("NumBlocks = %d, want 5+3+0", n)
	}
	equalInts(t, "three-way", takeIDs(t, e, s), append(seq(0, 5), seq(0, 7)...))

	// Order is kept even when the first input is much slower than the second.
	slow := dataset.Range(6, e.par(3)...).Map(func(r dataset.Row) (dataset.Item, error) {
		time.Sleep(5 * time.Millisecond)
		return dataset.Item{"id": idOf(r)}, nil
	})
	fast := dataset.Range(1006, e.par(5)...).Filter(func(r dataset.Row) (bool, error) { return idOf(r) >= 1000, nil }).
		Map(func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"id": idOf(r)}, nil })
	equalInts(t, "slow then fast", takeIDs(t, e, slow.Union(fast)), append(seq(0, 6), seq(1000, 1006)...))

	// A dataset unioned with itself.
	self := dataset.Range(3, e.opt())
	equalInts(t, "self", takeIDs(t, e, self.Union(self, self)), []int64{0, 1, 2, 0, 1, 2, 0, 1, 2})

	// Limit over a union takes from the first input first.
	equalInts(t, "Union.Limit", takeIDs(t, e, a.Union(b).Limit(52)), append(seq(0, 50), 100, 101))
}

func TestRepartition(t *testing.T) {
	e := setup(t)
	cases := []struct {
		rows   int64
		blocks int
		n      int
	}{
		{100, 7, 3},  // merge
		{100, 3, 10}, // split
		{100, 4, 4},  // same count
		{101, 1, 2},
		{10, 10, 1}, // all in one
		{3, 3, 5},   // more blocks than rows: empty blocks
		{1, 1, 4},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("Range(%d)/%d->%d", c.rows, c.blocks, c.n), func(t *testing.T) {
			ds := dataset.Range(c.rows, e.par(c.blocks)...).Repartition(c.n)
			if n := must(ds.NumBlocks(e.ctx))(t); n != c.n {
				t.Errorf("NumBlocks (planned) = %d, want %d", n, c.n)
			}
			m := must(ds.Materialize(e.ctx))(t)
			if n := must(m.NumBlocks(e.ctx))(t); n != c.n {
				t.Errorf("materialized blocks = %d, want %d", n, c.n)
			}
			rows := blockRows(t, e, m)
			if len(rows) != c.n {
				t.Fatalf("ToRecords gave %d blocks, want %d: %v", len(rows), c.n, rows)
			}
			lo, hi := slices.Min(rows), slices.Max(rows)
			if hi-lo > 1 {
				t.Errorf("block rows %v differ by more than one", rows)
			}
			var total int64
			for _, r := range rows {
				total += r
			}
			if total != c.rows {
				t.Errorf("block rows %v add up to %d, want %d", rows, total, c.rows)
			}
			equalInts(t, "rows in order", takeIDs(t, e, m), seq(0, c.rows))
			if n := must(ds.Count(e.ctx))(t); n != c.rows {
				t.Errorf("Count = %d", n)
			}
		})
	}
	t.Run("after a filter", func(t *testing.T) {
		ds := dataset.Range(100, e.par(10)...).
			Filter(func(r dataset.Row) (bool, error) { id := idOf(r); return id < 20 || id >= 85, nil }).
			Repartition(5)
		equalInts(t, "block rows", blockRows(t, e, ds), []int64{7, 7, 7, 7, 7})
		equalInts(t, "rows", takeIDs(t, e, ds), append(seq(0, 20), seq(85, 100)...))
	})
	t.Run("transform after", func(t *testing.T) {
		ds := dataset.Range(10, e.par(2)...).Repartition(5).
			Map(func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"id": -idOf(r)}, nil })
		equalInts(t, "rows", takeIDs(t, e, ds), []int64{0, -1, -2, -3, -4, -5, -6, -7, -8, -9})
		equalInts(t, "block rows", blockRows(t, e, ds), []int64{2, 2, 2, 2, 2})
	})
}

// Repartition promises exactly n blocks, also for an empty dataset, and the
// planned NumBlocks says n.
func TestRepartitionEmptyDataset(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(0, e.opt()).Repartition(3)
	if n := must(ds.NumBlocks(e.ctx))(t); n != 3 {
		t.Errorf("NumBlocks (planned) = %d, want 3", n)
	}
	m := must(ds.Materialize(e.ctx))(t)
	if n := must(m.NumBlocks(e.ctx))(t); n != 3 {
		t.Errorf("Range(0).Repartition(3) materialized into %d blocks, want 3 (the planned NumBlocks says 3)", n)
	}
	if n := must(m.Count(e.ctx))(t); n != 0 {
		t.Errorf("Count = %d", n)
	}
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

func section(t *testing.T, explain, name string) string {
	t.Helper()
	head := "-- " + name + " --\n"
	i := strings.Index(explain, head)
	if i < 0 {
		t.Fatalf("Explain has no %q section:\n%s", head, explain)
	}
	rest := explain[i+len(head):]
	if j := strings.Index(rest, "-- "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func TestExplain(t *testing.T) {
	e := setup(t)
	square := func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"id": idOf(r) * idOf(r)}, nil }
	even := func(r dataset.Row) (bool, error) { return idOf(r)%2 == 0, nil }
	ds := dataset.Range(100, e.opt()).Map(square).Filter(even)
	ex := ds.Explain()
	logical := section(t, ex, "logical plan")
	optimized := section(t, ex, "optimized plan")
	physical := section(t, ex, "physical plan")

	// The logical plan is as written: three nodes, the root first.
	lines := strings.Split(strings.TrimSpace(logical), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "Filter(") || !strings.HasPrefix(strings.TrimSpace(lines[1]), "Map(") ||
		!strings.HasPrefix(strings.TrimSpace(lines[2]), "Range(100)") {
		t.Errorf("logical plan:\n%s", logical)
	}
	if !strings.Contains(lines[2], "[id: int64]") {
		t.Errorf("logical plan should show the source schema:\n%s", logical)
	}
	// The optimizer fuses Map and Filter into one node.
	if !strings.Contains(optimized, "Map(") || !strings.Contains(optimized, ")->Filter(") ||
		len(strings.Split(strings.TrimSpace(optimized), "\n")) != 2 {
		t.Errorf("optimized plan should fuse Map->Filter:\n%s", optimized)
	}
	// The physical plan is one operator: the read fused with both stages.
	pl := strings.Split(strings.TrimSpace(physical), "\n")
	if len(pl) != 1 || !strings.HasPrefix(pl[0], "Read[Range(100)->Map(") || !strings.Contains(pl[0], ")->Filter(") {
		t.Errorf("physical plan should be one fused operator:\n%s", physical)
	}

	// A batch size starts a new operator; a limit is pushed below a Map.
	ds2 := dataset.Range(1000, e.opt()).Map(square).Limit(5).MapBatches(doubleIDs(e.mem), dataset.BatchSize(10))
	ex2 := ds2.Explain()
	if opt := section(t, ex2, "optimized plan"); !strings.Contains(opt, "Range(5)") {
		t.Errorf("optimized plan should read only 5 rows:\n%s", opt)
	}
	phys2 := section(t, ex2, "physical plan")
	if !strings.Contains(phys2, "Map[MapBatches(") || !strings.Contains(phys2, "Limit[Limit(5)]") {
		t.Errorf("physical plan:\n%s", phys2)
	}
	// Explain does not run anything, and an errored dataset explains its error.
	bad := dataset.Range(10, e.opt()).SelectColumns("nope")
	if ex := bad.Explain(); !strings.HasPrefix(ex, "error: ") || !strings.Contains(ex, "nope") {
		t.Errorf("Explain of a bad plan = %q", ex)
	}
}

func TestString(t *testing.T) {
	e := setup(t)
	if s := dataset.Range(10, e.opt()).String(); s != "Dataset(Range(10), rows=10, schema={id: int64})" {
		t.Errorf("String = %q", s)
	}
	m := dataset.Range(10, e.opt()).Filter(keepAll)
	if s := m.String(); !strings.HasPrefix(s, "Dataset(Filter(") || strings.Contains(s, "rows=") {
		t.Errorf("String = %q", s)
	}
	if s := dataset.Range(-1, e.opt()).String(); !strings.HasPrefix(s, "Dataset(error: ") {
		t.Errorf("String = %q", s)
	}
}

func TestDatasetsAreImmutable(t *testing.T) {
	e := setup(t)
	base := dataset.Range(10, e.par(2)...)
	_ = base.Map(func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"z": 1}, nil })
	_ = base.Filter(func(dataset.Row) (bool, error) { return false, nil })
	_ = base.Limit(1)
	_ = base.SelectColumns("nope") // an error in a derived dataset only
	if err := base.Err(); err != nil {
		t.Fatalf("base has error %v", err)
	}
	for range 2 { // consumed twice
		equalInts(t, "base", takeIDs(t, e, base), seq(0, 10))
	}
	if base.Runtime() != exec.Runtime(e.rt) {
		t.Errorf("Runtime() is not the runtime given")
	}
}

// Sanity: floats round-trip exactly through Map.
func TestMapFloatValues(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(5, e.opt()).Map(func(r dataset.Row) (dataset.Item, error) {
		return dataset.Item{"f": math.Sqrt(float64(idOf(r)))}, nil
	})
	items := must(ds.TakeAll(e.ctx))(t)
	for i, it := range items {
		if it["f"] != math.Sqrt(float64(i)) {
			t.Errorf("row %d = %v", i, it)
		}
	}
}

// Executor options and a store budget far below the data size change how
// the plan runs (one task at a time, blocks spilled to disk), not what it
// returns.
func TestExecOptionsAndSpilling(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rt := exec.NewLocal(exec.WithAllocator(mem), exec.WithWorkers(2), exec.WithObjectStoreMemory(16<<10),
		exec.WithSpillDir(t.TempDir()))
	t.Cleanup(func() {
		rt.Close()
		mem.AssertSize(t, 0)
	})
	e := &testEnv{rt: rt, mem: mem, ctx: watchdog.Context(t, context.Background(), hangLimit)}
	var running, peak atomic.Int64
	opts := []dataset.Option{
		dataset.WithRuntime(rt), dataset.WithParallelism(20),
		dataset.WithExecOptions(pipeline.Options{Concurrency: 1, MemoryBudget: 32 << 10, Prefetch: 1}),
	}
	// 20 blocks of 1000 int64s (8 KB each): far more than the 16 KB store.
	ds := dataset.Range(20000, opts...).Map(func(r dataset.Row) (dataset.Item, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		return dataset.Item{"id": idOf(r)}, nil
	}).Filter(keepAll)
	m := must(ds.Materialize(e.ctx))(t)
	equalInts(t, "rows", takeIDs(t, e, m), seq(0, 20000))
	if st := rt.Stats(); st.SpilledTotal == 0 {
		t.Errorf("no block was spilled with a 16 KB store: %v", st)
	}
	wantInt(t, "Sum", must(m.Sum(e.ctx, "id"))(t), 20000*19999/2)
	equalInts(t, "repartitioned", takeIDs(t, e, m.Repartition(3)), seq(0, 20000))
	if p := peak.Load(); p != 1 {
		t.Errorf("Concurrency 1: up to %d UDF calls ran at once", p)
	}
}
