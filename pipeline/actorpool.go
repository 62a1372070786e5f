package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

const (
	// scaleInterval is how often the loop wakes to scale actor pools when
	// nothing else happens.
	scaleInterval = 50 * time.Millisecond
	// Defaults of ops.ActorPool's zero fields.
	defaultMaxInFlight = 2
	defaultIdleTimeout = 2 * time.Second
	defaultMaxAttempts = 3
	// maxStartFailures is how many constructors in a row may fail before the
	// stage fails with the last error.
	maxStartFailures = 3
	// resourceWait is how long a pool with no actor waits for resources
	// (held by another run on the same runtime) before it fails.
	resourceWait = 60 * time.Second
	// resourceRetry spaces starts after one failed for resources.
	resourceRetry = 250 * time.Millisecond
)

// scaler is an operator the loop gives a chance to grow or shrink every turn.
type scaler interface{ scale(now time.Time) }

// onActors reports whether op runs its work on actors rather than on task
// slots.
func onActors(op Operator) bool {
	_, ok := op.(*actorPoolOp)
	return ok
}

// actorPoolOp runs one stage on a pool of actors: batches queue up, each is
// sent to the least-loaded actor with room, and outputs are emitted in input
// order. The pool starts Min actors, adds one at a time (up to Max) while
// every actor is full and batches wait, and stops actors above Min that were
// idle for IdleTimeout. An actor that dies is dropped, its batches go back
// to the head of the queue, and a replacement starts if the pool falls below
// Min or work waits.
type actorPoolOp struct {
	taskOp
	stage      *ops.OneToOne
	pool       ops.ActorPool
	batchRows  int64
	pending    Bundle // refs not yet wholly given to calls
	skip       int64  // rows of pending.Refs[0] already given to calls
	queue      []poolItem
	queueBytes int64
	maxQueue   int
	inputDone  bool

	actors       []*poolActor
	starting     int
	started      int       // actors ever started, for their index
	startFails   int       // constructors failed in a row
	waitingSince time.Time // since when no actor could get resources
	retryAt      time.Time // no start before this, after a resource error
	restarts     int
}

type poolItem struct {
	in       Bundle
	offset   int64 // rows of in to skip
	length   int64 // rows of in to process; 0 means all
	bytes    int64 // estimated bytes of those rows
	seq      int   // -1 until first dispatched; kept across retries so order holds
	attempts int
}

type poolActor struct {
	a         exec.Actor
	track     string
	inflight  int
	idleSince time.Time
}

func newActorPoolOp(name string, input Operator, stage *ops.OneToOne, maxQueue int) *actorPoolOp {
	p := &actorPoolOp{stage: stage, pool: *stage.Actors, batchRows: stage.BatchRows, maxQueue: maxQueue}
	if p.pool.MaxInFlight <= 0 {
		p.pool.MaxInFlight = defaultMaxInFlight
	}
	if p.pool.IdleTimeout <= 0 {
		p.pool.IdleTimeout = defaultIdleTimeout
	}
	if p.pool.MaxAttempts <= 0 {
		p.pool.MaxAttempts = defaultMaxAttempts
	}
	p.pool.Min = max(p.pool.Min, 1)
	p.taskOp = taskOp{self: p, name: name, inputs: []Operator{input}}
	return p
}

func (p *actorPoolOp) Start(env *Env) {
	p.taskOp.Start(env)
	if p.pool.Max <= 0 {
		p.pool.Max = fitActors(p.pool, env.rt.Resources())
	}
	p.pool.Max = max(p.pool.Max, p.pool.Min)
}

// fitActors is how many actors of pool the runtime's resources hold.
func fitActors(pool ops.ActorPool, res exec.Resources) int {
	n := math.MaxInt
	if pool.CPUs > 0 {
		n = min(n, int(float64(res.CPUs)/pool.CPUs))
	}
	if pool.GPUs > 0 {
		n = min(n, res.GPUs/pool.GPUs)
	}
	if pool.Memory > 0 {
		n = min(n, int(res.Memory/pool.Memory))
	}
	if n == math.MaxInt {
		n = res.CPUs
	}
	return max(n, 1)
}

