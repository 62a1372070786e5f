package dataset_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/watchdog"
)

// setupWith is setup with extra runtime options (GPUs, workers).
func setupWith(t *testing.T, opts ...exec.LocalOption) *testEnv {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	opts = append([]exec.LocalOption{exec.WithAllocator(mem), exec.WithWorkers(2), exec.WithObjectStoreMemory(64 << 20),
		exec.WithSpillDir(t.TempDir())}, opts...)
	rt := exec.NewLocal(opts...)
	t.Cleanup(func() {
		rt.Close()
		mem.AssertSize(t, 0)
	})
	return &testEnv{rt: rt, mem: mem, ctx: watchdog.Context(t, context.Background(), hangLimit)}
}

// poolProbe counts what a test's actors do.
type poolProbe struct {
	constructed atomic.Int32
	cleaned     atomic.Int32
	live        atomic.Int32 // constructed and not yet cleaned up
	maxLive     atomic.Int32
	calls       atomic.Int32
	mu          sync.Mutex
	gpus        [][]int
	batchRows   []int64
}

// newActor returns a constructor whose actors double "id" into "x2", after
// calling hook (which may sleep, fail or panic) with the actor's index and
// its call count.
func (p *poolProbe) newActor(mem memory.Allocator, hook func(actor, call int) error) dataset.ActorConstructor {
	return func(ac *dataset.ActorContext) (dataset.BatchFunc, error) {
		p.constructed.Add(1)
		n := p.live.Add(1)
		for {
			m := p.maxLive.Load()
			if n <= m || p.maxLive.CompareAndSwap(m, n) {
				break
			}
		}
		ac.Cleanup(func() { p.cleaned.Add(1); p.live.Add(-1) })
		p.mu.Lock()
		p.gpus = append(p.gpus, slices.Clone(ac.GPUIDs))
		p.mu.Unlock()
		calls := 0 // actor state: touched only by this actor's calls
		double := doubleIDs(mem)
		return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			calls++
			p.calls.Add(1)
			p.mu.Lock()
			p.batchRows = append(p.batchRows, b.NumRows())
			p.mu.Unlock()
			if hook != nil {
				if err := hook(ac.Index, calls); err != nil {
					return nil, err
				}
			}
			return double(b)
		}, nil
	}
}

// checkDoubled asserts the rows are ids 0..n-1 in order with x2 = 2*id.
func checkDoubled(t *testing.T, items []dataset.Item, n int64) {
	t.Helper()
	equalInts(t, "ids", ints(t, items, "id"), seq(0, n))
	x2 := ints(t, items, "x2")
	for i, v := range x2 {
		if v != 2*int64(i) {
			t.Fatalf("row %d: x2 = %d, want %d", i, v, 2*i)
		}
	}
}

func TestActorPoolRunsConstructorOncePerActor(t *testing.T) {
	e := setup(t)
	var p poolProbe
	ds := dataset.Range(1000, e.par(10)...).
		MapBatchesWithActors(p.newActor(e.mem, nil), dataset.Actors(2, 2), dataset.BatchSize(100), dataset.ActorCPUs(0))
	items := must(ds.TakeAll(e.ctx))(t)
	checkDoubled(t, items, 1000)
	if n := p.constructed.Load(); n != 2 {
		t.Errorf("constructor ran %d times, want once per actor (2)", n)
	}
	if n := p.cleaned.Load(); n != 2 {
		t.Errorf("%d cleanups after the run, want 2: every actor stops when the stage is done", n)
	}
	for _, r := range p.batchRows {
		if r != 100 {
			t.Errorf("a batch of %d rows, want BatchSize(100)", r)
		}
	}
	st := ds.Stats()
	if st == nil || !strings.Contains(st.String(), "MapBatchesWithActors") {
		t.Fatalf("stats do not show the actor stage:\n%v", st)
	}
}

