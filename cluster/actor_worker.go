package cluster

// Actors in a worker process.
//
// The node asks its worker to construct an actor with "actor-start", a
// stream that lasts as long as the actor: the worker answers "accepted" at
// once (the node may now ask it to stop the actor), "started" once the
// constructor has returned, and ends the stream when the actor has
// stopped: with no error when asked to stop (actor-stop, or the node's
// call cancelled), with the constructor's failure, or with the cause of
// the actor's death (a call that panicked or failed with an error marked
// exec.ActorFailed), as a task's failure status marked as an actor's.
//
// Each actor runs under an exec.Local of its own, which holds exactly the
// GPUs the node reserved: it builds the actor's exec.ActorContext, runs the
// constructor with panics recovered, queues the calls and runs them one at
// a time in arrival order, slices their inputs (Offset, Length), turns a
// panic into the actor's death, and runs the actor's cleanups (last
// first) when it stops. Its store is the actor's callStore: the blocks of
// the calls in flight, which the worker takes from its own store or
// fetches from others, and whose outputs it keeps in its own store.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// workerActorStart asks a worker to construct an actor.
type workerActorStart struct {
	ID       string        `json:"id"`
	Spec     exec.TaskSpec `json:"spec"`
	Operator string        `json:"operator"`
	Index    int           `json:"index"`
	// GPUIDs are the devices the node reserved for the actor.
	GPUIDs []int `json:"gpu_ids"`
}

// actorPhase is a message of a worker's actor-start stream.
type actorPhase struct {
	Phase string `json:"phase"`
}

const (
	phaseAccepted = "accepted" // the worker has the actor: it can be stopped
	phaseStarted  = "started"  // constructed: calls may come
)

// workerActor is one actor in the worker.
type workerActor struct {
	id       string
	operator string
	index    int
	store    *callStore

	// ctx ends when the actor stops: the calls in flight end with it.
	ctx    context.Context
	cancel context.CancelFunc

	stop     chan struct{} // closed to stop the actor
	stopOnce sync.Once
	ended    chan struct{} // closed once stopped, its cleanups run

	mu    sync.Mutex
	actor exec.Actor // set once constructed
	cause error      // the failure that killed it, if one did
}

func (wa *workerActor) String() string {
	return fmt.Sprintf("actor %s (%s[%d])", wa.id, wa.operator, wa.index)
}

func (wa *workerActor) requestStop() { wa.stopOnce.Do(func() { close(wa.stop) }) }

// running is the actor, nil before it is constructed.
func (wa *workerActor) running() exec.Actor {
	wa.mu.Lock()
	defer wa.mu.Unlock()
	return wa.actor
}

// died records the failure that killed the actor; the first one counts.
func (wa *workerActor) died(err error) {
	wa.mu.Lock()
	if wa.cause == nil {
		wa.cause = err
	}
	wa.mu.Unlock()
}

// deathCause is why the actor ended on its own, as an actor failure.
func (wa *workerActor) deathCause() error {
	wa.mu.Lock()
	defer wa.mu.Unlock()
	if wa.cause != nil && exec.IsActorFailure(wa.cause) {
		return wa.cause
	}
	return exec.ActorFailed(fmt.Errorf("%s ended", wa))
}

// addActor registers a new actor; a second start under one ID is refused.
func (ws *workerService) addActor(req workerActorStart) (*workerActor, error) {
	ctx, cancel := context.WithCancel(context.Background())
	wa := &workerActor{id: req.ID, operator: req.Operator, index: req.Index, store: newCallStore(),
		ctx: ctx, cancel: cancel, stop: make(chan struct{}), ended: make(chan struct{})}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if _, dup := ws.actors[req.ID]; dup || req.ID == "" {
		cancel()
		return nil, status.Errorf(codes.InvalidArgument, "shoal: worker: actor ID %q is taken or empty", req.ID)
	}
	ws.actors[req.ID] = wa
	return wa, nil
}

func (ws *workerService) removeActor(wa *workerActor) {
	ws.mu.Lock()
	delete(ws.actors, wa.id)
	ws.mu.Unlock()
	close(wa.ended)
}

func (ws *workerService) getActor(id string) *workerActor {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.actors[id]
}

