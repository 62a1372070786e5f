package cluster

// The worker process: the driver's own binary, started by a node with
// SHOAL_WORKER_NODE set. ServeWorkerIfAsked, called first thing in main
// (dataset.Init does), turns the process into a worker: it serves
// "run-task" and the actor actions (actor_worker.go) on a loopback gRPC
// port, which it announces as its first line of stdout, until the node
// closes its stdin.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// envWorkerNode names the variable that makes a process a worker: the
// Flight address of the node that started it.
const envWorkerNode = "SHOAL_WORKER_NODE"

// workerAnnounce starts the worker's first line of stdout, before its
// address.
const workerAnnounce = "worker at "

// maxInputFetches bounds the inputs a task fetches at once.
const maxInputFetches = 8

// ServeWorkerIfAsked makes this process a task worker if a node started it
// as one (SHOAL_WORKER_NODE is set), and otherwise returns at once. A
// program whose tasks run on a cluster calls it first thing in main
// (dataset.Init does): its workers on the nodes run the same binary, so
// that they have the task kinds it registered (exec.RegisterTaskKind). A
// worker serves until the node that started it closes its stdin or goes
// away, then exits the process: in a worker ServeWorkerIfAsked never
// returns.
func ServeWorkerIfAsked() {
	node := os.Getenv(envWorkerNode)
	if node == "" {
		return
	}
	// Processes the tasks start are not workers.
	_ = os.Unsetenv(envWorkerNode)
	if err := serveWorker(node, os.Getenv("SHOAL_TOKEN"), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "shoal worker: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveWorker serves tasks for node until stdin ends.
func serveWorker(node, token string, stdin io.Reader, stdout io.Writer) error {
	if token == "" {
		return errors.New("SHOAL_TOKEN is not set: a worker needs the cluster token")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ws := &workerService{node: node, token: token, clients: map[string]*ObjectClient{}, actors: map[string]*workerActor{}}
	srv := grpc.NewServer(serverOptions(token, ProtocolVersion)...)
	flight.RegisterFlightServiceServer(srv, ws)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	if _, err := fmt.Fprintf(stdout, "%s%s\n", workerAnnounce, lis.Addr()); err != nil {
		srv.Stop()
		return err
	}
	// The node holds the other end of stdin: EOF means it closed it or
	// exited (even killed), and a worker without its node has no purpose.
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	}
	srv.Stop()
	ws.close()
	return nil
}

// workerService runs tasks and actors in a worker.
type workerService struct {
	flight.BaseFlightServer
	node, token string

	mu      sync.Mutex
	clients map[string]*ObjectClient // by node address
	actors  map[string]*workerActor  // by ID
}

// client is the (cached) object client of the node at addr.
func (ws *workerService) client(addr string) (*ObjectClient, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if c, ok := ws.clients[addr]; ok {
		return c, nil
	}
	c, err := DialObjects(addr, ws.token)
	if err != nil {
		return nil, err
	}
	ws.clients[addr] = c
	return c, nil
}

func (ws *workerService) close() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, c := range ws.clients {
		_ = c.Close()
	}
	ws.clients = nil
}

// DoAction serves run-task and the actor actions.
func (ws *workerService) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	// Marks every answer of this handler, so the node can tell them from a
	// broken connection.
	stream.SetTrailer(metadata.Pairs(workerMarkKey, "1"))
	ctx := stream.Context()
	switch a.GetType() {
	case actionRunTask:
		var req RunTaskRequest
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		refs, wall, cpu, err := ws.run(ctx, req)
		return ws.sendResult(stream, refs, wall, cpu, err)
	case actionActorStart:
		var req workerActorStart
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		return ws.startActor(stream, req)
	case actionActorCall:
		var req actorCallBody
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		refs, wall, cpu, err := ws.callActor(ctx, req)
		return ws.sendResult(stream, refs, wall, cpu, err)
	case actionActorStop:
		var req actorIDBody
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		if err := ws.stopActor(ctx, req.ActorID); err != nil {
			return err
		}
		return stream.Send(&flight.Result{Body: encodeBody(struct{}{})})
	}
	return status.Errorf(codes.Unimplemented, "shoal: worker: unknown action %q", a.GetType())
}

