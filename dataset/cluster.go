package dataset

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/exec"
)

// Init must be the first statement of main in a program that runs on a
// cluster (and of TestMain in its tests). The cluster's nodes start worker
// processes from the program's own binary; in such a process Init serves
// tasks and never returns. Elsewhere it applies opts and returns.
func Init(opts ...InitOption) {
	cluster.ServeWorkerIfAsked()
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
// DefaultRuntime has been used.
func JoinCluster(addr string) InitOption {
	return func() {
		defaultRuntime.mu.Lock()
		defaultRuntime.address, defaultRuntime.addressSet = addr, true
		defaultRuntime.mu.Unlock()
	}
}

// ConnectCluster joins the Shoal cluster whose head is at addr and returns
// a runtime for WithRuntime. Its blocks live in the object stores of the
// cluster's nodes, and its tasks run on the nodes, in worker processes that
// run this program's binary (shipped to each node once): each on the node
// holding most of its input, on a node with a CPU free. A task whose
// function has no spec (a read of in-memory items, an actor stage, a
// write's commit) runs in this process. A plan with a user function that
// is not registered (see Register) is refused before any task runs.
//
// When a node dies, its tasks run again elsewhere and the blocks that lived
// only there are rebuilt from lineage. Close the runtime when done: that
// frees the blocks it still holds on the nodes.
func ConnectCluster(ctx context.Context, addr, token string, opts ...exec.LocalOption) (*exec.Local, error) {
	rs, err := cluster.NewRemoteStore(ctx, addr, token, nil)
	if err != nil {
		return nil, err
	}
	runner, err := cluster.NewTaskRunner(rs)
	if err != nil {
		rs.Close()
		return nil, err
	}
	opts = append([]exec.LocalOption{exec.WithWorkers(runner.CPUs()), exec.WithTaskSlots(runner.TaskSlots())}, opts...)
	return exec.NewLocal(append(opts, exec.WithObjectStore(rs), exec.WithRemote(runner))...), nil
}

// clusterFromEnv is DefaultRuntime's cluster when SHOAL_ADDRESS (or
// JoinCluster, which source names) is set: the
// token comes from SHOAL_TOKEN or the file a head on this machine keeps
// (~/.shoal/cluster-token).
func clusterFromEnv(addr, source string) exec.Runtime {
	token := cluster.FindToken()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := ConnectCluster(ctx, addr, token)
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
