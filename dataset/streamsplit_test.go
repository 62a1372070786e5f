package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-data/shoal/dataset"
)

// consumeShards iterates every shard on its own goroutine; body, when not
// nil, says whether to go on after each batch. It returns each shard's ids
// and error.
func consumeShards(ctx context.Context, shards []*dataset.Shard, size int, body func(k, batches int) bool) ([][]int64, []error) {
	ids := make([][]int64, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for k, sh := range shards {
		wg.Go(func() {
			n := 0
			for b, err := range sh.IterBatches(ctx, size) {
				if err != nil {
					errs[k] = err
					return
				}
				ids[k] = batchIDs(ids[k], b)
				n++
				if body != nil && !body(k, n) {
					return
				}
			}
		})
	}
	wg.Wait()
	return ids, errs
}

func TestStreamingSplit(t *testing.T) {
	for _, equal := range []bool{false, true} {
		e := setup(t)
		ds := dataset.Range(1003, e.par(10)...)
		shards := must(ds.StreamingSplit(3, dataset.Equal(equal)))(t)
		ids, errs := consumeShards(e.ctx, shards, 16, nil)
		var all []int64
		for k := range shards {
			if errs[k] != nil {
				t.Fatalf("equal=%v shard %d: %v", equal, k, errs[k])
			}
			if len(ids[k]) == 0 {
				t.Errorf("equal=%v shard %d is empty", equal, k)
			}
			if equal && (len(ids[k]) < 334 || len(ids[k]) > 335) {
				t.Errorf("equal shard %d has %d rows, want 334 or 335", k, len(ids[k]))
			}
			all = append(all, ids[k]...)
		}
		slices.Sort(all)
		if !slices.Equal(all, seq(0, 1003)) {
			t.Errorf("equal=%v: shards are not a partition of the rows (%d rows)", equal, len(all))
		}
	}
}

// TestStreamingSplitEpochs: 4 workers each loop over their shard for 3
// epochs, as a training loop does; every epoch gives every row exactly
// once across the shards, equal shards the same counts, and with
// SplitShuffle each epoch another order. A worker that breaks out of
// epoch 1 early detaches for that epoch only.
func TestStreamingSplitEpochs(t *testing.T) {
	e := setup(t)
	const rows, n, epochs = 2000, 4, 3
	ds := dataset.Range(rows, e.par(20)...)
	for _, shuffle := range []bool{false, true} {
		opts := []dataset.SplitOption{dataset.Equal(true)}
		if shuffle {
			opts = append(opts, dataset.SplitShuffle(7))
		}
		shards := must(ds.StreamingSplit(n, opts...))(t)
		got := make([][][]int64, epochs) // epoch, shard: ids in order
		for ep := range got {
			got[ep] = make([][]int64, n)
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for k, sh := range shards {
			wg.Go(func() {
				for ep := range epochs {
					if sh.Epochs() != ep {
						errs[k] = fmt.Errorf("shard %d: Epochs() = %d before epoch %d", k, sh.Epochs(), ep)
						return
					}
					for b, err := range sh.IterBatches(e.ctx, 32) {
						if err != nil {
							errs[k] = err
							return
						}
						got[ep][k] = batchIDs(got[ep][k], b)
						if ep == 1 && k == 3 && len(got[ep][k]) >= 64 {
							break // leaves epoch 1 early
						}
					}
				}
			})
		}
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Fatalf("shuffle=%v shard %d: %v", shuffle, k, err)
			}
		}
		for ep := range epochs {
			var all []int64
			for k := range n {
				if ep == 1 && k == 3 {
					if len(got[ep][k]) != 64 {
						t.Errorf("the worker leaving epoch 1 read %d rows, want 64", len(got[ep][k]))
					}
					continue
				}
				if len(got[ep][k]) != rows/n {
					t.Errorf("shuffle=%v epoch %d shard %d: %d rows, want %d", shuffle, ep, k, len(got[ep][k]), rows/n)
				}
				all = append(all, got[ep][k]...)
			}
			if ep == 1 {
				continue
			}
			slices.Sort(all)
			equalInts(t, fmt.Sprintf("shuffle=%v epoch %d", shuffle, ep), all, seq(0, rows))
		}
		if same := slices.Equal(got[0][0], got[2][0]); same == shuffle {
			t.Errorf("shuffle=%v: epochs 0 and 2 of shard 0 in the same order: %v", shuffle, same)
		}
	}
}

// TestStreamingSplitEpochWaitsForAll: a shard that begins epoch 1 while
// another is still in epoch 0 waits for it; its context ends the wait.
func TestStreamingSplitEpochWaitsForAll(t *testing.T) {
	e := setup(t)
	shards := must(dataset.Range(100, e.par(2)...).StreamingSplit(2))(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range shards[0].IterBatches(e.ctx, 10) {
		}
	})
	for range shards[1].IterBatches(e.ctx, 10) {
	}
	wg.Wait()
	// Epoch 1: shard 0 begins it, shard 1 never does.
	ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	defer cancel()
	var err error
	for _, e := range shards[0].IterBatches(ctx, 10) {
		err = e
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for the other shards to begin epoch 1") {
		t.Errorf("waiting alone for epoch 1: %v", err)
	}
	// Shard 1 begins epoch 1 now: the epoch was stopped by shard 0's
	// context, so it says so instead of waiting for a partner.
	for _, e := range shards[1].IterBatches(e.ctx, 10) {
		err = e
	}
	if err == nil || !strings.Contains(err.Error(), "split stopped") {
		t.Errorf("epoch 1 after its other shard gave up: %v", err)
	}
}

