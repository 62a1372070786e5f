package cluster

// Running tasks on a node.
//
// A driver asks a node to run a task with the "run-task" action. The node
// holds the task's CPUs (a weighted semaphore of its declared CPUs, in
// milli-CPUs), then forwards the request to its worker process for the
// task's binary, starting one if there is none: the driver's own executable,
// uploaded with EnsureBinary, run with SHOAL_WORKER_NODE set so that
// ServeWorkerIfAsked makes it a worker (worker.go). The worker builds the
// task from its spec, takes the inputs from its own object store where
// they are there (no copy) and fetches the others from the stores that
// hold them, runs it and keeps the outputs in its own store, which it
// serves as a node serves its: the driver gets their IDs in that store
// and its address (RunTaskResult.Addr). A worker's blocks die with it.
//
// Errors tell the driver what to do next: a task's own failure (its error,
// a panic, a spec this binary cannot build) is codes.Aborted with details
// (TaskFailedError on the driver); a failure of the machinery (the worker
// died, the node is stopping, an input's node cannot be reached) is
// codes.Unavailable (IsTaskInfraError: run it elsewhere).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// RunTaskRequest asks a node to run a task in a worker running Binary.
type RunTaskRequest struct {
	// Binary is the BinaryHash of the driver's executable, uploaded to the
	// node with EnsureBinary.
	Binary string `json:"binary"`
	// Spec is built in the worker with exec.BuildTask.
	Spec     exec.TaskSpec `json:"spec"`
	Operator string        `json:"operator"`
	Index    int           `json:"index"`
	Attempt  int           `json:"attempt"`
	// CPUs the task holds on the node while it runs: 0 means 1, a negative
	// value none (as exec.Task.CPUs).
	CPUs float64 `json:"cpus"`
	// Inputs are where the task's input blocks live, in order.
	Inputs []RemoteBlock `json:"inputs"`
	// Job, when set, owns the outputs: they are freed when it ends.
	Job string `json:"job,omitempty"`
	// CallID names the call between a node and its worker (set by the
	// node): cancel-call cancels it.
	CallID string `json:"call_id,omitempty"`
}

// actionCancelCall asks a worker to cancel a task it runs.
const actionCancelCall = "cancel-call" // cancelCallBody → {}

type cancelCallBody struct {
	CallID string `json:"call_id"`
}

// RemoteBlock is a block in an object store: a node's, or a worker's (where
// tasks and actor calls leave their outputs).
type RemoteBlock struct {
	// Addr is the store's Flight address (RunTaskResult.Addr for a task's
	// outputs), ID the object's ID in that store.
	Addr string        `json:"addr"`
	ID   exec.ObjectID `json:"id"`
}

// RunTaskResult is what a task (or an actor call) run on a node made.
type RunTaskResult struct {
	// Addr is the Flight address of the store the outputs are in: that of
	// the worker process that ran the task, on the node, which serves them
	// as a node does (DialObjects(Addr, token)) for as long as it lives.
	Addr string `json:"addr"`
	// Outputs are in the store at Addr, under its own IDs, each counted
	// once for the caller (free them with ObjectClient.Release there);
	// Meta is filled and Producer is the operator.
	Outputs []exec.ObjectRef
	// Wall is the time the worker spent on the task (fetching inputs,
	// running, storing outputs); CPU the CPU time of its function on its
	// thread (0 where the platform cannot tell).
	Wall, CPU time.Duration
}

// wireTaskResult is RunTaskResult on the wire: schemas as Arrow IPC, each
// once (a task's outputs usually share theirs).
type wireTaskResult struct {
	Addr    string        `json:"addr"` // RunTaskResult.Addr
	Outputs []wireRef     `json:"outputs"`
	Schemas [][]byte      `json:"schemas,omitempty"`
	Wall    time.Duration `json:"wall"`
	CPU     time.Duration `json:"cpu"`
}

type wireRef struct {
	ID       exec.ObjectID `json:"id"`
	Rows     int64         `json:"rows"`
	Bytes    int64         `json:"bytes"`
	Schema   int           `json:"schema"` // index in Schemas, -1 for none
	Producer string        `json:"producer,omitempty"`
}

func encodeTaskResult(addr string, refs []exec.ObjectRef, wall, cpu time.Duration) wireTaskResult {
	w := wireTaskResult{Addr: addr, Outputs: make([]wireRef, len(refs)), Wall: wall, CPU: cpu}
	seen := map[string]int{}
	for i, r := range refs {
		idx := -1
		if r.Schema != nil {
			s := flight.SerializeSchema(r.Schema, memory.DefaultAllocator)
			var ok bool
			if idx, ok = seen[string(s)]; !ok {
				idx = len(w.Schemas)
				seen[string(s)] = idx
				w.Schemas = append(w.Schemas, s)
			}
		}
		w.Outputs[i] = wireRef{ID: r.ID, Rows: r.Rows, Bytes: r.Bytes, Schema: idx, Producer: r.Producer}
	}
	return w
}