func TestActorPoolReplacesFailedActorsAndRetriesTheBatch(t *testing.T) {
	for _, kind := range []string{"panic", "ActorFailed"} {
		t.Run(kind, func(t *testing.T) {
			e := setup(t)
			var p poolProbe
			var failed atomic.Bool
			var calls atomic.Int32
			hook := func(actor, call int) error {
				// Whichever actor serves the third batch dies on it.
				if calls.Add(1) == 3 && failed.CompareAndSwap(false, true) {
					if kind == "panic" {
						panic("CUDA illegal memory access")
					}
					return exec.ActorFailed(errors.New("device lost"))
				}
				return nil
			}
			ds := dataset.Range(2000, e.par(20)...).
				MapBatchesWithActors(p.newActor(e.mem, hook), dataset.Actors(2, 2), dataset.ActorCPUs(0))
			items := must(ds.TakeAll(e.ctx))(t)
			checkDoubled(t, items, 2000)
			if !failed.Load() {
				t.Fatal("the failure never happened")
			}
			if n := p.constructed.Load(); n != 3 {
				t.Errorf("constructor ran %d times, want 3 (two actors and one replacement)", n)
			}
			if n := p.calls.Load(); n != 21 {
				t.Errorf("%d calls, want 21: 20 batches and one retry", n)
			}
			if p.live.Load() != 0 {
				t.Errorf("%d actors still alive after the run", p.live.Load())
			}
		})
	}
}

func TestActorPoolGivesUpOnABatchThatKillsEveryActor(t *testing.T) {
	e := setup(t)
	var p poolProbe
	hook := func(actor, call int) error { panic("always") }
	_, err := dataset.Range(100, e.par(2)...).
		MapBatchesWithActors(p.newActor(e.mem, hook), dataset.Actors(1, 1), dataset.ActorMaxAttempts(2)).
		TakeAll(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "failed on 2 actors") || !strings.Contains(err.Error(), "always") {
		t.Fatalf("err %v, want the batch's failure after 2 actors", err)
	}
	if n := p.constructed.Load(); n != 2 {
		t.Errorf("constructor ran %d times, want 2", n)
	}
}

func TestActorPoolPlainErrorFailsTheRun(t *testing.T) {
	e := setup(t)
	var p poolProbe
	hook := func(actor, call int) error { return errors.New("row 3: negative age") }
	_, err := dataset.Range(100, e.par(2)...).
		MapBatchesWithActors(p.newActor(e.mem, hook), dataset.Actors(1, 1)).
		TakeAll(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "negative age") || !strings.Contains(err.Error(), "MapBatchesWithActors") {
		t.Fatalf("err %v, want the function's error naming the stage", err)
	}
	if n := p.constructed.Load(); n != 1 {
		t.Errorf("constructor ran %d times: an input error must not replace the actor", n)
	}
}

func TestActorPoolConstructorFailure(t *testing.T) {
	e := setup(t)
	var tries atomic.Int32
	_, err := dataset.Range(100, e.par(2)...).
		MapBatchesWithActors(func(*dataset.ActorContext) (dataset.BatchFunc, error) {
			tries.Add(1)
			return nil, errors.New("weights.bin: no such file")
		}).TakeAll(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "weights.bin") || !strings.Contains(err.Error(), "constructor") {
		t.Fatalf("err %v, want the constructor's error", err)
	}
	if n := tries.Load(); n != 3 {
		t.Errorf("constructor tried %d times, want 3", n)
	}
}

func TestActorPoolScalesUpOnBacklog(t *testing.T) {
	e := setup(t)
	var p poolProbe
	hook := func(actor, call int) error { time.Sleep(15 * time.Millisecond); return nil }
	ds := dataset.Range(4000, e.par(40)...).
		MapBatchesWithActors(p.newActor(e.mem, hook), dataset.Actors(1, 4), dataset.ActorCPUs(0), dataset.MaxInFlight(1))
	checkDoubled(t, must(ds.TakeAll(e.ctx))(t), 4000)
	if m := p.maxLive.Load(); m < 3 || m > 4 {
		t.Errorf("at most %d actors at once, want the pool to grow from 1 towards its max of 4", m)
	}
}

