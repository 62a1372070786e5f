package dataset_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/watchdog"
)

func ids(t *testing.T, e *testEnv, d *dataset.Dataset) []int64 {
	t.Helper()
	var out []int64
	for r, err := range d.IterRows(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Int64("id"))
	}
	return out
}

func TestRandomShuffleIsAPermutation(t *testing.T) {
	e := setup(t)
	d := dataset.Range(10000, e.par(12)...)
	a := ids(t, e, d.RandomShuffle(7))
	b := ids(t, e, d.RandomShuffle(7))
	c := ids(t, e, d.RandomShuffle(8))
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different orders")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same order")
	}
	sorted := slices.Clone(a)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != int64(i) {
			t.Fatalf("after the shuffle row %d is %d: rows lost or duplicated", i, v)
		}
	}
	inPlace := 0
	for i, v := range a {
		if v == int64(i) {
			inPlace++
		}
	}
	if inPlace > 50 {
		t.Errorf("%d of 10000 rows kept their position", inPlace)
	}
	if n, err := d.RandomShuffle(7).Count(e.ctx); err != nil || n != 10000 {
		t.Errorf("Count = %d, %v", n, err)
	}
}

// TestRandomShuffleUniform checks where the rows of the first input block
// land: each tenth of the output should get a tenth of them (chi-square,
// 9 degrees of freedom; 27.88 is the 99.9% point).
func TestRandomShuffleUniform(t *testing.T) {
	e := setup(t)
	const n = 20000
	for seed := range uint64(5) {
		out := ids(t, e, dataset.Range(n, e.par(10)...).RandomShuffle(seed))
		var counts [10]float64
		for pos, v := range out {
			if v < n/10 { // a row of the first input block
				counts[pos*10/n]++
			}
		}
		var chi float64
		for _, c := range counts {
			chi += (c - 200) * (c - 200) / 200
		}
		if chi > 27.88 {
			t.Errorf("seed %d: rows of block 0 land unevenly: %v (chi-square %.1f)", seed, counts, chi)
		}
	}
}

func TestRandomShuffleEdgeCases(t *testing.T) {
	e := setup(t)
	if got := ids(t, e, dataset.Range(0, e.opt()).RandomShuffle(1)); len(got) != 0 {
		t.Errorf("empty dataset gave %v", got)
	}
	if got := ids(t, e, dataset.Range(1, e.opt()).RandomShuffle(1)); !slices.Equal(got, []int64{0}) {
		t.Errorf("one row gave %v", got)
	}
	// Filtering every row of some blocks leaves empty blocks.
	d := dataset.Range(1000, e.par(10)...).Where(dataset.Col("id").Lt(150)).RandomShuffle(3)
	got := ids(t, e, d)
	slices.Sort(got)
	if len(got) != 150 || got[149] != 149 {
		t.Errorf("got %d rows", len(got))
	}
	// An error upstream of the shuffle comes back.
	bad := dataset.Range(100, e.par(4)...).Where(dataset.Col("id").Eq("x")).RandomShuffle(1)
	if _, err := bad.Count(e.ctx); err == nil {
		t.Error("no error from a bad predicate under the shuffle")
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := dataset.Range(100, e.opt()).RandomShuffle(1).TakeAll(ctx); err == nil {
		t.Error("no error from a cancelled context")
	}
}

func TestRandomShuffleLargerThanTheStore(t *testing.T) {
	rt := smallStore(t)
	const n = 1 << 20 // 8 MiB of int64: 4x the store
	d := dataset.Range(n, dataset.WithRuntime(rt), dataset.WithParallelism(32)).RandomShuffle(11)
	sum, err := d.Sum(watchdog.Context(t, context.Background(), hangLimit), "id")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Int64() != n*(n-1)/2 {
		t.Errorf("sum %d", sum.Int64())
	}
	st := rt.Stats()
	if st.SpilledTotal == 0 {
		t.Errorf("a shuffle of 4x the store spilled nothing: %v", st)
	}
	t.Logf("store: %v, spilled %d MiB in total", st, st.SpilledTotal>>20)
}

func TestRandomizeBlockOrder(t *testing.T) {
	e := setup(t)
	d := dataset.Range(1000, e.par(10)...)
	a := ids(t, e, d.RandomizeBlockOrder(5))
	b := ids(t, e, d.RandomizeBlockOrder(5))
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different orders")
	}
	if slices.Equal(a, ids(t, e, d)) {
		t.Error("block order unchanged")
	}
	// Blocks move whole: runs of 100 consecutive ids starting at a multiple of 100.
	for i := 0; i < len(a); i += 100 {
		if a[i]%100 != 0 || a[i+99] != a[i]+99 {
			t.Fatalf("block at %d starts with %d and ends with %d", i, a[i], a[i+99])
		}
	}
}

