package cluster

// Actors on a node.
//
// An actor is a stateful worker of an actor stage (a model on a GPU, say):
// built once by its constructor, then called many times. On a cluster it
// lives in the worker process of its driver's binary on some node, beside
// that driver's tasks (actor_worker.go).
//
// A driver starts one with "actor-start", a Flight DoAction whose reply
// stream lasts as long as the actor. The node reserves what the actor asks
// for without waiting (CPUs from the semaphore tasks share, GPUs from its
// free list, memory where Resources.Memory counts it): a node short of any
// refuses with codes.ResourceExhausted, and the driver tries another. It
// then asks the worker to construct the actor over a stream of its own,
// and once the worker says it is constructed sends the driver the actor's
// ID and GPUs. The stream then stays open until the actor stops: the
// driver cancels the call or its connection goes (a driver that dies
// leaks nothing), "actor-stop" (the stream ends without error), the actor
// dies (codes.Aborted with the cause: a panic or an error marked
// exec.ActorFailed in a call), its worker dies (codes.Unavailable), or the
// node stops (codes.Unavailable). Whichever it is, the actor's cleanups run
// in the worker where it can still run them, and the node takes the
// reservation back, before the stream ends.
//
// "actor-call" runs one call on the actor, in its worker; the reply is a
// run-task's. A call to an actor that is gone, or one that kills it, fails
// with an error exec.IsActorFailure reports, so that the driver replaces
// the actor and runs the call elsewhere.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/exec"
)

// ActorStartRequest asks a node to start an actor in a worker running
// Binary.
type ActorStartRequest struct {
	// Binary is the BinaryHash of the driver's executable, uploaded to the
	// node with EnsureBinary.
	Binary string `json:"binary"`
	// Spec is built in the worker with exec.BuildActor: the actor's
	// constructor.
	Spec     exec.TaskSpec `json:"spec"`
	Operator string        `json:"operator"`
	Index    int           `json:"index"`
	// CPUs, GPUs and Memory (bytes) are held for the actor's whole life, as
	// exec.ActorSpec's: 0 holds none. A node that lacks any of them refuses
	// the actor (IsResourceExhausted).
	CPUs   float64 `json:"cpus"`
	GPUs   int     `json:"gpus"`
	Memory int64   `json:"memory"`
}

// ActorCallRequest is one call on an actor.
type ActorCallRequest struct {
	// Operator, Index and Attempt identify the call, as a task's; the
	// actor's function sees them in its exec.TaskContext.
	Operator string `json:"operator"`
	Index    int    `json:"index"`
	Attempt  int    `json:"attempt"`
	// Inputs are where the call's input blocks live, in order.
	Inputs []RemoteBlock `json:"inputs"`
	// Offset and Length pick rows of the inputs taken end to end, as in
	// exec.ActorCall: the function sees rows [Offset, Offset+Length) as
	// zero-copy slices. Length 0 means every row.
	Offset int64 `json:"offset,omitempty"`
	Length int64 `json:"length,omitempty"`
	// Job, when set, owns the outputs: they are freed when it ends.
	Job string `json:"job,omitempty"`
}

// actorCallBody is an actor-call's request: the call and its actor.
type actorCallBody struct {
	ActorID string `json:"actor_id"`
	ActorCallRequest
}

// actorIDBody names an actor (actor-stop).
type actorIDBody struct {
	ActorID string `json:"actor_id"`
}

// actorStarted is the first message of a node's actor-start stream.
type actorStarted struct {
	ActorID string `json:"actor_id"`
	GPUIDs  []int  `json:"gpu_ids"`
	Node    string `json:"node"`
}

// IsResourceExhausted reports whether err, from StartActor, is a node's
// refusal for want of CPUs, GPUs or memory: another node may have them.
func IsResourceExhausted(err error) bool {
	return err != nil && status.Code(err) == codes.ResourceExhausted
}

// actorStopGrace is how long a stopping node gives its actors to run their
// cleanups before it kills its workers.
const actorStopGrace = 5 * time.Second

// actorHost runs a node's actors: it holds their resources and their
// streams to the workers.
type actorHost struct {
	r      *taskRunner
	nodeID func() string

	mu       sync.Mutex
	closed   bool
	gpus     int   // devices 0..gpus-1
	freeGPUs []int // sorted
	memory   int64 // for actors; 0: not counted
	memHeld  int64
	actors   map[string]*nodeActor // by ID, from reservation to release
}