// startActor is a worker's actor-start: it constructs the actor and
// returns once the actor has stopped and its cleanups have run. Errors are
// statuses.
func (ws *workerService) startActor(stream flight.FlightService_DoActionServer, req workerActorStart) error {
	ctx := stream.Context()
	wa, err := ws.addActor(req)
	if err != nil {
		return err
	}
	defer ws.removeActor(wa)
	if err := stream.Send(&flight.Result{Body: encodeBody(actorPhase{Phase: phaseAccepted})}); err != nil {
		return err
	}
	newActor, err := exec.BuildActor(req.Spec)
	if err != nil {
		return taskFailureStatus(err)
	}
	local := exec.NewLocal(exec.WithWorkers(1), exec.WithGPUIDs(req.GPUIDs...), exec.WithMemory(1),
		exec.WithMaxRetries(-1), // retries are the driver's
		exec.WithObjectStore(wa.store))
	// Close stops the actor (its context first), runs its cleanups and
	// waits for it; the calls in flight are cancelled before.
	defer local.Close()
	defer wa.cancel()
	started := make(chan error, 1)
	var actor exec.Actor
	spec := exec.ActorSpec{Operator: req.Operator, Index: req.Index, GPUs: len(req.GPUIDs), New: withAttempt(newActor)}
	local.StartActor(context.Background(), spec, func(a exec.Actor, err error) {
		actor = a
		started <- err
	})
	select {
	case err := <-started:
		if err != nil {
			return taskFailureStatus(err) // the constructor's error or panic
		}
	case <-wa.stop:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	wa.mu.Lock()
	wa.actor = actor
	wa.mu.Unlock()
	if err := stream.Send(&flight.Result{Body: encodeBody(actorPhase{Phase: phaseStarted})}); err != nil {
		return err
	}
	select {
	case <-actor.Done():
		return taskFailureStatus(wa.deathCause())
	case <-wa.stop:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// stopActor is a worker's actor-stop: it returns once the actor has
// stopped and its cleanups have run. An actor that is not here has.
func (ws *workerService) stopActor(ctx context.Context, id string) error {
	wa := ws.getActor(id)
	if wa == nil {
		return nil
	}
	wa.requestStop()
	select {
	case <-wa.ended:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// attemptKey carries a call's attempt to the actor's function: exec.Local
// numbers attempts itself, and makes one.
type attemptKey struct{}

// withAttempt wraps an actor's constructor so that its function sees the
// driver's attempt number in its TaskContext.
func withAttempt(newActor func(*exec.ActorContext) (exec.ActorFunc, error)) func(*exec.ActorContext) (exec.ActorFunc, error) {
	return func(ac *exec.ActorContext) (exec.ActorFunc, error) {
		fn, err := newActor(ac)
		if fn == nil || err != nil {
			return fn, err
		}
		return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
			if n, ok := tc.Value(attemptKey{}).(int); ok {
				tc.Attempt = n
			}
			return fn(tc, in)
		}, nil
	}
}

// callActor runs one call on an actor: it gets the inputs (from the
// worker's store where they are there), queues the call and keeps its
// outputs in the worker's store. Errors are statuses: the actor's failure
// (IsActorFailure on the driver: it died in this call, or was gone or
// stopping), the function's own error, or the machinery's.
func (ws *workerService) callActor(ctx context.Context, req actorCallBody) (refs []exec.ObjectRef, wall, cpu time.Duration, err error) {
	start := time.Now()
	gone := func(why string) error {
		return taskFailureStatus(exec.ActorFailed(fmt.Errorf("shoal: worker: actor %.80q %s", req.ActorID, why)))
	}
	wa := ws.getActor(req.ActorID)
	if wa == nil {
		return nil, 0, 0, gone("is not here (it stopped or died)")
	}
	act := wa.running()
	if act == nil {
		return nil, 0, 0, gone("is not constructed yet")
	}
	callCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(wa.ctx, cancel)()
	ctxErr := func() error {
		if callCtx.Err() != nil {
			return status.FromContextError(callCtx.Err()).Err()
		}
		return gone("stopped during the call")
	}
	inputs, err := ws.fetch(ctx, req.Inputs)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, 0, ctxErr()
		}
		return nil, 0, 0, err
	}
	in, err := wa.store.adopt(inputs)
	if err != nil {
		return nil, 0, 0, gone("stopped during the call")
	}
	defer wa.store.releaseAll(in)

	type outcome struct {
		outs []blocks.Block
		err  error
		cpu  time.Duration
	}
	done := make(chan outcome, 1)
	call := exec.ActorCall{Operator: req.Operator, Index: req.Index, Inputs: in, Offset: req.Offset, Length: req.Length}
	act.Call(context.WithValue(ctx, attemptKey{}, req.Attempt), call, func(r exec.TaskResult) {
		// On the actor's goroutine: the outputs leave its store before it
		// can close.
		o := outcome{outs: wa.store.take(r.Outputs), err: r.Err, cpu: r.CPU}
		if exec.IsActorFailure(r.Err) {
			wa.died(r.Err)
		}
		done <- o
	})
	o := <-done
	defer func() {
		for _, b := range o.outs {
			b.Release()
		}
	}()
	if o.err != nil {
		switch {
		case exec.IsActorFailure(o.err):
			return nil, 0, 0, taskFailureStatus(o.err)
		case ctx.Err() != nil:
			return nil, 0, 0, ctxErr()
		}
		var te *exec.TaskError
		if errors.As(o.err, &te) {
			o.err = te.Err // the function's own error, as a task's
		}
		return nil, 0, 0, taskFailureStatus(o.err)
	}
	refs, err = ws.storeOutputs(o.outs, req.Operator, req.Index, req.Job)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, 0, ctxErr()
		}
		return nil, 0, 0, err
	}
	return refs, time.Since(start), o.cpu, nil
}