func (w wireTaskResult) decode() (RunTaskResult, error) {
	res := RunTaskResult{Addr: w.Addr, Outputs: make([]exec.ObjectRef, len(w.Outputs)), Wall: w.Wall, CPU: w.CPU}
	for i, o := range w.Outputs {
		ref := exec.ObjectRef{ID: o.ID, Meta: blocks.Meta{Rows: o.Rows, Bytes: o.Bytes}, Producer: o.Producer}
		if o.Schema >= len(w.Schemas) {
			return RunTaskResult{}, fmt.Errorf("output %d: schema %d of %d", i, o.Schema, len(w.Schemas))
		}
		if o.Schema >= 0 {
			s, err := flight.DeserializeSchema(w.Schemas[o.Schema], memory.DefaultAllocator)
			if err != nil {
				return RunTaskResult{}, fmt.Errorf("output %d: schema: %w", i, err)
			}
			ref.Schema = s
		}
		res.Outputs[i] = ref
	}
	return res, nil
}

func (w wireTaskResult) ids() []exec.ObjectID {
	ids := make([]exec.ObjectID, len(w.Outputs))
	for i, o := range w.Outputs {
		ids[i] = o.ID
	}
	return ids
}

// TaskFailedError is the failure of a task's own code on a node: its
// function returned an error or panicked (Err is then an *exec.PanicError,
// its Value the panic's text), or its spec did not build. It is retryable
// (exec.IsRetryable) only where the task's error was marked so.
type TaskFailedError struct {
	// Node is the address of the node that ran the task.
	Node string
	Err  error
}

func (e *TaskFailedError) Error() string {
	return fmt.Sprintf("cluster: task on %s: %v", e.Node, e.Err)
}
func (e *TaskFailedError) Unwrap() error { return e.Err }

// IsTaskInfraError reports whether err, from RunTask, is a failure of the
// cluster rather than of the task (the node or its worker died or is
// stopping, an input's node cannot be reached): the task may succeed
// elsewhere. Such errors are also exec.IsRetryable.
func IsTaskInfraError(err error) bool {
	return err != nil && status.Code(err) == codes.Unavailable
}

// taskFailureKey marks the details of a task's own failure.
const taskFailureKey = "shoal-task-failure"

// Bounds on what a failure carries back (gRPC sends it in trailers).
const (
	maxFailureMessage = 32 << 10
	maxFailureStack   = 32 << 10
)

// taskFailureStatus is the status of a task's own failure: codes.Aborted,
// the error's text, and whether it was a panic, retryable or the failure
// of an actor (exec.IsActorFailure) as details.
func taskFailureStatus(err error) error {
	var pe *exec.PanicError
	panicked := errors.As(err, &pe)
	fields := map[string]any{
		taskFailureKey: true,
		"panic":        panicked,
		"retryable":    !panicked && exec.IsRetryable(err),
		"actor":        exec.IsActorFailure(err),
	}
	if panicked {
		fields["value"] = clip(fmt.Sprint(pe.Value), maxFailureMessage)
		fields["stack"] = clip(string(pe.Stack), maxFailureStack)
	}
	st := status.New(codes.Aborted, clip(err.Error(), maxFailureMessage))
	if d, derr := structpb.NewStruct(fields); derr == nil {
		if withD, derr := st.WithDetails(d); derr == nil {
			st = withD
		}
	}
	return st.Err()
}

// taskFailureOf turns the status of a task's own failure back into its
// error; ok is false for other errors.
func taskFailureOf(err error) (_ error, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus || st.Code() != codes.Aborted {
		return nil, false
	}
	for _, d := range st.Details() {
		s, isStruct := d.(*structpb.Struct)
		if !isStruct || !s.GetFields()[taskFailureKey].GetBoolValue() {
			continue
		}
		f := s.GetFields()
		var failure error
		switch {
		case f["panic"].GetBoolValue():
			failure = &exec.PanicError{Value: f["value"].GetStringValue(), Stack: []byte(f["stack"].GetStringValue())}
		case f["retryable"].GetBoolValue():
			failure = exec.Retryable(errors.New(st.Message()))
		default:
			failure = errors.New(st.Message())
		}
		if f["actor"].GetBoolValue() {
			// The text has exec.ActorFailed's prefix already.
			if !f["panic"].GetBoolValue() {
				failure = errors.New(strings.TrimPrefix(st.Message(), actorFailedPrefix))
				if f["retryable"].GetBoolValue() {
					failure = exec.Retryable(failure)
				}
			}
			failure = exec.ActorFailed(failure)
		}
		return failure, true
	}
	return nil, false
}