// counts are the actors living on the node and the GPUs they hold.
func (h *actorHost) counts() (actors, gpus int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.actors), h.gpus - len(h.freeGPUs)
}

func newActorHost(n *Node, r *taskRunner) *actorHost {
	res := n.cfg.Resources
	free := make([]int, max(res.GPUs, 0))
	for i := range free {
		free[i] = i
	}
	return &actorHost{r: r, nodeID: n.ID, gpus: len(free), freeGPUs: free, memory: res.Memory, actors: map[string]*nodeActor{}}
}

// nodeActor is one actor on the node.
type nodeActor struct {
	id       string
	operator string
	index    int
	gpus     []int
	milli    int64 // milli-CPUs held
	memory   int64

	// ctx ends with the driver's call, the node, or a stop: the actor is
	// to stop.
	ctx    context.Context
	cancel context.CancelFunc
	ended  chan struct{} // closed once stopped and its resources are back

	mu      sync.Mutex
	w       *workerProc // set once constructed: calls may come
	stopped bool        // a stop was asked (actor-stop, the node's)
	stopErr error       // what the driver's stream ends with then
}

func (a *nodeActor) String() string {
	return fmt.Sprintf("actor %s (%s[%d])", a.id, a.operator, a.index)
}

// requestStop asks the actor to stop; the driver's stream then ends with
// err. The first request decides.
func (a *nodeActor) requestStop(err error) {
	a.mu.Lock()
	if !a.stopped {
		a.stopped, a.stopErr = true, err
	}
	a.mu.Unlock()
	a.cancel()
}

func (a *nodeActor) stopRequested() (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped, a.stopErr
}

func (a *nodeActor) worker() *workerProc {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.w
}

func newActorID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "actor-" + hex.EncodeToString(b)
}

// validate refuses a malformed actor-start.
func (h *actorHost) validate(req ActorStartRequest) error {
	switch {
	case !validHash(req.Binary):
		return status.Errorf(codes.InvalidArgument, "shoal: actor-start: binary %.80q is not a hex sha256", req.Binary)
	case req.CPUs < 0 || math.IsNaN(req.CPUs) || math.IsInf(req.CPUs, 0):
		return status.Errorf(codes.InvalidArgument, "shoal: actor-start: %g CPUs", req.CPUs)
	case req.GPUs < 0:
		return status.Errorf(codes.InvalidArgument, "shoal: actor-start: %d GPUs", req.GPUs)
	case req.Memory < 0:
		return status.Errorf(codes.InvalidArgument, "shoal: actor-start: %d bytes of memory", req.Memory)
	}
	return nil
}

// reserve takes what the actor asks for, without waiting: a node short of
// anything refuses with ResourceExhausted, in exec.ResourceError's words.
// The actor is registered under a new ID.
func (h *actorHost) reserve(ctx context.Context, cancel context.CancelFunc, req ActorStartRequest) (*nodeActor, error) {
	milli := int64(math.Ceil(req.CPUs * 1000))
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, h.r.stopping()
	}
	short := func(format string, args ...any) error {
		return status.Errorf(codes.ResourceExhausted, "shoal: actor %s[%d]: %s on %s", req.Operator, req.Index, fmt.Sprintf(format, args...), h.r.name())
	}
	if req.GPUs > len(h.freeGPUs) {
		return nil, short("%d GPU(s) needed, %d of %d free", req.GPUs, len(h.freeGPUs), h.gpus)
	}
	if h.memory > 0 && req.Memory > h.memory-h.memHeld {
		return nil, short("%d bytes of memory needed, %d of %d free", req.Memory, h.memory-h.memHeld, h.memory)
	}
	// TryAcquire: an actor never queues behind tasks. It fails where tasks
	// wait for CPUs, even if some are free: they came first.
	if milli > 0 && !h.r.cpus.TryAcquire(milli) {
		free := float64(max(h.r.milli-h.r.held.Load(), 0)) / 1000
		why := ""
		if milli <= h.r.milli-h.r.held.Load() {
			why = ", tasks are waiting for them"
		}
		return nil, short("%g CPU(s) needed, %g of %d free%s", req.CPUs, free, h.r.milli/1000, why)
	}
	h.r.held.Add(milli)
	a := &nodeActor{id: newActorID(), operator: req.Operator, index: req.Index, milli: milli, ctx: ctx, cancel: cancel,
		ended: make(chan struct{})}
	a.gpus = slices.Clone(h.freeGPUs[:req.GPUs])
	h.freeGPUs = slices.Delete(h.freeGPUs, 0, req.GPUs)
	if h.memory > 0 {
		a.memory = req.Memory
		h.memHeld += req.Memory
	}
	h.actors[a.id] = a
	return a, nil
}

