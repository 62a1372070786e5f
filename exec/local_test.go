package exec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// waitLimit bounds every wait in these tests so that a bug fails a test
// instead of hanging it; it is never an assertion about speed.
const waitLimit = 10 * time.Second

var intSchema = arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)

func intBlock(mem memory.Allocator, vals ...int64) arrow.RecordBatch {
	bld := array.NewRecordBuilder(mem, intSchema)
	defer bld.Release()
	bld.Field(0).(*array.Int64Builder).AppendValues(vals, nil)
	return bld.NewRecordBatch()
}

func intsOf(b arrow.RecordBatch) []int64 {
	return append([]int64(nil), b.Column(0).(*array.Int64).Int64Values()...)
}

// newLocal starts a runtime on a checked allocator. At the end of the test it
// is closed, then the allocator must be empty and no goroutine left.
func newLocal(t *testing.T, opts ...exec.LocalOption) (*exec.Local, *memory.CheckedAllocator) {
	t.Helper()
	// Goroutines that exist now (another runtime of the same test) are not
	// this runtime's; TestMain checks those at the end.
	others := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, others) })
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	opts = append([]exec.LocalOption{exec.WithAllocator(mem), exec.WithSpillDir(t.TempDir())}, opts...)
	rt := exec.NewLocal(opts...)
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rt, mem
}

// submit submits t and returns a channel with its result. It fails the test
// if done is called more than once.
func submit(t *testing.T, rt exec.Runtime, ctx context.Context, task exec.Task) <-chan exec.TaskResult {
	t.Helper()
	ch := make(chan exec.TaskResult, 1)
	var calls atomic.Int32
	rt.Submit(ctx, task, func(res exec.TaskResult) {
		if calls.Add(1) > 1 {
			t.Errorf("task %s/%d: done called more than once", task.Operator, task.Index)
			return
		}
		ch <- res
	})
	return ch
}

func wait(t *testing.T, ch <-chan exec.TaskResult) exec.TaskResult {
	t.Helper()
	select {
	case res := <-ch:
		return res
	case <-time.After(waitLimit):
		t.Fatalf("task did not finish within %v", waitLimit)
		return exec.TaskResult{}
	}
}

func run(t *testing.T, rt exec.Runtime, ctx context.Context, task exec.Task) exec.TaskResult {
	t.Helper()
	return wait(t, submit(t, rt, ctx, task))
}

func putInts(t *testing.T, rt exec.Runtime, producer string, vals ...int64) exec.ObjectRef {
	t.Helper()
	b := intBlock(rt.Allocator(), vals...)
	defer b.Release()
	ref, err := rt.Put(b, producer)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func getInts(t *testing.T, rt exec.Runtime, ref exec.ObjectRef) []int64 {
	t.Helper()
	b, err := rt.Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("get %d: %v", ref.ID, err)
	}
	defer b.Release()
	return intsOf(b)
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// nopRun is a Run that returns nothing.
func nopRun(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) { return nil, nil }

// gate lets a test hold tasks inside Run and let them go; open is safe to
// call more than once (tests defer it so a failing test cannot hang Close).
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate  { return &gate{ch: make(chan struct{})} }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }
func (g *gate) pass() { <-g.ch }

func waitStarted(t *testing.T, started <-chan int) int {
	t.Helper()
	select {
	case i := <-started:
		return i
	case <-time.After(waitLimit):
		t.Fatalf("task did not start within %v", waitLimit)
		return -1
	}
}

