package cluster_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

func init() { dataset.Register("bench.identity", identityBatch) }

func identityBatch(batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	batch.Retain()
	return batch, nil
}

// BenchmarkClusterWorkloads runs the map and shuffle workloads, in the same
// run, on the embedded runtime; on a head + 2 nodes over loopback with the
// tasks on the nodes (in worker processes running this test binary, as
// dataset.ConnectCluster does); and with the blocks on the nodes but the
// tasks in this process (RemoteStore alone):
//
//	go test -run X -bench ClusterWorkloads -benchtime 3x ./cluster
func BenchmarkClusterWorkloads(b *testing.B) {
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: token, HeartbeatPeriod: 100 * time.Millisecond, DeadAfter: testDeadAfter})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	for range 2 {
		n, err := cluster.StartNode(ctx, cluster.NodeConfig{Head: h.Addr(), Token: token, SpillDir: b.TempDir(),
			Resources: cluster.Resources{CPUs: 1, ObjectStoreMemory: 2 << 30}})
		if err != nil {
			b.Fatal(err)
		}
		defer n.Close()
	}
	rs, err := cluster.NewRemoteStore(ctx, h.Addr(), token, nil)
	if err != nil {
		b.Fatal(err)
	}
	blocksOnly := exec.NewLocal(exec.WithWorkers(2), exec.WithObjectStore(rs))
	defer blocksOnly.Close()
	onNodes, err := dataset.ConnectCluster(ctx, h.Addr(), token)
	if err != nil {
		b.Fatal(err)
	}
	defer onNodes.Close()
	local := exec.NewLocal(exec.WithWorkers(2))
	defer local.Close()
	rows := int64(10_000_000) // 80 MB of int64
	if v := os.Getenv("SHOAL_BENCH_ROWS"); v != "" {
		rows, _ = strconv.ParseInt(v, 10, 64)
	}
	// Each workload stores everything it makes: the map's output blocks are
	// materialized (put on the nodes) and read back by Sum; the shuffle's
	// parts go through the store between its map and reduce tasks.
	workloads := map[string]func(rt exec.Runtime) error{
		"map": func(rt exec.Runtime) error {
			m, err := dataset.Range(rows, dataset.WithRuntime(rt), dataset.WithParallelism(40)).
				MapBatches(identityBatch).Materialize(ctx)
			if err != nil {
				return err
			}
			_, err = m.Sum(ctx, "id")
			return err
		},
		// The same map with 8 blocks of 10 MB: the cluster's per-task cost
		// (two gRPC hops, about half a millisecond) weighs less.
		"map-8-blocks": func(rt exec.Runtime) error {
			m, err := dataset.Range(rows, dataset.WithRuntime(rt), dataset.WithParallelism(8)).
				MapBatches(identityBatch).Materialize(ctx)
			if err != nil {
				return err
			}
			_, err = m.Sum(ctx, "id")
			return err
		},
		"shuffle": func(rt exec.Runtime) error {
			_, err := dataset.Range(rows, dataset.WithRuntime(rt), dataset.WithParallelism(20)).RandomShuffle(1).Sum(ctx, "id")
			return err
		},
	}
	for _, name := range []string{"map", "map-8-blocks", "shuffle"} {
		for _, rt := range []struct {
			name string
			rt   exec.Runtime
		}{{"embedded", local}, {"cluster", onNodes}, {"cluster-blocks-only", blocksOnly}} {
			// Once untimed: the first run on the cluster ships the binary
			// and starts the workers.
			if err := workloads[name](rt.rt); err != nil {
				b.Fatal(err)
			}
			b.Run(name+"/"+rt.name, func(b *testing.B) {
				for b.Loop() {
					if err := workloads[name](rt.rt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
