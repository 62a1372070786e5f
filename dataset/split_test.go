package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoal-data/shoal/dataset"
)

// splitIDs returns each split's ids, in order.
func splitIDs(t *testing.T, e *testEnv, parts []*dataset.Dataset) [][]int64 {
	t.Helper()
	out := make([][]int64, len(parts))
	for i, p := range parts {
		out[i] = takeIDs(t, e, p)
	}
	return out
}

func equalSplits(t *testing.T, what string, got [][]int64, want [][]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d splits, want %d", what, len(got), len(want))
	}
	for i := range want {
		equalInts(t, fmt.Sprintf("%s: split %d", what, i), got[i], want[i])
	}
}

func TestSplit(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(7)...) // blocks [0,14) [14,28) [28,42) [42,57) [57,71) [71,85) [85,100)
	t.Run("block boundaries", func(t *testing.T) {
		parts := must(ds.Split(e.ctx, 3))(t)
		equalSplits(t, "Split(3)", splitIDs(t, e, parts), [][]int64{seq(0, 28), seq(28, 71), seq(71, 100)})
		for i, want := range []int{2, 3, 2} {
			if n := must(parts[i].NumBlocks(e.ctx))(t); n != want {
				t.Errorf("split %d has %d blocks, want %d", i, n, want)
			}
		}
		equalSplits(t, "Split(1)", splitIDs(t, e, must(ds.Split(e.ctx, 1))(t)), [][]int64{seq(0, 100)})
		// More splits than blocks: some are empty.
		one := dataset.Range(5, e.par(5)...)
		equalSplits(t, "Split(10) of 5 blocks", splitIDs(t, e, must(one.Split(e.ctx, 10))(t)),
			[][]int64{{}, {0}, {}, {1}, {}, {2}, {}, {3}, {}, {4}})
	})
	t.Run("equal", func(t *testing.T) {
		parts := must(ds.Split(e.ctx, 3, dataset.Equal(true)))(t)
		equalSplits(t, "Split(3, Equal)", splitIDs(t, e, parts), [][]int64{seq(0, 34), seq(34, 67), seq(67, 100)})
		for i, want := range []int64{34, 33, 33} {
			if n := must(parts[i].Count(e.ctx))(t); n != want {
				t.Errorf("split %d Count = %d, want %d", i, n, want)
			}
		}
		small := dataset.Range(10, e.par(3)...) // blocks of 3, 3, 4
		parts = must(small.Split(e.ctx, 4, dataset.Equal(true)))(t)
		equalSplits(t, "Split(4, Equal) of 10", splitIDs(t, e, parts), [][]int64{{0, 1, 2}, {3, 4, 5}, {6, 7}, {8, 9}})
		equalSplits(t, "Split(5, Equal) of 3", splitIDs(t, e, must(dataset.Range(3, e.opt()).Split(e.ctx, 5, dataset.Equal(true)))(t)),
			[][]int64{{0}, {1}, {2}, {}, {}})
		// Splits of an empty dataset keep the schema.
		empty := must(dataset.Range(0, e.opt()).Split(e.ctx, 2, dataset.Equal(true)))(t)
		if s := must(empty[1].Schema(e.ctx))(t); !slices.Equal(schemaNames(s), []string{"id"}) {
			t.Errorf("empty split schema %v", s)
		}
	})
	t.Run("shuffle", func(t *testing.T) {
		a := splitIDs(t, e, must(ds.Split(e.ctx, 2, dataset.Equal(true), dataset.SplitShuffle(4)))(t))
		b := splitIDs(t, e, must(ds.Split(e.ctx, 2, dataset.Equal(true), dataset.SplitShuffle(4)))(t))
		equalSplits(t, "same seed", a, b)
		if len(a[0]) != 50 || len(a[1]) != 50 {
			t.Fatalf("split sizes %d, %d", len(a[0]), len(a[1]))
		}
		equalInts(t, "every row once", slices.Sorted(slices.Values(slices.Concat(a...))), seq(0, 100))
		if slices.Equal(a[0], seq(0, 50)) {
			t.Errorf("not shuffled")
		}
	})
}

