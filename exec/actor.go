package exec

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

// ActorSpec describes one actor: what it holds for its lifetime and the
// constructor that builds its state.
type ActorSpec struct {
	// Operator names the pool the actor belongs to, for errors and traces.
	Operator string
	// Index numbers the actor within its pool.
	Index int
	// CPUs, GPUs and Memory (bytes) are reserved from the runtime while the
	// actor lives. A start that cannot get them fails with a
	// *ResourceError.
	CPUs   float64
	GPUs   int
	Memory int64
	// Labels, on a cluster, restrict the actor to nodes started with
	// these labels (shoal start --labels k=v); a single process ignores
	// them.
	Labels map[string]string
	// New runs once, on the actor's own goroutine, before any call: the
	// place to load a model onto the GPUs in ac.GPUIDs. It returns the
	// function every call runs. An error or a panic fails the start.
	New func(ac *ActorContext) (ActorFunc, error)
	// Spec, when set, describes New as data (BuildActor(*Spec) builds the
	// same constructor), so a cluster runtime may place the actor on a node.
	Spec *TaskSpec
}

// ActorFunc is what one call runs on an actor: input blocks to output
// blocks, under the same ownership rules as Task.Run. Calls of one actor run
// one at a time, in the order they were made, so the state the constructor
// built needs no locks.
type ActorFunc func(tc *TaskContext, inputs []blocks.Block) ([]blocks.Block, error)

// ActorContext is what an actor's constructor gets.
type ActorContext struct {
	// Context is cancelled when the actor stops.
	context.Context
	Operator string
	Index    int
	// GPUIDs are the devices this actor holds (CUDA_VISIBLE_DEVICES style
	// indices), len == ActorSpec.GPUs.
	GPUIDs []int
	// Alloc is the runtime's allocator.
	Alloc memory.Allocator

	cleanups []func()
}

// Cleanup registers f to run when the actor stops (last registered, first
// run), as testing.T.Cleanup does: release a model, close a device.
func (ac *ActorContext) Cleanup(f func()) { ac.cleanups = append(ac.cleanups, f) }

// ActorCall is one call on an actor.
type ActorCall struct {
	// Operator and Index identify the call, as in Task.
	Operator string
	Index    int
	// Inputs are fetched and passed to the actor's function; borrowed as in
	// Task.
	Inputs []ObjectRef
	// MaxRetries bounds retries of retryable errors on the same actor, as
	// in Task.
	MaxRetries int
	// Offset and Length pick rows of the inputs taken end to end: the call
	// sees rows [Offset, Offset+Length), as zero-copy slices of the input
	// blocks. Length 0 means every row. Several calls can so share one
	// large block, each holding its own reference.
	Offset, Length int64
}

// Actor is a running actor.
type Actor interface {
	// Call queues c; done is called exactly once, from any goroutine. Calls
	// run one at a time in the order they were made. A call that panics, or
	// fails with an error marked by ActorFailed, kills the actor: it and
	// every call still queued fail with an error IsActorFailure reports.
	Call(ctx context.Context, c ActorCall, done func(TaskResult))
	// Stop asks the actor to end after the calls already queued. It does not
	// wait; Done is closed once the actor has ended.
	Stop()
	// Done is closed when the actor's goroutine has exited, its cleanups
	// have run and its resources are back with the runtime.
	Done() <-chan struct{}
	// GPUIDs are the devices the actor holds.
	GPUIDs() []int
}

// ResourceError says a runtime cannot give an actor what it asks for.
type ResourceError struct {
	Operator  string
	Resource  string // "CPUs", "GPUs" or "memory"
	Need      float64
	Available float64
	Total     float64
}

func (e *ResourceError) Error() string {
	return fmt.Sprintf("%s: an actor needs %g %s, %g of %g are free", e.Operator, e.Need, e.Resource, e.Available, e.Total)
}

// actorFailure marks an error as the death of the actor that returned it.
type actorFailure struct{ err error }

func (e *actorFailure) Error() string { return "actor failed: " + e.err.Error() }
func (e *actorFailure) Unwrap() error { return e.err }

