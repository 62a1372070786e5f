package pipeline

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/shoal-data/shoal/exec"
)

// Options tune the executor. The zero value takes every default.
type Options struct {
	// MemoryBudget caps the bytes in flight (queued, buffered and expected
	// from running tasks); default: the runtime's object-store memory.
	MemoryBudget int64
	// Concurrency caps the tasks running at once; default: the runtime's CPUs.
	Concurrency int
	// MaxBlockBytes splits task outputs above it; default 128 MiB.
	MaxBlockBytes int64
	// Prefetch is how many output bundles wait for the consumer; default 2.
	Prefetch int
	// Trace, when set, receives a Chrome trace event JSON document (the
	// {"traceEvents": [...]} format that chrome://tracing and Perfetto open)
	// when the run ends, also on error or cancellation: one complete ("X")
	// event per task that ran, named after its operator, with category
	// "task", pid 1, tid the runtime's worker index (actor calls, and tasks
	// a cluster ran, on tracks of their own named by thread_name events:
	// the actor, or "node-2 · slot 3"), and ts/dur in microseconds from the
	// start of the run. Each run writes one document;
	// a write error is reported in RunStats.TraceErr, not by the stream.
	Trace io.Writer
	// Progress, when set, receives a progress display: one line per
	// operator, upstream first, with its rows out, tasks or blocks done (of
	// the total where the operator knows it), bytes out, and what it waits
	// on: "backpressured" when the executor held a ready task of it back for
	// memory since the last frame, "waiting on <op>" when its consumer's
	// input queue is full ("waiting on consumer" for the root while the
	// stream's prefetched outputs are not taken), or "done". The executor's
	// loop redraws it every 200 ms, moving the cursor up over the previous
	// frame with ANSI escapes, so it is meant for a terminal; it draws a last
	// frame when the run ends. A write error stops the display, not the run.
	//
	// Each line fits ProgressWidth columns (by default the width of the
	// terminal Progress is, re-read every frame; no bound when it is not a
	// terminal): operators are then named by their kinds
	// ("Read→Where→MapBatches") instead of their full labels, and what is
	// still too long is cut. The last frame ends with a summary line.
	Progress      io.Writer
	ProgressWidth int
}

// DefaultMaxBlockBytes is the largest block a task emits before splitting.
const DefaultMaxBlockBytes = 128 << 20

// Stream is a running pipeline: the consumer pulls bundles in order with Next
// and must Close it, which stops all work and waits for it.
type Stream struct {
	rt       exec.Runtime
	out      chan Bundle
	closing  chan struct{}
	closeOne sync.Once
	finished chan struct{}
	err      error // set before out is closed
	ops      []Operator
	stats    *RunStats // set before out is closed

	runningMu sync.Mutex
	running   []string // operators with tasks in flight, upstream first
}

// Next returns the next bundle, io.EOF after the last, or the pipeline's
// error. The caller owns the bundle's references. When ctx (or the run's
// context) ends, the error is a *CanceledError naming the operators that
// were running.
func (s *Stream) Next(ctx context.Context) (Bundle, error) {
	select {
	case b, ok := <-s.out:
		if !ok {
			if s.err != nil {
				return Bundle{}, s.err
			}
			return Bundle{}, io.EOF
		}
		return b, nil
	case <-ctx.Done():
		return Bundle{}, s.Canceled(ctx.Err())
	}
}

// Close stops the pipeline, waits until no task of it runs, and releases
// every block it still holds. It is safe to call more than once.
func (s *Stream) Close() {
	s.closeOne.Do(func() { close(s.closing) })
	// out is unbuffered, so once the loop has finished every bundle not
	// received has been released by its shutdown.
	<-s.finished
}

// Metrics reports each operator's counters, upstream first. Call it after
// the stream has ended or been closed.
func (s *Stream) Metrics() []OperatorMetrics {
	<-s.finished
	out := make([]OperatorMetrics, len(s.ops))
	for i, op := range s.ops {
		out[i] = OperatorMetrics{Name: op.Name(), Metrics: op.Metrics()}
	}
	return out
}

// Stats reports what the run did: per-operator counters and timings, totals,
// and the store's spills. It waits until the run has finished, so call it
// after Next returned io.EOF or an error, or after Close.
func (s *Stream) Stats() *RunStats {
	<-s.finished
	return s.stats
}