// release gives the actor's resources back and forgets it.
func (h *actorHost) release(a *nodeActor) {
	h.mu.Lock()
	delete(h.actors, a.id)
	h.freeGPUs = append(h.freeGPUs, a.gpus...)
	slices.Sort(h.freeGPUs)
	h.memHeld -= a.memory
	h.mu.Unlock()
	if a.milli > 0 {
		h.r.held.Add(-a.milli)
		h.r.cpus.Release(a.milli)
	}
	close(a.ended)
}

func (h *actorHost) get(id string) *nodeActor {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.actors[id]
}

// serve is an actor-start: it reserves, has the worker construct the
// actor, tells the driver, and returns once the actor has stopped and its
// resources are back. Errors are statuses.
func (h *actorHost) serve(stream flight.FlightService_DoActionServer, req ActorStartRequest) error {
	if err := h.validate(req); err != nil {
		return err
	}
	if !h.r.bins.has(req.Binary) {
		return errBinaryMissing(h.r.name(), req.Binary)
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(h.r.ctx, cancel)()
	a, err := h.reserve(ctx, cancel, req)
	if err != nil {
		return err
	}
	defer h.release(a)
	err = h.run(stream, a, req)
	if err != nil {
		h.r.logf("%s ended: %v", a, err)
	} else {
		h.r.logf("%s stopped", a)
	}
	return err
}

// run has the worker construct the actor and follows it until it stops.
func (h *actorHost) run(stream flight.FlightService_DoActionServer, a *nodeActor, req ActorStartRequest) error {
	w, err := h.r.worker(a.ctx, req.Binary)
	if err != nil {
		if a.ctx.Err() != nil {
			return h.endErr(stream, a, nil)
		}
		return err
	}
	doing := "running " + a.String()
	// The worker's stream is not the driver's call: a driver that goes is
	// answered by stopping the actor, cleanups and all, not by cutting
	// the stream to it.
	wctx, wcancel := context.WithCancel(h.r.ctx)
	defer wcancel()
	ws, err := w.fc.DoAction(wctx, &flight.Action{Type: actionActorStart, Body: encodeBody(workerActorStart{
		ID: a.id, Spec: req.Spec, Operator: req.Operator, Index: req.Index, GPUIDs: a.gpus})})
	if err != nil {
		if a.ctx.Err() != nil {
			return h.endErr(stream, a, nil)
		}
		return h.r.broken(w, doing, err)
	}
	// The stream's reader: its messages, then its end.
	phases := make(chan string)
	ended := make(chan workerEnd, 1)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			res, err := ws.Recv()
			if err != nil {
				end := workerEnd{fromWorker: len(ws.Trailer().Get(workerMarkKey)) > 0}
				if !errors.Is(err, io.EOF) {
					end.err = err
				}
				ended <- end
				return
			}
			var p actorPhase
			if json.Unmarshal(res.GetBody(), &p) != nil {
				continue
			}
			select {
			case phases <- p.Phase:
			case <-quit:
				return
			}
		}
	}()
	defer func() {
		close(quit)
		wcancel()
		wg.Wait()
	}()

	accepted, stopSent := false, false
	stopping := a.ctx.Done()
	for {
		select {
		case p := <-phases:
			switch p {
			case phaseAccepted:
				accepted = true
			case phaseStarted:
				a.mu.Lock()
				a.w = w
				a.mu.Unlock()
				h.r.logf("%s started in worker %s (pid %d), GPUs %v", a, shortHash(w.hash), w.pid, a.gpus)
				if err := stream.Send(&flight.Result{Body: encodeBody(actorStarted{ActorID: a.id, GPUIDs: a.gpus, Node: h.nodeID()})}); err != nil {
					a.cancel() // the driver is gone
				}
			}
		case end := <-ended:
			return h.endErr(stream, a, func() error {
				switch {
				case end.err == nil:
					return status.Errorf(codes.Internal, "shoal: %s: worker %s ended %s unasked", h.r.name(), shortHash(w.hash), a)
				case end.fromWorker:
					// The constructor's failure, or the actor's death: the
					// worker's status, with its details.
					return end.err
				}
				return h.r.broken(w, doing, end.err)
			})
		case <-stopping:
			stopping = nil
		}
		// Told to stop: once the worker has the actor (it may still be
		// constructing it), have it stop it there.
		if stopping == nil && accepted && !stopSent {
			stopSent = true
			h.stopInWorker(w, a, wcancel)
		}
	}
}

