package dataset

import (
	"context"
	"fmt"

	"github.com/shoal-data/shoal/exec"
)

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
	exec.ServeWorkerIfAsked()
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
	return func() { exec.SetDefaultCluster(addr) }
}

// ConnectCluster joins the Shoal cluster whose head is at addr and returns
// a runtime for WithRuntime: cluster.NewRuntime (see there), reached
// through the cluster support the program imports (see Init), so that its
// code need not name package cluster. Without that import it fails, saying
// so.
func ConnectCluster(ctx context.Context, addr, token string, opts ...exec.LocalOption) (*exec.Local, error) {
	c, err := exec.ClusterSupportFor(fmt.Sprintf("ConnectCluster(%q)", addr))
	if err != nil {
		return nil, err
	}
	return c.Connect(ctx, addr, token, opts...)
}
