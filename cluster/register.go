package cluster

import (
	"context"

	"github.com/shoal-data/shoal/exec"
)

// Importing this package gives the program cluster support: dataset.Init
// then serves tasks in a node's worker process, and SHOAL_ADDRESS,
// dataset.JoinCluster and dataset.ConnectCluster join a cluster. A program
// that only uses the cluster through dataset imports it for this alone:
//
//	import _ "github.com/shoal-data/shoal/cluster"
func init() { exec.RegisterCluster(support{}) }

// support is this package as exec.ClusterSupport.
type support struct{}

func (support) ServeWorkerIfAsked() { ServeWorkerIfAsked() }
func (support) Token() string       { return FindToken() }
func (support) Connect(ctx context.Context, addr, token string, opts ...exec.LocalOption) (*exec.Local, error) {
	return NewRuntime(ctx, addr, token, opts...)
}

// NewRuntime joins the Shoal cluster whose head is at addr and returns a
// runtime for dataset.WithRuntime. Its blocks live in the object stores of
// the cluster's nodes, and its tasks run on the nodes, in worker processes
// that run this program's binary (shipped to each node once): each on the
// node holding most of its input, on a node with a CPU free. A task whose
// function has no spec (a read of in-memory items, a write's commit) runs
// in this process. A plan with a user function that is not registered
// (dataset.Register) is refused before any task runs.
//
// When a node dies, or the head declares it dead (it stopped answering),
// its tasks run again elsewhere and the blocks that lived only there are
// rebuilt from lineage. Close the runtime when done: that frees the blocks
// it still holds on the nodes.
func NewRuntime(ctx context.Context, addr, token string, opts ...exec.LocalOption) (*exec.Local, error) {
	rs, err := NewRemoteStore(ctx, addr, token, nil)
	if err != nil {
		return nil, err
	}
	runner, err := NewTaskRunner(rs)
	if err != nil {
		rs.Close()
		return nil, err
	}
	opts = append([]exec.LocalOption{exec.WithWorkers(runner.CPUs()), exec.WithTaskSlots(runner.TaskSlots())}, opts...)
	rt := exec.NewLocal(append(opts, exec.WithObjectStore(rs), exec.WithRemote(runner))...)
	// The head's dashboard shows the job's runs as they go.
	rs.stopReports = reportRuns(rt, rs.job.client, rs.job.ID())
	return rt, nil
}