// workerEnd is how a worker's actor-start stream ended: err nil for its
// clean end, fromWorker for an answer of the worker's handler.
type workerEnd struct {
	err        error
	fromWorker bool
}

// stopInWorker has the worker stop the actor: it returns once the actor's
// cleanups have run there, or, where the worker cannot be asked, cuts the
// stream to it (which stops the actor too). Bounded only by the node's
// life: until the cleanups have run, the actor still holds its GPUs.
func (h *actorHost) stopInWorker(w *workerProc, a *nodeActor, cut context.CancelFunc) {
	if _, _, err := w.call(h.r.ctx, actionActorStop, encodeBody(actorIDBody{ActorID: a.id})); err != nil {
		h.r.logf("stopping %s in worker %s: %v", a, shortHash(w.hash), err)
		cut()
	}
}

// endErr is what the driver's stream ends with once the actor has ended:
// a stop's reason (nil for actor-stop), the driver's own end, the node's
// stop, or else what the worker's stream ended with (worker, may be nil
// where the actor never reached the worker).
func (h *actorHost) endErr(stream flight.FlightService_DoActionServer, a *nodeActor, worker func() error) error {
	if stopped, err := a.stopRequested(); stopped {
		return err
	}
	if err := stream.Context().Err(); err != nil {
		return status.FromContextError(err).Err() // nobody hears it
	}
	if h.r.ctx.Err() != nil || worker == nil {
		return h.r.stopping()
	}
	return worker()
}

// call runs one call on an actor and returns the worker's reply and what
// frees the outputs it made (in the worker's store). Errors are statuses;
// a call to an actor that is not here (stopped, died, never was) fails as
// an actor failure.
func (h *actorHost) call(ctx context.Context, req actorCallBody) ([]byte, func(), error) {
	for i, in := range req.Inputs {
		if in.Addr == "" {
			return nil, nil, status.Errorf(codes.InvalidArgument, "shoal: actor-call: input %d (object %d) has no store address", i, in.ID)
		}
	}
	if req.Offset < 0 || req.Length < 0 {
		return nil, nil, status.Errorf(codes.InvalidArgument, "shoal: actor-call: offset %d, length %d", req.Offset, req.Length)
	}
	var w *workerProc
	a := h.get(req.ActorID)
	if a != nil {
		w = a.worker()
	}
	if w == nil {
		return nil, nil, taskFailureStatus(exec.ActorFailed(fmt.Errorf("shoal: %s has no actor %.80q (it stopped or died)", h.r.name(), req.ActorID)))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.r.ctx, cancel)()
	h.r.running.Add(1)
	defer h.r.running.Add(-1)
	return h.r.forward(ctx, w, actionActorCall, encodeBody(req), fmt.Sprintf("calling %s with %s[%d]", a, req.Operator, req.Index))
}

