package dataset_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/internal/watchdog"
)

type refGroup struct {
	count      int64
	n          int64
	sum        int64
	min, max   int64
	fsum       float64
	fn         int64
	fmin, fmax float64
}

// refAggregate computes the expected aggregates with plain Go maps.
func refAggregate(items []dataset.Item, key func(dataset.Item) string) map[string]*refGroup {
	out := map[string]*refGroup{}
	for _, it := range items {
		k := key(it)
		g := out[k]
		if g == nil {
			g = &refGroup{min: math.MaxInt64, max: math.MinInt64, fmin: math.Inf(1), fmax: math.Inf(-1)}
			out[k] = g
		}
		g.count++
		if v, ok := it["v"].(int64); ok {
			g.n++
			g.sum += v
			g.min = min(g.min, v)
			g.max = max(g.max, v)
		}
		if f, ok := it["f"].(float64); ok {
			g.fn++
			g.fsum += f
			g.fmin = math.Min(g.fmin, f)
			g.fmax = math.Max(g.fmax, f)
		}
	}
	return out
}

func refStd(items []dataset.Item, key func(dataset.Item) string, k string, g *refGroup) (float64, bool) {
	if g.fn < 2 {
		return 0, false
	}
	mean := g.fsum / float64(g.fn)
	var ss float64
	for _, it := range items {
		if key(it) != k {
			continue
		}
		if f, ok := it["f"].(float64); ok {
			ss += (f - mean) * (f - mean)
		}
	}
	return math.Sqrt(ss / float64(g.fn-1)), true
}

func groupItems(rng *rand.Rand, n int, shape int) []dataset.Item {
	items := make([]dataset.Item, n)
	words := []string{"x", "y", "zz", "", "long key value"}
	for i := range items {
		var k any
		switch shape {
		case 0: // a few keys
			k = int64(rng.IntN(7))
		case 1: // one key
			k = int64(42)
		case 2: // all distinct
			k = int64(i)
		case 3: // heavy skew
			k = int64(0)
			if rng.IntN(10) == 0 {
				k = int64(rng.IntN(1000))
			}
		}
		if rng.IntN(15) == 0 {
			k = nil
		}
		var s any = words[rng.IntN(len(words))]
		if rng.IntN(20) == 0 {
			s = nil
		}
		var v any = int64(rng.IntN(2001) - 1000)
		if rng.IntN(10) == 0 {
			v = nil
		}
		var f any = rng.NormFloat64()*10 + 1e6
		if rng.IntN(10) == 0 {
			f = nil
		}
		items[i] = dataset.Item{"k": k, "s": s, "v": v, "f": f}
	}
	return items
}

func TestGroupByMatchesReference(t *testing.T) {
	e := setup(t)
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 2))
		n := 1 + rng.IntN(500)
		items := groupItems(rng, n, int(seed%4))
		checkGroupBy(t, e, seed, items, seed%3 == 0, 1+rng.IntN(9))
	}
}

// TestGroupByHighCardinality groups blocks of over 4096 rows whose keys
// hardly repeat, so the map side stops pre-aggregating after the first
// blocks (shuffle.Adaptive) and sends row states to the reduce side: the
// results must not change.
func TestGroupByHighCardinality(t *testing.T) {
	e := setup(t)
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 9))
		items := groupItems(rng, 30000, []int{2, 2, 3, 0}[seed])
		checkGroupBy(t, e, seed, items, seed == 1, 5)
	}
}

func checkGroupBy(t *testing.T, e *testEnv, seed uint64, items []dataset.Item, twoKeys bool, blocks int) {
	t.Helper()
	keys := []string{"k"}
	key := func(it dataset.Item) string { return fmt.Sprint(it["k"]) }
	if twoKeys {
		keys = []string{"k", "s"}
		key = func(it dataset.Item) string { return fmt.Sprint(it["k"], "|", it["s"]) }
	}
	want := refAggregate(items, key)
	d := dataset.FromItems(items, e.par(blocks)...).GroupBy(keys...).Aggregate(
		dataset.CountRows(), dataset.SumOf("v"), dataset.MinOf("v"), dataset.MaxOf("v"),
		dataset.MeanOf("f"), dataset.StdOf("f"), dataset.SumOf("f"))
	rows, err := d.TakeAll(e.ctx)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if len(rows) != len(want) {
		t.Fatalf("seed %d: %d groups, want %d", seed, len(rows), len(want))
	}
	// Std needs each group's values: gather them once.
	byKey := map[string][]dataset.Item{}
	for _, it := range items {
		byKey[key(it)] = append(byKey[key(it)], it)
	}
	for _, r := range rows {
		k := key(r)
		g := want[k]
		if g == nil {
			t.Fatalf("seed %d: unexpected group %s", seed, k)
		}
		check := func(name string, got any, want any) {
			t.Helper()
			if gf, ok := got.(float64); ok {
				wf := want.(float64)
				if math.Abs(gf-wf) > 1e-9*math.Max(1, math.Abs(wf)) {
					t.Errorf("seed %d group %s: %s = %v, want %v", seed, k, name, got, want)
				}
				return
			}
			if got != want {
				t.Errorf("seed %d group %s: %s = %v (%T), want %v (%T)", seed, k, name, got, got, want, want)
			}
		}
		check("count()", r["count()"], g.count)
		if g.n > 0 {
			check("sum(v)", r["sum(v)"], g.sum)
			check("min(v)", r["min(v)"], g.min)
			check("max(v)", r["max(v)"], g.max)
		} else if r["sum(v)"] != nil || r["min(v)"] != nil {
			t.Errorf("seed %d group %s: no values but sum %v min %v", seed, k, r["sum(v)"], r["min(v)"])
		}
		if g.fn > 0 {
			check("mean(f)", r["mean(f)"], g.fsum/float64(g.fn))
			check("sum(f)", r["sum(f)"], g.fsum)
		}
		if sd, ok := refStd(byKey[k], key, k, g); ok {
			check("std(f)", r["std(f)"], sd)
		} else if r["std(f)"] != nil {
			t.Errorf("seed %d group %s: std of %d values = %v, want null", seed, k, g.fn, r["std(f)"])
		}
	}
}