func TestRepartitionShuffle(t *testing.T) {
	e := setup(t)
	d := dataset.Range(10007, e.par(6)...).Repartition(8, dataset.Shuffle(true), dataset.ShuffleSeed(3))
	var sizes []int64
	var got []int64
	for b, err := range d.IterBatches(e.ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.NumRows())
		for i := range int(b.NumRows()) {
			got = append(got, b.Column(0).(interface{ Value(int) int64 }).Value(i))
		}
	}
	if len(sizes) != 8 {
		t.Fatalf("%d blocks, want 8", len(sizes))
	}
	lo, hi := slices.Min(sizes), slices.Max(sizes)
	if hi-lo > 6 {
		t.Errorf("block sizes %v differ by more than the 6 input blocks", sizes)
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != int64(i) {
			t.Fatalf("rows lost or duplicated at %d", i)
		}
	}
	if slices.Equal(got, sorted) {
		t.Error("rows not shuffled")
	}
}

func TestUnique(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{{"c": "a"}, {"c": "b"}, {"c": nil}, {"c": "a"}, {"c": nil}, {"c": "c"}}
	rows, err := dataset.FromItems(items, e.par(3)...).Unique("c").TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, r := range rows {
		vals = append(vals, fmt.Sprint(r["c"]))
	}
	slices.Sort(vals)
	if fmt.Sprint(vals) != "[<nil> a b c]" {
		t.Errorf("unique %v", vals)
	}
	if _, err := dataset.FromItems(items, e.opt()).Unique("nope").Count(e.ctx); err == nil {
		t.Error("unknown column: no error")
	}

	// Many blocks and keys: a group-by without states, its output the key
	// column alone.
	u := dataset.Range(100_000, e.par(8)...).WithColumn("k", dataset.Col("id").Mod(7777)).Unique("k")
	if !strings.Contains(u.Explain(), "Unique[k]") {
		t.Errorf("plan does not show Unique[k]:\n%s", u.Explain())
	}
	keys, err := u.TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, r := range keys {
		if len(r) != 1 {
			t.Fatalf("row %v: want the key column alone", r)
		}
		seen[r["k"].(int64)] = true
	}
	if len(keys) != 7777 || len(seen) != 7777 {
		t.Errorf("%d rows, %d distinct, want 7777 of each", len(keys), len(seen))
	}
}

func TestExchangeFusesPrecedingMaps(t *testing.T) {
	e := setup(t)
	d := dataset.Range(1000, e.par(4)...).Where(dataset.Col("id").Lt(500)).Repartition(3, dataset.Shuffle(true))
	if !strings.Contains(d.Explain(), "Where(id < 500)->Repartition(3, shuffle") {
		t.Errorf("the filter is not fused into the exchange's map:\n%s", d.Explain())
	}
	sum, err := d.Sum(e.ctx, "id")
	if err != nil || sum.Int64() != 499*500/2 {
		t.Errorf("sum %v, %v", sum, err)
	}
	agg, err := dataset.Range(1000, e.par(4)...).Where(dataset.Col("id").Ge(10)).Aggregate(dataset.CountRows()).TakeAll(e.ctx)
	if err != nil || agg[0]["count()"] != int64(990) {
		t.Errorf("global aggregate after a filter: %v, %v", agg, err)
	}
}

// smallStore is a runtime with a 2 MiB object store, so that the 8 MiB
// inputs of the out-of-core tests are 4x its budget and must spill; leaks
// are checked when the test ends.
func smallStore(t *testing.T) *exec.Local {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rt := exec.NewLocal(exec.WithAllocator(mem), exec.WithWorkers(2), exec.WithObjectStoreMemory(2<<20), exec.WithSpillDir(t.TempDir()))
	t.Cleanup(func() {
		rt.Close()
		mem.AssertSize(t, 0)
	})
	return rt
}