func TestSplitsAreMaterialized(t *testing.T) {
	e := setup(t)
	var calls atomic.Int64
	ds := dataset.Range(100, e.par(7)...).Map(func(r dataset.Row) (dataset.Item, error) {
		calls.Add(1)
		return r.Item(), nil
	})
	func() {
		parts := must(ds.Split(e.ctx, 3, dataset.Equal(true)))(t)
		for range 2 {
			equalSplits(t, "splits", splitIDs(t, e, parts), [][]int64{seq(0, 34), seq(34, 67), seq(67, 100)})
		}
		if c := calls.Load(); c != 100 {
			t.Errorf("UDF ran %d times, want 100 (once per row, at the split)", c)
		}
		// Each split is a dataset of its own: it transforms and consumes alone.
		doubled := parts[1].Map(func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"id": 2 * idOf(r)}, nil })
		equalInts(t, "doubled", takeIDs(t, e, doubled.Limit(2)), []int64{68, 70})
	}()
	// The stored blocks (the sliced ones included) go with the splits.
	waitFreed(e.mem)
	if st := e.rt.Stats(); st.Objects != 0 {
		t.Errorf("store holds %d objects after the splits were collected", st.Objects)
	}
}

func TestSplitAt(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(7)...)
	parts := must(ds.SplitAt(e.ctx, 10, 10, 50, 100))(t)
	equalSplits(t, "SplitAt(10, 10, 50, 100)", splitIDs(t, e, parts), [][]int64{seq(0, 10), {}, seq(10, 50), seq(50, 100), {}})
	equalSplits(t, "SplitAt(0)", splitIDs(t, e, must(ds.SplitAt(e.ctx, 0))(t)), [][]int64{{}, seq(0, 100)})
	equalSplits(t, "SplitAt()", splitIDs(t, e, must(ds.SplitAt(e.ctx))(t)), [][]int64{seq(0, 100)})
	equalSplits(t, "SplitAt(14, 28)", splitIDs(t, e, must(ds.SplitAt(e.ctx, 14, 28))(t)), [][]int64{seq(0, 14), seq(14, 28), seq(28, 100)})
}

func TestSplitProportionately(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(7)...)
	equalSplits(t, "(0.1, 0.2)", splitIDs(t, e, must(ds.SplitProportionately(e.ctx, 0.1, 0.2))(t)),
		[][]int64{seq(0, 10), seq(10, 30), seq(30, 100)})
	// 100 × 0.29 is 28.999999999999996 in floating point; the cut is at 29.
	equalSplits(t, "(0.29)", splitIDs(t, e, must(ds.SplitProportionately(e.ctx, 0.29))(t)),
		[][]int64{seq(0, 29), seq(29, 100)})
	equalSplits(t, "(0.5) of 5", splitIDs(t, e, must(dataset.Range(5, e.opt()).SplitProportionately(e.ctx, 0.5))(t)),
		[][]int64{{0, 1}, {2, 3, 4}})
}

func TestTrainTestSplit(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(7)...)
	train, test := must2(ds.TrainTestSplit(e.ctx, 0.25))(t)
	equalInts(t, "train", takeIDs(t, e, train), seq(0, 75))
	equalInts(t, "test", takeIDs(t, e, test), seq(75, 100))
	train, test = must2(ds.TrainTestSplit(e.ctx, 0.3))(t)
	equalInts(t, "train 0.7", takeIDs(t, e, train), seq(0, 70))
	equalInts(t, "test 0.3", takeIDs(t, e, test), seq(70, 100))

	t.Run("shuffled", func(t *testing.T) {
		tr1, te1 := must2(ds.TrainTestSplit(e.ctx, 0.2, dataset.SplitShuffle(11)))(t)
		tr2, te2 := must2(ds.TrainTestSplit(e.ctx, 0.2, dataset.SplitShuffle(11)))(t)
		a, b := takeIDs(t, e, tr1), takeIDs(t, e, te1)
		equalInts(t, "same seed train", takeIDs(t, e, tr2), a)
		equalInts(t, "same seed test", takeIDs(t, e, te2), b)
		if len(a) != 80 || len(b) != 20 {
			t.Fatalf("train %d rows, test %d", len(a), len(b))
		}
		equalInts(t, "every row once", slices.Sorted(slices.Values(append(a, b...))), seq(0, 100))
		if slices.Equal(b, seq(80, 100)) {
			t.Errorf("test set not shuffled")
		}
		_, te3 := must2(ds.TrainTestSplit(e.ctx, 0.2, dataset.SplitShuffle(12)))(t)
		if slices.Equal(takeIDs(t, e, te3), b) {
			t.Errorf("seeds 11 and 12 give the same test set")
		}
	})
}

