package exec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/semaphore"

	"github.com/shoal-data/shoal/blocks"
)

// DefaultMaxRetries is how often a task failing with a retryable error is retried.
const DefaultMaxRetries = 3

// maxBackoff caps the wait between retries.
const maxBackoff = 2 * time.Second

// DefaultStoreFraction is the share of the machine's memory the local object
// store uses when no budget is given (Ray uses the same 30%).
const DefaultStoreFraction = 0.3

// LocalOption configures a Local runtime.
type LocalOption func(*localConfig)

type localConfig struct {
	workers    int
	budget     int64
	goMemLimit int64
	hardLimit  int64
	spillDir   string
	alloc      memory.Allocator
	maxRetries int
	gpuIDs     []int // nil: detect
	memory     int64
	store      ObjectStore
	remote     RemoteRunner
	slots      int
}

// WithWorkers sets the CPUs tasks share (default: GOMAXPROCS): as many
// tasks of 1 CPU run at once, more of tasks that ask for a fraction.
func WithWorkers(n int) LocalOption { return func(c *localConfig) { c.workers = n } }

// WithObjectStoreMemory sets the store's memory budget in bytes (default:
// DefaultStoreFraction of the machine's or container's memory).
func WithObjectStoreMemory(bytes int64) LocalOption {
	return func(c *localConfig) { c.budget = bytes }
}

// WithMemoryHardLimit sets the memory in bytes the object store may hold
// while its spill directory is full (default: DefaultHardLimit of the
// budget, twice the budget at most). Past it, the task whose output does
// not fit fails with a *SpillError naming the directory and the space
// needed.
func WithMemoryHardLimit(bytes int64) LocalOption {
	return func(c *localConfig) { c.hardLimit = bytes }
}

// WithGoMemoryLimit sets the runtime's share of the Go soft memory limit
// (debug.SetMemoryLimit, see memlimit.go) in bytes; the default is twice
// the object store's budget (the store's share and as much again for work
// outside the store). Negative leaves the limit alone. A limit the program
// set itself (GOMEMLIMIT) is never changed.
func WithGoMemoryLimit(bytes int64) LocalOption { return func(c *localConfig) { c.goMemLimit = bytes } }

// WithSpillDir sets where blocks spill (default: os.TempDir()). A directory
// that cannot be created or written fails the first task that needs to
// spill, with a *SpillError naming it.
func WithSpillDir(dir string) LocalOption { return func(c *localConfig) { c.spillDir = dir } }

// WithAllocator sets the allocator for blocks the runtime builds (default:
// memory.DefaultAllocator). Tests pass a memory.CheckedAllocator to find leaks.
func WithAllocator(mem memory.Allocator) LocalOption {
	return func(c *localConfig) { c.alloc = mem }
}

// WithMaxRetries sets the default retry count for retryable task failures
// (default DefaultMaxRetries; negative disables retries).
func WithMaxRetries(n int) LocalOption { return func(c *localConfig) { c.maxRetries = n } }

// WithGPUs declares n GPUs, devices 0 to n-1, instead of detecting them
// (see DetectGPUs). Tests declare GPUs a machine does not have; 0 turns
// detection off.
func WithGPUs(n int) LocalOption {
	return func(c *localConfig) {
		c.gpuIDs = make([]int, max(n, 0))
		for i := range c.gpuIDs {
			c.gpuIDs[i] = i
		}
	}
}

// WithGPUIDs declares the GPUs by device index.
func WithGPUIDs(ids ...int) LocalOption {
	return func(c *localConfig) { c.gpuIDs = append([]int{}, ids...) }
}

// ObjectStore is where a runtime keeps blocks: *Store in this process, or
// a store whose blocks live elsewhere (cluster.RemoteStore keeps them on a
// cluster's nodes). The runtime closes it.
type ObjectStore interface {
	Put(b blocks.Block, producer string) (ObjectRef, error)
	Get(ctx context.Context, ref ObjectRef) (blocks.Block, error)
	Retain(ref ObjectRef)
	Release(ref ObjectRef)
	Stats() StoreStats
	Close() error
}

var _ ObjectStore = (*Store)(nil)

// WithObjectStore keeps the runtime's blocks in s instead of an in-process
// store (WithObjectStoreMemory, WithMemoryHardLimit and WithSpillDir then do not apply; the
// budget the executor uses is s.Stats().Budget).
func WithObjectStore(s ObjectStore) LocalOption { return func(c *localConfig) { c.store = s } }