func TestLocalRunsTaskAndReturnsRefs(t *testing.T) {
	rt, mem := newLocal(t, exec.WithWorkers(2), exec.WithObjectStoreMemory(64<<20), exec.WithGPUs(1))
	ctx := context.Background()

	if r := rt.Resources(); r.CPUs != 2 || r.GPUs != 1 || r.ObjectStoreMemory != 64<<20 {
		t.Errorf("resources %+v, want CPUs=2 GPUs=1 ObjectStoreMemory=%d", r, 64<<20)
	}
	if rt.Allocator() != memory.Allocator(mem) {
		t.Errorf("Allocator() is not the allocator passed with WithAllocator")
	}
	if s := rt.String(); !strings.Contains(s, "workers=2") || !strings.Contains(s, "64 MiB") {
		t.Errorf("String() = %q", s)
	}

	in := putInts(t, rt, "source", 1, 2, 3)
	defer rt.Release(in)

	var tcSeen exec.TaskContext
	var inputsSeen [][]int64
	var outSizes []int64
	res := run(t, rt, ctx, exec.Task{
		Operator: "double",
		Index:    7,
		Inputs:   []exec.ObjectRef{in},
		Run: func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error) {
			tcSeen = *tc
			var doubled []int64
			for _, b := range inputs {
				vals := intsOf(b)
				inputsSeen = append(inputsSeen, vals)
				for _, v := range vals {
					doubled = append(doubled, 2*v)
				}
			}
			a := intBlock(tc.Alloc, doubled...)
			b := makeBlock(tc.Alloc, 0, 25)
			outSizes = []int64{blocks.Size(a), blocks.Size(b)}
			return []blocks.Block{a, nil, b}, nil // nil outputs are skipped
		},
	})
	if res.Err != nil {
		t.Fatalf("task failed: %v", res.Err)
	}
	defer func() {
		for _, r := range res.Outputs {
			rt.Release(r)
		}
	}()

	if res.Attempts != 1 {
		t.Errorf("attempts %d, want 1", res.Attempts)
	}
	if tcSeen.Operator != "double" || tcSeen.Index != 7 || tcSeen.Attempt != 0 || tcSeen.Alloc != memory.Allocator(mem) || tcSeen.Context == nil {
		t.Errorf("task context %+v: want operator double, index 7, attempt 0, the runtime's allocator", tcSeen)
	}
	if len(inputsSeen) != 1 || !equalInts(inputsSeen[0], []int64{1, 2, 3}) {
		t.Errorf("Run saw inputs %v, want [[1 2 3]]", inputsSeen)
	}
	if len(res.Outputs) != 2 {
		t.Fatalf("outputs %d, want 2", len(res.Outputs))
	}
	o0, o1 := res.Outputs[0], res.Outputs[1]
	if o0.Producer != "double" || o0.Rows != 3 || o0.Bytes != outSizes[0] || !o0.Schema.Equal(intSchema) {
		t.Errorf("output 0 ref %+v: want producer double, 3 rows, %d bytes, schema %v", o0, outSizes[0], intSchema)
	}
	if o1.Producer != "double" || o1.Rows != 25 || o1.Bytes != outSizes[1] || !o1.Schema.Equal(testSchema) {
		t.Errorf("output 1 ref %+v: want producer double, 25 rows, %d bytes, schema %v", o1, outSizes[1], testSchema)
	}
	if o0.ID == o1.ID || o0.ID == in.ID {
		t.Errorf("output ids not distinct: in %d, outs %d %d", in.ID, o0.ID, o1.ID)
	}
	if got := getInts(t, rt, o0); !equalInts(got, []int64{2, 4, 6}) {
		t.Errorf("output 0 = %v, want [2 4 6]", got)
	}
	b1, err := rt.Get(ctx, o1)
	if err != nil {
		t.Fatal(err)
	}
	assertEqualBlock(t, mem, b1, 0, 25)
	b1.Release()

	// The runtime borrowed the input: the submitter's reference is intact.
	if got := getInts(t, rt, in); !equalInts(got, []int64{1, 2, 3}) {
		t.Errorf("input after the task = %v", got)
	}
	if st := rt.Stats(); st.Objects != 3 {
		t.Errorf("store holds %d objects, want input + 2 outputs", st.Objects)
	}
}