// AddInput queues b's rows as calls of exactly batchRows rows (whole
// bundles when batchRows is 0). A call covers rows [offset, offset+length)
// of its refs taken end to end, so calls share large blocks instead of one
// actor getting a whole block's batches, and small blocks are gathered.
func (p *actorPoolOp) AddInput(_ int, b Bundle) {
	if p.cancelled {
		b.release(p.env.rt)
		return
	}
	if p.batchRows <= 0 {
		p.push(poolItem{in: b, seq: -1, bytes: b.Bytes()})
		return
	}
	p.pending.Refs = append(p.pending.Refs, b.Refs...)
	for p.pending.Rows()-p.skip >= p.batchRows {
		p.cut(p.batchRows)
	}
}

func (p *actorPoolOp) InputDone(int) {
	p.inputDone = true
	if rest := p.pending.Rows() - p.skip; rest > 0 {
		p.cut(rest)
	}
	p.pending.release(p.env.rt) // empty blocks left over
	p.pending, p.skip = Bundle{}, 0
}

// cut queues a call over the next n pending rows. Refs the call uses up
// are handed over to it; the last one, when later calls still need rows of
// it, is retained for the call and stays pending.
func (p *actorPoolOp) cut(n int64) {
	it := poolItem{seq: -1, offset: p.skip, length: n}
	need := p.skip + n // rows counted from the start of pending.Refs[0]
	var used int64
	k := 0
	for used < need {
		ref := p.pending.Refs[k]
		from, to := max(p.skip-used, 0), min(need-used, ref.Rows)
		it.bytes += ref.Bytes * (to - from) / max(ref.Rows, 1)
		it.in.Refs = append(it.in.Refs, ref)
		used += ref.Rows
		k++
	}
	if used > need {
		last := p.pending.Refs[k-1]
		p.env.rt.Retain(last)
		p.pending.Refs = p.pending.Refs[k-1:]
		p.skip = last.Rows - (used - need)
	} else {
		p.pending.Refs = p.pending.Refs[k:]
		p.skip = 0
	}
	p.push(it)
}

func (p *actorPoolOp) push(it poolItem) {
	p.queue = append(p.queue, it)
	p.queueBytes += it.bytes
}

func (p *actorPoolOp) InputFull(int) bool { return len(p.queue) >= p.maxQueue }

func (p *actorPoolOp) CanDispatch() bool {
	return !p.cancelled && len(p.queue) > 0 && p.free() != nil && !p.aheadFullPool()
}

// aheadFullPool is aheadFull with room for every actor's in-flight calls.
func (p *actorPoolOp) aheadFullPool() bool {
	limit := max(p.env.maxAhead, 2*p.pool.Max*p.pool.MaxInFlight)
	return p.active+len(p.finished)+len(p.outQueue) >= limit
}

func (p *actorPoolOp) Finished() bool {
	return (p.cancelled || p.inputDone && len(p.queue) == 0 && p.active == 0) && len(p.outQueue) == 0
}

func (p *actorPoolOp) Usage() Usage {
	u := Usage{InputBytes: p.queueBytes, OutputBytes: p.outBytes + p.heldBytes, Active: p.active}
	if len(p.queue) > 0 {
		u.TaskBytes = p.estimate(p.queue[0].bytes)
	}
	return u
}

func (p *actorPoolOp) Metrics() Metrics {
	m := p.metrics
	m.Actors, m.ActorRestarts = len(p.actors), p.restarts
	return m
}

// free returns the least-loaded actor with room for another call.
func (p *actorPoolOp) free() *poolActor {
	var best *poolActor
	for _, pa := range p.actors {
		if pa.inflight < p.pool.MaxInFlight && (best == nil || pa.inflight < best.inflight) {
			best = pa
		}
	}
	return best
}

func (p *actorPoolOp) Dispatch() {
	pa := p.free()
	it := p.queue[0]
	p.queue[0] = poolItem{}
	p.queue = p.queue[1:]
	p.queueBytes -= it.bytes
	if it.seq < 0 {
		it.seq = p.nextSeq
		p.nextSeq++
		p.metrics.RowsIn += it.rows()
		p.metrics.BytesIn += it.bytes
	}
	p.active++
	pa.inflight++
	p.env.call(p, pa.a, pa.track, exec.ActorCall{Operator: p.name, Index: it.seq, Inputs: it.in.Refs, Offset: it.offset, Length: it.length},
		func(res exec.TaskResult) { p.callDone(pa, it, res) })
}