func TestActorPoolScalesDownWhenIdle(t *testing.T) {
	e := setup(t)
	var p poolProbe
	var lateLive []int32
	var mu sync.Mutex
	hook := func(actor, call int) error {
		time.Sleep(10 * time.Millisecond)
		return nil
	}
	// A burst of 30 blocks, then 5 that trickle in 150 ms apart: the pool
	// grows for the burst and shrinks back while the trickle leaves actors
	// idle longer than the 40 ms timeout.
	src := dataset.Range(3500, e.par(35)...).Map(func(r dataset.Row) (dataset.Item, error) {
		if id := r.Int64("id"); id >= 3000 && id%100 == 0 {
			time.Sleep(150 * time.Millisecond)
			mu.Lock()
			lateLive = append(lateLive, p.live.Load())
			mu.Unlock()
		}
		return dataset.Item{"id": r.Int64("id")}, nil
	})
	ds := src.MapBatchesWithActors(p.newActor(e.mem, hook), dataset.Actors(1, 3), dataset.ActorCPUs(0),
		dataset.MaxInFlight(1), dataset.ActorIdleTimeout(40*time.Millisecond))
	checkDoubled(t, must(ds.TakeAll(e.ctx))(t), 3500)
	if m := p.maxLive.Load(); m < 2 {
		t.Fatalf("the pool never grew (max %d actors)", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := lateLive[len(lateLive)-1]; last != 1 {
		t.Errorf("during the trickle %v actors were alive, want the pool back at its min of 1", lateLive)
	}
}

func TestActorPoolGPUs(t *testing.T) {
	t.Run("none on the machine", func(t *testing.T) {
		e := setupWith(t, exec.WithGPUs(0))
		var upstream atomic.Int32
		var p poolProbe
		ds := dataset.Range(100, e.par(2)...).Map(func(r dataset.Row) (dataset.Item, error) {
			upstream.Add(1)
			return dataset.Item{"id": r.Int64("id")}, nil
		}).MapBatchesWithActors(p.newActor(e.mem, nil), dataset.ActorGPUs(1))
		_, err := ds.TakeAll(e.ctx)
		if err == nil || !strings.Contains(err.Error(), "GPU") || !strings.Contains(err.Error(), "has 0") {
			t.Fatalf("err %v, want a plan-time error about GPUs", err)
		}
		if upstream.Load() != 0 || p.constructed.Load() != 0 {
			t.Errorf("%d rows mapped and %d actors built before the GPU check failed", upstream.Load(), p.constructed.Load())
		}
	})
	t.Run("each actor gets its own", func(t *testing.T) {
		e := setupWith(t, exec.WithGPUs(2))
		var p poolProbe
		hook := func(actor, call int) error { time.Sleep(5 * time.Millisecond); return nil }
		ds := dataset.Range(2000, e.par(40)...).
			MapBatchesWithActors(p.newActor(e.mem, hook), dataset.Actors(1, 8), dataset.ActorGPUs(1), dataset.MaxInFlight(1))
		checkDoubled(t, must(ds.TakeAll(e.ctx))(t), 2000)
		if m := p.maxLive.Load(); m > 2 {
			t.Errorf("%d actors at once on 2 GPUs", m)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, g := range p.gpus {
			if len(g) != 1 || g[0] < 0 || g[0] > 1 {
				t.Errorf("an actor got GPUs %v, want one of 0 and 1", g)
			}
		}
	})
	t.Run("too many CPUs", func(t *testing.T) {
		e := setup(t)
		var p poolProbe
		_, err := dataset.Range(10, e.opt()).MapBatchesWithActors(p.newActor(e.mem, nil), dataset.Actors(3, 3)).TakeAll(e.ctx)
		if err == nil || !strings.Contains(err.Error(), "CPUs") {
			t.Errorf("err %v, want one saying 3 actors of 1 CPU do not fit 2 CPUs", err)
		}
	})
}

func TestActorOptionErrors(t *testing.T) {
	e := setup(t)
	noop := func(b arrow.RecordBatch) (arrow.RecordBatch, error) { b.Retain(); return b, nil }
	newNoop := func(*dataset.ActorContext) (dataset.BatchFunc, error) { return noop, nil }
	for name, ds := range map[string]*dataset.Dataset{
		"actor option on MapBatches": dataset.Range(10, e.opt()).MapBatches(noop, dataset.Actors(1, 2)),
		"max below min":              dataset.Range(10, e.opt()).MapBatchesWithActors(newNoop, dataset.Actors(3, 2)),
		"negative GPUs":              dataset.Range(10, e.opt()).MapBatchesWithActors(newNoop, dataset.ActorGPUs(-1)),
		"nil constructor":            dataset.Range(10, e.opt()).MapBatchesWithActors(nil),
	} {
		if ds.Err() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestActorPoolCancel(t *testing.T) {
	e := setup(t)
	var p poolProbe
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	hook := func(actor, call int) error {
		if call == 2 {
			cancel()
		}
		time.Sleep(5 * time.Millisecond)
		return nil
	}
	_, err := dataset.Range(10000, e.par(100)...).
		MapBatchesWithActors(p.newActor(e.mem, hook), dataset.Actors(2, 2), dataset.ActorCPUs(0)).TakeAll(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if live := p.live.Load(); live != 0 {
		t.Errorf("%d actors alive after a cancelled run returned", live)
	}
}

// ExampleDataset_MapBatchesWithActors loads a "model" once per actor and
// sends batches through it.
func ExampleDataset_MapBatchesWithActors() {
	rt := exec.NewLocal(exec.WithWorkers(2), exec.WithGPUs(1)) // a declared GPU
	defer rt.Close()
	newModel := func(ac *dataset.ActorContext) (dataset.BatchFunc, error) {
		weight := int64(3) // stands for weights loaded onto ac.GPUIDs
		fmt.Println("model loaded on GPUs", ac.GPUIDs)
		schema := arrow.NewSchema([]arrow.Field{{Name: "score", Type: arrow.PrimitiveTypes.Int64}}, nil)
		return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			ids, err := blocks.Values[int64](b.Column(0))
			if err != nil {
				return nil, err
			}
			out := make([]int64, len(ids))
			for i, v := range ids {
				out[i] = weight * v
			}
			col := blocks.NumericArray(out) // wraps out, no copy
			defer col.Release()
			return array.NewRecordBatch(schema, []arrow.Array{col}, int64(len(out))), nil
		}, nil
	}
	ds := dataset.Range(1000, dataset.WithRuntime(rt)).
		MapBatchesWithActors(newModel, dataset.Actors(1, 1), dataset.ActorGPUs(1), dataset.BatchSize(256))
	sum, err := ds.Sum(context.Background(), "score")
	fmt.Println(sum, err)
	// Output:
	// model loaded on GPUs [0]
	// 1498500 <nil>
}

func TestTaskCPUsLetWaitingTasksRunTogether(t *testing.T) {
	e := setup(t) // 2 workers
	var running, peak atomic.Int32
	wait := func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		n := running.Add(1)
		for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond) // a call to a remote service
		running.Add(-1)
		return b, nil
	}
	ds := dataset.Range(4000, e.par(40)...).MapBatches(wait, dataset.TaskCPUs(0.25))
	equalInts(t, "ids", takeIDs(t, e, ds), seq(0, 4000))
	if p := peak.Load(); p < 5 || p > 8 {
		t.Errorf("peak %d tasks at once, want more than 2 CPUs allow for 1-CPU tasks and at most 8 quarters", p)
	}
	if st := ds.Stats(); len(st.Operators) != 2 {
		t.Errorf("a quarter-CPU stage fused with the 1-CPU read:\n%s", st)
	}
}

func TestActorPoolCutsBlocksIntoBatchCalls(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks int
	}{{"one big block", 1}, {"blocks smaller than a batch", 40}, {"uneven", 7}} {
		t.Run(tc.name, func(t *testing.T) {
			e := setupWith(t, exec.WithGPUs(2))
			var p poolProbe
			perActor := make([]atomic.Int32, 2)
			hook := func(actor, call int) error {
				perActor[actor%2].Add(1)
				time.Sleep(time.Millisecond)
				return nil
			}
			ds := dataset.Range(10000, e.par(tc.blocks)...).
				MapBatchesWithActors(p.newActor(e.mem, hook), dataset.Actors(2, 2), dataset.ActorGPUs(1), dataset.BatchSize(100))
			checkDoubled(t, must(ds.TakeAll(e.ctx))(t), 10000)
			if n := p.calls.Load(); n != 100 {
				t.Errorf("%d calls, want 100 of BatchSize(100)", n)
			}
			for _, r := range p.batchRows {
				if r != 100 {
					t.Fatalf("a call of %d rows, want 100", r)
				}
			}
			if a, b := perActor[0].Load(), perActor[1].Load(); a < 20 || b < 20 {
				t.Errorf("actors got %d and %d calls: a big block's batches must be shared", a, b)
			}
		})
	}
}

func TestActorPoolProgressShowsActors(t *testing.T) {
	e := setup(t)
	var out bytes.Buffer
	var p poolProbe
	ds := dataset.Range(1000, append(e.par(10), dataset.WithProgress(&out))...).
		MapBatchesWithActors(p.newActor(e.mem, nil), dataset.Actors(2, 2), dataset.ActorCPUs(0))
	checkDoubled(t, must(ds.TakeAll(e.ctx))(t), 1000)
	if text := out.String(); !strings.Contains(text, "MapBatchesWithActors") || !strings.Contains(text, " actors") {
		t.Errorf("progress does not show the actor pool:\n%s", text)
	}
}
