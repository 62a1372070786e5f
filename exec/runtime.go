// Package exec is the seam between Shoal's executor and the machine: the
// Runtime interface (put, get and release blocks; submit tasks; report
// resources) and the local, embedded runtime that implements it with a worker
// pool and an object store that spills to disk.
//
// A cluster runtime implements the same interface over a head and nodes; the
// streaming executor in package pipeline sees only this interface.
package exec

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

// ObjectID names a block in a runtime's object store.
type ObjectID uint64

// ObjectRef is a reference to a block held in an object store, with the
// metadata planners need (rows, bytes, schema) and its lineage (the operator
// and task that produced it). It is a small value: copying it does not copy
// or retain the block. Counted references are taken with Runtime.Retain and
// given back with Runtime.Release.
type ObjectRef struct {
	ID ObjectID
	blocks.Meta
	// Producer names the operator whose task made the block.
	Producer string
}

// Resources is what a runtime offers to tasks.
type Resources struct {
	// CPUs is the number of tasks that run at once.
	CPUs int
	// GPUs is the number of GPUs declared or detected; actors reserve them.
	GPUs int
	// Memory is what actors may reserve, in bytes.
	Memory int64
	// ActorCPUs are the CPUs running actors hold now: the executor runs that
	// many fewer tasks at once.
	ActorCPUs float64
	// ObjectStoreMemory is the store's memory budget in bytes: above it, blocks
	// spill to disk and the executor stops admitting new tasks.
	ObjectStoreMemory int64
	// TaskSlots is how many tasks of 1 CPU the executor keeps in flight; 0
	// means CPUs. A cluster keeps more in flight than it has CPUs, so each
	// node has its next task waiting when one ends.
	TaskSlots int
}

// Task is a unit of work: a function from input blocks to output blocks.
type Task struct {
	// Operator names the operator the task belongs to, for errors and stats.
	Operator string
	// Index is the task's position within its operator (the block index).
	Index int
	// Inputs are fetched from the store and passed to Run. The runtime borrows
	// them: the submitter keeps its references until the task is done.
	Inputs []ObjectRef
	// Run computes the outputs. It must release nothing it did not create;
	// each returned block carries one reference that the runtime takes over.
	Run func(tc *TaskContext, inputs []blocks.Block) ([]blocks.Block, error)
	// Spec, when set, describes Run as data (BuildTask(*Spec) builds the
	// same function), so a cluster runtime may run the task on a node. Tasks
	// without one run in the process that planned them.
	Spec *TaskSpec
	// MaxRetries is how often a retryable failure is retried: 0 means the
	// runtime default (3), a negative value means never.
	MaxRetries int
	// CPUs the task holds while it runs: 0 means 1 and a negative value
	// none. A fraction (or none) lets more tasks that mostly wait (on I/O,
	// on a remote service) run at once.
	CPUs float64
	// Partial, when set, lets Run hand outputs over before it returns
	// (TaskContext.Emit), so that a long task (a file read whole) feeds
	// the next operator as it goes. Each is stored and passed to Partial,
	// in order, from the task's goroutine; the submitter owns the
	// reference. Outputs handed so are not in TaskResult.Outputs. A retried
	// attempt drops the outputs earlier attempts handed over, so a task
	// that emits must produce the same blocks each time (reads do).
	// Runtimes that cannot (a task run on a cluster node, a store that
	// rebuilds lost blocks from lineage) leave Emit nil.
	Partial func(ObjectRef)
}

// TaskContext is what a running task may use.
type TaskContext struct {
	context.Context
	// Alloc allocates the task's output buffers.
	Alloc memory.Allocator
	// Operator and Index identify the task, as in Task.
	Operator string
	Index    int
	// Attempt counts from 0; it is above 0 when a task is retried.
	Attempt int
	// Emit, when not nil, hands b over as an output now (see
	// Task.Partial), taking the caller's reference to it. It fails when the
	// task is cancelled or the store refuses the block.
	Emit func(b blocks.Block) error
	// ReadBlocksStayInTask is set by task code that consumes every block a
	// read hands it with Shoal's own kernels and releases it, holding none
	// of its memory afterwards (an aggregation fused into a read): the
	// reader may then recycle the blocks' fixed-width buffers for the
	// blocks that follow.
	ReadBlocksStayInTask bool
}