// ActorFailed marks err as fatal to the actor that returned it (a lost
// device, corrupted state): the actor is stopped and replaced, and the call
// runs again on another actor. Returns nil for a nil err.
func ActorFailed(err error) error {
	if err == nil {
		return nil
	}
	return &actorFailure{err: err}
}

// IsActorFailure reports whether err is the failure of an actor rather than
// of its input: a panic in the actor, an error marked with ActorFailed, or a
// call that was queued on an actor that died.
func IsActorFailure(err error) bool {
	var f *actorFailure
	return errors.As(err, &f)
}

// actorRunner is an actor's goroutine and mailbox; the runtime supplies how
// inputs are fetched, outputs stored and resources given back.
type actorRunner struct {
	spec    ActorSpec
	ac      *ActorContext
	cancel  context.CancelFunc
	store   blockStore
	alloc   memory.Allocator
	retry   int // default retries
	mu      sync.Mutex
	queue   []actorJob
	stop    bool
	exited  error // set when the goroutine no longer serves calls
	wake    chan struct{}
	done    chan struct{}
	release func() // gives the actor's resources back
	// local, when its store can lose blocks, records the lineage of the
	// blocks calls make.
	local *Local
}

type actorJob struct {
	ctx  context.Context
	call ActorCall
	done func(TaskResult)
	// rebuild marks a call that makes lost blocks again: its outputs are
	// not recorded as new lineage.
	rebuild bool
}

func (a *actorRunner) GPUIDs() []int         { return a.ac.GPUIDs }
func (a *actorRunner) Done() <-chan struct{} { return a.done }

func (a *actorRunner) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *actorRunner) Stop() {
	a.mu.Lock()
	a.stop = true
	a.mu.Unlock()
	a.signal()
}

func (a *actorRunner) Call(ctx context.Context, c ActorCall, done func(TaskResult)) {
	a.mu.Lock()
	if a.exited != nil {
		cause := a.exited
		a.mu.Unlock()
		// Not on the caller's goroutine: done may hand the result to a loop
		// that is the caller.
		go done(TaskResult{Err: ActorFailed(cause), Worker: -1})
		return
	}
	a.queue = append(a.queue, actorJob{ctx: ctx, call: c, done: done})
	a.mu.Unlock()
	a.signal()
}

// run is the actor's goroutine: the constructor, then calls until stopped
// or dead. started reports the constructor's outcome.
func (a *actorRunner) run(started func(Actor, error)) {
	defer close(a.done)
	defer a.release()
	defer a.cancel()
	fn, err := a.construct()
	if err != nil {
		err = fmt.Errorf("%s: actor %d: constructor: %w", a.spec.Operator, a.spec.Index, err)
		a.cleanup()
		a.exit(err)
		a.cancel()
		a.release() // before started: whoever starts a replacement needs them
		started(nil, err)
		return
	}
	started(a, nil)
	defer a.cleanup()
	for {
		a.mu.Lock()
		for len(a.queue) == 0 && !a.stop {
			a.mu.Unlock()
			<-a.wake
			a.mu.Lock()
		}
		if len(a.queue) == 0 {
			a.mu.Unlock()
			a.exit(fmt.Errorf("%s: actor %d was stopped", a.spec.Operator, a.spec.Index))
			return
		}
		j := a.queue[0]
		a.queue[0] = actorJob{}
		a.queue = a.queue[1:]
		a.mu.Unlock()
		res := a.serve(fn, j)
		j.done(res)
		if res.Err != nil && IsActorFailure(res.Err) {
			a.exit(fmt.Errorf("%s: actor %d died before this call: %w", a.spec.Operator, a.spec.Index, res.Err))
			return
		}
	}
}

