// Package pipeline is Shoal's streaming executor: physical operators joined
// by bounded queues, run by one scheduling loop that admits new tasks only
// while the bytes in flight fit the object-store budget.
//
// Operator state is touched only by the loop goroutine; task completions are
// handed back to it as events, so operators need no locks.
package pipeline

import (
	"time"

	"github.com/shoal-data/shoal/exec"
)

// Bundle is a group of block references that moves between operators as one
// unit. Whoever holds a bundle owns one counted reference to each block.
type Bundle struct {
	Refs []exec.ObjectRef
}

// Rows is the bundle's row count.
func (b Bundle) Rows() int64 {
	var n int64
	for _, r := range b.Refs {
		n += r.Rows
	}
	return n
}

// Bytes is the bundle's size in bytes.
func (b Bundle) Bytes() int64 {
	var n int64
	for _, r := range b.Refs {
		n += r.Bytes
	}
	return n
}

func (b Bundle) release(rt exec.Runtime) {
	for _, r := range b.Refs {
		rt.Release(r)
	}
}

// Operator is a physical operator: the running state of one step of the
// plan. The executor's loop is the only caller of every method.
type Operator interface {
	// Name labels the operator in plans, stats and errors.
	Name() string
	// Inputs are the upstream operators, in input-index order.
	Inputs() []Operator
	// Start is called once before any other call except Name and Inputs.
	Start(env *Env)
	// AddInput hands the operator a bundle from input i; it now owns it.
	AddInput(i int, b Bundle)
	// InputDone says input i will send nothing more.
	InputDone(i int)
	// InputFull reports whether the operator's queue of inputs waiting for a
	// task is full, so upstream outputs should wait where they are.
	InputFull(i int) bool
	// CanDispatch reports whether a task is ready to launch.
	CanDispatch() bool
	// Dispatch launches one task.
	Dispatch()
	// Output returns the next output in order, if one is ready.
	Output() (Bundle, bool)
	// Finished reports that no more outputs will come.
	Finished() bool
	// Cancel releases everything queued and stops launching tasks; outputs of
	// tasks still running are released as they arrive.
	Cancel()
	// Usage reports what the operator holds and expects, for backpressure.
	Usage() Usage
	// Metrics reports what the operator has done so far.
	Metrics() Metrics
}

// Usage is what an operator holds in the object store now and what its
// running tasks are expected to add.
type Usage struct {
	// InputBytes are queued inputs not yet given to a task.
	InputBytes int64
	// OutputBytes are finished outputs not yet taken downstream.
	OutputBytes int64
	// Active is the number of running tasks.
	Active int
	// TaskBytes estimates the output of one more task.
	TaskBytes int64
}

// Metrics are an operator's counters.
type Metrics struct {
	TasksDone   int
	RowsOut     int64
	BytesOut    int64
	BlocksOut   int64
	TaskWall    time.Duration
	RowsIn      int64
	BytesIn     int64
	Backpressed int // times the loop held a ready task back for memory
	// FilesOut counts the files a write's tasks wrote (FilesWrittenKey).
	FilesOut int64
	// Actors is the size of an actor pool now; ActorRestarts counts actors
	// that died and were dropped.
	Actors        int
	ActorRestarts int
}

// Env is what operators get from the executor.
type Env struct {
	rt         exec.Runtime
	submit     func(op Operator, t exec.Task, done func(exec.TaskResult))
	call       func(op Operator, a exec.Actor, track string, c exec.ActorCall, done func(exec.TaskResult))
	startActor func(op Operator, spec exec.ActorSpec, done func(exec.Actor, error))
	fail       func(error)
	// post runs fn on the executor's goroutine, as task completions run;
	// a running task's goroutine hands its early outputs over with it.
	post          func(fn func())
	maxBlockBytes int64
	// maxAhead caps an operator's running tasks plus finished outputs not
	// yet taken downstream.
	maxAhead int
	// concurrency is how many 1-CPU tasks run at once.
	concurrency int
}

// Runtime is the runtime the executor runs on.
func (e *Env) Runtime() exec.Runtime { return e.rt }
