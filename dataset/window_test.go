package dataset_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
)

// windowIDs consumes a pipeline and returns each window's ids.
func windowIDs(t *testing.T, e *testEnv, p *dataset.Pipeline) (ids [][]int64, epochs []int) {
	t.Helper()
	for w, err := range p.Iter(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if w.Index != len(ids) {
			t.Fatalf("window %d came as number %d", w.Index, len(ids))
		}
		ids = append(ids, takeIDs(t, e, w.Dataset))
		epochs = append(epochs, w.Epoch)
	}
	return ids, epochs
}

func TestWindowCutsBlocksInOrder(t *testing.T) {
	e := setupGC(t)
	ids, _ := windowIDs(t, e, dataset.Range(1000, e.par(20)...).Window(6))
	if len(ids) != 4 {
		t.Fatalf("%d windows of 6 blocks from 20 blocks, want 4", len(ids))
	}
	for i, w := range ids {
		want := 300
		if i == 3 {
			want = 100
		}
		if len(w) != want {
			t.Errorf("window %d has %d rows, want %d", i, len(w), want)
		}
	}
	equalInts(t, "all windows", slices.Concat(ids...), seq(0, 1000))
}

func TestWindowShuffleEachWindowAndEpoch(t *testing.T) {
	e := setupGC(t)
	p := dataset.Range(2000, e.par(20)...).Window(5).RandomShuffleEachWindow(7).Repeat(3)
	ids, epochs := windowIDs(t, e, p)
	if len(ids) != 12 {
		t.Fatalf("%d windows, want 4 per epoch for 3 epochs", len(ids))
	}
	for i, w := range ids {
		if epochs[i] != i/4 {
			t.Errorf("window %d is in epoch %d, want %d", i, epochs[i], i/4)
		}
		// A window shuffles only its own rows: 500 consecutive ids.
		lo := int64(i%4) * 500
		sorted := slices.Sorted(slices.Values(w))
		equalInts(t, "window rows", sorted, seq(lo, lo+500))
		if slices.Equal(w, sorted) {
			t.Errorf("window %d is not shuffled", i)
		}
	}
	for k := 1; k < 3; k++ {
		if slices.Equal(slices.Concat(ids[4*k:4*k+4]...), slices.Concat(ids[:4]...)) {
			t.Errorf("epoch %d has the same order as epoch 0", k)
		}
	}
	again, _ := windowIDs(t, e, p)
	for i := range ids {
		if !slices.Equal(ids[i], again[i]) {
			t.Fatalf("window %d differs between two runs with the same seed", i)
		}
	}
}

// TestWindowStagesOverlapConsumer checks that window i+1's stage runs while
// the consumer still works on window i.
func TestWindowStagesOverlapConsumer(t *testing.T) {
	e := setupGC(t)
	var mu sync.Mutex
	stageStart := map[int]time.Time{}
	consumed := map[int]time.Time{}
	p := dataset.Range(800, e.par(8)...).Window(2).ForEachWindow(func(w dataset.Window) *dataset.Dataset {
		return w.MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			mu.Lock()
			if _, ok := stageStart[w.Index]; !ok {
				stageStart[w.Index] = time.Now()
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			return b, nil // the input itself: Shoal takes its own reference
		})
	})
	rows := 0
	for b, err := range p.IterBatches(e.ctx, 100) {
		if err != nil {
			t.Fatal(err)
		}
		rows += int(b.NumRows())
		ids, _ := blocks.Values[int64](b.Column(0))
		time.Sleep(10 * time.Millisecond) // the consumer's work
		mu.Lock()
		consumed[int(ids[0]/200)] = time.Now() // the window's last batch wins
		mu.Unlock()
	}
	if rows != 800 {
		t.Fatalf("%d rows, want 800", rows)
	}
	overlaps := 0
	for i := range 3 {
		if stageStart[i+1].Before(consumed[i]) {
			overlaps++
		}
	}
	if overlaps == 0 {
		t.Errorf("no window's stage started before the consumer finished the window before it: %v / %v", stageStart, consumed)
	}
}

func TestWindowErrorsAndEarlyStop(t *testing.T) {
	e := setupGC(t)
	for _, err := range dataset.Range(10, e.opt()).Window(0).Iter(e.ctx) {
		if err == nil || !strings.Contains(err.Error(), "positive") {
			t.Errorf("Window(0): %v", err)
		}
	}
	boom := errors.New("boom")
	var got error
	for _, err := range dataset.Range(100, e.par(10)...).Window(2).ForEachWindow(func(w dataset.Window) *dataset.Dataset {
		if w.Index == 2 {
			return w.Filter(func(dataset.Row) (bool, error) { return false, boom })
		}
		return w.Dataset
	}).Iter(e.ctx) {
		if err != nil {
			got = err
		}
	}
	if !errors.Is(got, boom) || !strings.Contains(got.Error(), "window 2") {
		t.Errorf("stage error %v, want boom naming window 2", got)
	}
	n := 0
	for _, err := range dataset.Range(1000, e.par(20)...).Window(2).MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		return b, nil
	}).Iter(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break // the producer must stop and release what it holds
		}
	}
}