func TestLocalDefaults(t *testing.T) {
	rt, _ := newLocal(t)
	r := rt.Resources()
	if r.CPUs != runtime.GOMAXPROCS(0) {
		t.Errorf("default workers %d, want GOMAXPROCS %d", r.CPUs, runtime.GOMAXPROCS(0))
	}
	if want := int64(float64(exec.SystemMemory()) * exec.DefaultStoreFraction); r.ObjectStoreMemory != want || want <= 0 {
		t.Errorf("default store budget %d, want %d (%.0f%% of system memory)", r.ObjectStoreMemory, want, exec.DefaultStoreFraction*100)
	}
	if st := rt.Stats(); st.Budget != r.ObjectStoreMemory {
		t.Errorf("store budget %d, resources say %d", st.Budget, r.ObjectStoreMemory)
	}
	rt0, _ := newLocal(t, exec.WithWorkers(0), exec.WithWorkers(-3))
	if got := rt0.Resources().CPUs; got != runtime.GOMAXPROCS(0) {
		t.Errorf("WithWorkers(-3): %d workers, want GOMAXPROCS", got)
	}
}

func TestSystemMemory(t *testing.T) {
	m := exec.SystemMemory()
	if m <= 0 {
		t.Fatalf("SystemMemory() = %d, want > 0", m)
	}
	if m < 1<<20 {
		t.Errorf("SystemMemory() = %d bytes: implausibly small", m)
	}
}

func TestLocalWorkersBoundConcurrency(t *testing.T) {
	const workers, tasks = 3, 12
	rt, _ := newLocal(t, exec.WithWorkers(workers))
	g := newGate()
	defer g.open()

	var active, peak atomic.Int32
	started := make(chan int, tasks)
	body := func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
		cur := active.Add(1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		started <- tc.Index
		g.pass()
		active.Add(-1)
		return nil, nil
	}
	var results []<-chan exec.TaskResult
	for i := range tasks {
		results = append(results, submit(t, rt, context.Background(), exec.Task{Operator: "hold", Index: i, Run: body}))
	}
	// Exactly `workers` tasks get in; the rest wait for a free worker.
	for range workers {
		waitStarted(t, started)
	}
	// Give an over-eager pool a moment to start a fourth task. This can only
	// miss a bug, never fail a correct pool: the peak check below is the
	// assertion.
	select {
	case i := <-started:
		t.Errorf("task %d started while %d tasks were running on %d workers", i, workers, workers)
	case <-time.After(20 * time.Millisecond):
	}
	// Let one task finish at a time: each frees a worker for the next.
	for range tasks {
		select {
		case g.ch <- struct{}{}:
		case <-time.After(waitLimit):
			t.Fatalf("no task waiting at the gate")
		}
	}
	for i, ch := range results {
		if res := wait(t, ch); res.Err != nil {
			t.Errorf("task %d: %v", i, res.Err)
		}
	}
	if p := peak.Load(); p != workers {
		t.Errorf("peak concurrent Run calls %d, want exactly %d", p, workers)
	}
	if n := len(started) + workers; n != tasks {
		t.Errorf("%d tasks started, want %d", n, tasks)
	}
}

func TestLocalRunsInSubmissionOrder(t *testing.T) {
	const tasks = 20
	rt, _ := newLocal(t, exec.WithWorkers(1))
	g := newGate()
	defer g.open()
	started := make(chan int, 1)
	// Hold the only worker so that every task below is queued before any runs.
	blocker := submit(t, rt, context.Background(), exec.Task{Operator: "block", Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
		started <- 0
		g.pass()
		return nil, nil
	}})
	waitStarted(t, started)

	var mu sync.Mutex
	var order []int
	var results []<-chan exec.TaskResult
	for i := range tasks {
		results = append(results, submit(t, rt, context.Background(), exec.Task{Operator: "seq", Index: i,
			Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
				mu.Lock()
				order = append(order, tc.Index)
				mu.Unlock()
				return nil, nil
			}}))
	}
	g.open()
	wait(t, blocker)
	for _, ch := range results {
		wait(t, ch)
	}
	for i, idx := range order {
		if idx != i {
			t.Fatalf("run order %v, want submission order", order)
		}
	}
	if len(order) != tasks {
		t.Errorf("%d tasks ran, want %d", len(order), tasks)
	}
}

