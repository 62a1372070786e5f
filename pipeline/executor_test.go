package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/watchdog"
	"github.com/shoal-data/shoal/ops"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var idSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

// idBlock holds the ids lo..hi-1.
func idBlock(mem memory.Allocator, lo, hi int64) blocks.Block {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for i := lo; i < hi; i++ {
		b.Append(i)
	}
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(idSchema, []arrow.Array{col}, hi-lo)
}

// testSource yields n blocks of rows ids each, counting the reads that ran.
type testSource struct {
	n, rows int64
	reads   atomic.Int64
	delay   func(i int64) time.Duration
}

func (s *testSource) Name() string          { return "Test" }
func (s *testSource) Schema() *arrow.Schema { return idSchema }
func (s *testSource) NumRows() int64        { return s.n * s.rows }
func (s *testSource) ReadTasks(int) ([]ops.ReadTask, error) {
	tasks := make([]ops.ReadTask, s.n)
	for i := range s.n {
		tasks[i] = ops.ReadTask{Rows: s.rows, Bytes: 8 * s.rows, Read: func(tc *exec.TaskContext) ([]blocks.Block, error) {
			s.reads.Add(1)
			if s.delay != nil {
				select {
				case <-time.After(s.delay(i)):
				case <-tc.Done():
					return nil, tc.Err()
				}
			}
			return []blocks.Block{idBlock(tc.Alloc, i*s.rows, (i+1)*s.rows)}, nil
		}}
	}
	return tasks, nil
}

func newRuntime(t *testing.T, opts ...exec.LocalOption) exec.Runtime {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rt := exec.NewLocal(append([]exec.LocalOption{exec.WithAllocator(mem), exec.WithWorkers(2)}, opts...)...)
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Error(err)
		}
		mem.AssertSize(t, 0)
	})
	return rt
}

// identity is a one-to-one stage that passes blocks on, optionally slowly.
func identity(label string, delay time.Duration) *ops.OneToOne {
	return &ops.OneToOne{Label: label, PreservesRows: true, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		if delay > 0 {
			time.Sleep(delay)
		}
		in.Retain()
		return in, nil
	}}
}

// hangLimit is how long a test's pipeline may run: far above what any
// takes, far below go test's timeout. A broken liveness or backpressure
// rule then fails its test with every goroutine's stack in seconds.
const hangLimit = 30 * time.Second

// testContext is the context tests run pipelines under: see hangLimit.
func testContext(t *testing.T) context.Context {
	return watchdog.Context(t, context.Background(), hangLimit)
}

// collect runs plan and returns the ids it produced, in order, under ctx
// limited to hangLimit.
func collect(t *testing.T, ctx context.Context, rt exec.Runtime, plan ops.Node, opts Options, each func()) ([]int64, error) {
	t.Helper()
	ctx = watchdog.Context(t, ctx, hangLimit)
	root, err := Build(ops.Optimize(plan), 4)
	if err != nil {
		t.Fatal(err)
	}
	s := Run(ctx, rt, root, opts)
	defer s.Close()
	var ids []int64
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			return ids, nil
		}
		if err != nil {
			return ids, err
		}
		for _, ref := range b.Refs {
			blk, err := rt.Get(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			vals, _ := blocks.Values[int64](blk.Column(0))
			ids = append(ids, vals...)
			blk.Release()
			rt.Release(ref)
		}
		if each != nil {
			each()
		}
	}
}

func wantSequence(t *testing.T, ids []int64, n int64) {
	t.Helper()
	if int64(len(ids)) != n {
		t.Fatalf("got %d rows, want %d", len(ids), n)
	}
	for i, id := range ids {
		if id != int64(i) {
			t.Fatalf("row %d is %d: order not preserved", i, id)
		}
	}
}

func TestOrderPreservedWhenTasksFinishOutOfOrder(t *testing.T) {
	rt := newRuntime(t, exec.WithWorkers(4))
	src := &testSource{n: 40, rows: 10, delay: func(i int64) time.Duration {
		return time.Duration(rand.IntN(3)) * time.Millisecond
	}}
	var plan ops.Node = &ops.Read{Source: src}
	plan = &ops.OneToOne{Input: plan, Label: "Slow", BatchRows: 25, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		time.Sleep(time.Duration(rand.IntN(2)) * time.Millisecond)
		in.Retain()
		return in, nil
	}}
	ids, err := collect(t, context.Background(), rt, plan, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, ids, 400)
}