// stop is an actor-stop: it stops the actor and returns once its resources
// are back. An actor that is not here has stopped already.
func (h *actorHost) stop(ctx context.Context, id string) error {
	a := h.get(id)
	if a == nil {
		return nil
	}
	a.requestStop(nil)
	select {
	case <-a.ended:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// close refuses new actors and stops the running ones, giving them
// actorStopGrace to run their cleanups; their drivers hear the node is
// stopping.
func (h *actorHost) close() {
	h.mu.Lock()
	h.closed = true
	as := make([]*nodeActor, 0, len(h.actors))
	for _, a := range h.actors {
		as = append(as, a)
	}
	h.mu.Unlock()
	for _, a := range as {
		a.requestStop(h.r.stopping())
	}
	grace := time.NewTimer(actorStopGrace)
	defer grace.Stop()
	for _, a := range as {
		select {
		case <-a.ended:
		case <-grace.C:
			return
		}
	}
}

// held reports what the node's actors hold (tests): free GPUs, milli-CPUs
// held by tasks and actors, memory held, and the number of actors.
func (h *actorHost) held() (freeGPUs []int, milliCPUs, memory int64, actors int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.freeGPUs), h.r.held.Load(), h.memHeld, len(h.actors)
}

// actorStopTimeout bounds how long RemoteActorHandle.Stop waits for the
// node to stop the actor before it cuts the stream (which stops it too).
const actorStopTimeout = 30 * time.Second

// RemoteActorHandle is an actor started on a node with StartActor: the
// open actor-start stream, whose end is the actor's. It is safe for
// concurrent use.
type RemoteActorHandle struct {
	c        *ObjectClient
	id       string
	gpus     []int
	node     string
	operator string
	index    int

	cancel   context.CancelFunc // cuts the stream
	stopc    chan struct{}      // closed by Stop
	stopOnce sync.Once
	ended    chan struct{} // the stream has ended
	stopper  chan struct{} // closed once the stopping goroutine is gone
	done     chan struct{}
	err      error // set before done closes
}

// StartActor starts an actor on the node, in a worker running req.Binary
// (uploaded with EnsureBinary), and returns once its constructor has
// returned. ctx bounds only the start: the actor then lives until Stop, its
// death, or the client's Close. The error is one IsResourceExhausted
// reports where the node lacks what the actor asks for (another node may
// have it), a *TaskFailedError for the constructor's failure (its error, or
// an *exec.PanicError), one IsTaskInfraError reports where the node or its
// worker failed, or another (a malformed request, the binary missing,
// ctx's end).
func (c *ObjectClient) StartActor(ctx context.Context, req ActorStartRequest) (*RemoteActorHandle, error) {
	what := fmt.Sprintf("start actor %s[%d]", req.Operator, req.Index)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s on %s: %w", what, c.addr, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopStart := context.AfterFunc(ctx, cancel)
	stream, err := c.fc.DoAction(sctx, &flight.Action{Type: actionActorStart, Body: body})
	var first *flight.Result
	if err == nil {
		first, err = stream.Recv()
	}
	if !stopStart() {
		// ctx ended first: the stream is cut, and the node stops the actor.
		cancel()
		return nil, c.errorf(status.FromContextError(ctx.Err()).Err(), "%s", what)
	}
	if err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			err = status.Error(codes.Internal, "shoal: the node ended the stream before the actor started")
		}
		if failure, ok := taskFailureOf(err); ok {
			return nil, &TaskFailedError{Node: c.addr, Err: failure}
		}
		err = c.errorf(err, "%s", what)
		switch status.Code(err) {
		case codes.Unavailable:
			err = exec.Retryable(err)
		case codes.FailedPrecondition:
			c.binaries.Delete(req.Binary) // perhaps the node lost it: look again
		}
		return nil, err
	}
	var st actorStarted
	if err := json.Unmarshal(first.GetBody(), &st); err != nil || st.ActorID == "" {
		cancel()
		return nil, fmt.Errorf("cluster: %s on %s: bad reply %.200q: %v", what, c.addr, first.GetBody(), err)
	}
	h := &RemoteActorHandle{c: c, id: st.ActorID, gpus: st.GPUIDs, node: st.Node, operator: req.Operator, index: req.Index,
		cancel: cancel, stopc: make(chan struct{}), ended: make(chan struct{}), stopper: make(chan struct{}), done: make(chan struct{})}
	go h.stopWhenAsked(sctx)
	go h.watch(stream)
	return h, nil
}

// watch reads the stream until it ends: the actor's end.
func (h *RemoteActorHandle) watch(stream flight.FlightService_DoActionClient) {
	var err error
	for err == nil {
		_, err = stream.Recv() // no messages after the first: just the end
	}
	h.cancel()
	close(h.ended)
	<-h.stopper
	select {
	case <-h.stopc:
		err = nil // as asked
	default:
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("cluster: %s on %s was stopped by an actor-stop", h, h.c.addr)
		} else {
			err = h.c.errorf(err, "%s", h)
		}
	}
	h.err = err
	close(h.done)
}