var errTransient = errors.New("transient failure")

type temporaryError struct{ temp bool }

func (e temporaryError) Error() string   { return fmt.Sprintf("temporary=%t", e.temp) }
func (e temporaryError) Temporary() bool { return e.temp }

func TestLocalRetries(t *testing.T) {
	cases := []struct {
		name        string
		opts        []exec.LocalOption
		taskRetries int
		err         error
		attempts    int
	}{
		{"default 3 retries", nil, 0, exec.Retryable(errTransient), exec.DefaultMaxRetries + 1},
		{"task MaxRetries 1", nil, 1, exec.Retryable(errTransient), 2},
		{"task MaxRetries negative", nil, -1, exec.Retryable(errTransient), 1},
		{"runtime WithMaxRetries 1", []exec.LocalOption{exec.WithMaxRetries(1)}, 0, exec.Retryable(errTransient), 2},
		{"runtime retries off", []exec.LocalOption{exec.WithMaxRetries(-1)}, 0, exec.Retryable(errTransient), 1},
		{"task overrides runtime", []exec.LocalOption{exec.WithMaxRetries(-1)}, 2, exec.Retryable(errTransient), 3},
		{"wrapped retryable", nil, 1, fmt.Errorf("reading: %w", exec.Retryable(errTransient)), 2},
		{"temporary error", nil, 1, temporaryError{temp: true}, 2},
		{"non-retryable", nil, 0, errTransient, 1},
		{"Temporary() false", nil, 0, temporaryError{temp: false}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt, _ := newLocal(t, append([]exec.LocalOption{exec.WithWorkers(2)}, c.opts...)...)
			in := putInts(t, rt, "source", 1, 2)
			defer rt.Release(in)

			var mu sync.Mutex
			var seen []int
			res := run(t, rt, context.Background(), exec.Task{
				Operator:   "flaky",
				Index:      7,
				Inputs:     []exec.ObjectRef{in},
				MaxRetries: c.taskRetries,
				Run: func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error) {
					mu.Lock()
					seen = append(seen, tc.Attempt)
					mu.Unlock()
					// Outputs returned with an error belong to the runtime too.
					return []blocks.Block{intBlock(tc.Alloc, 9, 9, 9)}, c.err
				},
			})
			if res.Attempts != c.attempts {
				t.Errorf("attempts %d, want %d", res.Attempts, c.attempts)
			}
			for i, a := range seen {
				if a != i {
					t.Errorf("TaskContext.Attempt sequence %v, want 0..%d", seen, c.attempts-1)
					break
				}
			}
			if len(seen) != c.attempts {
				t.Errorf("Run called %d times, want %d", len(seen), c.attempts)
			}
			if len(res.Outputs) != 0 {
				t.Errorf("failed task has outputs %v", res.Outputs)
			}
			var te *exec.TaskError
			if !errors.As(res.Err, &te) {
				t.Fatalf("error %v (%T) is not a *TaskError", res.Err, res.Err)
			}
			if te.Operator != "flaky" || te.Index != 7 || te.Attempts != c.attempts {
				t.Errorf("TaskError %+v: want operator flaky, index 7, attempts %d", te, c.attempts)
			}
			if !errors.Is(res.Err, c.err) {
				t.Errorf("error %v does not wrap %v", res.Err, c.err)
			}
			msg := res.Err.Error()
			if !strings.Contains(msg, "flaky") || !strings.Contains(msg, "block 7") || !strings.Contains(msg, c.err.Error()) {
				t.Errorf("error message %q should name the operator, the block and the cause", msg)
			}
			if st := rt.Stats(); st.Objects != 1 {
				t.Errorf("store holds %d objects after a failed task, want only the input", st.Objects)
			}
		})
	}
}