// RemoteRunner runs tasks in other processes: a cluster's nodes.
type RemoteRunner interface {
	// RunRemote runs t, which has a Spec, once, and returns its outputs as
	// references in the runtime's store and the CPU time it used there. When the runner could not start
	// the task because an input is lost, the error wraps ErrBlockLost: the
	// runtime rebuilds the lost inputs from lineage and calls again.
	RunRemote(ctx context.Context, t Task, attempt int) (RemoteRun, error)
}

// RemoteRun is what a remote runner reports of a task it ran.
type RemoteRun struct {
	Outputs []ObjectRef
	// CPU is the CPU time the task used there.
	CPU time.Duration
	// Node names where it ran ("node-2"), for timelines.
	Node string
}

// RemoteActors is a RemoteRunner that also places actors whose spec has
// a Spec, on nodes with the CPUs, GPUs and memory they ask for.
type RemoteActors interface {
	RemoteRunner
	// StartRemoteActor starts an actor somewhere with the resources, as
	// Runtime.StartActor does; a *ResourceError when no node has them.
	StartRemoteActor(ctx context.Context, spec ActorSpec, started func(Actor, error))
	// RemoteResources is what the remote offers actors: GPUs, Memory, and
	// the CPUs its actors hold now (ActorCPUs).
	RemoteResources() Resources
}

// WithRemote runs tasks that carry a Spec on r instead of in this process;
// tasks without one still run here. Use it with WithObjectStore over the
// store r puts outputs in, and WithWorkers set to the CPUs r offers, which
// bounds the tasks in flight.
func WithRemote(r RemoteRunner) LocalOption { return func(c *localConfig) { c.remote = r } }

// RemoteTasks is how many tasks ran on the remote runner (WithRemote).
func (l *Local) RemoteTasks() int64 { return l.remote.Load() }

// WithTaskSlots keeps n tasks of 1 CPU in flight instead of WithWorkers'
// count (Resources.TaskSlots): for a remote runner whose nodes queue
// tasks, so none idles while the next one travels.
func WithTaskSlots(n int) LocalOption { return func(c *localConfig) { c.slots = n } }

// ShipsTasks reports whether tasks with a Spec run in other processes, so
// a plan whose functions cannot be shipped must be refused.
func (l *Local) ShipsTasks() bool { return l.cfg.remote != nil }

// WithMemory sets the memory actors may reserve, in bytes (default: the
// machine's memory less the object store's budget).
func WithMemory(bytes int64) LocalOption { return func(c *localConfig) { c.memory = bytes } }

// Local is the embedded runtime: a pool of worker goroutines sized to the
// cores and an in-process object store that spills to local disk. The zero
// value is not usable; call NewLocal. Close it when done.
type Local struct {
	cfg   localConfig
	store ObjectStore

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []job
	closed  bool
	lineage *lineage        // set when the store can lose blocks
	remote  atomic.Int64    // tasks run on the remote runner
	closing context.Context // cancelled by Close: stops a dispatch waiting for CPUs
	stop    context.CancelFunc
	cpus    *semaphore.Weighted // milli-CPUs free for tasks
	slots   []bool              // worker indices in use, for traces
	running sync.WaitGroup      // the dispatcher and every worker
	idle    chan started        // taken by workers waiting for a task

	releaseMemLimit func() // takes this runtime's share off the Go memory limit

	// Actors and what they hold, guarded by mu.
	actors      map[*actorRunner]struct{}
	actorGroup  sync.WaitGroup
	actorCPUs   float64
	actorMemory int64
	gpuOnce     sync.Once
	gpuIDs      []int
	freeGPUs    []int
	gpuErr      error
}

type job struct {
	ctx  context.Context
	task Task
	done func(TaskResult)
}