func (p *actorPoolOp) callDone(pa *poolActor, it poolItem, res exec.TaskResult) {
	pa.inflight--
	if pa.inflight == 0 {
		pa.idleSince = time.Now()
	}
	if res.Err != nil && exec.IsActorFailure(res.Err) && !p.cancelled {
		p.drop(pa)
		it.attempts++
		if it.attempts < p.pool.MaxAttempts {
			// Back to the head of the queue, same sequence number: the batch
			// runs again on another actor and its output keeps its place.
			p.active--
			p.queue = append([]poolItem{it}, p.queue...)
			p.queueBytes += it.bytes
			return
		}
		res.Err = fmt.Errorf("batch %d failed on %d actors: %w", it.seq, it.attempts, res.Err)
	}
	p.complete(it.seq, it.in, it.bytes, res)
}

func (it poolItem) rows() int64 {
	if it.length > 0 {
		return it.length
	}
	return it.in.Rows()
}

// drop removes a dead actor from the pool.
func (p *actorPoolOp) drop(pa *poolActor) {
	for i, x := range p.actors {
		if x == pa {
			p.actors = append(p.actors[:i], p.actors[i+1:]...)
			pa.a.Stop()
			p.restarts++
			return
		}
	}
}

// scale starts actors up to Min, adds one while work waits on a full pool,
// stops idle actors above Min, and stops all of them once the stage is done.
func (p *actorPoolOp) scale(now time.Time) {
	if p.cancelled {
		return
	}
	if p.inputDone && len(p.queue) == 0 && p.active == 0 {
		p.stopIdle(now, 0, 0)
		return
	}
	live := len(p.actors) + p.starting
	if now.Before(p.retryAt) {
		return
	}
	switch {
	case live < p.pool.Min:
		for range p.pool.Min - live {
			p.startOne()
		}
	case len(p.queue) > 0 && p.free() == nil && p.starting == 0 && live < p.pool.Max:
		p.startOne()
	case len(p.queue) == 0:
		p.stopIdle(now, p.pool.Min, p.pool.IdleTimeout)
	}
}

// stopIdle stops actors with no calls that have been idle for timeout,
// keeping at least keep.
func (p *actorPoolOp) stopIdle(now time.Time, keep int, timeout time.Duration) {
	for i := 0; i < len(p.actors) && len(p.actors) > keep; {
		pa := p.actors[i]
		if pa.inflight == 0 && now.Sub(pa.idleSince) >= timeout {
			pa.a.Stop()
			p.actors = append(p.actors[:i], p.actors[i+1:]...)
			continue
		}
		i++
	}
}

func (p *actorPoolOp) startOne() {
	index := p.started
	p.started++
	p.starting++
	spec := exec.ActorSpec{
		Operator: p.name, Index: index, CPUs: p.pool.CPUs, GPUs: p.pool.GPUs, Memory: p.pool.Memory, Labels: p.pool.Labels,
		New: actorNew(p.pool.New), Spec: actorSpec(p.pool.Spec),
	}
	track := fmt.Sprintf("%s actor %d", p.name, index)
	p.env.startActor(p, spec, func(a exec.Actor, err error) { p.actorStarted(a, track, err) })
}

// actorNew is an actor's constructor over an actor stage's: the same
// whether the actor runs here or on a node (actorKind builds it there).
func actorNew(newFn func(ac *exec.ActorContext) (ops.BlockFn, error)) func(ac *exec.ActorContext) (exec.ActorFunc, error) {
	return func(ac *exec.ActorContext) (exec.ActorFunc, error) {
		fn, err := newFn(ac)
		if err != nil {
			return nil, err
		}
		if fn == nil {
			return nil, errors.New("constructor returned a nil function")
		}
		return actorFunc(fn), nil
	}
}

// actorKind is the exec actor kind of actor stages whose constructor has
// an ops spec.
const actorKind = "shoal.actor"

func actorSpec(s *ops.Spec) *exec.TaskSpec {
	if s == nil {
		return nil
	}
	data, err := json.Marshal(s)
	if err != nil {
		return nil // cannot happen for a Spec; the actor then stays here
	}
	return &exec.TaskSpec{Kind: actorKind, Args: data}
}

func init() {
	exec.RegisterActorKind(actorKind, func(args []byte) (func(ac *exec.ActorContext) (exec.ActorFunc, error), error) {
		var s ops.Spec
		if err := json.Unmarshal(args, &s); err != nil {
			return nil, fmt.Errorf("decoding an actor spec: %w", err)
		}
		newFn, err := ops.BuildActorPool(s)
		if err != nil {
			return nil, err
		}
		return actorNew(newFn), nil
	})
}

