package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/exec"
)

// NodeConfig configures a node. The zero value of a field takes its default.
type NodeConfig struct {
	// Head is the head's address (host:port). Required.
	Head string
	// Token is the cluster's shared secret. Required.
	Token string
	// Addr is where the node's object server listens (default
	// 127.0.0.1:0, a free port); Advertise is the address other processes
	// reach it at (default: the listener's address).
	Addr, Advertise string
	// Resources the node offers: CPUs default to the machine's, GPUs < 0
	// are detected (exec.DetectGPUs), ObjectStoreMemory defaults to 30% of
	// the machine's memory, Memory (what actors reserve) 0 is not counted.
	Resources Resources
	// SpillDir is where the object store spills (default os.TempDir()).
	SpillDir string
	// WorkDir holds the binaries drivers upload (WorkDir/binaries) for the
	// node's task workers. Default: a new directory under os.TempDir(),
	// removed when the node stops; a given one is kept, with its binaries.
	WorkDir string
	// WorkerOutput receives the output of the node's task workers, each
	// line prefixed "worker HASH: " (default os.Stderr).
	WorkerOutput io.Writer
	// Version is the protocol version to speak (default ProtocolVersion).
	Version string
	// HeadLostAfter: a node that cannot reach its head for this long stops
	// (default 30s).
	HeadLostAfter time.Duration
	// Logf, when set, receives one line per event.
	Logf func(format string, args ...any)
}

// Node is one machine's share of the cluster: an object store served over
// Arrow Flight, registered with the head and kept alive by heartbeats, and
// the worker processes that run tasks and actors (each with an object
// store of its own, for the blocks they make).
type Node struct {
	cfg     NodeConfig
	store   *exec.Store
	lis     net.Listener
	stopOS  func()
	head    *Client
	bins    *binaryStore
	tasks   *taskRunner
	actors  *actorHost
	objects *ObjectService
	// endedJobs are the ended jobs whose blocks were freed (heartbeat
	// goroutine only).
	endedJobs map[string]bool
	// ownWorkDir: the node made its work dir and removes it when it stops;
	// workDirLock holds the dir's owner lock meanwhile (workdir.go).
	ownWorkDir  bool
	workDirLock *os.File

	mu     sync.Mutex
	id     string
	period time.Duration // heartbeat period the head asked for
	err    error         // why the node stopped, nil for Close or a cluster shutdown

	done    chan struct{}
	halt    chan struct{}
	stop    sync.Once
	workers sync.WaitGroup
}