// NewLocal starts a local runtime.
func NewLocal(opts ...LocalOption) *Local {
	cfg := localConfig{alloc: memory.DefaultAllocator, maxRetries: DefaultMaxRetries}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.workers <= 0 {
		cfg.workers = runtime.GOMAXPROCS(0)
	}
	if cfg.budget <= 0 {
		cfg.budget = int64(float64(SystemMemory()) * DefaultStoreFraction)
	}
	if cfg.memory <= 0 {
		cfg.memory = max(SystemMemory()-cfg.budget, 0)
	}
	store := cfg.store
	if store == nil {
		store = NewStore(cfg.alloc, cfg.budget, cfg.spillDir, StoreHardLimit(cfg.hardLimit))
	} else if b := store.Stats().Budget; b > 0 {
		cfg.budget = b
	}
	share := cfg.goMemLimit
	if share == 0 {
		share = 2 * cfg.budget
	}
	l := &Local{cfg: cfg, store: store, actors: make(map[*actorRunner]struct{}), releaseMemLimit: holdMemoryLimit(share),
		idle: make(chan started)}
	l.cond = sync.NewCond(&l.mu)
	if lossy, ok := store.(LossyStore); ok {
		l.lineage = newLineage(lossy, l.execute)
	}
	l.closing, l.stop = context.WithCancel(context.Background())
	l.cpus = semaphore.NewWeighted(int64(max(cfg.workers, cfg.slots)) * milliCPU)
	l.running.Add(1)
	go l.dispatch()
	return l
}

// Put implements Runtime.
func (l *Local) Put(b blocks.Block, producer string) (ObjectRef, error) {
	return l.store.Put(b, producer)
}

// Get implements Runtime. Over a LossyStore, a lost block is rebuilt from
// its lineage: the tasks that made it (and, where those inputs were freed
// or lost too, the tasks that made those) run again.
func (l *Local) Get(ctx context.Context, ref ObjectRef) (blocks.Block, error) {
	b, err := l.store.Get(ctx, ref)
	if err == nil || l.lineage == nil || !errors.Is(err, ErrBlockLost) {
		return b, err
	}
	if err := l.lineage.restore(ctx, ref, err); err != nil {
		return nil, err
	}
	return l.store.Get(ctx, ref)
}

// Retain implements Runtime.
func (l *Local) Retain(ref ObjectRef) { l.store.Retain(ref) }

// Release implements Runtime.
func (l *Local) Release(ref ObjectRef) { l.store.Release(ref) }

// Resources implements Runtime.
func (l *Local) Resources() Resources {
	l.detectGPUs()
	l.mu.Lock()
	defer l.mu.Unlock()
	res := Resources{CPUs: l.cfg.workers, GPUs: len(l.gpuIDs), Memory: l.cfg.memory,
		ObjectStoreMemory: l.cfg.budget, ActorCPUs: l.actorCPUs, TaskSlots: l.cfg.slots}
	if ra, ok := l.cfg.remote.(RemoteActors); ok {
		// Actors go to the nodes: theirs are the GPUs and memory that count.
		r := ra.RemoteResources()
		res.GPUs, res.Memory, res.ActorCPUs = r.GPUs, r.Memory, res.ActorCPUs+r.ActorCPUs
	}
	return res
}

// Allocator implements Runtime.
func (l *Local) Allocator() memory.Allocator { return l.cfg.alloc }

// Stats implements Runtime.
func (l *Local) Stats() StoreStats { return l.store.Stats() }

// Submit implements Runtime. Tasks run in submission order as workers free up.
func (l *Local) Submit(ctx context.Context, t Task, done func(TaskResult)) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		done(TaskResult{Err: ErrClosed, Worker: -1})
		return
	}
	l.queue = append(l.queue, job{ctx: ctx, task: t, done: done})
	l.mu.Unlock()
	l.cond.Signal()
}

// Close stops the workers after the tasks they are running, fails queued
// tasks with ErrClosed, frees all blocks and removes spill files.
func (l *Local) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	pending := l.queue
	l.queue = nil
	l.mu.Unlock()
	l.stop()
	l.cond.Broadcast()
	for _, j := range pending {
		j.done(TaskResult{Err: ErrClosed, Worker: -1})
	}
	l.stopActors()
	l.running.Wait()
	defer l.releaseMemLimit()
	return l.store.Close()
}

// milliCPU is the unit CPU reservations are counted in.
const milliCPU = 1000

// taskWeight is what t holds of the runtime's CPUs, in milli-CPUs: 1 CPU
// unless it asks for a fraction or none, never more than there is.
func (l *Local) taskWeight(t Task) int64 {
	w := int64(milliCPU)
	switch {
	case t.CPUs < 0:
		w = 0
	case t.CPUs > 0:
		w = int64(math.Ceil(t.CPUs * milliCPU))
	}
	return min(w, int64(max(l.cfg.workers, l.cfg.slots))*milliCPU)
}