// stopWhenAsked waits for Stop, then asks the node to stop the actor, which
// answers once the actor's cleanups have run and its resources are free:
// Done then means the node has them back. Where the node cannot be asked,
// it cuts the stream, which stops the actor too.
func (h *RemoteActorHandle) stopWhenAsked(sctx context.Context) {
	defer close(h.stopper)
	select {
	case <-h.stopc:
	case <-h.ended:
		return
	}
	ctx, cancel := context.WithTimeout(sctx, actorStopTimeout) // sctx ends with the stream
	err := h.c.call(ctx, actionActorStop, actorIDBody{ActorID: h.id}, nil)
	cancel()
	if err == nil {
		// The stream ends right after.
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-h.ended:
			return
		case <-t.C:
		}
	}
	h.cancel()
}

func (h *RemoteActorHandle) String() string {
	return fmt.Sprintf("actor %s (%s[%d])", h.id, h.operator, h.index)
}

// ID is the actor's ID on its node.
func (h *RemoteActorHandle) ID() string { return h.id }

// GPUIDs are the devices the actor holds on its node.
func (h *RemoteActorHandle) GPUIDs() []int { return slices.Clone(h.gpus) }

// Node is the ID of the node the actor runs on.
func (h *RemoteActorHandle) Node() string { return h.node }

// Stop ends the actor: the node stops it (its cleanups run) and takes its
// resources back, after the call it is running, which is cancelled. It
// does not wait: Done is closed once the node has done so (or, where the
// node cannot be reached, once the stream is cut). Stopping twice, or an
// actor that has ended, does nothing.
func (h *RemoteActorHandle) Stop() {
	h.stopOnce.Do(func() { close(h.stopc) })
}

// Done is closed when the actor has ended: stopped, died, its node or
// worker gone, or the client closed.
func (h *RemoteActorHandle) Done() <-chan struct{} { return h.done }

// Err is why the actor ended, once Done is closed: nil after Stop; a status
// error naming the actor otherwise: codes.Aborted where the actor died (a
// panic, an error marked exec.ActorFailed), with the cause;
// codes.Unavailable where its worker or node went (IsTaskInfraError);
// codes.Canceled where the client closed. nil while the actor runs.
func (h *RemoteActorHandle) Err() error {
	select {
	case <-h.done:
		return h.err
	default:
		return nil
	}
}

// Call runs one call on the actor and returns its outputs, in the store of
// the actor's worker process (RunTaskResult.Addr), as RunTask does. Calls
// of one actor run one at a time in the order they reach it. The error is
// a *TaskFailedError for a failure of the actor's function: its own error,
// which leaves the actor alive, or, if exec.IsActorFailure reports it, the
// actor's death (a panic, an error marked exec.ActorFailed); a call to an
// actor that has ended fails as an actor failure too. Where the node or the worker failed, the error is
// both an actor failure and an infrastructure one (IsTaskInfraError).
// Cancelling ctx cancels the call's context on the worker.
func (h *RemoteActorHandle) Call(ctx context.Context, req ActorCallRequest) (RunTaskResult, error) {
	what := fmt.Sprintf("call %s[%d] on %s", req.Operator, req.Index, h)
	select {
	case <-h.done:
		why := h.err
		if why == nil {
			why = errors.New("stopped")
		}
		return RunTaskResult{}, exec.ActorFailed(fmt.Errorf("cluster: %s on %s: the actor has ended: %w", what, h.c.addr, why))
	default:
	}
	var w wireTaskResult
	err := h.c.call(ctx, actionActorCall, actorCallBody{ActorID: h.id, ActorCallRequest: req}, &w)
	if err != nil {
		if failure, ok := taskFailureOf(err); ok {
			return RunTaskResult{}, &TaskFailedError{Node: h.c.addr, Err: failure}
		}
		err = h.c.errorf(err, "%s", what)
		if status.Code(err) == codes.Unavailable {
			// The actor went with its worker or node.
			err = exec.ActorFailed(exec.Retryable(err))
		}
		return RunTaskResult{}, err
	}
	return h.c.taskResult(ctx, w, what)
}
