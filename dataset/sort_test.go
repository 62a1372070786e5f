package dataset_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/internal/watchdog"
)

// refCompare orders two values of a column as Sort promises: nulls last
// in both directions, NaN above every other float.
func refCompare(a, b any, desc bool) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return 1
		}
		return -1
	}
	var c int
	switch x := a.(type) {
	case int64:
		c = cmp.Compare(x, b.(int64))
	case float64:
		y := b.(float64)
		switch {
		case math.IsNaN(x) && math.IsNaN(y):
			c = 0
		case math.IsNaN(x):
			c = 1
		case math.IsNaN(y):
			c = -1
		default:
			c = cmp.Compare(x, y)
		}
	case string:
		c = strings.Compare(x, b.(string))
	}
	if desc {
		c = -c
	}
	return c
}

func randomSortItems(rng *rand.Rand, n int, skew bool) []dataset.Item {
	items := make([]dataset.Item, n)
	words := []string{"", "a", "ab", "abc", "b", "ba", "zz", "é"}
	for i := range items {
		var k any = int64(rng.IntN(20) - 10)
		if skew && rng.IntN(10) > 0 {
			k = int64(3)
		}
		if rng.IntN(8) == 0 {
			k = nil
		}
		var f any = rng.NormFloat64()
		switch rng.IntN(12) {
		case 0:
			f = math.NaN()
		case 1:
			f = nil
		case 2:
			f = math.Inf(-1)
		}
		var s any = words[rng.IntN(len(words))]
		if rng.IntN(10) == 0 {
			s = nil
		}
		items[i] = dataset.Item{"k": k, "f": f, "s": s, "row": int64(i)}
	}
	return items
}

// randomSortKeys picks one to three of randomSortItems' key columns, each
// ascending or descending at random.
func randomSortKeys(rng *rand.Rand) []dataset.SortKey {
	cols := []string{"k", "f", "s"}
	rng.Shuffle(len(cols), func(i, j int) { cols[i], cols[j] = cols[j], cols[i] })
	keys := make([]dataset.SortKey, 1+rng.IntN(3))
	for i := range keys {
		keys[i] = dataset.SortKey{Column: cols[i], Descending: rng.IntN(2) == 0}
	}
	return keys
}

// refSortItems is items sorted stably by keys, as Sort orders them.
func refSortItems(items []dataset.Item, keys []dataset.SortKey) []dataset.Item {
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(a, b dataset.Item) int {
		for _, k := range keys {
			if c := refCompare(a[k.Column], b[k.Column], k.Descending); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

// TestSortMatchesReference sorts random data over many seeds and compares
// with a stable in-memory sort of the same rows: for equal keys only the
// multiset of rows is checked, since a distributed sort is not stable.
func TestSortMatchesReference(t *testing.T) {
	e := setup(t)
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 1))
		n := rng.IntN(400)
		items := randomSortItems(rng, n, seed%5 == 0)
		keys := randomSortKeys(rng)
		want := refSortItems(items, keys)
		blocksN := 1 + rng.IntN(12)
		// Filtering some rows out first leaves uneven and empty blocks.
		d := dataset.FromItems(items, e.par(blocksN)...).Sort(keys...)
		if n == 0 {
			d = dataset.Range(0, e.opt()).Sort(dataset.Asc("id"))
		}
		got, err := d.TakeAll(e.ctx)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d rows, want %d", seed, len(got), len(want))
		}
		keyOf := func(it dataset.Item) string {
			var b strings.Builder
			for _, k := range keys {
				fmt.Fprintf(&b, "%v|", it[k.Column])
			}
			return b.String()
		}
		for i := range got {
			if keyOf(got[i]) != keyOf(want[i]) {
				t.Fatalf("seed %d (keys %v, %d blocks): row %d has key %s, want %s", seed, keys, blocksN, i, keyOf(got[i]), keyOf(want[i]))
			}
		}
		gotRows := make([]int64, len(got))
		for i, it := range got {
			gotRows[i] = it["row"].(int64)
		}
		slices.Sort(gotRows)
		for i, r := range gotRows {
			if r != int64(i) {
				t.Fatalf("seed %d: rows lost or duplicated", seed)
			}
		}
	}
}

func TestSortErrors(t *testing.T) {
	e := setup(t)
	if _, err := dataset.Range(10, e.opt()).Sort(dataset.Asc("nope")).Count(e.ctx); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := dataset.Range(10, e.opt()).Sort().Count(e.ctx); err == nil {
		t.Error("no keys: no error")
	}
	list := dataset.FromItems([]dataset.Item{{"l": []int64{1}}, {"l": []int64{0}}}, e.opt())
	if _, err := list.Sort(dataset.Asc("l")).TakeAll(e.ctx); err == nil || !strings.Contains(err.Error(), "unsupported type") {
		t.Errorf("list key: %v", err)
	}
}

func TestSortLargerThanTheStore(t *testing.T) {
	rt := smallStore(t)
	const n = 1 << 20 // 8 MiB of int64: 4x the store
	d := dataset.Range(n, dataset.WithRuntime(rt), dataset.WithParallelism(32)).RandomShuffle(3).Sort(dataset.Desc("id"))
	next := int64(n - 1)
	for r, err := range d.IterRows(watchdog.Context(t, context.Background(), hangLimit)) {
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Int64("id"); got != next {
			t.Fatalf("row %d is %d", n-1-next, got)
		}
		next--
	}
	if next != -1 {
		t.Fatalf("sorted output ended early at %d", next)
	}
	if st := rt.Stats(); st.SpilledTotal == 0 {
		t.Errorf("a sort of 4x the store spilled nothing: %v", st)
	}
}