// callStore is the object store of an actor's exec.Local: the blocks of its
// calls in flight, in memory. The worker puts a call's inputs in and takes
// its outputs out.
type callStore struct {
	mu     sync.Mutex
	next   exec.ObjectID
	held   map[exec.ObjectID]*heldBlock
	closed bool
}

type heldBlock struct {
	b    blocks.Block
	refs int
}

var errCallStoreClosed = errors.New("shoal: worker: the actor has stopped")

func newCallStore() *callStore { return &callStore{held: map[exec.ObjectID]*heldBlock{}} }

// Put implements exec.ObjectStore: the store takes its own reference.
func (s *callStore) Put(b blocks.Block, producer string) (exec.ObjectRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return exec.ObjectRef{}, errCallStoreClosed
	}
	b.Retain()
	s.next++
	s.held[s.next] = &heldBlock{b: b, refs: 1}
	return exec.ObjectRef{ID: s.next, Meta: blocks.MetaOf(b), Producer: producer}, nil
}

// Get implements exec.ObjectStore: the caller releases the block.
func (s *callStore) Get(_ context.Context, ref exec.ObjectRef) (blocks.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.held[ref.ID]
	if !ok {
		if s.closed {
			return nil, errCallStoreClosed
		}
		return nil, fmt.Errorf("shoal: worker: no block %d in the actor's store", ref.ID)
	}
	h.b.Retain()
	return h.b, nil
}

// Retain implements exec.ObjectStore.
func (s *callStore) Retain(ref exec.ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.held[ref.ID]; ok {
		h.refs++
	}
}

// Release implements exec.ObjectStore.
func (s *callStore) Release(ref exec.ObjectRef) {
	s.mu.Lock()
	h, ok := s.held[ref.ID]
	if ok {
		h.refs--
		if h.refs > 0 {
			ok = false
		} else {
			delete(s.held, ref.ID)
		}
	}
	s.mu.Unlock()
	if ok {
		h.b.Release()
	}
}

// Stats implements exec.ObjectStore.
func (s *callStore) Stats() exec.StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return exec.StoreStats{Objects: len(s.held)}
}

// Close implements exec.ObjectStore: it frees what is left.
func (s *callStore) Close() error {
	s.mu.Lock()
	left := s.held
	s.held = map[exec.ObjectID]*heldBlock{}
	s.closed = true
	s.mu.Unlock()
	for _, h := range left {
		h.b.Release()
	}
	return nil
}

// adopt puts bs in the store, taking over the caller's references.
func (s *callStore) adopt(bs []blocks.Block) ([]exec.ObjectRef, error) {
	refs := make([]exec.ObjectRef, 0, len(bs))
	var err error
	for _, b := range bs {
		if err == nil {
			var ref exec.ObjectRef
			if ref, err = s.Put(b, "input"); err == nil {
				refs = append(refs, ref)
			}
		}
		b.Release()
	}
	if err != nil {
		s.releaseAll(refs)
		return nil, err
	}
	return refs, nil
}

func (s *callStore) releaseAll(refs []exec.ObjectRef) {
	for _, r := range refs {
		s.Release(r)
	}
}

// take moves blocks out of the store: the caller owns the results.
func (s *callStore) take(refs []exec.ObjectRef) []blocks.Block {
	out := make([]blocks.Block, 0, len(refs))
	for _, r := range refs {
		if b, err := s.Get(context.Background(), r); err == nil {
			out = append(out, b)
		}
		s.Release(r)
	}
	return out
}

var _ exec.ObjectStore = (*callStore)(nil)
