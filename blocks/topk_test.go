package blocks

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTopKProperties checks TopKIndices and TopK against the first k rows
// of the reference sort on random blocks (nulls, NaN, ±Inf, ties, mixed
// directions), for k from 0 to past the block's rows, so both the heap and
// the sorting path run.
func TestTopKProperties(t *testing.T) {
	mem := checkedMem(t)
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		b, refs, keys := randBlock(r, mem)
		n := int(b.NumRows())
		want := refSort(refs, keys)
		for _, k := range []int{0, 1, r.IntN(n/4 + 1), r.IntN(n + 1), n, n + 3} {
			got, err := TopKIndices(b, keys, k)
			if err != nil {
				t.Fatalf("seed %d k %d: %v", seed, k, err)
			}
			if w := want[:min(k, n)]; !slices.Equal(got, w) {
				t.Fatalf("seed %d k %d: TopKIndices\n got %v\nwant %v\n%s", seed, k, got, w, describeKeys(b, keys))
			}
		}
		k := r.IntN(n/4 + 1)
		top, err := TopK(mem, b, keys, k)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if ids := rowIDs(t, top); !slices.Equal(ids, want[:k]) {
			t.Fatalf("seed %d: TopK rows %v, want %v", seed, ids, want[:k])
		}
		top.Release()
		b.Release()
	}
}

func TestTopKErrors(t *testing.T) {
	mem := checkedMem(t)
	b := floatBlock(mem, []float64{1, 2}, nil)
	defer b.Release()
	if _, err := TopKIndices(b, []SortKey{{Column: "f"}}, -1); err == nil {
		t.Error("negative k: no error")
	}
	var unknown *UnknownColumnError
	if _, err := TopKIndices(b, []SortKey{{Column: "nope"}}, 1); !errors.As(err, &unknown) {
		t.Errorf("unknown column: error %v, want an UnknownColumnError", err)
	}
}