// TaskResult is what a finished task reports.
type TaskResult struct {
	// Outputs are stored blocks, each with one reference owned by the
	// submitter. Empty when Err is set.
	Outputs []ObjectRef
	Err     error
	// Wall is the time the task ran, over all attempts.
	Wall time.Duration
	// CPU is the CPU time Run used on its own thread, over all attempts (0
	// where the platform cannot tell).
	CPU time.Duration
	// Attempts is how many times Run was called.
	Attempts int
	// Start is when a worker picked the task up, before its first attempt.
	// Zero when no worker did.
	Start time.Time
	// Worker is the index of the worker that ran the task, in [0, workers)
	// for the local runtime; -1 when no worker ran it (failed with ErrClosed
	// before it started). Runtimes without numbered workers leave it 0.
	Worker int
	// Node names the cluster node that ran the task; "" when it ran in
	// this process.
	Node string
}

// Runtime is what the executor needs from the machine.
type Runtime interface {
	// Put stores b and returns a reference counted once. The store takes its
	// own reference to b; the caller keeps (and must release) its own. It
	// fails (a *SpillError for the local store) when the store is over its
	// budget and cannot spill.
	Put(b blocks.Block, producer string) (ObjectRef, error)
	// Get returns the block ref names, restored from disk if it was spilled.
	// The caller owns one reference to the result and must Release it.
	Get(ctx context.Context, ref ObjectRef) (blocks.Block, error)
	// Retain adds a counted reference to ref.
	Retain(ref ObjectRef)
	// Release drops a counted reference; the block is freed at zero.
	Release(ref ObjectRef)
	// Submit queues t and calls done exactly once, from any goroutine, when it
	// has finished, failed or been cancelled through ctx.
	Submit(ctx context.Context, t Task, done func(TaskResult))
	// StartActor reserves spec's resources and starts an actor; started is
	// called exactly once, from another goroutine, with the actor or the
	// reason it could not start. ctx's values reach the constructor, but not
	// its cancellation: an actor lives until stopped or the runtime closes.
	StartActor(ctx context.Context, spec ActorSpec, started func(Actor, error))
	// Resources reports what the runtime offers.
	Resources() Resources
	// Allocator is the allocator blocks of this runtime are built with.
	Allocator() memory.Allocator
	// Stats reports the object store's counters.
	Stats() StoreStats
	// Close stops the workers, frees every block and removes spill files.
	Close() error
}

// StoreStats are an object store's counters.
type StoreStats struct {
	Objects       int   // blocks held
	MemoryBytes   int64 // bytes of blocks held in memory
	SpilledBytes  int64 // bytes of blocks held on disk now
	PeakMemory    int64 // highest MemoryBytes seen
	SpilledTotal  int64 // bytes written to disk over the store's life
	RestoredTotal int64 // bytes read back from disk over the store's life
	Budget        int64
	// HardLimit is the memory the store may hold while its spill directory
	// is full; past it Put fails (see SpillError).
	HardLimit     int64
	SpillFailures int // spills that could not be written; those blocks stayed in memory
	// SpilledByProducer splits SpilledTotal by the producer named at Put
	// (the operator whose task made the block).
	SpilledByProducer map[string]int64
	// LastSpillError is why the latest failed spill failed (a full disk, an
	// unwritable spill directory), nil if none has.
	LastSpillError error
}

func (s StoreStats) String() string {
	return fmt.Sprintf("objects=%d memory=%d spilled=%d peak=%d budget=%d", s.Objects, s.MemoryBytes, s.SpilledBytes, s.PeakMemory, s.Budget)
}