func TestGlobalAggregate(t *testing.T) {
	e := setup(t)
	rows, err := dataset.Range(1000, e.par(7)...).Aggregate(dataset.CountRows(), dataset.SumOf("id"), dataset.StdOf("id")).TakeAll(e.ctx)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	if rows[0]["count()"] != int64(1000) || rows[0]["sum(id)"] != int64(999*1000/2) || math.Abs(rows[0]["std(id)"].(float64)-288.8194360957494) > 1e-9 {
		t.Errorf("got %v", rows[0])
	}
	empty, err := dataset.Range(0, e.opt()).Aggregate(dataset.CountRows(), dataset.SumOf("id")).TakeAll(e.ctx)
	if err != nil || len(empty) != 1 || empty[0]["count()"] != int64(0) || empty[0]["sum(id)"] != nil {
		t.Errorf("aggregate of nothing: %v, %v", empty, err)
	}
}

func TestGroupByShortcutsAndErrors(t *testing.T) {
	e := setup(t)
	d := dataset.Range(100, e.par(4)...).AddColumn("k", modColumn(3))
	rows, err := d.GroupBy("k").Count().TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i]["k"].(int64) < rows[j]["k"].(int64) })
	if fmt.Sprint(rows) != "[map[count():34 k:0] map[count():33 k:1] map[count():33 k:2]]" {
		t.Errorf("counts %v", rows)
	}
	for _, c := range []struct {
		d    *dataset.Dataset
		want string
	}{
		{d.GroupBy("nope").Count(), `"nope"`},
		{d.GroupBy("k").Sum("nope"), `"nope"`},
		{d.GroupBy().Count(), "no key columns"},
		{d.GroupBy("k").Aggregate(), "no aggregations"},
		{dataset.FromItems([]dataset.Item{{"k": 1, "s": "x"}}, e.opt()).GroupBy("k").Sum("s"), "not numeric"},
		{dataset.FromItems([]dataset.Item{{"k": math.MaxInt64 - 1, "v": math.MaxInt64 - 1}, {"k": math.MaxInt64 - 1, "v": 5}}, e.opt()).GroupBy("k").Sum("v"), "overflow"},
	} {
		_, err := c.d.TakeAll(e.ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %s", err, c.want)
		}
	}
}

func TestGroupByLargerThanTheStore(t *testing.T) {
	rt := smallStore(t)
	const n = 1 << 20 // 8 MiB of distinct keys: 4x the store, no reduction on the map side
	d := dataset.Range(n, dataset.WithRuntime(rt), dataset.WithParallelism(32)).GroupBy("id").Count()
	ctx := watchdog.Context(t, context.Background(), hangLimit)
	groups, err := d.Count(ctx)
	if err != nil || groups != n {
		t.Fatalf("groups %d, %v", groups, err)
	}
	total, err := d.Sum(ctx, "count()")
	if err != nil || total.Int64() != n {
		t.Fatalf("total %v, %v", total, err)
	}
	if st := rt.Stats(); st.SpilledTotal == 0 {
		t.Errorf("a groupby of 4x the store spilled nothing: %v", st)
	}
}

// modColumn adds id % m as an int64 column.
func modColumn(m int64) func(b arrow.RecordBatch) (arrow.Array, error) {
	return func(b arrow.RecordBatch) (arrow.Array, error) {
		ids := b.Column(0).(*array.Int64).Int64Values()
		out := make([]int64, len(ids))
		for i, v := range ids {
			out[i] = v % m
		}
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		defer bld.Release()
		bld.AppendValues(out, nil)
		return bld.NewArray(), nil
	}
}

func TestAggregateReadsOnlyItsColumns(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	items := make([]dataset.Item, 100)
	for i := range items {
		items[i] = dataset.Item{"k": int64(i % 3), "v": float64(i), "pad": strings.Repeat("x", 50)}
	}
	if err := dataset.FromItems(items, e.opt()).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	ds := dataset.ReadParquet(e.ctx, dir, e.opt()).GroupBy("k").Aggregate(dataset.SumOf("v"))
	if plan := ds.Explain(); !strings.Contains(plan, "columns=[k v]") {
		t.Errorf("the read decodes more than k and v:\n%s", plan)
	}
	rows := must(ds.TakeAll(e.ctx))(t)
	if len(rows) != 3 {
		t.Fatalf("%d groups, want 3", len(rows))
	}
}
