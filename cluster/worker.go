package cluster

// The worker process: the driver's own binary, started by a node with
// SHOAL_WORKER_NODE set. ServeWorkerIfAsked, called first thing in main
// (dataset.Init does), turns the process into a worker: it serves
// "run-task" and the actor actions (actor_worker.go) until the node closes
// its stdin.
//
// A worker holds the blocks its tasks and actor calls make, in an object
// store of its own that it serves exactly as a node serves its (Flight
// DoGet and DoPut, the release and stats actions): the driver and other
// workers fetch them from it, and a task on the same worker takes them
// from the store with no copy. The node tells it, in its environment,
// where to listen (SHOAL_WORKER_HOST: the host of the node's listener,
// all interfaces for 0.0.0.0 or ::), the host others reach it at
// (SHOAL_WORKER_ADVERTISE: that of the node's advertised address), its
// store's budget (SHOAL_WORKER_STORE_MEMORY, bytes) and spill directory
// (SHOAL_WORKER_SPILL_DIR). It listens on a free port and announces, as
// its first line of stdout, "worker at ADVERTISED LOCAL": where others
// reach it (the address its outputs are at) and where its node does.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Variables a node sets for its workers.
const (
	// envWorkerNode makes a process a worker: the Flight address of the
	// node that started it.
	envWorkerNode = "SHOAL_WORKER_NODE"
	// envWorkerHost is the host to listen on; envWorkerAdvertise the host
	// of the address others reach the worker at.
	envWorkerHost      = "SHOAL_WORKER_HOST"
	envWorkerAdvertise = "SHOAL_WORKER_ADVERTISE"
	// envWorkerStoreMemory is the worker store's budget in bytes,
	// envWorkerSpillDir where it spills.
	envWorkerStoreMemory = "SHOAL_WORKER_STORE_MEMORY"
	envWorkerSpillDir    = "SHOAL_WORKER_SPILL_DIR"
)

// workerAnnounce starts the worker's first line of stdout, before its
// addresses.
const workerAnnounce = "worker at "

// workerAddrs are the addresses a worker announces: where others reach it
// (its store's address in task results), and where its node does.
type workerAddrs struct{ advertised, local string }

// announceLine is the worker's first line of stdout.
func (a workerAddrs) announceLine() string {
	return workerAnnounce + a.advertised + " " + a.local + "\n"
}

// parseAnnounce reads a worker's announcement: "worker at ADVERTISED
// LOCAL", or "worker at ADDR" for both.
func parseAnnounce(line string) (workerAddrs, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), workerAnnounce)
	if !ok {
		return workerAddrs{}, false
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return workerAddrs{}, false
	}
	for _, a := range f {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return workerAddrs{}, false
		}
	}
	return workerAddrs{advertised: f[0], local: f[len(f)-1]}, true
}

// workerConfig is what a worker is told by its node.
type workerConfig struct {
	Node, Token string
	// Host is where to listen ("" for 127.0.0.1; an unspecified IP for
	// every interface); Advertise the host others reach the worker at
	// ("": the listener's dialable address).
	Host, Advertise string
	// StoreMemory is the store's budget in bytes (<= 0: the default share
	// of the machine's memory); SpillDir where it spills ("": the
	// system's temporary directory).
	StoreMemory int64
	SpillDir    string
}

// workerConfigFromEnv reads the worker's configuration and takes it out of
// the environment: processes the tasks start are not workers.
func workerConfigFromEnv() (workerConfig, error) {
	cfg := workerConfig{Node: os.Getenv(envWorkerNode), Token: os.Getenv("SHOAL_TOKEN"),
		Host: os.Getenv(envWorkerHost), Advertise: os.Getenv(envWorkerAdvertise), SpillDir: os.Getenv(envWorkerSpillDir)}
	var err error
	if v := os.Getenv(envWorkerStoreMemory); v != "" {
		if cfg.StoreMemory, err = strconv.ParseInt(v, 10, 64); err != nil {
			err = fmt.Errorf("%s=%q: %w", envWorkerStoreMemory, v, err)
		}
	}
	for _, k := range []string{envWorkerNode, envWorkerHost, envWorkerAdvertise, envWorkerStoreMemory, envWorkerSpillDir} {
		_ = os.Unsetenv(k)
	}
	return cfg, err
}