// actorFailedPrefix starts the text of an error marked exec.ActorFailed.
var actorFailedPrefix = exec.ActorFailed(errors.New("")).Error()

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "... (clipped)"
}

// RunTask runs a task on the node, in a worker running req.Binary (which
// must have been uploaded with EnsureBinary). Its error is a
// *TaskFailedError for a failure of the task's own code, one for which
// IsTaskInfraError holds where the task may succeed elsewhere, or another
// (a malformed request, the binary missing, ctx's end). Cancelling ctx
// cancels the task's context on the worker.
func (c *ObjectClient) RunTask(ctx context.Context, req RunTaskRequest) (RunTaskResult, error) {
	var w wireTaskResult
	err := c.call(ctx, actionRunTask, req, &w)
	if err != nil {
		if failure, ok := taskFailureOf(err); ok {
			return RunTaskResult{}, &TaskFailedError{Node: c.addr, Err: failure}
		}
		err = c.errorf(err, "run task %s[%d]", req.Operator, req.Index)
		switch status.Code(err) {
		case codes.Unavailable:
			err = exec.Retryable(err)
		case codes.FailedPrecondition:
			// Perhaps the binary is gone (a node restarted at this address
			// with a new work dir): let EnsureBinary look again.
			c.binaries.Delete(req.Binary)
		}
		return RunTaskResult{}, err
	}
	return c.taskResult(ctx, w, fmt.Sprintf("run task %s[%d]", req.Operator, req.Index))
}

// taskResult decodes the reply of a task or an actor call; where it cannot,
// it frees the outputs, which nobody else knows of. (The node decodes the
// reply before passing it on, and frees the outputs in the worker if it
// cannot: this is for a reply that broke on the way. Outputs in a store
// this client does not speak to stay there until their worker ends.)
func (c *ObjectClient) taskResult(ctx context.Context, w wireTaskResult, what string) (RunTaskResult, error) {
	res, err := w.decode()
	if err != nil {
		if w.Addr == "" || w.Addr == c.addr {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			for _, id := range w.ids() {
				_ = c.Release(rctx, id)
			}
			cancel()
		}
		return RunTaskResult{}, fmt.Errorf("cluster: %s on %s: bad reply: %w", what, c.addr, err)
	}
	return res, nil
}

// nodeService is a node's Flight service: its ObjectService, plus the
// actions that ship binaries and run tasks, and stats that count its
// workers' stores too.
type nodeService struct {
	*ObjectService
	n *Node
}

// DoAction serves binary-has, binary-put, run-task, the actor actions and
// stats (the node's store and its workers' added up: Node.Stats), and
// passes other actions to the ObjectService.
func (s *nodeService) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	reply := func(v any) error { return stream.Send(&flight.Result{Body: encodeBody(v)}) }
	switch a.GetType() {
	case actionBinaryHas:
		var b binaryHasBody
		if err := decodeBody(a.GetType(), a.GetBody(), &b); err != nil {
			return err
		}
		if !validHash(b.Hash) {
			return status.Errorf(codes.InvalidArgument, "shoal: binary-has: hash %.80q is not a hex sha256", b.Hash)
		}
		s.n.bins.hasCalls.Add(1)
		return reply(binaryReply{Present: s.n.bins.has(b.Hash)})
	case actionBinaryPut:
		b, err := decodeBinaryPut(a.GetBody())
		if err != nil {
			return err
		}
		present, err := s.n.bins.put(b)
		if err != nil {
			return err
		}
		if present {
			s.n.cfg.Logf("binary %s is in place", shortHash(b.Hash))
		}
		return reply(binaryReply{Present: present})
	case actionRunTask:
		var req RunTaskRequest
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		body, release, err := s.n.tasks.run(stream.Context(), req)
		return s.sendResult(stream, body, release, err)
	case actionActorStart:
		var req ActorStartRequest
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		return s.n.actors.serve(stream, req)
	case actionActorCall:
		var req actorCallBody
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		body, release, err := s.n.actors.call(stream.Context(), req)
		return s.sendResult(stream, body, release, err)
	case actionActorStop:
		var req actorIDBody
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		if err := s.n.actors.stop(stream.Context(), req.ActorID); err != nil {
			return err
		}
		return reply(struct{}{})
	case ActionStats:
		return reply(toWireStats(s.n.Stats(stream.Context())))
	}
	return s.ObjectService.DoAction(a, stream)
}