// With a slow consumer, the executor must stop reading ahead once the bytes
// in flight reach the budget: the store never holds much more than that.
func TestBackpressureBoundsBytesInFlight(t *testing.T) {
	const blockRows = 128 << 10 // 1 MiB of int64 per block
	const budget = 8 << 20
	rt := newRuntime(t, exec.WithObjectStoreMemory(1<<30)) // the store itself never spills
	src := &testSource{n: 64, rows: blockRows}
	plan := &ops.OneToOne{Input: &ops.Read{Source: src}, Label: "Copy", BatchRows: 1, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		in.Retain()
		return in, nil
	}}
	var peak int64
	ids, err := collect(t, context.Background(), rt, plan, Options{MemoryBudget: budget}, func() {
		peak = max(peak, rt.Stats().MemoryBytes)
		time.Sleep(2 * time.Millisecond) // a slow consumer
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, ids, 64*blockRows)
	// Budget, plus what the running tasks (2 workers) and the consumer's
	// prefetch hold when admitted at the edge.
	limit := int64(budget + 5*(8*blockRows))
	if peak > limit || rt.Stats().PeakMemory > limit {
		t.Errorf("store held %d MiB (peak %d MiB), want at most %d MiB", peak>>20, rt.Stats().PeakMemory>>20, limit>>20)
	}
}

// A consumer's full input queue stops its producer's tasks even when memory
// would allow them: a fast read feeding a slow stage (one task at a time)
// stays within a few blocks of what the stage has taken, instead of running
// its whole look-ahead window ahead. Two CPUs: one for the stage, one for
// the read, so reads finish in order.
func TestConsumerQueueFullStopsProducer(t *testing.T) {
	rt := newRuntime(t, exec.WithWorkers(2))
	src := &testSource{n: 60, rows: 10}
	var taken atomic.Int64 // blocks the slow stage has started on
	plan := &ops.OneToOne{Input: &ops.Read{Source: src}, Label: "Slow", MaxConcurrency: 1, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		taken.Add(1)
		time.Sleep(2 * time.Millisecond)
		in.Retain()
		return in, nil
	}}
	const queue = 4 // the map operator's input queue
	root, err := Build(ops.Optimize(plan), queue)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	s := Run(ctx, rt, root, Options{MemoryBudget: 1 << 30})
	defer s.Close()
	var lead int64
	for {
		lead = max(lead, src.reads.Load()-taken.Load())
		b, err := s.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b.release(rt)
	}
	// Reads ahead of the stage: its full queue, the read in flight on the
	// other CPU, the stage's next block (dispatched, not started) and one
	// read dispatched in the pass where the stage took from its queue.
	// Without the rule the look-ahead window lets the read run 13 ahead.
	if limit := int64(queue + 3); lead > limit {
		t.Errorf("the read ran %d blocks ahead of the slow stage, want at most %d", lead, limit)
	}
	t.Logf("the read ran at most %d blocks ahead", lead)
}

// Even with a budget smaller than one block, the pipeline completes: the
// liveness rule lets one task run when nothing else does.
func TestLivenessWithTinyBudget(t *testing.T) {
	rt := newRuntime(t)
	src := &testSource{n: 20, rows: 1000}
	var plan ops.Node = &ops.Read{Source: src}
	plan = &ops.OneToOne{Input: plan, Label: "A", BatchRows: 1500, Fn: identity("A", 0).Fn}
	plan = &ops.OneToOne{Input: plan, Label: "B", BatchRows: 3000, Fn: identity("B", 0).Fn}
	plan = &ops.Repartition{Input: plan, N: 7}
	plan = &ops.OneToOne{Input: plan, Label: "C", BatchRows: 5000, Fn: identity("C", 0).Fn}
	ids, err := collect(t, context.Background(), rt, plan, Options{MemoryBudget: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, ids, 20000)
}

func TestLimitStopsUpstream(t *testing.T) {
	rt := newRuntime(t)
	src := &testSource{n: 1000, rows: 10}
	plan := &ops.Limit{Input: &ops.OneToOne{Input: &ops.Read{Source: src}, Label: "M", BatchRows: 1, Fn: identity("M", 0).Fn}, N: 25}
	ids, err := collect(t, context.Background(), rt, plan, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, ids, 25)
	if n := src.reads.Load(); n > 20 {
		t.Errorf("%d of 1000 read tasks ran for a limit of 25 rows", n)
	}
}

func TestUnionKeepsInputOrder(t *testing.T) {
	rt := newRuntime(t)
	a := &testSource{n: 5, rows: 10, delay: func(int64) time.Duration { return time.Millisecond }}
	b := &testSource{n: 5, rows: 10}
	plan := &ops.Union{Inputs: []ops.Node{&ops.Read{Source: a}, &ops.Read{Source: b}}}
	ids, err := collect(t, context.Background(), rt, plan, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 100 || ids[49] != 49 || ids[50] != 0 || ids[99] != 49 {
		t.Fatalf("union order wrong: %v", ids)
	}
}

func TestTaskErrorEndsStreamWithOperatorName(t *testing.T) {
	rt := newRuntime(t)
	src := &testSource{n: 10, rows: 10}
	boom := errors.New("boom")
	plan := &ops.OneToOne{Input: &ops.Read{Source: src}, Label: "Explode", BatchRows: 1, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		if tc.Index == 3 {
			return nil, boom
		}
		in.Retain()
		return in, nil
	}}
	_, err := collect(t, context.Background(), rt, plan, Options{}, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "Explode") || !strings.Contains(msg, "block 3") {
		t.Errorf("error %q does not name the operator and block", msg)
	}
}

func TestPanicInStageIsAnError(t *testing.T) {
	rt := newRuntime(t)
	src := &testSource{n: 4, rows: 10}
	plan := &ops.OneToOne{Input: &ops.Read{Source: src}, Label: "Panicky", Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		panic("user bug")
	}}
	_, err := collect(t, context.Background(), rt, plan, Options{}, nil)
	var pe *exec.PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "Panicky") || !strings.Contains(err.Error(), "user bug") {
		t.Fatalf("got %v, want a panic error naming the stage", err)
	}
}