func TestLocalRetrySucceedsOnSecondAttempt(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(1))
	var calls atomic.Int32
	res := run(t, rt, context.Background(), exec.Task{
		Operator: "flaky",
		Index:    3,
		Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			calls.Add(1)
			out := intBlock(tc.Alloc, int64(tc.Attempt))
			if tc.Attempt == 0 {
				return []blocks.Block{out}, exec.Retryable(errTransient)
			}
			return []blocks.Block{out}, nil
		},
	})
	if res.Err != nil {
		t.Fatalf("task failed: %v", res.Err)
	}
	if res.Attempts != 2 || calls.Load() != 2 {
		t.Errorf("attempts %d, Run called %d times; want 2", res.Attempts, calls.Load())
	}
	if res.Wall <= 0 {
		t.Errorf("wall %v, want > 0", res.Wall)
	}
	if len(res.Outputs) != 1 {
		t.Fatalf("outputs %v, want the second attempt's one block", res.Outputs)
	}
	if got := getInts(t, rt, res.Outputs[0]); !equalInts(got, []int64{1}) {
		t.Errorf("output %v, want the second attempt's [1]", got)
	}
	if st := rt.Stats(); st.Objects != 1 {
		t.Errorf("store holds %d objects, want only the successful output", st.Objects)
	}
	rt.Release(res.Outputs[0])
}

func TestLocalPanicBecomesTaskError(t *testing.T) {
	for _, value := range []any{"kaboom", exec.Retryable(errors.New("kaboom"))} {
		t.Run(fmt.Sprintf("%T", value), func(t *testing.T) {
			// A one-byte budget keeps the input on disk: the attempt's copy of
			// it is memory only the attempt can free.
			rt, mem := newLocal(t, exec.WithWorkers(1), exec.WithObjectStoreMemory(1))
			in := putInts(t, rt, "source", 1, 2, 3)
			before := mem.CurrentAlloc()
			var calls atomic.Int32
			res := run(t, rt, context.Background(), exec.Task{
				Operator:   "boom",
				Index:      5,
				Inputs:     []exec.ObjectRef{in},
				MaxRetries: 5,
				Run: func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error) {
					calls.Add(1)
					if len(inputs) != 1 || inputs[0].NumRows() != 3 {
						t.Errorf("inputs %v", inputs)
					}
					panic(value)
				},
			})
			if res.Attempts != 1 || calls.Load() != 1 {
				t.Errorf("attempts %d, Run called %d times: a panic must not be retried", res.Attempts, calls.Load())
			}
			var te *exec.TaskError
			if !errors.As(res.Err, &te) || te.Operator != "boom" || te.Index != 5 || te.Attempts != 1 {
				t.Fatalf("error %v (%T): want *TaskError for boom/5 after 1 attempt", res.Err, res.Err)
			}
			var pe *exec.PanicError
			if !errors.As(res.Err, &pe) {
				t.Fatalf("error %v does not wrap a *PanicError", res.Err)
			}
			if pe.Value != value {
				t.Errorf("panic value %v, want %v", pe.Value, value)
			}
			if !bytes.Contains(pe.Stack, []byte("exec_test.TestLocalPanicBecomesTaskError")) {
				t.Errorf("panic stack does not show the panicking function:\n%s", pe.Stack)
			}
			if msg := res.Err.Error(); !strings.Contains(msg, "boom") || !strings.Contains(msg, "block 5") ||
				!strings.Contains(msg, "panic") || !strings.Contains(msg, "kaboom") {
				t.Errorf("message %q should name the operator, the block and the panic", msg)
			}
			if exec.IsRetryable(res.Err) {
				t.Errorf("a panic reports itself as retryable: %v", res.Err)
			}
			if len(res.Outputs) != 0 {
				t.Errorf("outputs %v from a panicking task", res.Outputs)
			}
			// The attempt's references to its inputs were given back.
			if after := mem.CurrentAlloc(); after != before {
				t.Errorf("allocated %d bytes before the panicking task, %d after", before, after)
			}

			// The only worker survived the panic and runs the next task, and the
			// panicking task's input is intact.
			ok := run(t, rt, context.Background(), exec.Task{Operator: "after", Inputs: []exec.ObjectRef{in},
				Run: func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error) {
					return []blocks.Block{intBlock(tc.Alloc, intsOf(inputs[0])...)}, nil
				}})
			if ok.Err != nil || len(ok.Outputs) != 1 {
				t.Fatalf("task after the panic: %+v", ok)
			}
			if got := getInts(t, rt, ok.Outputs[0]); !equalInts(got, []int64{1, 2, 3}) {
				t.Errorf("after the panic: %v", got)
			}
			rt.Release(ok.Outputs[0])
			rt.Release(in)
			// Nothing the panicking attempt touched is still held.
			if st := rt.Stats(); st.Objects != 0 || st.MemoryBytes != 0 {
				t.Errorf("store after releasing everything: %+v", st)
			}
		})
	}
}

