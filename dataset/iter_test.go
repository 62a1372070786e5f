package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/dataset"
)

// collectBatches iterates ds and returns each batch's row count and all ids.
func collectBatches(t *testing.T, e *testEnv, ds *dataset.Dataset, size int, opts ...dataset.IterOption) (sizes, ids []int64) {
	t.Helper()
	for b, err := range ds.IterBatches(e.ctx, size, opts...) {
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.NumRows())
		ids = append(ids, b.Column(0).(*array.Int64).Int64Values()...)
	}
	return sizes, ids
}

func iterErrors(ds *dataset.Dataset, ctx context.Context, size int, opts ...dataset.IterOption) (batches int, errs []error) {
	for b, err := range ds.IterBatches(ctx, size, opts...) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if b != nil {
			batches++
		}
	}
	return batches, errs
}

func TestIterBatchesDropLast(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(7)...) // blocks of 14, 14, 14, 15, 14, 14, 15
	cases := []struct {
		size  int
		sizes []int64
		rows  int64
	}{
		{30, []int64{30, 30, 30}, 90},
		{10, slices.Repeat([]int64{10}, 10), 100}, // nothing partial to drop
		{14, slices.Repeat([]int64{14}, 7), 98},
		{1000, nil, 0},
		{0, []int64{14, 14, 14, 15, 14, 14, 15}, 100}, // no effect on blocks as they are
	}
	for _, c := range cases {
		for _, k := range []int{0, 3} {
			t.Run(fmt.Sprintf("size=%d/prefetch=%d", c.size, k), func(t *testing.T) {
				sizes, ids := collectBatches(t, e, ds, c.size, dataset.DropLast(), dataset.Prefetch(k))
				equalInts(t, "batch sizes", sizes, c.sizes)
				equalInts(t, "rows", ids, seq(0, c.rows))
			})
		}
	}
}

func TestIterBatchesPrefetch(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(7)...)
	for _, k := range []int{1, 2, 8, 100} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			sizes, ids := collectBatches(t, e, ds, 30, dataset.Prefetch(k))
			equalInts(t, "batch sizes", sizes, []int64{30, 30, 30, 10})
			equalInts(t, "rows", ids, seq(0, 100))
			sizes, ids = collectBatches(t, e, ds, 0, dataset.Prefetch(k))
			equalInts(t, "blocks", sizes, []int64{14, 14, 14, 15, 14, 14, 15})
			equalInts(t, "rows", ids, seq(0, 100))
		})
	}
	t.Run("empty", func(t *testing.T) {
		if sizes, _ := collectBatches(t, e, dataset.Range(0, e.opt()), 5, dataset.Prefetch(2)); len(sizes) != 0 {
			t.Errorf("batches %v", sizes)
		}
	})
	t.Run("break early", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		for _, k := range []int{1, 4} {
			n := 0
			for b, err := range dataset.Range(10000, e.par(50)...).IterBatches(e.ctx, 7, dataset.Prefetch(k)) {
				if err != nil {
					t.Fatal(err)
				}
				if b.NumRows() != 7 || b.Column(0).(*array.Int64).Value(0) != int64(7*n) {
					t.Fatalf("batch %d: %d rows from %d", n, b.NumRows(), b.Column(0).(*array.Int64).Value(0))
				}
				n++
				if n == 3 {
					break
				}
			}
			if n != 3 {
				t.Errorf("prefetch %d: %d batches before break", k, n)
			}
		}
		// The runtime still works after the producer was stopped.
		equalInts(t, "next run", takeIDs(t, e, dataset.Range(3, e.opt())), seq(0, 3))
	})
	t.Run("retained batch outlives the loop", func(t *testing.T) {
		var ids []int64
		var kept []*array.Int64
		for b, err := range ds.IterBatches(e.ctx, 40, dataset.Prefetch(2)) {
			if err != nil {
				t.Fatal(err)
			}
			col := b.Column(0).(*array.Int64)
			col.Retain()
			kept = append(kept, col)
		}
		for _, c := range kept {
			ids = append(ids, c.Int64Values()...)
			c.Release()
		}
		equalInts(t, "kept rows", ids, seq(0, 100))
	})
	t.Run("UDF error", func(t *testing.T) {
		bad := ds.Map(func(r dataset.Row) (dataset.Item, error) {
			if idOf(r) == 50 {
				return nil, errors.New("boom")
			}
			return r.Item(), nil
		})
		_, errs := iterErrors(bad, e.ctx, 10, dataset.Prefetch(2))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "boom") {
			t.Errorf("errors %v, want one with boom", errs)
		}
	})
}