// sendResult sends the reply of a task or an actor call, or its error.
func (ws *workerService) sendResult(stream flight.FlightService_DoActionServer, refs []exec.ObjectRef, wall, cpu time.Duration, err error) error {
	if err != nil {
		return err
	}
	err = stream.Context().Err()
	if err == nil {
		err = stream.Send(&flight.Result{Body: encodeBody(encodeTaskResult(refs, wall, cpu))})
	}
	if err != nil {
		ws.release(refs) // nobody will hear of them
		return err
	}
	return nil
}

// run runs one task: it builds the function, fetches the inputs, calls it
// and stores its outputs on the node. Errors are statuses.
func (ws *workerService) run(ctx context.Context, req RunTaskRequest) (refs []exec.ObjectRef, wall, cpu time.Duration, err error) {
	start := time.Now()
	fn, err := exec.BuildTask(req.Spec)
	if err != nil {
		return nil, 0, 0, taskFailureStatus(err)
	}
	inputs, err := ws.fetch(ctx, req.Inputs)
	if err != nil {
		return nil, 0, 0, err
	}
	tc := &exec.TaskContext{Context: ctx, Alloc: memory.DefaultAllocator, Operator: req.Operator, Index: req.Index, Attempt: req.Attempt}
	// Pinned to its thread, the function's CPU time is the thread's.
	runtime.LockOSThread()
	c0, ok0 := threadCPU()
	outs, err := callTask(tc, fn, inputs)
	c1, ok1 := threadCPU()
	runtime.UnlockOSThread()
	if ok0 && ok1 {
		cpu = c1 - c0
	}
	// The task borrowed its inputs; its outputs carry one reference each,
	// ours until stored.
	for _, b := range inputs {
		b.Release()
	}
	defer func() {
		for _, b := range outs {
			if b != nil {
				b.Release()
			}
		}
	}()
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, 0, status.FromContextError(ctx.Err()).Err()
		}
		return nil, 0, 0, taskFailureStatus(err)
	}
	refs, err = ws.storeOutputs(ctx, outs, req.Operator, req.Index)
	if err != nil {
		return nil, 0, 0, err
	}
	return refs, time.Since(start), cpu, nil
}

// storeOutputs puts outputs (nil ones skipped) in the node's store, named
// for operator; on failure it frees what it stored. outs stay the caller's.
// Errors are statuses.
func (ws *workerService) storeOutputs(ctx context.Context, outs []blocks.Block, operator string, index int) ([]exec.ObjectRef, error) {
	c, err := ws.client(ws.node)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "shoal: worker: %v", err)
	}
	refs := make([]exec.ObjectRef, 0, len(outs))
	for i, b := range outs {
		if b == nil {
			continue
		}
		ref, err := c.Put(ctx, b, operator)
		if err != nil {
			ws.release(refs)
			return nil, status.Errorf(status.Code(err), "shoal: storing output %d of %s[%d]: %v", i, operator, index, err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// fetch gets the inputs from their nodes. On failure it releases what it
// got; the error names the input's node and object.
func (ws *workerService) fetch(ctx context.Context, in []RemoteBlock) ([]blocks.Block, error) {
	out := make([]blocks.Block, len(in))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxInputFetches)
	for i, rb := range in {
		g.Go(func() error {
			c, err := ws.client(rb.Addr)
			if err == nil {
				out[i], err = c.Get(gctx, rb.ID, memory.DefaultAllocator)
			}
			if err != nil {
				code := status.Code(err)
				if ctx.Err() != nil {
					return status.FromContextError(ctx.Err()).Err()
				}
				if code == codes.Unknown || code == codes.Canceled {
					code = codes.Unavailable
				}
				return status.Errorf(code, "shoal: input %d, object %d on node %s: %v", i, rb.ID, rb.Addr, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		for _, b := range out {
			if b != nil {
				b.Release()
			}
		}
		return nil, err
	}
	return out, nil
}

// release frees outputs already stored on the node.
func (ws *workerService) release(refs []exec.ObjectRef) {
	if len(refs) == 0 {
		return
	}
	c, err := ws.client(ws.node)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, r := range refs {
		_ = c.Release(ctx, r.ID)
	}
}

// callTask calls fn, turning a panic into an *exec.PanicError.
func callTask(tc *exec.TaskContext, fn exec.RunFunc, in []blocks.Block) (outs []blocks.Block, err error) {
	defer func() {
		if v := recover(); v != nil {
			// Blocks built before the panic were never returned: garbage for
			// the collector, not references we hold.
			outs, err = nil, &exec.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return fn(tc, in)
}