// OperatorMetrics names an operator's metrics.
type OperatorMetrics struct {
	Name string
	Metrics
}

type executor struct {
	rt       exec.Runtime
	opts     Options
	ctx      context.Context // cancelled on shutdown: running tasks stop
	cancel   context.CancelFunc
	stream   *Stream
	env      *Env
	ops      []Operator // upstream first; the root is last
	root     Operator
	consumer map[Operator]consumerSlot
	index    map[Operator]int // position in ops
	doneSent map[Operator]bool
	stopped  map[Operator]bool
	running  map[Operator]int // tasks and actor calls in flight, by operator
	// runningChanged: an operator started or stopped having tasks in
	// flight since publishRunning last ran.
	runningChanged bool
	events         chan func()
	active         int   // outstanding events: tasks, actor calls and actor starts
	cpus           int64 // milli-CPUs running tasks hold
	actors         []exec.Actor
	ready          []Bundle
	err            error
	reserve        int64 // per-operator share of the budget that is its own

	// For RunStats and the trace.
	start  time.Time
	cpu0   time.Duration
	store0 exec.StoreStats
	timing map[Operator]*opTiming
	spans  []TaskSpan

	// How long each operator's ready tasks waited for memory, by index.
	held      []time.Duration
	heldSince []time.Time

	progress progress // Options.Progress's display state
	watching watching // the Watchers' state
}

type consumerSlot struct {
	op    Operator
	input int
}

// Run starts executing the operator tree under root and returns its stream.
// Work stops when ctx is cancelled or the stream is closed.
func Run(ctx context.Context, rt exec.Runtime, root Operator, opts Options) *Stream {
	res := rt.Resources()
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = res.ObjectStoreMemory
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = max(res.CPUs, res.TaskSlots, 1)
	}
	if opts.MaxBlockBytes <= 0 {
		opts.MaxBlockBytes = DefaultMaxBlockBytes
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 2
	}
	e := &executor{
		rt:       rt,
		opts:     opts,
		root:     root,
		consumer: make(map[Operator]consumerSlot),
		doneSent: make(map[Operator]bool),
		stopped:  make(map[Operator]bool),
		running:  make(map[Operator]int),
		events:   make(chan func(), 64),
		timing:   make(map[Operator]*opTiming),
		start:    time.Now(),
		cpu0:     processCPU(),
		store0:   rt.Stats(),
	}
	e.ctx, e.cancel = context.WithCancel(ctx)
	e.walk(root)
	e.held, e.heldSince = make([]time.Duration, len(e.ops)), make([]time.Time, len(e.ops))
	e.index = make(map[Operator]int, len(e.ops))
	for i, op := range e.ops {
		e.index[op] = i
	}
	e.stream = &Stream{rt: rt, out: make(chan Bundle), closing: make(chan struct{}), finished: make(chan struct{}), ops: e.ops}
	e.env = &Env{rt: rt, submit: e.submit, call: e.call, startActor: e.startActor, fail: e.fail, post: e.post,
		maxBlockBytes: opts.MaxBlockBytes, maxAhead: max(8, 4*opts.Concurrency), concurrency: opts.Concurrency}
	taskOps := 0
	for _, op := range e.ops {
		if _, ok := op.(interface{ base() *taskOp }); ok {
			taskOps++
		}
	}
	e.reserve = opts.MemoryBudget / 2 / int64(max(taskOps, 1))
	go e.loop()
	return e.stream
}

// walk lists operators upstream first and records who consumes whom.
func (e *executor) walk(op Operator) {
	for i, in := range op.Inputs() {
		e.consumer[in] = consumerSlot{op: op, input: i}
		e.walk(in)
	}
	e.ops = append(e.ops, op)
}

func (e *executor) submit(op Operator, t exec.Task, done func(exec.TaskResult)) {
	e.active++
	e.inFlight(op, 1)
	need := milliCPUs(t.CPUs)
	e.cpus += need
	e.rt.Submit(e.ctx, t, func(res exec.TaskResult) {
		end := time.Now()
		e.events <- func() {
			e.cpus -= need
			e.record(op, t.Index, res, end, "")
			done(res) // may fail the run: op still counts as running
			e.inFlight(op, -1)
		}
	})
}