// listenAddr is where a worker told to listen on host does: port 0 of
// host, of every interface for an unspecified IP.
func listenAddr(host string) string {
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ":0" // both families, as the node's listener
	}
	return net.JoinHostPort(host, "0")
}

// advertisedAddr is where others reach a worker listening at lis: host
// advertise and lis's port, or lis's dialable address where advertise is
// "".
func advertisedAddr(advertise string, lis net.Addr) string {
	tcp, ok := lis.(*net.TCPAddr)
	if advertise == "" || !ok {
		return dialableAddr(lis)
	}
	return net.JoinHostPort(advertise, strconv.Itoa(tcp.Port))
}

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
	if os.Getenv(envWorkerNode) == "" {
		return
	}
	cfg, err := workerConfigFromEnv()
	if err == nil {
		err = serveWorker(cfg, os.Stdin, os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoal worker: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveWorker serves tasks, actors and the worker's store until stdin
// ends. The store and its blocks go with it.
func serveWorker(cfg workerConfig, stdin io.Reader, stdout io.Writer) error {
	if cfg.Token == "" {
		return errors.New("SHOAL_TOKEN is not set: a worker needs the cluster token")
	}
	if err := checkTLS(); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", listenAddr(cfg.Host))
	if err != nil {
		return err
	}
	addrs := workerAddrs{advertised: advertisedAddr(cfg.Advertise, lis.Addr()), local: dialableAddr(lis.Addr())}
	budget := cfg.StoreMemory
	if budget <= 0 {
		budget = int64(float64(exec.SystemMemory()) * exec.DefaultStoreFraction)
	}
	store := exec.NewStore(memory.DefaultAllocator, budget, cfg.SpillDir)
	// Closed last: handlers may still be running once the server stops
	// (Stop does not wait for them); a closed store refuses them.
	defer store.Close()
	ws := &workerService{ObjectService: NewObjectService(store), store: store, token: cfg.Token, addr: addrs.advertised,
		clients: map[string]*ObjectClient{}, actors: map[string]*workerActor{}}
	srv := newFlightServer(ws, cfg.Token)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	if _, err := io.WriteString(stdout, addrs.announceLine()); err != nil {
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

// workerService runs tasks and actors in a worker, and serves its store
// (the embedded ObjectService: DoGet, DoPut, release).
type workerService struct {
	*ObjectService
	store *exec.Store
	token string
	addr  string // advertised: where the outputs are, for task results

	// Inputs taken from the worker's own store, and fetched from others.
	inputsLocal, inputsFetched atomic.Int64

	// calls cancels the tasks running, by the CallID their node gave them.
	calls sync.Map

	mu      sync.Mutex
	clients map[string]*ObjectClient // by store address; nil once closed
	actors  map[string]*workerActor  // by ID
}

// client is the (cached) object client of the store (a node's, another
// worker's) at addr.
func (ws *workerService) client(addr string) (*ObjectClient, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.clients == nil {
		return nil, status.Error(codes.Unavailable, "shoal: the worker is stopping")
	}
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

// workerStats is a worker's answer to the stats action: its store's
// counters, as a node's, and how many inputs its tasks and actor calls
// took from its own store or fetched from others.
type workerStats struct {
	wireStats
	InputsLocal   int64 `json:"inputs_local"`
	InputsFetched int64 `json:"inputs_fetched"`
}

// DoAction serves run-task, the actor actions and stats, and passes the
// others (release) to the store's ObjectService.
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
		if req.CallID != "" {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			ws.calls.Store(req.CallID, cancel)
			defer ws.calls.Delete(req.CallID)
		}
		refs, wall, cpu, err := ws.run(ctx, req)
		return ws.sendResult(stream, refs, wall, cpu, err)
	case actionCancelCall:
		var req cancelCallBody
		if err := decodeBody(a.GetType(), a.GetBody(), &req); err != nil {
			return err
		}
		if cancel, ok := ws.calls.Load(req.CallID); ok {
			cancel.(context.CancelFunc)()
		}
		return stream.Send(&flight.Result{Body: encodeBody(struct{}{})})
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
	case ActionStats:
		return stream.Send(&flight.Result{Body: encodeBody(workerStats{wireStats: toWireStats(ws.store.Stats()),
			InputsLocal: ws.inputsLocal.Load(), InputsFetched: ws.inputsFetched.Load()})})
	}
	return ws.ObjectService.DoAction(a, stream)
}

// sendResult sends the reply of a task or an actor call, or its error.
func (ws *workerService) sendResult(stream flight.FlightService_DoActionServer, refs []exec.ObjectRef, wall, cpu time.Duration, err error) error {
	if err != nil {
		return err
	}
	err = stream.Context().Err()
	if err == nil {
		err = stream.Send(&flight.Result{Body: encodeBody(encodeTaskResult(ws.addr, refs, wall, cpu))})
	}
	if err != nil {
		ws.release(refs) // nobody will hear of them
		return err
	}
	return nil
}

// run runs one task: it builds the function, gets the inputs, calls it and
// keeps its outputs in the worker's store. Errors are statuses.
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
	refs, err = ws.storeOutputs(outs, req.Operator, req.Index, req.Job)
	if err != nil {
		return nil, 0, 0, err
	}
	return refs, time.Since(start), cpu, nil
}

// storeOutputs puts outputs (nil ones skipped) in the worker's store, with
// no copy, named for operator; on failure it frees what it stored. outs
// stay the caller's. Errors are statuses.
func (ws *workerService) storeOutputs(outs []blocks.Block, operator string, index int, job string) ([]exec.ObjectRef, error) {
	refs := make([]exec.ObjectRef, 0, len(outs))
	for i, b := range outs {
		if b == nil {
			continue
		}
		ref, err := ws.store.Put(b, operator)
		if err != nil {
			ws.release(refs)
			code := codes.Internal
			if errors.Is(err, exec.ErrClosed) {
				code = codes.Unavailable // the worker is stopping
			}
			return nil, status.Errorf(code, "shoal: storing output %d of %s[%d] in worker %s: %v", i, operator, index, ws.addr, err)
		}
		ws.Own(ref.ID, job)
		refs = append(refs, ref)
	}
	return refs, nil
}

// fetch gets the inputs: those in the worker's own store from it, with no
// copy (each a reference the caller releases), the others over Flight from
// the store that holds them. On failure it releases what it got; the error
// names the input's store and object.
func (ws *workerService) fetch(ctx context.Context, in []RemoteBlock) ([]blocks.Block, error) {
	out := make([]blocks.Block, len(in))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxInputFetches)
	for i, rb := range in {
		if rb.Addr == ws.addr {
			b, err := ws.store.Get(ctx, exec.ObjectRef{ID: rb.ID})
			if err != nil {
				_ = g.Wait()
				releaseAll(out)
				if ctx.Err() != nil {
					return nil, status.FromContextError(ctx.Err()).Err()
				}
				return nil, status.Errorf(status.Code(storeError(rb.ID, err)), "shoal: input %d, object %d in worker %s: %v", i, rb.ID, rb.Addr, err)
			}
			out[i] = b
			ws.inputsLocal.Add(1)
			continue
		}
		g.Go(func() error {
			c, err := ws.client(rb.Addr)
			if err == nil {
				out[i], err = c.Get(gctx, rb.ID, memory.DefaultAllocator)
			}
			if err == nil {
				ws.inputsFetched.Add(1)
			}
			if err != nil {
				code := status.Code(err)
				if ctx.Err() != nil {
					return status.FromContextError(ctx.Err()).Err()
				}
				if code == codes.Unknown || code == codes.Canceled {
					code = codes.Unavailable
				}
				return status.Errorf(code, "shoal: input %d, object %d on %s: %v", i, rb.ID, rb.Addr, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		releaseAll(out)
		return nil, err
	}
	return out, nil
}

// releaseAll releases the blocks of bs that are not nil.
func releaseAll(bs []blocks.Block) {
	for _, b := range bs {
		if b != nil {
			b.Release()
		}
	}
}

// release frees outputs already in the worker's store.
func (ws *workerService) release(refs []exec.ObjectRef) {
	for _, r := range refs {
		ws.store.Release(r)
		ws.disown(r.ID)
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