func TestStreamingSplitEarlyBreak(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(5000, e.par(50)...)
	shards := must(ds.StreamingSplit(4))(t)
	ids, errs := consumeShards(e.ctx, shards, 10, func(k, n int) bool { return k != 0 || n < 2 })
	for k := range shards {
		if errs[k] != nil {
			t.Fatalf("shard %d: %v", k, errs[k])
		}
	}
	if len(ids[0]) != 20 {
		t.Errorf("the breaking shard read %d rows, want 20", len(ids[0]))
	}
	var rest int
	for _, s := range ids[1:] {
		rest += len(s)
	}
	if rest != 3700 { // 50 blocks of 100 rows dealt round-robin: 37 to the others
		t.Errorf("other shards read %d rows, want 3700", rest)
	}
	// Every shard breaking at once ends the run.
	shards = must(ds.StreamingSplit(3))(t)
	_, errs = consumeShards(e.ctx, shards, 10, func(int, int) bool { return false })
	for k, err := range errs {
		if err != nil {
			t.Errorf("shard %d: %v", k, err)
		}
	}
}

func TestStreamingSplitCancel(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(5000, e.par(50)...)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	shards := must(ds.StreamingSplit(3))(t)
	_, errs := consumeShards(ctx, shards, 10, func(k, n int) bool {
		if k == 1 && n == 3 {
			cancel()
		}
		return true
	})
	for k, err := range errs {
		if err == nil {
			t.Errorf("shard %d: no error after cancel", k)
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("shard %d: %v, want context.Canceled", k, err)
		}
	}
	// One consumer's own context cancelled stops the others too.
	shards = must(ds.StreamingSplit(2))(t)
	own, cancelOwn := context.WithCancel(e.ctx)
	defer cancelOwn()
	var wg sync.WaitGroup
	errs = make([]error, 2)
	for k, sh := range shards {
		c := e.ctx
		if k == 0 {
			c = own
		}
		wg.Go(func() {
			n := 0
			for _, err := range sh.IterBatches(c, 10) {
				if err != nil {
					errs[k] = err
					return
				}
				if n++; k == 0 && n == 2 {
					cancelOwn()
				}
			}
		})
	}
	wg.Wait()
	for k, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("shard %d: %v, want context.Canceled", k, err)
		}
	}
}

func TestStreamingSplitErrors(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(10, e.par(2)...)
	for _, n := range []int{0, -2} {
		if _, err := ds.StreamingSplit(n); err == nil {
			t.Errorf("StreamingSplit(%d): no error", n)
		}
	}
	if _, err := ds.Sort().StreamingSplit(2); err == nil {
		t.Error("plan error: no error")
	}
	shards := must(ds.StreamingSplit(1))(t)
	for _, err := range shards[0].IterBatches(e.ctx, -1) {
		if err == nil {
			t.Error("negative batch size: no error")
		}
	}
}

// TestStreamingSplitSlowConsumer: one trainer much slower than the others
// holds everyone back (a full queue stops the producer), but nothing
// deadlocks and every row still reaches exactly one shard, with the slow
// shard getting its full share.
func TestStreamingSplitSlowConsumer(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(4000, e.par(40)...)
	shards := must(ds.StreamingSplit(4, dataset.Equal(true)))(t)
	ids, errs := consumeShards(e.ctx, shards, 50, func(k, n int) bool {
		if k == 2 {
			time.Sleep(2 * time.Millisecond)
		}
		return true
	})
	var all []int64
	for k := range shards {
		if errs[k] != nil {
			t.Fatalf("shard %d: %v", k, errs[k])
		}
		if len(ids[k]) != 1000 {
			t.Errorf("shard %d read %d rows, want its equal share of 1000", k, len(ids[k]))
		}
		all = append(all, ids[k]...)
	}
	slices.Sort(all)
	equalInts(t, "all shards", all, seq(0, 4000))
}

// TestStreamingSplitFixedEpochs: with SplitEpochs(k) each worker loops
// while More, gets every row once per epoch in each of k epochs, and an
// iteration past the last fails saying why.
func TestStreamingSplitFixedEpochs(t *testing.T) {
	e := setup(t)
	const rows, n, epochs = 600, 2, 3
	shards := must(dataset.Range(rows, e.par(6)...).StreamingSplit(n, dataset.Equal(true), dataset.SplitEpochs(epochs)))(t)
	counts := make([][]int, n) // shard, epoch: rows read
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k, sh := range shards {
		wg.Go(func() {
			for sh.More() {
				counts[k] = append(counts[k], 0)
				for b, err := range sh.IterBatches(e.ctx, 50) {
					if err != nil {
						errs[k] = err
						return
					}
					counts[k][len(counts[k])-1] += int(b.NumRows())
				}
			}
			for _, err := range sh.IterBatches(e.ctx, 50) {
				if err == nil || !strings.Contains(err.Error(), "has iterated its 3 epochs") {
					errs[k] = fmt.Errorf("an iteration past the last epoch: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for k := range n {
		if errs[k] != nil {
			t.Fatalf("shard %d: %v", k, errs[k])
		}
		if fmt.Sprint(counts[k]) != "[300 300 300]" {
			t.Fatalf("shard %d read %v rows per epoch, want 300 in each of 3", k, counts[k])
		}
	}
}