// post runs fn on the loop's goroutine. It is for a task's own goroutine
// while the task runs (its submit counts it in active, and the loop's
// decrement for this event is given back), so its events all come before
// the task's completion and none is left when active reaches 0.
func (e *executor) post(fn func()) {
	e.events <- func() {
		e.active++
		fn()
	}
}

// call runs c on actor a; track names the actor in the trace.
func (e *executor) call(op Operator, a exec.Actor, track string, c exec.ActorCall, done func(exec.TaskResult)) {
	e.active++
	e.inFlight(op, 1)
	a.Call(e.ctx, c, func(res exec.TaskResult) {
		end := time.Now()
		e.events <- func() {
			e.record(op, c.Index, res, end, track)
			done(res)
			e.inFlight(op, -1)
		}
	})
}

// startActor starts an actor for op; the executor stops it at shutdown if
// op has not, and waits for it.
func (e *executor) startActor(op Operator, spec exec.ActorSpec, done func(exec.Actor, error)) {
	e.active++
	e.rt.StartActor(e.ctx, spec, func(a exec.Actor, err error) {
		e.events <- func() {
			if a != nil {
				e.actors = append(e.actors, a)
			}
			done(a, err)
		}
	})
}

// fail ends the run with err, the first error; once the run's context has
// ended, a context error names the operators that were running.
func (e *executor) fail(err error) {
	if e.err == nil {
		if e.ctx.Err() != nil {
			err = e.stream.Canceled(err)
		}
		e.err = err
	}
}

func (e *executor) loop() {
	defer close(e.stream.finished)
	for _, op := range e.ops {
		op.Start(e.env)
	}
	var tick, scaleTick <-chan time.Time
	e.startWatching()
	if e.opts.Progress != nil || e.watching.ws != nil {
		t := time.NewTicker(min(progressInterval, watchInterval))
		defer t.Stop()
		tick = t.C
	}
	var scalers []scaler
	for _, op := range e.ops {
		if s, ok := op.(scaler); ok {
			scalers = append(scalers, s)
		}
	}
	if len(scalers) > 0 {
		t := time.NewTicker(scaleInterval)
		defer t.Stop()
		scaleTick = t.C
	}
	closed := false
	for e.err == nil && !closed {
		e.route()
		for _, s := range scalers {
			s.scale(time.Now())
		}
		e.dispatch()
		if e.err != nil || e.root.Finished() && len(e.ready) == 0 {
			break
		}
		e.publishRunning() // operators whose tasks ended since the last wait
		var out chan Bundle
		var first Bundle
		if len(e.ready) > 0 {
			out, first = e.stream.out, e.ready[0]
		}
		select {
		case out <- first:
			e.ready[0] = Bundle{}
			e.ready = e.ready[1:]
		case ev := <-e.events:
			e.active--
			ev()
		case <-e.ctx.Done():
			e.fail(e.ctx.Err())
		case <-e.stream.closing:
			closed = true
		case <-tick:
			e.renderProgress(false)
			e.publish(false)
		case <-scaleTick:
		}
	}
	e.shutdown()
}

// shutdown cancels running tasks, waits for them, and releases everything.
func (e *executor) shutdown() {
	e.cancel()
	for e.active > 0 {
		ev := <-e.events
		e.active--
		ev()
	}
	for _, op := range e.ops {
		op.Cancel()
	}
	// Operators stop their actors on Cancel; stop any they never saw (a
	// start that completed during shutdown) and wait, so no actor outlives
	// the run.
	for _, a := range e.actors {
		a.Stop()
	}
	for _, a := range e.actors {
		<-a.Done()
	}
	for _, b := range e.ready {
		b.release(e.rt)
	}
	e.ready = nil
	e.stream.err = e.err
	e.stream.stats = e.finishStats()
	e.renderProgress(true)
	e.publish(true)
	close(e.stream.out)
}