// Run returns blocks and an error: the runtime owns those blocks and must
// free them, whether the error is retried or not.
func TestLocalOutputsOfFailedRunAreReleased(t *testing.T) {
	rt, mem := newLocal(t, exec.WithWorkers(1))
	res := run(t, rt, context.Background(), exec.Task{Operator: "partial", MaxRetries: -1,
		Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			return []blocks.Block{intBlock(tc.Alloc, 1), makeBlock(tc.Alloc, 0, 10)}, errors.New("half done")
		}})
	if res.Err == nil || len(res.Outputs) != 0 {
		t.Fatalf("result %+v: want an error and no outputs", res)
	}
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("%d bytes still allocated: the failed task's outputs leaked", n)
	}
}

func TestLocalMissingInput(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(1))
	in := putInts(t, rt, "source", 1)
	rt.Release(in) // gone before the task runs
	var calls atomic.Int32
	res := run(t, rt, context.Background(), exec.Task{Operator: "reader", Index: 2, Inputs: []exec.ObjectRef{in},
		Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) { calls.Add(1); return nil, nil }})
	var te *exec.TaskError
	if !errors.As(res.Err, &te) || te.Operator != "reader" || te.Index != 2 {
		t.Fatalf("error %v: want a *TaskError for reader/2", res.Err)
	}
	if !strings.Contains(res.Err.Error(), "not in store") {
		t.Errorf("error %q should say the input is not in the store", res.Err)
	}
	if calls.Load() != 0 || res.Attempts != 1 {
		t.Errorf("Run called %d times, %d attempts: want 0 calls, 1 attempt", calls.Load(), res.Attempts)
	}
}

func TestLocalCancelledContext(t *testing.T) {
	t.Run("queued task", func(t *testing.T) {
		rt, _ := newLocal(t, exec.WithWorkers(1))
		g := newGate()
		defer g.open()
		started := make(chan int, 1)
		blocker := submit(t, rt, context.Background(), exec.Task{Operator: "block", Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
			started <- 0
			g.pass()
			return nil, nil
		}})
		waitStarted(t, started)

		in := putInts(t, rt, "source", 1)
		defer rt.Release(in)
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int32
		queued := submit(t, rt, ctx, exec.Task{Operator: "queued", Inputs: []exec.ObjectRef{in},
			Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) { calls.Add(1); return nil, nil }})
		cancel()
		g.open()
		if res := wait(t, blocker); res.Err != nil {
			t.Errorf("blocker: %v", res.Err)
		}
		res := wait(t, queued)
		if !errors.Is(res.Err, context.Canceled) {
			t.Errorf("cancelled queued task: error %v, want context.Canceled", res.Err)
		}
		if calls.Load() != 0 || res.Attempts != 0 || len(res.Outputs) != 0 {
			t.Errorf("cancelled queued task ran: %d calls, %+v", calls.Load(), res)
		}
	})

	t.Run("cancelled before submit", func(t *testing.T) {
		rt, _ := newLocal(t, exec.WithWorkers(2))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var calls atomic.Int32
		res := run(t, rt, ctx, exec.Task{Operator: "late", Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
			calls.Add(1)
			return nil, nil
		}})
		if !errors.Is(res.Err, context.Canceled) || calls.Load() != 0 {
			t.Errorf("error %v, %d calls; want context.Canceled and no call", res.Err, calls.Load())
		}
	})

	t.Run("cancelled during retries", func(t *testing.T) {
		rt, _ := newLocal(t, exec.WithWorkers(1))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var calls atomic.Int32
		res := run(t, rt, ctx, exec.Task{Operator: "flaky", MaxRetries: 100,
			Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
				calls.Add(1)
				cancel()
				return nil, exec.Retryable(errTransient)
			}})
		if !errors.Is(res.Err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", res.Err)
		}
		if calls.Load() != 1 || res.Attempts != 1 {
			t.Errorf("Run called %d times, attempts %d: a cancelled task must not be retried", calls.Load(), res.Attempts)
		}
	})

	t.Run("running task sees cancellation", func(t *testing.T) {
		rt, _ := newLocal(t, exec.WithWorkers(1))
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan int, 1)
		ch := submit(t, rt, ctx, exec.Task{Operator: "long", Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			started <- 0
			<-tc.Done()
			return []blocks.Block{intBlock(tc.Alloc, 1)}, tc.Err()
		}})
		waitStarted(t, started)
		cancel()
		res := wait(t, ch)
		if !errors.Is(res.Err, context.Canceled) || res.Attempts != 1 || len(res.Outputs) != 0 {
			t.Errorf("result %+v, want context.Canceled after 1 attempt", res)
		}
	})
}