// sendResult sends the reply of a task or an actor call, or its error.
// release frees the outputs the reply names.
func (s *nodeService) sendResult(stream flight.FlightService_DoActionServer, body []byte, release func(), err error) error {
	if err != nil {
		return err
	}
	err = stream.Context().Err()
	if err == nil {
		err = stream.Send(&flight.Result{Body: body})
	}
	if err != nil {
		// The driver cannot learn the outputs' IDs: nothing else will
		// free them.
		release()
		return err
	}
	return nil
}

// workerStartTimeout bounds how long a worker may take to say where it
// listens.
const workerStartTimeout = 30 * time.Second

// workerMarkKey is the trailer a worker sets on its replies: an error that
// carries it came from the worker's handler, not from a broken connection.
const workerMarkKey = "shoal-worker"

// taskRunner runs a node's tasks in its worker processes, one per binary.
type taskRunner struct {
	name  func() string // the node, for errors: "node node-3 (10.0.0.5:7001)"
	addr  string        // the node's Flight address, for its workers (a local one)
	token string
	bins  *binaryStore
	logf  func(format string, args ...any)

	// What a worker is told (worker.go): the host to listen on (the node
	// listener's), the host to advertise (the node's advertised one), its
	// store's budget and where its store spills (a directory of its own
	// under spillDir, made before it starts, removed once it is reaped).
	host, advertise string
	storeMemory     int64
	spillDir        string

	out   io.Writer // where workers' output goes, line by line
	outMu sync.Mutex

	cpus    *semaphore.Weighted // milli-CPUs free
	milli   int64               // milli-CPUs in all
	held    atomic.Int64        // milli-CPUs held by tasks and actors (for messages)
	running atomic.Int64

	// ctx ends when the node stops: tasks' calls and starting workers end.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	procs  map[string]*workerProc // by binary hash
	wg     sync.WaitGroup         // every goroutine the runner starts
}

func newTaskRunner(n *Node, out io.Writer) *taskRunner {
	ctx, cancel := context.WithCancel(context.Background())
	milli := int64(n.cfg.Resources.CPUs) * 1000
	host := "127.0.0.1"
	if tcp, ok := n.lis.Addr().(*net.TCPAddr); ok {
		host = tcp.IP.String() // "0.0.0.0" or "::" where it listens on all
	}
	advertise, _, err := net.SplitHostPort(n.cfg.Advertise)
	if err != nil {
		advertise = host
	}
	return &taskRunner{
		name:        func() string { return fmt.Sprintf("node %s (%s)", n.ID(), n.Addr()) },
		addr:        dialableAddr(n.lis.Addr()),
		token:       n.cfg.Token,
		bins:        n.bins,
		logf:        n.cfg.Logf,
		host:        host,
		advertise:   advertise,
		storeMemory: n.cfg.Resources.ObjectStoreMemory,
		spillDir:    n.cfg.SpillDir,
		out:         out,
		cpus:        semaphore.NewWeighted(milli),
		milli:       milli,
		ctx:         ctx, cancel: cancel,
		procs: map[string]*workerProc{},
	}
}

// dialableAddr is where a process on this machine reaches a listener: its
// address, 127.0.0.1 in place of an unspecified IP ("0.0.0.0", "::": Go
// listens on both families there). A worker talks to its node there rather
// than at the advertised address, which may name a route from outside.
func dialableAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

// workerProc is one worker process.
type workerProc struct {
	hash  string
	ready chan struct{} // closed once started (fc, addr set) or failed (err set)
	err   error
	pid   int
	cmd   *osexec.Cmd
	conn  *grpc.ClientConn // to its local address
	fc    flight.FlightServiceClient
	addr  string // its advertised address: where its store is reached
	// spillDir is its store's spill directory, made by the node before it
	// starts and removed once it is reaped.
	spillDir string

	stop     chan struct{} // closed to kill it
	stopOnce sync.Once
	exited   chan struct{} // closed once reaped and its output read
	exitErr  error         // cmd.Wait's, set before exited closes
	stderr   tailBuffer
}

func (w *workerProc) halt() { w.stopOnce.Do(func() { close(w.stop) }) }

// dead reports whether the worker has exited or is being killed.
func (w *workerProc) dead() bool {
	select {
	case <-w.exited:
		return true
	case <-w.stop:
		return true
	default:
		return false
	}
}

// stopping is the error of a task that came as the node stops.
func (r *taskRunner) stopping() error {
	return status.Errorf(codes.Unavailable, "shoal: %s is stopping", r.name())
}