// dispatch starts queued tasks in submission order, each once the CPUs it
// holds are free, on a goroutine of its own.
func (l *Local) dispatch() {
	defer l.running.Done()
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && !l.closed {
			l.cond.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		j := l.queue[0]
		l.queue[0] = job{}
		l.queue = l.queue[1:]
		l.mu.Unlock()
		w := l.taskWeight(j.task)
		if err := l.cpus.Acquire(l.closing, w); err != nil {
			j.done(TaskResult{Err: ErrClosed, Worker: -1})
			return // Close fails the rest of the queue
		}
		id := l.takeSlot()
		st := started{job: j, weight: w, slot: id}
		select {
		case l.idle <- st:
		default:
			l.running.Add(1)
			go l.worker(st)
		}
	}
}

// started is a job that has its CPUs and its worker index.
type started struct {
	job
	weight int64
	slot   int
}

// idleWorkerLinger is how long a worker waits for its next task before
// it exits. Reusing workers spares each task a fresh goroutine whose
// stack grows (copied each time) down the deep call of a task: 2 µs of a
// small task's cost. Lingering briefly keeps a burst's goroutines for the
// next task without holding them after the work is done.
const idleWorkerLinger = 100 * time.Millisecond

// worker runs st, then the tasks handed to it while it lingers.
func (l *Local) worker(st started) {
	defer l.running.Done()
	linger := time.NewTimer(idleWorkerLinger)
	defer linger.Stop()
	for {
		res := l.run(st.ctx, st.task)
		res.Worker = st.slot
		l.freeSlot(st.slot)
		l.cpus.Release(st.weight)
		st.done(res)
		st = started{}
		linger.Reset(idleWorkerLinger)
		select {
		case st = <-l.idle:
		case <-linger.C:
			return
		case <-l.closing.Done():
			return
		}
	}
}

// takeSlot numbers a running task with the smallest free worker index.
func (l *Local) takeSlot() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, used := range l.slots {
		if !used {
			l.slots[i] = true
			return i
		}
	}
	l.slots = append(l.slots, true)
	return len(l.slots) - 1
}

func (l *Local) freeSlot(id int) {
	l.mu.Lock()
	l.slots[id] = false
	l.mu.Unlock()
}

// run executes a task and records its lineage.
func (l *Local) run(ctx context.Context, t Task) TaskResult {
	res := l.execute(ctx, t)
	if l.lineage != nil && res.Err == nil {
		l.lineage.record(t, res.Outputs, nil)
	}
	return res
}

// execute runs a task with retries on retryable errors: on the remote
// runner when the task has a Spec and there is one, else here.
func (l *Local) execute(ctx context.Context, t Task) TaskResult {
	var cpu time.Duration
	if l.cfg.remote != nil && t.Spec != nil {
		l.remote.Add(1)
		var node string
		res := runWithRetries(ctx, t, l.cfg.maxRetries, func(ctx context.Context, attempt int) ([]ObjectRef, error) {
			return l.runRemote(ctx, t, attempt, &cpu, &node)
		})
		res.CPU, res.Node = cpu, node
		return res
	}
	// Outputs handed over early survive a failed attempt, and the next
	// attempt skips as many. With lineage they could not be rebuilt.
	var handed *int
	if t.Partial != nil && l.lineage == nil {
		handed = new(int)
	}
	res := runWithRetries(ctx, t, l.cfg.maxRetries, func(ctx context.Context, attempt int) ([]ObjectRef, error) {
		return runOnce(ctx, t, attempt, l.cfg.alloc, l.blockStore(), &cpu, handed)
	})
	res.CPU = cpu
	return res
}

// runRemote runs t on the remote runner, first rebuilding inputs it finds
// lost, and notes where it ran last. Each round rebuilds at least one lost
// input, so it ends.
func (l *Local) runRemote(ctx context.Context, t Task, attempt int, cpu *time.Duration, node *string) ([]ObjectRef, error) {
	for {
		run, err := l.cfg.remote.RunRemote(ctx, t, attempt)
		*cpu += run.CPU
		if run.Node != "" {
			*node = run.Node
		}
		if err == nil || l.lineage == nil || !errors.Is(err, ErrBlockLost) {
			return run.Outputs, err
		}
		restored := false
		for _, in := range t.Inputs {
			if !l.lineage.store.Lost(in) {
				continue
			}
			if rerr := l.lineage.restore(ctx, in, err); rerr != nil {
				return nil, rerr
			}
			restored = true
		}
		if !restored {
			return nil, err
		}
	}
}

// blockStore is where tasks get inputs and put outputs: the runtime itself
// when lost inputs are rebuilt on the way, else the store directly.
func (l *Local) blockStore() blockStore {
	if l.lineage != nil {
		return l
	}
	return l.store
}

