package dataset_test

import (
	"context"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/dataset"
)

// batchIDs appends the "id" column of b to dst.
func batchIDs(dst []int64, b arrow.RecordBatch) []int64 {
	idx := b.Schema().FieldIndices("id")[0]
	return append(dst, b.Column(idx).(*array.Int64).Int64Values()...)
}

// epochOrders runs e's IterBatches and returns each epoch's ids in order.
func epochOrders(t *testing.T, ctx context.Context, e *dataset.Epochs) [][]int64 {
	t.Helper()
	var out [][]int64
	for eb, err := range e.IterBatches(ctx, 7) {
		if err != nil {
			t.Fatal(err)
		}
		for len(out) <= eb.Epoch {
			out = append(out, nil)
		}
		if eb.Epoch != len(out)-1 {
			t.Fatalf("epoch %d after epoch %d", eb.Epoch, len(out)-1)
		}
		out[eb.Epoch] = batchIDs(out[eb.Epoch], eb.Batch)
	}
	return out
}

func TestRepeatEpochs(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(4)...)
	orders := epochOrders(t, e.ctx, ds.Repeat(3))
	if len(orders) != 3 {
		t.Fatalf("got %d epochs, want 3", len(orders))
	}
	for k, o := range orders {
		if !slices.Equal(o, seq(0, 100)) {
			t.Errorf("epoch %d: %v", k, o)
		}
	}
	n := 0
	for ep, err := range ds.Repeat(4).Iter(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if ep.Epoch != n {
			t.Errorf("epoch %d, want %d", ep.Epoch, n)
		}
		if c := must(ep.Count(e.ctx))(t); c != 100 {
			t.Errorf("epoch %d: %d rows", n, c)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d epochs, want 4", n)
	}
}

func TestRandomShuffleEachEpoch(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(500, e.par(5)...)
	a := epochOrders(t, e.ctx, ds.Repeat(3).RandomShuffleEachEpoch(42))
	b := epochOrders(t, e.ctx, ds.Repeat(3).RandomShuffleEachEpoch(42))
	if len(a) != 3 {
		t.Fatalf("got %d epochs, want 3", len(a))
	}
	for k := range a {
		if !slices.Equal(a[k], b[k]) {
			t.Errorf("epoch %d differs between runs with the same seed", k)
		}
		if slices.Equal(a[k], seq(0, 500)) {
			t.Errorf("epoch %d is not shuffled", k)
		}
		sorted := slices.Sorted(slices.Values(a[k]))
		if !slices.Equal(sorted, seq(0, 500)) {
			t.Errorf("epoch %d does not hold every row once", k)
		}
		for j := range k {
			if slices.Equal(a[j], a[k]) {
				t.Errorf("epochs %d and %d have the same order", j, k)
			}
		}
	}
}

func TestRepeatErrors(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(10, e.par(2)...)
	for _, n := range []int{0, -1} {
		for _, err := range ds.Repeat(n).IterBatches(e.ctx, 5) {
			if err == nil {
				t.Fatalf("Repeat(%d): no error", n)
			}
			break
		}
	}
	for _, err := range ds.Repeat(2).IterBatches(e.ctx, -1) {
		if err == nil {
			t.Fatal("negative batch size: no error")
		}
		break
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	var got error
	for _, err := range ds.Repeat(2).Iter(ctx) {
		got = err
	}
	if got == nil {
		t.Error("cancelled context: no error")
	}
	// Breaking out stops at once.
	count := 0
	for _, err := range ds.Repeat(5).RandomShuffleEachEpoch(1).IterBatches(e.ctx, 3) {
		if err != nil {
			t.Fatal(err)
		}
		count++
		if count == 2 {
			break
		}
	}
}