// milliCPUs is what a task asking for cpus holds.
func (r *taskRunner) milliCPUs(cpus float64) (int64, error) {
	switch {
	case cpus == 0:
		cpus = 1
	case cpus < 0:
		return 0, nil
	}
	m := int64(math.Ceil(cpus * 1000))
	if m > r.milli {
		return 0, status.Errorf(codes.InvalidArgument, "shoal: the task asks for %g CPUs, %s has %d", cpus, r.name(), r.milli/1000)
	}
	return m, nil
}

// run runs one task and returns the worker's reply (a wireTaskResult) and
// what frees the outputs it made (in the worker's store). Errors are
// statuses.
func (r *taskRunner) run(callCtx context.Context, req RunTaskRequest) ([]byte, func(), error) {
	if !validHash(req.Binary) {
		return nil, nil, status.Errorf(codes.InvalidArgument, "shoal: run-task: binary %.80q is not a hex sha256", req.Binary)
	}
	for i, in := range req.Inputs {
		if in.Addr == "" {
			return nil, nil, status.Errorf(codes.InvalidArgument, "shoal: run-task: input %d (object %d) has no store address", i, in.ID)
		}
	}
	if !r.bins.has(req.Binary) {
		return nil, nil, errBinaryMissing(r.name(), req.Binary)
	}
	milli, err := r.milliCPUs(req.CPUs)
	if err != nil {
		return nil, nil, err
	}
	// The task's context ends with the driver's call or the node.
	ctx, cancel := context.WithCancel(callCtx)
	defer cancel()
	defer context.AfterFunc(r.ctx, cancel)()
	ctxErr := func() error { return r.ctxErr(ctx) }
	if milli > 0 {
		if err := r.cpus.Acquire(ctx, milli); err != nil {
			return nil, nil, ctxErr()
		}
		r.held.Add(milli)
		defer func() {
			r.held.Add(-milli)
			r.cpus.Release(milli)
		}()
	}
	r.running.Add(1)
	defer r.running.Add(-1)
	w, err := r.worker(ctx, req.Binary)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctxErr()
		}
		return nil, nil, err
	}
	// The driver's end must not cut the call to the worker: a task that
	// finishes as it is cancelled would leave outputs nobody hears of.
	// The node asks the worker to cancel the task instead, and still reads
	// the reply (whose outputs forward then frees).
	req.CallID = newCallID()
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	defer context.AfterFunc(r.ctx, wcancel)() // the node stops: cut it
	defer context.AfterFunc(ctx, func() { r.cancelCall(w, req.CallID) })()
	body, release, err := r.forward(wctx, w, actionRunTask, encodeBody(req), fmt.Sprintf("running %s[%d]", req.Operator, req.Index))
	if ctx.Err() != nil {
		if release != nil {
			release()
		}
		return nil, nil, ctxErr()
	}
	return body, release, err
}

// newCallID names a call to a worker, for cancel-call.
func newCallID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cancelCall asks worker w to cancel the task running as call id.
func (r *taskRunner) cancelCall(w *workerProc, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := w.call(ctx, actionCancelCall, encodeBody(cancelCallBody{CallID: id})); err != nil {
		r.logf("worker %s: cancelling call %s: %v", shortHash(w.hash), id, err)
	}
}

// forward sends a task or an actor call to worker w and returns its reply
// (a wireTaskResult, passed on as it is: its outputs are in the worker's
// store, its Addr the worker's) and what frees the outputs it made. doing
// says what the call does, for errors ("running op[3]"). Errors are
// statuses: the worker's own, the context's, or Unavailable where the
// worker died or cannot be reached.
func (r *taskRunner) forward(ctx context.Context, w *workerProc, action string, body []byte, doing string) ([]byte, func(), error) {
	body, fromWorker, err := w.call(ctx, action, body)
	if err == nil {
		var res wireTaskResult
		if jerr := json.Unmarshal(body, &res); jerr != nil {
			return nil, nil, status.Errorf(codes.Internal, "shoal: %s: malformed reply from worker %s: %v", r.name(), shortHash(w.hash), jerr)
		}
		ids := res.ids()
		release := func() { r.releaseOutputs(w, ids) }
		if _, derr := res.decode(); derr != nil {
			release()
			return nil, nil, status.Errorf(codes.Internal, "shoal: %s: bad reply from worker %s: %v", r.name(), shortHash(w.hash), derr)
		}
		if res.Addr != w.addr {
			release()
			return nil, nil, status.Errorf(codes.Internal, "shoal: %s: worker %s says its outputs are at %.80q, it is at %s",
				r.name(), shortHash(w.hash), res.Addr, w.addr)
		}
		if ctx.Err() != nil {
			release()
			return nil, nil, r.ctxErr(ctx)
		}
		return body, release, nil
	}
	switch {
	case ctx.Err() != nil:
		return nil, nil, r.ctxErr(ctx)
	case fromWorker:
		return nil, nil, err // the worker's own answer: keep its status
	}
	return nil, nil, r.broken(w, doing, err)
}

