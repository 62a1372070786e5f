package dataset

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// clusterImport is the import that gives a program cluster support. A
// program without it links none of package cluster, and SHOAL_ADDRESS,
// JoinCluster and ConnectCluster tell it to add this line.
const clusterImport = `import _ "github.com/shoal-data/shoal/cluster"`

// Init must be the first statement of main in a program that runs on a
// cluster (and of TestMain in its tests). Such a program imports cluster
// support too:
//
//	import _ "github.com/shoal-data/shoal/cluster"
//
// The cluster's nodes start worker processes from the program's own
// binary; in such a process Init serves tasks and never returns. Elsewhere
// it applies opts and returns.
func Init(opts ...InitOption) {
	if c := exec.RegisteredCluster(); c != nil {
		c.ServeWorkerIfAsked()
	}
	for _, o := range opts {
		o()
	}
}

// InitOption configures the program at Init.
type InitOption func()

// JoinCluster makes DefaultRuntime join the cluster whose head is at addr,
// as SHOAL_ADDRESS does (which it overrides); the token comes from
// SHOAL_TOKEN or ~/.shoal/cluster-token. An empty addr keeps the embedded
// runtime whatever SHOAL_ADDRESS says. It has no effect once
// DefaultRuntime has been used. The program needs cluster support (see
// Init): without it every run fails with an error saying so.
func JoinCluster(addr string) InitOption {
	return func() {
		defaultRuntime.mu.Lock()
		defaultRuntime.address, defaultRuntime.addressSet = addr, true
		defaultRuntime.mu.Unlock()
	}
}

// ConnectCluster joins the Shoal cluster whose head is at addr and returns
// a runtime for WithRuntime: cluster.NewRuntime (see there), reached
// through the cluster support the program imports (see Init), so that its
// code need not name package cluster. Without that import it fails, saying
// so.
func ConnectCluster(ctx context.Context, addr, token string, opts ...exec.LocalOption) (*exec.Local, error) {
	c, err := clusterSupport(fmt.Sprintf("ConnectCluster(%q)", addr))
	if err != nil {
		return nil, err
	}
	return c.Connect(ctx, addr, token, opts...)
}

// clusterSupport is the registered cluster support, or an error naming
// what asked for it (a call, SHOAL_ADDRESS) and the import to add.
func clusterSupport(what string) (exec.ClusterSupport, error) {
	if c := exec.RegisteredCluster(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("dataset: %s: this program has no cluster support: add %s to its main package", what, clusterImport)
}

// clusterFromEnv is DefaultRuntime's cluster when SHOAL_ADDRESS (or
// JoinCluster, which source names) is set: the token comes from
// SHOAL_TOKEN or the file a head on this machine keeps
// (~/.shoal/cluster-token).
func clusterFromEnv(addr, source string) exec.Runtime {
	c, err := clusterSupport(source)
	if err != nil {
		return failedRuntime{err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := c.Connect(ctx, addr, c.Token())
	if err != nil {
		return failedRuntime{err: fmt.Errorf("dataset: %s: joining the cluster: %w", source, err)}
	}
	return rt
}

// failedRuntime is the default runtime when joining the cluster named by
// SHOAL_ADDRESS failed: every use reports why.
type failedRuntime struct{ err error }

func (f failedRuntime) Put(blocks.Block, string) (exec.ObjectRef, error) {
	return exec.ObjectRef{}, f.err
}
func (f failedRuntime) Get(context.Context, exec.ObjectRef) (blocks.Block, error) {
	return nil, f.err
}
func (f failedRuntime) Retain(exec.ObjectRef)  {}
func (f failedRuntime) Release(exec.ObjectRef) {}
func (f failedRuntime) Submit(_ context.Context, _ exec.Task, done func(exec.TaskResult)) {
	go done(exec.TaskResult{Err: f.err, Worker: -1})
}
func (f failedRuntime) StartActor(_ context.Context, _ exec.ActorSpec, started func(exec.Actor, error)) {
	go started(nil, f.err)
}
func (f failedRuntime) Resources() exec.Resources   { return exec.Resources{CPUs: 1} }
func (f failedRuntime) Allocator() memory.Allocator { return memory.DefaultAllocator }
func (f failedRuntime) Stats() exec.StoreStats      { return exec.StoreStats{} }
func (f failedRuntime) Close() error                { return nil }
