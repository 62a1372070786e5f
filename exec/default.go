package exec

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

// ClusterImport is the import that gives a program cluster support. A
// program without it links none of package cluster; SHOAL_ADDRESS and
// joining a cluster tell it to add this line.
const ClusterImport = `import _ "github.com/shoal-data/shoal/cluster"`

// The default runtime is shared by every part of Shoal a program uses
// (datasets, the core API), so that they share one worker pool and one
// object store.
var defaultRuntime struct {
	once sync.Once
	rt   Runtime
	// address, when addressSet, replaces SHOAL_ADDRESS (SetDefaultCluster).
	mu         sync.Mutex
	address    string
	addressSet bool
}

// Default is the process-wide runtime used when a program names none:
// embedded (a worker per core and an object store of 30% of memory), or,
// when SHOAL_ADDRESS names a cluster's head, joined to that cluster (the
// token from SHOAL_TOKEN or ~/.shoal/cluster-token). It is created on
// first use and lives as long as the process; if joining the cluster
// fails, or the program lacks cluster support (ClusterImport), every use
// reports why.
func Default() Runtime {
	defaultRuntime.once.Do(func() {
		addr := os.Getenv("SHOAL_ADDRESS")
		source := "SHOAL_ADDRESS=" + addr
		defaultRuntime.mu.Lock()
		if defaultRuntime.addressSet {
			addr, source = defaultRuntime.address, "JoinCluster("+defaultRuntime.address+")"
		}
		defaultRuntime.mu.Unlock()
		if addr != "" {
			defaultRuntime.rt = clusterFromEnv(addr, source)
		} else {
			defaultRuntime.rt = NewLocal()
		}
		serveDashboardFromEnv(defaultRuntime.rt)
	})
	return defaultRuntime.rt
}

// DashboardImport is the import that lets SHOAL_DASHBOARD serve a
// program's dashboard; a program without it links none of the dashboard.
const DashboardImport = `import _ "github.com/shoal-data/shoal/dashboard"`

// dashboardStarter is package dashboard's, once it is linked.
var dashboardStarter atomic.Pointer[func(rt Runtime, addr string) (string, error)]

// RegisterDashboard is called by package dashboard when it is linked:
// start serves rt's dashboard at addr and returns its URL.
func RegisterDashboard(start func(rt Runtime, addr string) (url string, err error)) {
	dashboardStarter.Store(&start)
}

// serveDashboardFromEnv serves the default runtime's dashboard at
// SHOAL_DASHBOARD's address, saying where (or why not) on stderr.
func serveDashboardFromEnv(rt Runtime) {
	addr := os.Getenv("SHOAL_DASHBOARD")
	if addr == "" {
		return
	}
	start := dashboardStarter.Load()
	if start == nil {
		fmt.Fprintf(os.Stderr, "shoal: SHOAL_DASHBOARD is set, but this program has no dashboard: add %s to its main package\n", DashboardImport)
		return
	}
	url, err := (*start)(rt, addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoal: SHOAL_DASHBOARD=%s: %v\n", addr, err)
		return
	}
	fmt.Fprintf(os.Stderr, "shoal: dashboard at %s\n", url)
}

// SetDefaultCluster makes Default join the cluster whose head is at addr,
// overriding SHOAL_ADDRESS; an empty addr keeps the embedded runtime. It
// has no effect once Default has been called.
func SetDefaultCluster(addr string) {
	defaultRuntime.mu.Lock()
	defaultRuntime.address, defaultRuntime.addressSet = addr, true
	defaultRuntime.mu.Unlock()
}

// ServeWorkerIfAsked makes this process a task worker when a cluster node
// started it as one (and then never returns); elsewhere, and in programs
// without cluster support, it returns at once. dataset.Init and core.Init
// call it first thing in main.
func ServeWorkerIfAsked() {
	if c := RegisteredCluster(); c != nil {
		c.ServeWorkerIfAsked()
	}
}

// ClusterSupportFor is the registered cluster support, or an error naming
// what asked for it (a call, SHOAL_ADDRESS) and the import to add.
func ClusterSupportFor(what string) (ClusterSupport, error) {
	if c := RegisteredCluster(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("shoal: %s: this program has no cluster support: add %s to its main package", what, ClusterImport)
}

// clusterFromEnv is Default's cluster when SHOAL_ADDRESS (or
// SetDefaultCluster, which source names) is set.
func clusterFromEnv(addr, source string) Runtime {
	c, err := ClusterSupportFor(source)
	if err != nil {
		return failedRuntime{err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := c.Connect(ctx, addr, c.Token())
	if err != nil {
		return failedRuntime{err: fmt.Errorf("shoal: %s: joining the cluster: %w", source, err)}
	}
	return rt
}

// failedRuntime is the default runtime when joining the cluster named by
// SHOAL_ADDRESS failed: every use reports why.
type failedRuntime struct{ err error }

func (f failedRuntime) Put(blocks.Block, string) (ObjectRef, error) { return ObjectRef{}, f.err }
func (f failedRuntime) Get(context.Context, ObjectRef) (blocks.Block, error) {
	return nil, f.err
}
func (f failedRuntime) Retain(ObjectRef)  {}
func (f failedRuntime) Release(ObjectRef) {}
func (f failedRuntime) Submit(_ context.Context, _ Task, done func(TaskResult)) {
	go done(TaskResult{Err: f.err, Worker: -1})
}
func (f failedRuntime) StartActor(_ context.Context, _ ActorSpec, started func(Actor, error)) {
	go started(nil, f.err)
}
func (f failedRuntime) Resources() Resources        { return Resources{CPUs: 1} }
func (f failedRuntime) Allocator() memory.Allocator { return memory.DefaultAllocator }
func (f failedRuntime) Stats() StoreStats           { return StoreStats{} }
func (f failedRuntime) Close() error                { return nil }