func TestCancelStopsRunningTasks(t *testing.T) {
	rt := newRuntime(t)
	started := make(chan struct{}, 100)
	src := &testSource{n: 100, rows: 10, delay: func(int64) time.Duration {
		started <- struct{}{}
		return time.Hour
	}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	done := make(chan error, 1)
	go func() {
		_, err := collect(t, ctx, rt, &ops.Read{Source: src}, Options{}, nil)
		done <- err
	}()
	select {
	case err := <-done:
		var ce *CanceledError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &ce) || err.Error() != "operator Test: context canceled" {
			t.Fatalf("got %v, want a *CanceledError naming the running operator", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled pipeline did not stop")
	}
}

// A run cancelled while it waits on its consumer, with no task in flight,
// names its whole plan.
func TestCancelWhileIdleNamesPlan(t *testing.T) {
	rt := newRuntime(t)
	var refs []exec.ObjectRef
	for i := range int64(3) {
		b := idBlock(rt.Allocator(), 10*i, 10*i+10)
		ref, err := rt.Put(b, "src")
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
		defer rt.Release(ref)
	}
	root, err := Build(&ops.Refs{Refs: refs}, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	s := Run(ctx, rt, root, Options{})
	defer s.Close()
	cancel()
	s.Stats() // the run has ended: nobody took its bundles
	_, err = s.Next(testContext(t))
	if !errors.Is(err, context.Canceled) || err.Error() != "pipeline Materialized(3 blocks) (no task running): context canceled" {
		t.Fatalf("got %v, want the plan named as idle", err)
	}
}

func TestCloseEarlyReleasesEverything(t *testing.T) {
	rt := newRuntime(t)
	src := &testSource{n: 50, rows: 100}
	root, err := Build(ops.Optimize(&ops.OneToOne{Input: &ops.Read{Source: src}, Label: "M", BatchRows: 1, Fn: identity("M", 0).Fn}), 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	s := Run(ctx, rt, root, Options{})
	b, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.release(rt)
	s.Close()
	if st := rt.Stats(); st.Objects != 0 {
		t.Errorf("%d objects left in the store after Close", st.Objects)
	}
}

// RepartitionPlan must give exactly n outputs of near-equal size covering
// every row once, in order, for any input block sizes (including empty).
func TestRepartitionPlanProperty(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	for seed := range 30 {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		var refs []exec.ObjectRef
		var total int64
		for range r.IntN(8) + 1 {
			rows := int64(r.IntN(50))
			if r.IntN(4) == 0 {
				rows = 0
			}
			b := idBlock(rt.Allocator(), total, total+rows)
			ref, err := rt.Put(b, "src")
			b.Release()
			if err != nil {
				t.Fatal(err)
			}
			refs = append(refs, ref)
			total += rows
		}
		n := r.IntN(12) + 1
		tasks, err := RepartitionPlan(n, idSchema)(refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) != n {
			t.Fatalf("seed %d: %d tasks, want %d", seed, len(tasks), n)
		}
		var next int64
		for k, task := range tasks {
			in := make([]blocks.Block, len(task.Inputs))
			for i, ref := range task.Inputs {
				in[i], _ = rt.Get(ctx, ref)
			}
			tc := &exec.TaskContext{Context: ctx, Alloc: rt.Allocator()}
			out, err := task.Run(tc, in)
			releaseAll(in)
			if err != nil {
				t.Fatal(err)
			}
			rows := out[0].NumRows()
			if lo, hi := total/int64(n), (total+int64(n)-1)/int64(n); rows < lo || rows > hi {
				t.Errorf("seed %d: output %d has %d rows, want %d..%d", seed, k, rows, lo, hi)
			}
			vals, _ := blocks.Values[int64](out[0].Column(0))
			for _, v := range vals {
				if v != next {
					t.Fatalf("seed %d: output %d holds %d, want %d", seed, k, v, next)
				}
				next++
			}
			releaseAll(out)
		}
		if next != total {
			t.Errorf("seed %d: %d rows out, want %d", seed, next, total)
		}
		for _, ref := range refs {
			rt.Release(ref)
		}
	}
}

func ExampleFormat() {
	src := &testSource{n: 2, rows: 1}
	plan := ops.Optimize(&ops.Limit{Input: &ops.OneToOne{Input: &ops.Read{Source: src}, Label: "Map(f)", PreservesRows: true}, N: 1})
	root, _ := Build(plan, 4)
	fmt.Print(Format(root))
	// Output:
	// Map[Map(f)]
	//   Limit[Limit(1)]
	//     Read[Test]
}