func TestLocalCloseFailsQueuedAndWaitsForRunning(t *testing.T) {
	rt, mem := newLocal(t, exec.WithWorkers(1))
	g := newGate()
	defer g.open()
	started := make(chan int, 1)
	running := submit(t, rt, context.Background(), exec.Task{Operator: "running", Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
		started <- 0
		g.pass()
		return []blocks.Block{intBlock(tc.Alloc, 42)}, nil
	}})
	waitStarted(t, started)

	in := putInts(t, rt, "source", 1, 2)
	var queuedCalls atomic.Int32
	var queued []<-chan exec.TaskResult
	for i := range 3 {
		queued = append(queued, submit(t, rt, context.Background(), exec.Task{Operator: "queued", Index: i, Inputs: []exec.ObjectRef{in},
			Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) { queuedCalls.Add(1); return nil, nil }}))
	}

	closed := make(chan error, 1)
	go func() { closed <- rt.Close() }()

	// Queued tasks fail with ErrClosed while the running one is still running.
	for i, ch := range queued {
		if res := wait(t, ch); !errors.Is(res.Err, exec.ErrClosed) {
			t.Errorf("queued task %d: %v, want ErrClosed", i, res.Err)
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a task was still running", err)
	default:
	}

	g.open()
	res := wait(t, running)
	if res.Err != nil || len(res.Outputs) != 1 {
		t.Errorf("running task: %+v, want it to finish normally", res)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("Close did not return after the running task finished")
	}
	if queuedCalls.Load() != 0 {
		t.Errorf("%d queued tasks ran after Close", queuedCalls.Load())
	}
	// Close freed every block, including the input and the running task's
	// output that were never released.
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("allocator holds %d bytes after Close", n)
	}

	// Submit after Close fails at once with ErrClosed.
	var after exec.TaskResult
	var afterCalls int
	rt.Submit(context.Background(), exec.Task{Operator: "late", Run: nopRun}, func(r exec.TaskResult) { after = r; afterCalls++ })
	if afterCalls != 1 || !errors.Is(after.Err, exec.ErrClosed) {
		t.Errorf("submit after close: %d calls, %v; want one call with ErrClosed", afterCalls, after.Err)
	}
	b := intBlock(mem, 1)
	if _, err := rt.Put(b, "late"); !errors.Is(err, exec.ErrClosed) {
		t.Errorf("put after close: %v, want ErrClosed", err)
	}
	b.Release()
	if _, err := rt.Get(context.Background(), in); !errors.Is(err, exec.ErrClosed) {
		t.Errorf("get after close: %v, want ErrClosed", err)
	}
	rt.Release(in) // no-op, no panic
	if err := rt.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	goleak.VerifyNone(t)
}