// ctxErr is the error of a call whose context ended: the node's stop, or
// the caller's own end.
func (r *taskRunner) ctxErr(ctx context.Context) error {
	if r.ctx.Err() != nil {
		return r.stopping()
	}
	return status.FromContextError(ctx.Err()).Err()
}

// broken is the error of a call to worker w that broke with err (not an
// answer of the worker's): it died, or cannot be reached, in which case it
// is halted so that the next call starts a new one. Unavailable.
func (r *taskRunner) broken(w *workerProc, doing string, err error) error {
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second):
	}
	select {
	case <-w.exited:
		return status.Errorf(codes.Unavailable, "shoal: %s: worker %s (pid %d) died %s: %s%s",
			r.name(), shortHash(w.hash), w.pid, doing, describeExit(w.exitErr), w.stderr.last(2<<10))
	default:
		w.halt()
		return status.Errorf(codes.Unavailable, "shoal: %s: worker %s (pid %d) unreachable %s: %v",
			r.name(), shortHash(w.hash), w.pid, doing, err)
	}
}

func describeExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// releaseOutputs frees outputs no driver will hear of, in worker w's
// store. A worker that is gone took them with it.
func (r *taskRunner) releaseOutputs(w *workerProc, ids []exec.ObjectID) {
	if len(ids) == 0 || w.dead() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, id := range ids {
		if _, err := w.action(ctx, ActionRelease, encodeBody(releaseBody{ID: &id})); err != nil {
			r.logf("releasing object %d in worker %s: %v", id, shortHash(w.hash), err)
			if status.Code(err) == codes.Unavailable || ctx.Err() != nil {
				return
			}
		}
	}
}

// workerStatsTimeout bounds how long the node waits for a worker's store
// counters (Node.Stats): one that does not answer counts nothing.
const workerStatsTimeout = time.Second

// workerStats are the store counters of the live workers, asked in
// parallel; a worker that does not answer within ctx (and
// workerStatsTimeout) is left out.
func (r *taskRunner) workerStats(ctx context.Context) []exec.StoreStats {
	ctx, cancel := context.WithTimeout(ctx, workerStatsTimeout)
	defer cancel()
	live := r.liveWorkers()
	got := make([]*exec.StoreStats, len(live))
	var wg sync.WaitGroup
	for i, w := range live {
		wg.Go(func() {
			body, _, err := w.call(ctx, ActionStats, nil)
			var ws wireStats
			if err == nil && json.Unmarshal(body, &ws) == nil {
				st := ws.stats()
				got[i] = &st
			}
		})
	}
	wg.Wait()
	out := make([]exec.StoreStats, 0, len(got))
	for _, st := range got {
		if st != nil {
			out = append(out, *st)
		}
	}
	return out
}

// jobEnded asks every live worker to free the objects of job.
func (r *taskRunner) jobEnded(ctx context.Context, job string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range r.liveWorkers() {
		wg.Go(func() {
			if _, _, err := w.call(ctx, actionJobEnded, encodeBody(jobEndedBody{Job: job})); err != nil {
				r.logf("worker %s: freeing the blocks of %s: %v", shortHash(w.hash), job, err)
			}
		})
	}
	wg.Wait()
}

// liveWorkers are the workers started and not dead.
func (r *taskRunner) liveWorkers() []*workerProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*workerProc
	for _, w := range r.procs {
		select {
		case <-w.ready:
			if w.err == nil && !w.dead() {
				out = append(out, w)
			}
		default:
		}
	}
	return out
}

// action runs an action on the worker and returns its replies' bodies.
func (w *workerProc) action(ctx context.Context, action string, body []byte) ([][]byte, error) {
	return doAction(ctx, w.fc, action, body)
}

// call runs an action with one reply on the worker: a task, an actor's
// call or stop, its store's stats. fromWorker says whether an error came
// from the worker's handler (a status it chose) rather than the
// connection.
func (w *workerProc) call(ctx context.Context, action string, body []byte) (_ []byte, fromWorker bool, _ error) {
	stream, err := w.fc.DoAction(ctx, &flight.Action{Type: action, Body: body})
	if err != nil {
		return nil, false, err
	}
	var out [][]byte
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, len(stream.Trailer().Get(workerMarkKey)) > 0, err
		}
		out = append(out, res.GetBody())
	}
	if len(out) != 1 {
		return nil, true, status.Errorf(codes.Internal, "shoal: worker %s: %d replies, want 1", shortHash(w.hash), len(out))
	}
	return out[0], true, nil
}

