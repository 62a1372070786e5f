package dataset_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/internal/watchdog"
)

// uniqueKey is the reference identity of a key value: floats compare as
// SQL GROUP BY does (every NaN one value, -0 equal to +0), nil is one value.
func uniqueKey(v any) string {
	if f, ok := v.(float64); ok {
		switch {
		case math.IsNaN(f):
			return "f:NaN"
		case f == 0:
			return "f:0"
		}
		return fmt.Sprintf("f:%v", f)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// TestUniqueMatchesReference: Unique over int, float (NaN, ±0, ±Inf) and
// string keys with nulls, skew (one key holding half the rows), empty and
// one-row inputs, over many block splits, equals the set a Go map gives.
func TestUniqueMatchesReference(t *testing.T) {
	e := setup(t)
	for seed := range uint64(36) {
		rng := rand.New(rand.NewPCG(seed, 15))
		n := []int{0, 1, 2, 50, 700, 5000}[seed%6]
		kind := seed % 3
		domain := 1 + rng.IntN(300)
		items := make([]dataset.Item, n)
		want := map[string]bool{}
		for i := range items {
			var v any
			k := rng.IntN(domain)
			if rng.IntN(2) == 0 {
				k = 0 // skew
			}
			switch kind {
			case 0:
				v = int64(k) - int64(domain/2)
			case 1:
				switch rng.IntN(12) {
				case 0:
					v = math.NaN()
				case 1:
					v = math.Copysign(0, -1)
				case 2:
					v = math.Inf(1 - 2*rng.IntN(2))
				default:
					v = float64(k) / 4
				}
			case 2:
				v = fmt.Sprintf("s%03d", k)
			}
			if rng.IntN(9) == 0 {
				v = nil
			}
			items[i] = dataset.Item{"k": v, "other": int64(i)}
			want[uniqueKey(v)] = true
		}
		d := dataset.FromItems(items, e.par(1+rng.IntN(9))...)
		if n == 0 {
			d = dataset.Range(0, e.opt()).WithColumn("k", dataset.Col("id"))
		}
		rows, err := d.Unique("k").TakeAll(e.ctx)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		got := map[string]bool{}
		for _, r := range rows {
			if len(r) != 1 {
				t.Fatalf("seed %d: row %v, want the key column alone", seed, r)
			}
			k := uniqueKey(r["k"])
			if got[k] {
				t.Fatalf("seed %d: key %s twice", seed, k)
			}
			got[k] = true
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d (kind %d, %d rows): %d distinct keys, want %d", seed, kind, n, len(got), len(want))
		}
		for k := range want {
			if !got[k] {
				t.Fatalf("seed %d: key %s missing", seed, k)
			}
		}
	}
}

// TestUniqueLargerThanTheStore finds the distinct keys of 8 MiB of keys in
// a 2 MiB store, so partial tables spill and are restored.
func TestUniqueLargerThanTheStore(t *testing.T) {
	rt := smallStore(t)
	const n = 1 << 20
	const distinct = 300_000
	d := dataset.Range(n, dataset.WithRuntime(rt), dataset.WithParallelism(32)).
		WithColumn("k", dataset.Col("id").Mul(7919).Mod(distinct)).Unique("k")
	seen := make([]bool, distinct)
	count := 0
	for r, err := range d.IterRows(watchdog.Context(t, context.Background(), hangLimit)) {
		if err != nil {
			t.Fatal(err)
		}
		k := r.Int64("k")
		if k < 0 || k >= distinct || seen[k] {
			t.Fatalf("key %d out of range or repeated", k)
		}
		seen[k] = true
		count++
	}
	if count != distinct {
		t.Errorf("%d distinct keys, want %d", count, distinct)
	}
	if st := rt.Stats(); st.SpilledTotal == 0 {
		t.Errorf("nothing spilled: %+v", st)
	}
}