// StartNode starts the object server, registers with the head (retrying
// while ctx allows) and starts heartbeats.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if cfg.Head == "" || cfg.Token == "" {
		return nil, errors.New("cluster: a node needs the head's address and the cluster token")
	}
	if err := checkTLS(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Version == "" {
		cfg.Version = ProtocolVersion
	}
	if cfg.HeadLostAfter <= 0 {
		cfg.HeadLostAfter = 30 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	r := &cfg.Resources
	if r.CPUs <= 0 {
		r.CPUs = runtime.NumCPU()
	}
	if r.GPUs < 0 {
		ids, err := exec.DetectGPUs(ctx)
		if err != nil {
			return nil, fmt.Errorf("cluster: node: %w", err)
		}
		r.GPUs = len(ids)
	}
	if r.Memory < 0 {
		r.Memory = 0
	}
	if r.ObjectStoreMemory <= 0 {
		r.ObjectStoreMemory = int64(float64(exec.SystemMemory()) * exec.DefaultStoreFraction)
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: node: %w", err)
	}
	if cfg.Advertise == "" {
		cfg.Advertise = lis.Addr().String()
	}
	n := &Node{cfg: cfg, lis: lis, done: make(chan struct{}), halt: make(chan struct{}), endedJobs: map[string]bool{}}
	if n.cfg.WorkDir == "" {
		if n.cfg.WorkDir, n.workDirLock, err = newOwnWorkDir(cfg.Logf); err != nil {
			lis.Close()
			return nil, fmt.Errorf("cluster: node work dir: %w", err)
		}
		n.ownWorkDir = true
	}
	if n.bins, err = newBinaryStore(filepath.Join(n.cfg.WorkDir, "binaries")); err != nil {
		lis.Close()
		n.removeWorkDir()
		return nil, err
	}
	out := cfg.WorkerOutput
	if out == nil {
		out = os.Stderr
	}
	n.store = exec.NewStore(memory.DefaultAllocator, r.ObjectStoreMemory, cfg.SpillDir)
	n.tasks = newTaskRunner(n, out)
	n.actors = newActorHost(n, n.tasks)
	n.objects = NewObjectService(n.store)
	n.stopOS = serveFlight(lis, &nodeService{ObjectService: n.objects, n: n}, cfg.Token)
	n.head, err = connect(cfg.Head, cfg.Token, cfg.Version)
	if err == nil {
		err = n.register(ctx)
	}
	if err != nil {
		n.shutdown()
		return nil, err
	}
	n.workers.Add(1)
	go func() {
		defer n.workers.Done()
		n.heartbeats()
	}()
	return n, nil
}

// register joins the head, retrying while the head is unreachable.
func (n *Node) register(ctx context.Context) error {
	host, _ := os.Hostname()
	info := NodeInfo{Addr: n.cfg.Advertise, Hostname: host, PID: os.Getpid(), Resources: n.cfg.Resources}
	for {
		var reply RegisterReply
		err := n.head.action(ctx, actionRegister, info, &reply)
		if err == nil {
			n.mu.Lock()
			n.id, n.period = reply.ID, max(reply.HeartbeatPeriod, 10*time.Millisecond)
			n.mu.Unlock()
			n.cfg.Logf("joined the cluster at %s as %s", n.cfg.Head, reply.ID)
			return nil
		}
		if status.Code(err) != codes.Unavailable {
			return fmt.Errorf("cluster: joining %s: %w", n.cfg.Head, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: joining %s: %w (last: %v)", n.cfg.Head, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// heartbeats reports to the head until the node stops.
func (n *Node) heartbeats() {
	n.mu.Lock()
	period := n.period
	n.mu.Unlock()
	t := time.NewTicker(period)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-n.halt:
			return
		case <-t.C:
		}
		sctx, scancel := context.WithTimeout(context.Background(), min(period, workerStatsTimeout))
		st := n.Stats(sctx)
		scancel()
		n.mu.Lock()
		actors, gpus := n.actors.counts()
		hb := Heartbeat{ID: n.id, Objects: st.Objects, MemoryBytes: st.MemoryBytes, Spilled: st.SpilledBytes,
			Running: int(n.tasks.running.Load()), Actors: actors, GPUsHeld: gpus}
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var reply HeartbeatReply
		err := n.head.action(ctx, actionHeartbeat, hb, &reply)
		cancel()
		switch {
		case err == nil && reply.Shutdown:
			n.cfg.Logf("the cluster is shutting down")
			go n.Close()
			return
		case err == nil && reply.DeadSince.IsZero():
			lastOK = time.Now()
			n.jobsEnded(reply.EndedJobs)
		case err == nil || status.Code(err) == codes.NotFound:
			if err == nil {
				n.forgetAll(reply.DeadSince)
			} else {
				n.cfg.Logf("head: %v", status.Convert(err).Message()) // it restarted: our blocks still count
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := n.register(ctx); err != nil {
				n.cfg.Logf("%v", err)
			} else {
				lastOK = time.Now()
			}
			cancel()
		default:
			if time.Since(lastOK) > n.cfg.HeadLostAfter {
				n.fail(fmt.Errorf("cluster: head %s unreachable for %v: %w", n.cfg.Head, n.cfg.HeadLostAfter, err))
				return
			}
		}
	}
}

// forgetAll drops what the node runs and holds for drivers: the head
// declared it dead (at since: it was frozen or cut off), so every driver
// has given its tasks, actors and blocks up and is redoing them elsewhere.
// Its workers are killed (their actors and blocks go with them) and its
// store frees every job's blocks; it then joins again as a new node.
func (n *Node) forgetAll(since time.Time) {
	workers := n.tasks.haltAll()
	freed := n.objects.ReleaseJob("")
	n.cfg.Logf("the head declared this node (%s) dead at %s: killed %d workers, freed %d blocks; joining again as a new node",
		n.ID(), since.Format(time.RFC3339), workers, freed)
}

// jobsEnded frees the blocks held for jobs that ended (their drivers are
// gone and will release nothing), each job once.
func (n *Node) jobsEnded(jobs []string) {
	for _, job := range jobs {
		if n.endedJobs[job] {
			continue
		}
		if len(n.endedJobs) >= 4*maxFinishedJobs {
			clear(n.endedJobs) // the head lists far fewer; freeing twice is harmless
		}
		n.endedJobs[job] = true
		freed := n.objects.ReleaseJob(job)
		if freed > 0 {
			n.cfg.Logf("%s ended: freed %d of its blocks", job, freed)
		}
		// The workers' blocks off the heartbeat goroutine: a slow worker
		// must not make the head think the node is dead. Close waits for it.
		n.workers.Add(1)
		go func() {
			defer n.workers.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { // the node stopping cuts it short
				select {
				case <-n.halt:
					cancel()
				case <-ctx.Done():
				}
			}()
			n.tasks.jobEnded(ctx, job)
		}()
	}
}

// ID is the ID the head gave the node.
func (n *Node) ID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

// Addr is the address the node's object server is reached at.
func (n *Node) Addr() string { return n.cfg.Advertise }

// Store is the node's own object store: the blocks put on the node. The
// outputs of its tasks and actor calls are in its workers' stores.
func (n *Node) Store() *exec.Store { return n.store }

// Stats adds up the counters of the node's store and of its live workers'
// stores (what its stats action answers and its heartbeats carry). A
// worker that does not answer within ctx, or a second, counts nothing.
// Budget is the node's own: each worker's store has that budget too.
func (n *Node) Stats(ctx context.Context) exec.StoreStats {
	st := n.store.Stats()
	for _, ws := range n.tasks.workerStats(ctx) {
		st = addStats(st, ws)
	}
	return st
}

// addStats adds b's counters to a's; a's budget and spill error stay,
// unless a has no spill error.
func addStats(a, b exec.StoreStats) exec.StoreStats {
	a.Objects += b.Objects
	a.MemoryBytes += b.MemoryBytes
	a.SpilledBytes += b.SpilledBytes
	a.PeakMemory += b.PeakMemory
	a.SpilledTotal += b.SpilledTotal
	a.RestoredTotal += b.RestoredTotal
	a.SpillFailures += b.SpillFailures
	if len(b.SpilledByProducer) > 0 {
		m := maps.Clone(a.SpilledByProducer)
		if m == nil {
			m = map[string]int64{}
		}
		for p, v := range b.SpilledByProducer {
			m[p] += v
		}
		a.SpilledByProducer = m
	}
	if a.LastSpillError == nil {
		a.LastSpillError = b.LastSpillError
	}
	return a
}

// WorkDir is the directory that holds the node's binaries.
func (n *Node) WorkDir() string { return n.cfg.WorkDir }

// Done is closed once the node has stopped; Err then says why.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is why the node stopped: nil after Close or a cluster shutdown.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

func (n *Node) fail(err error) {
	n.mu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.mu.Unlock()
	n.cfg.Logf("%v", err)
	go n.Close()
}

// Close stops the node: heartbeats, its actors (given a moment to run their
// cleanups), its tasks and workers (killed and reaped), the object server
// and the store.
func (n *Node) Close() {
	n.stop.Do(func() {
		close(n.halt)
		n.workers.Wait()
		n.shutdown()
		close(n.done)
	})
	<-n.done
}

func (n *Node) shutdown() {
	// Actors and tasks first: the server's graceful stop waits for calls in
	// flight, and running tasks and actors end only when told to.
	n.actors.close()
	n.tasks.close()
	if n.head != nil {
		if id := n.ID(); id != "" {
			// Tell the head we are going, so it need not wait for missed
			// heartbeats; a head that is gone does not matter.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = n.head.action(ctx, actionLeave, Heartbeat{ID: id}, nil)
			cancel()
		}
	}
	n.stopOS()
	if n.head != nil {
		n.head.Close()
	}
	n.store.Close()
	n.bins.close()
	n.removeWorkDir()
}

func (n *Node) removeWorkDir() {
	if n.ownWorkDir {
		if err := os.RemoveAll(n.cfg.WorkDir); err != nil {
			n.cfg.Logf("removing the work dir: %v", err)
		}
		if n.workDirLock != nil {
			n.workDirLock.Close()
		}
	}
}