// worker returns the live worker for binary hash, starting one if needed.
func (r *taskRunner) worker(ctx context.Context, hash string) (*workerProc, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, r.stopping()
	}
	w := r.procs[hash]
	if w == nil || w.dead() {
		w = &workerProc{hash: hash, ready: make(chan struct{}), stop: make(chan struct{}), exited: make(chan struct{})}
		r.procs[hash] = w
		r.wg.Add(1)
		// Started apart from this task: its cancellation must not abort the
		// start for the others waiting on it.
		go func() {
			defer r.wg.Done()
			r.serve(w)
		}()
	}
	r.mu.Unlock()
	select {
	case <-w.ready:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	return w, nil
}

// haltAll kills every worker (the node was declared dead: drivers gave
// up what they run and hold) and says how many there were.
func (r *taskRunner) haltAll() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.procs {
		w.halt()
	}
	return len(r.procs)
}

// forget takes w out of the pool, if it is still there.
func (r *taskRunner) forget(w *workerProc) {
	r.mu.Lock()
	if r.procs[w.hash] == w {
		delete(r.procs, w.hash)
	}
	r.mu.Unlock()
}

// serve starts w, then owns it until it exits, is halted or the node
// stops; it kills and reaps it.
func (r *taskRunner) serve(w *workerProc) {
	if err := r.launch(w); err != nil {
		r.forget(w)
		w.err = err
		close(w.ready)
		return
	}
	close(w.ready)
	r.logf("worker %s started (pid %d)", shortHash(w.hash), w.pid)
	select {
	case <-w.exited:
	case <-w.stop:
	case <-r.ctx.Done():
	}
	r.forget(w) // before it is reaped: the next task starts a new one
	_ = w.cmd.Process.Kill()
	<-w.exited
	_ = w.conn.Close()
	r.logf("worker %s (pid %d) ended: %s", shortHash(w.hash), w.pid, describeExit(w.exitErr))
}

// launch starts w's process and waits until it says where it listens. On
// failure the process is reaped; errors are statuses.
func (r *taskRunner) launch(w *workerProc) error {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	pipe := func() (rd, wr *os.File, err error) {
		rd, wr, err = os.Pipe()
		if err == nil {
			files = append(files, rd, wr)
		}
		return rd, wr, err
	}
	stdinR, stdinW, err1 := pipe()
	outR, outW, err2 := pipe()
	errR, errW, err3 := pipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		closeAll()
		return status.Errorf(codes.Unavailable, "shoal: %s: starting a worker: %v", r.name(), err)
	}
	spill, err := os.MkdirTemp(r.spillDir, "shoal-worker-")
	if err != nil {
		closeAll()
		return status.Errorf(codes.Unavailable, "shoal: %s: a spill directory for a worker: %v", r.name(), err)
	}
	w.spillDir = spill
	cmd, err := r.startProcess(r.bins.path(w.hash), spill, stdinR, outW, errW)
	// The child has its ends; the node keeps stdin's writing end, whose
	// closing (the node's exit, even by kill -9) ends the worker.
	_ = stdinR.Close()
	_ = outW.Close()
	_ = errW.Close()
	if err != nil {
		closeAll()
		r.removeSpillDir(w)
		return status.Errorf(codes.Unavailable, "shoal: %s: starting worker %s: %v", r.name(), shortHash(w.hash), err)
	}
	w.cmd, w.pid = cmd, cmd.Process.Pid
	prefix := "worker " + shortHash(w.hash) + ": "
	addrs := make(chan workerAddrs, 1)
	copied := make(chan struct{}, 2)
	r.wg.Add(3)
	go func() {
		defer r.wg.Done()
		r.copyLines(outR, prefix, nil, addrs)
		copied <- struct{}{}
	}()
	go func() {
		defer r.wg.Done()
		r.copyLines(errR, prefix, &w.stderr, nil)
		copied <- struct{}{}
	}()
	go func() {
		defer r.wg.Done()
		err := cmd.Wait()
		// The pipes end once the worker and whatever it started have gone:
		// a child holding them must not hold the node up.
		grace := time.NewTimer(time.Second)
		for range 2 {
			select {
			case <-copied:
			case <-grace.C:
				_ = outR.Close()
				_ = errR.Close()
				<-copied
			}
		}
		grace.Stop()
		_ = outR.Close()
		_ = errR.Close()
		_ = stdinW.Close()
		// Its blocks died with it: so do those it spilled.
		r.removeSpillDir(w)
		w.exitErr = err
		close(w.exited)
	}()
	timer := time.NewTimer(workerStartTimeout)
	defer timer.Stop()
	fail := func(code codes.Code, why string) error {
		_ = cmd.Process.Kill()
		<-w.exited
		msg := fmt.Sprintf("shoal: %s: worker %s (pid %d) %s (%s)", r.name(), shortHash(w.hash), w.pid, why, describeExit(w.exitErr))
		if code == codes.FailedPrecondition {
			msg += ": does the program call cluster.ServeWorkerIfAsked (dataset.Init) first thing in main?"
		}
		return status.Error(code, msg+w.stderr.last(4<<10))
	}
	select {
	case a := <-addrs:
		conn, err := dial(a.local, r.token, ProtocolVersion)
		if err != nil {
			return fail(codes.Internal, err.Error())
		}
		w.conn, w.fc, w.addr = conn, flight.NewFlightServiceClient(conn), a.advertised
		return nil
	case <-w.exited:
		return fail(codes.FailedPrecondition, "exited before it said where it listens")
	case <-timer.C:
		return fail(codes.FailedPrecondition, fmt.Sprintf("did not say where it listens within %v", workerStartTimeout))
	case <-r.ctx.Done():
		return fail(codes.Unavailable, "was starting as the node stopped")
	}
}