func (a *actorRunner) construct() (fn ActorFunc, err error) {
	defer func() {
		if v := recover(); v != nil {
			fn, err = nil, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	fn, err = a.spec.New(a.ac)
	if err == nil && fn == nil {
		err = errors.New("constructor returned a nil function")
	}
	return fn, err
}

func (a *actorRunner) cleanup() {
	for i := len(a.ac.cleanups) - 1; i >= 0; i-- {
		func() {
			defer func() { _ = recover() }() // a panicking cleanup must not kill the runtime
			a.ac.cleanups[i]()
		}()
	}
	a.ac.cleanups = nil
}

// exit stops serving: every queued call, and every later one, fails as an
// actor failure, so the caller retries them on another actor.
func (a *actorRunner) exit(cause error) {
	a.mu.Lock()
	q := a.queue
	a.queue = nil
	a.stop = true
	a.exited = cause
	a.mu.Unlock()
	for _, j := range q {
		j.done(TaskResult{Err: ActorFailed(cause), Worker: -1})
	}
}

// serve runs one call with retries of retryable errors on this actor.
func (a *actorRunner) serve(fn ActorFunc, j actorJob) TaskResult {
	off, n := j.call.Offset, j.call.Length
	t := Task{Operator: j.call.Operator, Index: j.call.Index, Inputs: j.call.Inputs, MaxRetries: j.call.MaxRetries,
		Run: func(tc *TaskContext, in []blocks.Block) ([]blocks.Block, error) {
			if n <= 0 {
				return fn(tc, in)
			}
			rows := sliceRows(in, off, n)
			defer func() {
				for _, b := range rows {
					b.Release()
				}
			}()
			return fn(tc, rows)
		}}
	var cpu time.Duration
	res := runWithRetries(j.ctx, t, a.retry, func(ctx context.Context, attempt int) ([]ObjectRef, error) {
		return runOnce(ctx, t, attempt, a.alloc, a.store, &cpu, nil)
	})
	res.CPU = cpu
	if res.Err != nil {
		var p *PanicError
		if errors.As(res.Err, &p) && !IsActorFailure(res.Err) {
			// A panic may have left the actor's state half-updated.
			res.Err = ActorFailed(res.Err)
		}
	}
	if res.Err == nil && !j.rebuild && a.local != nil && a.local.lineage != nil {
		a.local.lineage.record(t, res.Outputs, a.remaker(j.call))
	}
	return res
}

// remaker is how the blocks call made are made again: by the same actor
// while it lives (its calls run one at a time), else by a stand-in built
// with the same constructor for just this call.
func (a *actorRunner) remaker(call ActorCall) func(ctx context.Context, t Task) TaskResult {
	return func(ctx context.Context, t Task) TaskResult {
		c := call
		c.Inputs = t.Inputs
		results := make(chan TaskResult, 1)
		a.mu.Lock()
		alive := a.exited == nil
		if alive {
			a.queue = append(a.queue, actorJob{ctx: ctx, call: c, rebuild: true, done: func(r TaskResult) { results <- r }})
		}
		a.mu.Unlock()
		if alive {
			a.signal()
			if r := <-results; r.Err == nil || !IsActorFailure(r.Err) {
				return r
			}
		}
		return a.local.standIn(ctx, a.spec, a.ac.GPUIDs, c)
	}
}

// standIn runs one call on a fresh actor built with spec's constructor,
// on this goroutine, and stops it: the way to remake an actor's lost
// blocks once the actor is gone. It holds the devices the first actor
// held without reserving them: a rebuild is short and rare.
func (l *Local) standIn(ctx context.Context, spec ActorSpec, gpus []int, c ActorCall) TaskResult {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &actorRunner{spec: spec, cancel: cancel, store: l.blockStore(), alloc: l.cfg.alloc, retry: l.cfg.maxRetries,
		ac: &ActorContext{Context: actx, Operator: spec.Operator, Index: spec.Index, GPUIDs: gpus, Alloc: l.cfg.alloc}}
	fn, err := a.construct()
	defer a.cleanup()
	if err != nil {
		return TaskResult{Err: fmt.Errorf("%s: a stand-in actor to rebuild lost blocks: constructor: %w", spec.Operator, err), Worker: -1}
	}
	return a.serve(fn, actorJob{ctx: ctx, call: c, rebuild: true})
}

// sliceRows returns zero-copy slices covering rows [off, off+n) of bs taken
// end to end; the caller releases them.
func sliceRows(bs []blocks.Block, off, n int64) []blocks.Block {
	var out []blocks.Block
	for _, b := range bs {
		rows := b.NumRows()
		if off >= rows {
			off -= rows
			continue
		}
		take := min(rows-off, n)
		out = append(out, b.NewSlice(off, off+take))
		n -= take
		off = 0
		if n == 0 {
			break
		}
	}
	return out
}
