package dataset_test

import (
	"context"
	"errors"
	"slices"
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
		// A shard iterates once.
		for _, err := range shards[0].IterBatches(e.ctx, 16) {
			if err == nil {
				t.Error("second iteration: no error")
			}
			break
		}
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