// removeSpillDir removes w's spill directory, if it has one.
func (r *taskRunner) removeSpillDir(w *workerProc) {
	if w.spillDir == "" {
		return
	}
	if err := os.RemoveAll(w.spillDir); err != nil {
		r.logf("removing the spill directory of worker %s: %v", shortHash(w.hash), err)
	}
}

// startProcess starts the worker binary at path, its store spilling under
// spillDir.
func (r *taskRunner) startProcess(path, spillDir string, stdin, stdout, stderr *os.File) (*osexec.Cmd, error) {
	for attempt := 0; ; attempt++ {
		cmd := osexec.Command(path)
		// The last value of a variable wins: these override the node's own.
		cmd.Env = append(os.Environ(), envWorkerNode+"="+r.addr, "SHOAL_TOKEN="+r.token,
			envWorkerHost+"="+r.host, envWorkerAdvertise+"="+r.advertise,
			envWorkerStoreMemory+"="+strconv.FormatInt(r.storeMemory, 10), envWorkerSpillDir+"="+spillDir)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
		setDeathSignal(cmd)
		err := cmd.Start()
		// A binary just uploaded can be "busy" for a moment: a process forked
		// meanwhile (another worker's start) may hold the descriptor it was
		// written through until it execs (golang.org/issue/22315).
		if err == nil || !isTextBusy(err) || attempt == 20 {
			return cmd, err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
}

// copyLines copies a worker's output to the node's, each line prefixed.
// With addrs, the worker's announcement (parseAnnounce) is taken out and
// sent there; with tail, the output is kept there too.
func (r *taskRunner) copyLines(src io.Reader, prefix string, tail *tailBuffer, addrs chan<- workerAddrs) {
	br := bufio.NewReaderSize(src, 64<<10)
	atStart := true
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if addrs != nil && atStart && err == nil {
				if a, ok := parseAnnounce(string(line)); ok {
					addrs <- a
					addrs = nil
					continue
				}
			}
			if tail != nil {
				tail.add(line)
			}
			r.writeOut(prefix, line, atStart)
			atStart = line[len(line)-1] == '\n'
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if !atStart {
				r.writeOut("", []byte("\n"), false)
			}
			return
		}
	}
}

func (r *taskRunner) writeOut(prefix string, line []byte, atStart bool) {
	buf := make([]byte, 0, len(prefix)+len(line))
	if atStart {
		buf = append(buf, prefix...)
	}
	buf = append(buf, line...)
	r.outMu.Lock()
	_, _ = r.out.Write(buf)
	r.outMu.Unlock()
}

// close kills the workers and waits for them and every task call.
func (r *taskRunner) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// workerPID is the pid of the live worker for hash, 0 if none (tests).
func (r *taskRunner) workerPID(hash string) int {
	r.mu.Lock()
	w := r.procs[hash]
	r.mu.Unlock()
	if w == nil {
		return 0
	}
	select {
	case <-w.ready:
		if w.err == nil && !w.dead() {
			return w.pid
		}
	default:
	}
	return 0
}

// tailBuffer keeps the last bytes of a worker's stderr, for errors.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailBytes = 8 << 10

func (t *tailBuffer) add(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*tailBytes {
		t.b = append(t.b[:0], t.b[len(t.b)-tailBytes:]...)
	}
}

// last is the last n bytes as a suffix for an error message, "" if none.
func (t *tailBuffer) last(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := bytes.TrimSpace(t.b)
	if len(b) == 0 {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return "; its stderr ends:\n" + string(b)
}