// blockStore is what running a task needs from an object store.
type blockStore interface {
	Get(ctx context.Context, ref ObjectRef) (blocks.Block, error)
	Put(b blocks.Block, producer string) (ObjectRef, error)
	Release(ref ObjectRef)
}

// runWithRetries calls attempt until it succeeds, fails with an error that
// is not retryable, or has been retried t.MaxRetries times (defaultRetries
// when 0), backing off exponentially between attempts.
func runWithRetries(ctx context.Context, t Task, defaultRetries int, attempt func(ctx context.Context, attempt int) ([]ObjectRef, error)) TaskResult {
	start := time.Now()
	retries := t.MaxRetries
	if retries == 0 {
		retries = defaultRetries
	}
	res := TaskResult{Start: start}
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			res.Err = err
			break
		}
		outs, err := attempt(ctx, n)
		res.Attempts = n + 1
		if err == nil {
			res.Outputs = outs
			break
		}
		if ctx.Err() != nil {
			res.Err = ctx.Err()
			break
		}
		if n >= retries || !IsRetryable(err) || IsActorFailure(err) {
			res.Err = &TaskError{Operator: t.Operator, Index: t.Index, Attempts: res.Attempts, Err: err}
			break
		}
		backoff := min(time.Duration(10<<min(n, 10))*time.Millisecond, maxBackoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
	}
	res.Wall = time.Since(start)
	return res
}

// runOnce runs t once: fetch inputs, call Run with panics recovered, store
// outputs. The CPU time Run used on its thread is added to *cpu. When
// handed is not nil, Run may emit outputs early (Task.Partial); *handed
// counts those earlier attempts handed over, which this one skips.
func runOnce(ctx context.Context, t Task, attempt int, alloc memory.Allocator, store blockStore, cpu *time.Duration, handed *int) (refs []ObjectRef, err error) {
	inputs := make([]blocks.Block, 0, len(t.Inputs))
	defer func() {
		for _, b := range inputs {
			b.Release()
		}
	}()
	for _, ref := range t.Inputs {
		b, err := store.Get(ctx, ref)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, b)
	}
	tc := &TaskContext{Context: ctx, Alloc: alloc, Operator: t.Operator, Index: t.Index, Attempt: attempt}
	if handed != nil {
		emitted := 0
		tc.Emit = func(b blocks.Block) error {
			defer b.Release()
			if err := ctx.Err(); err != nil {
				return err
			}
			if emitted++; emitted <= *handed {
				return nil // an earlier attempt handed this one over
			}
			ref, err := store.Put(b, t.Operator)
			if err != nil {
				return err
			}
			*handed = emitted
			t.Partial(ref)
			return nil
		}
	}
	// Pinned to its thread, Run's CPU time is the thread's: per-operator CPU
	// in stats. Goroutines Run starts are not counted.
	runtime.LockOSThread()
	c0, ok := threadCPU()
	outs, err := callRecovered(tc, t.Run, inputs)
	if c1, ok1 := threadCPU(); ok && ok1 {
		*cpu += c1 - c0
	}
	runtime.UnlockOSThread()
	defer func() {
		for _, b := range outs {
			if b != nil {
				b.Release()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	refs = make([]ObjectRef, 0, len(outs))
	for _, b := range outs {
		if b == nil {
			continue
		}
		ref, err := store.Put(b, t.Operator)
		if err != nil {
			for _, r := range refs {
				store.Release(r)
			}
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// callRecovered calls run, turning a panic into a *PanicError.
func callRecovered(tc *TaskContext, run func(*TaskContext, []blocks.Block) ([]blocks.Block, error), in []blocks.Block) (outs []blocks.Block, err error) {
	defer func() {
		if v := recover(); v != nil {
			// Blocks Run built before panicking were never returned: they are
			// garbage for the Go collector, not references we hold.
			outs, err = nil, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return run(tc, in)
}

// SystemMemory returns the memory available to this process: the smaller of
// the machine's total memory and the cgroup limit, or 8 GiB when neither can
// be read.
func SystemMemory() int64 {
	total := int64(8 << 30)
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					total = kb << 10
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if lim, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && lim > 0 && lim < total {
			total = lim
		}
	}
	return total
}

var _ Runtime = (*Local)(nil)

// String describes the runtime.
func (l *Local) String() string {
	return fmt.Sprintf("local(workers=%d, store=%d MiB)", l.cfg.workers, l.cfg.budget>>20)
}