func must2[A, B any](a A, b B, err error) func(testing.TB) (A, B) {
	return func(t testing.TB) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return a, b
	}
}

func TestSplitErrors(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(7)...)
	check := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", what, err, want)
		}
	}
	splitErr := func(_ []*dataset.Dataset, err error) error { return err }
	ttErr := func(_, _ *dataset.Dataset, err error) error { return err }
	check("Split(0)", splitErr(ds.Split(e.ctx, 0)), "dataset.Split: split count must be positive, got 0")
	check("Split(-2)", splitErr(ds.Split(e.ctx, -2, dataset.Equal(true))), "got -2")
	check("SplitAt(5, 3)", splitErr(ds.SplitAt(e.ctx, 5, 3)), "dataset.SplitAt: indices out of order: index 1 (3) is less than index 0 (5)")
	check("SplitAt(-1)", splitErr(ds.SplitAt(e.ctx, -1)), "dataset.SplitAt: index 0 is negative (-1)")
	check("SplitAt(50, 101)", splitErr(ds.SplitAt(e.ctx, 50, 101)), "dataset.SplitAt: index 1 (101) is out of range: the dataset has 100 rows")
	check("SplitProportionately()", splitErr(ds.SplitProportionately(e.ctx)), "dataset.SplitProportionately: no fractions")
	for _, f := range []float64{0, 1, -0.1, 1.5, math.NaN()} {
		check(fmt.Sprint("SplitProportionately ", f), splitErr(ds.SplitProportionately(e.ctx, 0.1, f)), "fraction 1 is")
	}
	check("sum 1", splitErr(ds.SplitProportionately(e.ctx, 0.5, 0.5)), "dataset.SplitProportionately: fractions sum to 1, want less than 1")
	check("sum > 1", splitErr(ds.SplitProportionately(e.ctx, 0.6, 0.7)), "want less than 1")
	for _, f := range []float64{0, 1, 1.5, -1, math.NaN()} {
		check(fmt.Sprint("TrainTestSplit ", f), ttErr(ds.TrainTestSplit(e.ctx, f)), "dataset.TrainTestSplit: test fraction is")
	}
	// Errors in the plan and cancellation come back from every split.
	bad := ds.Limit(-1)
	check("plan error", splitErr(bad.Split(e.ctx, 2)), "negative")
	check("plan error SplitAt", splitErr(bad.SplitAt(e.ctx, 1)), "negative")
	check("plan error SplitProportionately", splitErr(bad.SplitProportionately(e.ctx, 0.5)), "negative")
	check("plan error TrainTestSplit", ttErr(bad.TrainTestSplit(e.ctx, 0.5)), "negative")
	failing := ds.Map(func(r dataset.Row) (dataset.Item, error) {
		if idOf(r) == 60 {
			return nil, errors.New("boom")
		}
		return r.Item(), nil
	})
	check("UDF error", splitErr(failing.Split(e.ctx, 2, dataset.Equal(true))), "boom")
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := ds.Split(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Split: %v", err)
	}
	if _, _, err := ds.TrainTestSplit(ctx, 0.5, dataset.SplitShuffle(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled TrainTestSplit: %v", err)
	}
}