func (p *actorPoolOp) actorStarted(a exec.Actor, track string, err error) {
	p.starting--
	if err != nil {
		if p.cancelled {
			return
		}
		var re *exec.ResourceError
		if errors.As(err, &re) {
			p.retryAt = time.Now().Add(resourceRetry)
		}
		if errors.As(err, &re) && re.Need > re.Total && len(p.actors) == 0 {
			// Not even a whole idle runtime could hold one actor (a
			// cluster lost its only GPU node): waiting would not help.
			p.env.fail(fmt.Errorf("%s: no actor can start: %w", p.name, err))
			return
		}
		if errors.As(err, &re) && len(p.actors) > 0 {
			return // the pool is as big as the runtime allows; it will try again on backlog
		}
		if errors.As(err, &re) {
			// Another run holds what we need; wait for it a while.
			if p.waitingSince.IsZero() {
				p.waitingSince = time.Now()
			}
			if time.Since(p.waitingSince) > resourceWait {
				p.env.fail(fmt.Errorf("%s: no actor could start for %v: %w", p.name, resourceWait, err))
			}
			return
		}
		p.startFails++
		if p.startFails >= maxStartFailures {
			p.env.fail(err)
		}
		return
	}
	p.startFails = 0
	p.waitingSince = time.Time{}
	if p.cancelled {
		a.Stop()
		return
	}
	p.actors = append(p.actors, &poolActor{a: a, track: track, idleSince: time.Now()})
}

func (p *actorPoolOp) Cancel() {
	p.cancelTasks()
	for _, it := range p.queue {
		it.in.release(p.env.rt)
	}
	p.pending.release(p.env.rt)
	p.queue, p.pending, p.skip, p.queueBytes = nil, Bundle{}, 0, 0
	for _, pa := range p.actors {
		pa.a.Stop()
	}
	p.actors = nil
}

// actorFunc turns a stage's function into what an actor runs per call:
// concatenate the batch's blocks, call fn, split large outputs. A panic in fn
// becomes a *exec.PanicError, which the runtime treats as the actor's death.
func actorFunc(fn ops.BlockFn) exec.ActorFunc {
	stage := &ops.OneToOne{Fn: fn}
	return func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error) {
		b, err := concatInputs(tc, inputs)
		if err != nil {
			return nil, err
		}
		out, err := callStage(tc, stage, b)
		b.Release()
		if err != nil {
			return nil, err
		}
		if out == nil {
			return nil, errors.New("function returned no block")
		}
		return splitLarge([]blocks.Block{out}, DefaultMaxBlockBytes), nil
	}
}

// CheckResources says, before anything runs, whether every actor stage of
// plan can start its minimum pool on a runtime with res: a stage asking for
// GPUs on a machine without them fails here, with what it needs and what
// there is.
func CheckResources(plan ops.Node, res exec.Resources) error {
	var stages []*ops.OneToOne
	var walk func(n ops.Node)
	walk = func(n ops.Node) {
		switch n := n.(type) {
		case *ops.OneToOne:
			stages = append(stages, n)
		case *ops.Fused:
			stages = append(stages, n.Stages...)
		}
		for _, c := range n.Children() {
			walk(c)
		}
	}
	walk(plan)
	for _, s := range stages {
		if s.Actors != nil {
			if err := checkPool(s, res); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkPool(o *ops.OneToOne, res exec.Resources) error {
	pool := o.Actors
	n := max(pool.Min, 1)
	switch {
	case pool.GPUs > 0 && n*pool.GPUs > res.GPUs:
		return fmt.Errorf("%s: %d actor(s) with %d GPU(s) each need %d GPU(s); the runtime has %d "+
			"(detected with nvidia-smi, or declared with exec.WithGPUs)", o.Label, n, pool.GPUs, n*pool.GPUs, res.GPUs)
	case pool.CPUs > 0 && float64(n)*pool.CPUs > float64(res.CPUs):
		return fmt.Errorf("%s: %d actor(s) with %g CPU(s) each need %g CPUs; the runtime has %d", o.Label, n, pool.CPUs, float64(n)*pool.CPUs, res.CPUs)
	case pool.Memory > 0 && int64(n)*pool.Memory > res.Memory:
		return fmt.Errorf("%s: %d actor(s) with %d bytes of memory each need %d; the runtime has %d", o.Label, n, pool.Memory, int64(n)*pool.Memory, res.Memory)
	}
	return nil
}