func TestIterBatchesCancel(t *testing.T) {
	e := setup(t)
	for _, opts := range [][]dataset.IterOption{nil, {dataset.Prefetch(1)}, {dataset.Prefetch(4)}, {dataset.Prefetch(2), dataset.LocalShuffleBuffer(20, 1)}} {
		t.Run(fmt.Sprint(len(opts)), func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			ctx, cancel := context.WithCancel(e.ctx)
			defer cancel()
			n := 0
			var errs []error
			for b, err := range dataset.Range(100000, e.par(200)...).IterBatches(ctx, 7, opts...) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if b.NumRows() == 0 {
					t.Errorf("empty batch")
				}
				n++
				if n == 3 {
					cancel()
				}
				if n > 1000 {
					t.Fatalf("still iterating after cancel: %d batches", n)
				}
			}
			if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
				t.Errorf("errors %v, want one context.Canceled", errs)
			}
		})
	}
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		n, errs := iterErrors(dataset.Range(100, e.opt()), ctx, 10, dataset.Prefetch(2))
		if n != 0 || len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Errorf("%d batches, errors %v", n, errs)
		}
	})
}

func TestIterBatchesLocalShuffle(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(1000, e.par(10)...) // blocks of 100
	run := func(t *testing.T, size int, opts ...dataset.IterOption) (sizes, ids []int64) {
		t.Helper()
		sizes, ids = collectBatches(t, e, ds, size, opts...)
		sorted := slices.Sorted(slices.Values(ids))
		if slices.Equal(ids, sorted) {
			t.Errorf("rows not shuffled: %v", abbrev(ids))
		}
		return sizes, ids
	}
	sizes, ids := run(t, 32, dataset.LocalShuffleBuffer(100, 1))
	equalInts(t, "batch sizes", sizes, append(slices.Repeat([]int64{32}, 31), 8))
	equalInts(t, "every row once", slices.Sorted(slices.Values(ids)), seq(0, 1000))
	// The first batch is drawn once 132 rows (buffer + batch) have arrived,
	// i.e. from the first two blocks.
	if m := slices.Max(ids[:32]); m >= 200 {
		t.Errorf("first batch has row %d, beyond the first two blocks", m)
	}
	t.Run("deterministic", func(t *testing.T) {
		_, again := run(t, 32, dataset.LocalShuffleBuffer(100, 1))
		equalInts(t, "same seed", again, ids)
		_, pre := run(t, 32, dataset.LocalShuffleBuffer(100, 1), dataset.Prefetch(3))
		equalInts(t, "same seed with prefetch", pre, ids)
		_, other := run(t, 32, dataset.LocalShuffleBuffer(100, 2))
		if slices.Equal(other, ids) {
			t.Errorf("seeds 1 and 2 give the same order")
		}
	})
	t.Run("drop last", func(t *testing.T) {
		sizes, got := run(t, 32, dataset.LocalShuffleBuffer(100, 1), dataset.DropLast())
		equalInts(t, "batch sizes", sizes, slices.Repeat([]int64{32}, 31))
		if len(slices.Compact(slices.Sorted(slices.Values(got)))) != 992 {
			t.Errorf("rows repeat")
		}
	})
	t.Run("buffer larger than the data", func(t *testing.T) {
		sizes, got := run(t, 300, dataset.LocalShuffleBuffer(5000, 9))
		equalInts(t, "batch sizes", sizes, []int64{300, 300, 300, 100})
		equalInts(t, "every row once", slices.Sorted(slices.Values(got)), seq(0, 1000))
	})
	t.Run("zero buffer", func(t *testing.T) {
		sizes, got := run(t, 50, dataset.LocalShuffleBuffer(0, 3))
		equalInts(t, "batch sizes", sizes, slices.Repeat([]int64{50}, 20))
		equalInts(t, "every row once", slices.Sorted(slices.Values(got)), seq(0, 1000))
	})
	t.Run("break", func(t *testing.T) {
		for range ds.IterBatches(e.ctx, 10, dataset.LocalShuffleBuffer(100, 1), dataset.Prefetch(2)) {
			break
		}
	})
}

func TestIterBatchesOptionErrors(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(10, e.opt())
	cases := []struct {
		size int
		opts []dataset.IterOption
		want string
	}{
		{-1, nil, "dataset.IterBatches: negative batch size -1"},
		{5, []dataset.IterOption{dataset.Prefetch(-1)}, "dataset.IterBatches: negative prefetch -1"},
		{5, []dataset.IterOption{dataset.LocalShuffleBuffer(-2, 0)}, "dataset.IterBatches: negative local shuffle buffer size -2"},
		{0, []dataset.IterOption{dataset.LocalShuffleBuffer(10, 0)}, "dataset.IterBatches: LocalShuffleBuffer needs a positive batch size"},
	}
	for _, c := range cases {
		n, errs := iterErrors(ds, e.ctx, c.size, c.opts...)
		if n != 0 || len(errs) != 1 || errs[0].Error() != c.want {
			t.Errorf("%d batches, errors %v, want %q", n, errs, c.want)
		}
	}
}