// route moves finished outputs downstream as far as queues allow, tells
// operators when an input is done, and stops operators nobody needs.
func (e *executor) route() {
	for _, op := range e.ops {
		if e.stopped[op] {
			continue
		}
		slot, hasConsumer := e.consumer[op]
		for {
			if hasConsumer {
				if slot.op.InputFull(slot.input) {
					break
				}
			} else if len(e.ready) >= e.opts.Prefetch {
				break
			}
			b, ok := op.Output()
			if !ok {
				break
			}
			if hasConsumer {
				slot.op.AddInput(slot.input, b)
			} else {
				e.ready = append(e.ready, b)
			}
		}
		if hasConsumer && !e.doneSent[op] && op.Finished() {
			e.doneSent[op] = true
			slot.op.InputDone(slot.input)
		}
	}
	// An operator that wants no more input (a satisfied limit) stops its
	// whole upstream.
	for i := len(e.ops) - 1; i >= 0; i-- {
		op := e.ops[i]
		if l, ok := op.(interface{ wantsInput() bool }); ok && !l.wantsInput() {
			for _, in := range op.Inputs() {
				e.stop(in)
			}
		}
	}
}

func (e *executor) stop(op Operator) {
	if e.stopped[op] {
		return
	}
	e.stopped[op] = true
	op.Cancel()
	for _, in := range op.Inputs() {
		e.stop(in)
	}
}

// dispatch launches tasks while slots are free and memory allows, preferring
// operators nearest the output so data drains before more is read.
func (e *executor) dispatch() {
	limit := e.taskCPULimit()
	for {
		op := e.pick(limit - e.cpus)
		if op == nil {
			return
		}
		op.Dispatch()
	}
}

// taskCPULimit is the milli-CPUs tasks may hold at once: the concurrency,
// less the CPUs that actors hold, but at least one CPU so tasks always
// progress.
func (e *executor) taskCPULimit() int64 {
	n := float64(e.opts.Concurrency)
	if res := e.rt.Resources(); res.ActorCPUs > 0 {
		n = min(n, float64(res.CPUs)-res.ActorCPUs)
	}
	return milliCPUs(max(n, 1))
}

// pick chooses the next operator to dispatch; an operator that runs tasks
// is considered only if one of its tasks fits the free milli-CPUs.
func (e *executor) pick(free int64) Operator {
	var total int64
	usage := make([]Usage, len(e.ops))
	for i, op := range e.ops {
		u := op.Usage()
		usage[i] = u
		total += u.InputBytes + u.OutputBytes + int64(u.Active)*u.TaskBytes
	}
	for _, b := range e.ready {
		total += b.Bytes()
	}
	var blocked Operator
	for i := len(e.ops) - 1; i >= 0; i-- {
		op := e.ops[i]
		if e.stopped[op] || !onActors(op) && taskMilliCPUs(op) > free || !op.CanDispatch() {
			continue
		}
		// A bounded queue pushes back by count too: while the consumer's
		// queue is full, or op still holds outputs the consumer had no room
		// for when route ran, more output could only pile up here. (The
		// queue alone is not enough: the consumer, dispatched first, takes
		// one from it, and op would refill its look-ahead window each time.)
		if slot, ok := e.consumer[op]; ok && (slot.op.InputFull(slot.input) || holdsOutputs(op)) {
			continue
		}
		u := usage[i]
		// An operator is charged for what it produced and nobody has taken
		// yet: its outputs and its consumer's queued inputs.
		own := u.OutputBytes + int64(u.Active)*u.TaskBytes
		if slot, ok := e.consumer[op]; ok {
			own += usage[e.index[slot.op]].InputBytes
		}
		if own+u.TaskBytes <= e.reserve || total+u.TaskBytes <= e.opts.MemoryBudget {
			e.resume(i)
			return op
		}
		if blocked == nil {
			blocked = op
		}
	}
	// Liveness: with nothing running and the consumer waiting, run the most
	// downstream task anyway, so the pipeline cannot stall.
	if blocked != nil && e.active == 0 && len(e.ready) == 0 {
		e.resume(e.index[blocked])
		return blocked
	}
	if blocked != nil {
		bumpBackpressure(blocked)
		e.holdBack(e.index[blocked])
	}
	return nil
}

// holdsOutputs reports that op has outputs in order waiting to move
// downstream.
func holdsOutputs(op Operator) bool {
	t, ok := op.(interface{ base() *taskOp })
	return ok && len(t.base().outQueue) > 0
}

func bumpBackpressure(op Operator) {
	if t, ok := op.(interface{ base() *taskOp }); ok {
		t.base().metrics.Backpressed++
	}
}