// Many tasks on a store that can hold almost nothing: inputs are read back
// from disk, outputs spill, and every result is intact.
func TestLocalManyTasksWithSpilling(t *testing.T) {
	const tasks = 64
	dir := t.TempDir()
	rt, mem := newLocal(t, exec.WithWorkers(4), exec.WithObjectStoreMemory(1), exec.WithSpillDir(dir))
	ctx := context.Background()

	ins := make([]exec.ObjectRef, tasks)
	for i := range ins {
		ins[i] = putInts(t, rt, "source", int64(i), int64(i+1), int64(i+2))
	}
	var results []<-chan exec.TaskResult
	for i := range tasks {
		results = append(results, submit(t, rt, ctx, exec.Task{Operator: "sum", Index: i, Inputs: []exec.ObjectRef{ins[i]},
			Run: func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error) {
				var sum int64
				for _, v := range intsOf(inputs[0]) {
					sum += v
				}
				return []blocks.Block{intBlock(tc.Alloc, int64(tc.Index), sum)}, nil
			}}))
	}
	for i, ch := range results {
		res := wait(t, ch)
		if res.Err != nil || len(res.Outputs) != 1 {
			t.Errorf("task %d: %+v", i, res)
			continue
		}
		if got, want := getInts(t, rt, res.Outputs[0]), []int64{int64(i), int64(3*i + 3)}; !equalInts(got, want) {
			t.Errorf("task %d output %v, want %v", i, got, want)
		}
		rt.Release(res.Outputs[0])
		rt.Release(ins[i])
	}
	st := rt.Stats()
	if st.SpilledTotal == 0 || st.RestoredTotal == 0 {
		t.Errorf("expected spills and restores: %+v", st)
	}
	if st.Objects != 0 || st.MemoryBytes != 0 || st.SpilledBytes != 0 {
		t.Errorf("store after releasing everything: %+v", st)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("allocator holds %d bytes", n)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("spill dir after Close: %v, %v", entries, err)
	}
}

func TestErrors(t *testing.T) {
	if exec.Retryable(nil) != nil {
		t.Errorf("Retryable(nil) != nil")
	}
	base := errors.New("disk busy")
	r := exec.Retryable(base)
	if r.Error() != "disk busy" || !errors.Is(r, base) || !exec.IsRetryable(r) {
		t.Errorf("Retryable(%v) = %v: want same message, wrapping, retryable", base, r)
	}
	if !exec.IsRetryable(fmt.Errorf("ctx: %w", r)) {
		t.Errorf("a wrapped retryable error is not retryable")
	}
	if exec.IsRetryable(base) || exec.IsRetryable(nil) || exec.IsRetryable(temporaryError{false}) {
		t.Errorf("plain, nil or non-temporary errors reported retryable")
	}
	if !exec.IsRetryable(fmt.Errorf("net: %w", temporaryError{true})) {
		t.Errorf("a Temporary() error is not retryable")
	}
	te := &exec.TaskError{Operator: "map", Index: 4, Attempts: 2, Err: base}
	if te.Error() != "operator map, block 4: disk busy" || !errors.Is(te, base) {
		t.Errorf("TaskError: %q", te.Error())
	}
	pe := &exec.PanicError{Value: 42}
	if pe.Error() != "panic: 42" {
		t.Errorf("PanicError: %q", pe.Error())
	}
}

func TestLocalReportsWorkerAndStart(t *testing.T) {
	rt := exec.NewLocal(exec.WithWorkers(3))
	defer rt.Close()
	before := time.Now()
	results := make(chan exec.TaskResult, 20)
	for i := range 20 {
		rt.Submit(context.Background(), exec.Task{Index: i, Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
			time.Sleep(time.Millisecond)
			return nil, nil
		}}, func(r exec.TaskResult) { results <- r })
	}
	for range 20 {
		r := <-results
		if r.Err != nil || r.Worker < 0 || r.Worker >= 3 || r.Start.Before(before) || r.Wall <= 0 {
			t.Errorf("result %+v: want no error, worker in [0,3), start after submit", r)
		}
	}
}