func TestIterMatrixBatches(t *testing.T) {
	e := setup(t)
	items := make([]dataset.Item, 5)
	for i := range items {
		items[i] = dataset.Item{"id": int64(i), "f": float64(i) / 2, "b": i%2 == 0, "y": float64(10 * i), "s": "x"}
	}
	ds := dataset.FromItems(items, e.par(2)...)
	var xs [][]float64
	var ys []float64
	var rows []int
	for mb, err := range ds.IterMatrixBatches(e.ctx, 2, []string{"f", "id", "b"}, "y") {
		if err != nil {
			t.Fatal(err)
		}
		r, c := mb.X.Dims()
		if c != 3 || len(mb.Y) != r {
			t.Fatalf("X is %dx%d, Y has %d", r, c, len(mb.Y))
		}
		rows = append(rows, r)
		for i := range r {
			xs = append(xs, slices.Clone(mb.X.RawRowView(i)))
		}
		ys = append(ys, mb.Y...)
	}
	if !slices.Equal(rows, []int{2, 2, 1}) {
		t.Errorf("batch rows %v, want [2 2 1]", rows)
	}
	want := [][]float64{{0, 0, 1}, {0.5, 1, 0}, {1, 2, 1}, {1.5, 3, 0}, {2, 4, 1}}
	if !slices.EqualFunc(xs, want, slices.Equal) {
		t.Errorf("X rows %v, want %v", xs, want)
	}
	if !slices.Equal(ys, []float64{0, 10, 20, 30, 40}) {
		t.Errorf("Y %v", ys)
	}

	t.Run("no label, options", func(t *testing.T) {
		var ids []float64
		for mb, err := range ds.IterMatrixBatches(e.ctx, 2, []string{"id"}, "", dataset.DropLast(), dataset.Prefetch(1)) {
			if err != nil {
				t.Fatal(err)
			}
			if mb.Y != nil {
				t.Errorf("Y = %v, want nil", mb.Y)
			}
			ids = append(ids, mb.X.RawMatrix().Data...)
		}
		if !slices.Equal(ids, []float64{0, 1, 2, 3}) {
			t.Errorf("ids %v", ids)
		}
	})
	t.Run("shuffled rows stay whole", func(t *testing.T) {
		n := 0
		for mb, err := range ds.IterMatrixBatches(e.ctx, 2, []string{"id", "f"}, "y", dataset.LocalShuffleBuffer(2, 5)) {
			if err != nil {
				t.Fatal(err)
			}
			for i := range len(mb.Y) {
				id := mb.X.At(i, 0)
				if mb.X.At(i, 1) != id/2 || mb.Y[i] != 10*id {
					t.Errorf("row %v / %v mixes rows", mb.X.RawRowView(i), mb.Y[i])
				}
				n++
			}
		}
		if n != 5 {
			t.Errorf("%d rows", n)
		}
	})
	errOf := func(ds *dataset.Dataset, features []string, label string) error {
		var errs []error
		for _, err := range ds.IterMatrixBatches(e.ctx, 2, features, label) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) != 1 {
			t.Fatalf("errors %v, want one", errs)
		}
		return errs[0]
	}
	nulls := dataset.FromItems([]dataset.Item{{"a": 1.0, "y": 1.0}, {"a": 2.0, "y": 2.0}, {"a": 3.0, "y": nil}, {"a": nil, "y": 4.0}}, e.par(2)...)
	for _, c := range []struct {
		ds       *dataset.Dataset
		features []string
		label    string
		want     string
	}{
		{nulls, []string{"a"}, "", `dataset.IterMatrixBatches: column "a" is null at row 3`},
		{nulls.Limit(3), []string{"a"}, "y", `dataset.IterMatrixBatches: column "y" is null at row 2`},
		{ds, []string{"s"}, "", `dataset.IterMatrixBatches: column "s" has type utf8, not a number`},
		{ds, []string{"nope"}, "", `nope`},
		{ds, []string{"id"}, "nope", `nope`},
		{ds, nil, "y", `dataset.IterMatrixBatches: no feature columns`},
	} {
		err := errOf(c.ds, c.features, c.label)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("features %v label %q: error %q, want %q", c.features, c.label, err, c.want)
		}
	}
	if err := errOf(ds.Limit(-1), []string{"id"}, ""); !strings.Contains(err.Error(), "negative") {
		t.Errorf("plan error %v", err)
	}
	// A NaN in the data is a value, not a null.
	nan := dataset.FromItems([]dataset.Item{{"a": math.NaN()}}, e.opt())
	for mb, err := range nan.IterMatrixBatches(e.ctx, 1, []string{"a"}, "") {
		if err != nil || !math.IsNaN(mb.X.At(0, 0)) {
			t.Errorf("NaN row: %v, %v", mb.X, err)
		}
	}
}
