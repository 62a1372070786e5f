package exec

import (
	"context"
	"sync"
)

// ClusterSupport is what a program needs to run on a Shoal cluster. Package
// cluster provides it and registers it when it is imported, as database/sql
// drivers register themselves:
//
//	import _ "github.com/shoal-data/shoal/cluster"
//
// Nothing in exec uses it; dataset's Init, JoinCluster, ConnectCluster and
// SHOAL_ADDRESS do, through RegisteredCluster, so that a program that never
// imports cluster links none of gRPC and Arrow Flight.
type ClusterSupport interface {
	// ServeWorkerIfAsked makes this process a task worker when a cluster
	// node started it as one (and then never returns); elsewhere it returns
	// at once.
	ServeWorkerIfAsked()
	// Connect joins the cluster whose head is at addr and returns a
	// runtime whose blocks and tasks live on the cluster's nodes.
	Connect(ctx context.Context, addr, token string, opts ...LocalOption) (*Local, error)
	// Token is the cluster token this process was given, "" if none.
	Token() string
}

var clusterSupport struct {
	mu sync.Mutex
	c  ClusterSupport
}

// RegisterCluster makes c this program's cluster support (package cluster
// calls it from init). Registering twice panics, as registering a
// database/sql driver name twice does: two cluster implementations in one
// program are a build mistake.
func RegisterCluster(c ClusterSupport) {
	clusterSupport.mu.Lock()
	defer clusterSupport.mu.Unlock()
	if c == nil {
		panic("exec: RegisterCluster(nil)")
	}
	if clusterSupport.c != nil {
		panic("exec: RegisterCluster called twice")
	}
	clusterSupport.c = c
}

// RegisteredCluster is the registered cluster support, nil when the
// program does not import package cluster.
func RegisteredCluster() ClusterSupport {
	clusterSupport.mu.Lock()
	defer clusterSupport.mu.Unlock()
	return clusterSupport.c
}
