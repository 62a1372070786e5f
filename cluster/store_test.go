package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

const token = "store-test-token"

// TestRemoteStoreRunsDatasets runs dataset operations on a local runtime
// whose blocks live on two cluster nodes, and checks that they give what
// the embedded runtime gives, that blocks were spread over both nodes, and
// that none is left on them afterwards.
func TestRemoteStoreRunsDatasets(t *testing.T) {
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: token, HeartbeatPeriod: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	var nodes []*cluster.Node
	for range 2 {
		n, err := cluster.StartNode(ctx, cluster.NodeConfig{Head: h.Addr(), Token: token, SpillDir: t.TempDir(),
			Resources: cluster.Resources{CPUs: 2, ObjectStoreMemory: 256 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}
	rs, err := cluster.NewRemoteStore(ctx, h.Addr(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	remote := exec.NewLocal(exec.WithWorkers(2), exec.WithObjectStore(rs))
	local := exec.NewLocal(exec.WithWorkers(2))
	defer local.Close()
	if got := remote.Resources().ObjectStoreMemory; got != 512<<20 {
		t.Errorf("the remote runtime's budget is %d, want the nodes' 512 MiB", got)
	}

	// Each workload, on a runtime: its rows rendered, in output order.
	items := make([]dataset.Item, 3000)
	for i := range items {
		items[i] = dataset.Item{"id": int64(i), "k": int64(i % 17), "v": float64(i%101) / 4}
	}
	workloads := map[string]func(rt exec.Runtime) *dataset.Dataset{
		"groupby": func(rt exec.Runtime) *dataset.Dataset {
			return dataset.FromItems(items, dataset.WithRuntime(rt), dataset.WithParallelism(12)).
				GroupBy("k").Aggregate(dataset.CountRows(), dataset.SumOf("v")).Sort(dataset.Asc("k"))
		},
		"sort": func(rt exec.Runtime) *dataset.Dataset {
			return dataset.FromItems(items, dataset.WithRuntime(rt), dataset.WithParallelism(12)).Sort(dataset.Desc("v"), dataset.Asc("id"))
		},
		"shuffle": func(rt exec.Runtime) *dataset.Dataset {
			return dataset.FromItems(items, dataset.WithRuntime(rt), dataset.WithParallelism(12)).RandomShuffle(3)
		},
		"join": func(rt exec.Runtime) *dataset.Dataset {
			left := dataset.FromItems(items, dataset.WithRuntime(rt), dataset.WithParallelism(6))
			right := dataset.FromItems(items[:40], dataset.WithRuntime(rt), dataset.WithParallelism(2)).SelectColumns("id", "k")
			return left.Join(right, []string{"id"}, dataset.InnerJoin).Sort(dataset.Asc("id"))
		},
		"actors": func(rt exec.Runtime) *dataset.Dataset {
			return dataset.FromItems(items, dataset.WithRuntime(rt), dataset.WithParallelism(8)).
				MapBatchesWithActors(func(*dataset.ActorContext) (dataset.BatchFunc, error) {
					return func(b arrow.RecordBatch) (arrow.RecordBatch, error) { return b, nil }, nil
				}, dataset.Actors(2, 2), dataset.ActorCPUs(0), dataset.BatchSize(100))
		},
		"write+read": func(rt exec.Runtime) *dataset.Dataset {
			dir := t.TempDir()
			if err := dataset.FromItems(items, dataset.WithRuntime(rt), dataset.WithParallelism(4)).WriteParquet(ctx, dir); err != nil {
				t.Fatal(err)
			}
			return dataset.ReadParquet(ctx, dir, dataset.WithRuntime(rt)).Sort(dataset.Asc("id"))
		},
		"split": func(rt exec.Runtime) *dataset.Dataset {
			parts, err := dataset.FromItems(items, dataset.WithRuntime(rt), dataset.WithParallelism(8)).Split(ctx, 3, dataset.Equal(true))
			if err != nil {
				t.Fatal(err)
			}
			return parts[1]
		},
		"map+filter": func(rt exec.Runtime) *dataset.Dataset {
			return dataset.Range(5000, dataset.WithRuntime(rt), dataset.WithParallelism(10)).
				Filter(func(r dataset.Row) (bool, error) { return r.Int64("id")%3 == 0, nil })
		},
	}
	render := func(d *dataset.Dataset) []string {
		rows, err := d.TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = fmt.Sprint(r)
		}
		return out
	}
	for name, w := range workloads {
		if got, want := render(w(remote)), render(w(local)); !slices.Equal(got, want) {
			t.Errorf("%s: the cluster store gives %d rows, the embedded runtime %d (first %v vs %v)", name, len(got), len(want), first(got), first(want))
		}
	}

	// A materialized dataset's blocks sit on both nodes.
	m, err := dataset.Range(100000, dataset.WithRuntime(remote), dataset.WithParallelism(20)).Materialize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Store().Stats().Objects == 0 {
			t.Errorf("node %s holds none of the 20 blocks", n.ID())
		}
	}
	if c, err := m.Count(ctx); err != nil || c != 100000 {
		t.Errorf("count %d %v", c, err)
	}
	m = nil
	// Closing the runtime releases whatever is left on the nodes.
	if err := remote.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if o := n.Store().Stats().Objects; o != 0 {
			t.Errorf("node %s still holds %d objects after the runtime closed", n.ID(), o)
		}
	}
}

func first(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return xs[0]
}

// TestRemoteStoreNodeLossFailsClearly: a node that dies during a run takes
// its blocks with it. Until lineage recomputes them (not built yet), the
// run must end with an error naming the node within a bounded time, never
// hang.
func TestRemoteStoreNodeLossFailsClearly(t *testing.T) {
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: token, HeartbeatPeriod: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	var nodes []*cluster.Node
	for range 2 {
		n, err := cluster.StartNode(ctx, cluster.NodeConfig{Head: h.Addr(), Token: token, SpillDir: t.TempDir(),
			Resources: cluster.Resources{CPUs: 2, ObjectStoreMemory: 256 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}
	rs, err := cluster.NewRemoteStore(ctx, h.Addr(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := exec.NewLocal(exec.WithWorkers(2), exec.WithObjectStore(rs))
	defer rt.Close()
	killed := make(chan struct{})
	ds := dataset.Range(200000, dataset.WithRuntime(rt), dataset.WithParallelism(200)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			if b.Column(0).(*array.Int64).Value(0) == 100000 {
				nodes[1].Close() // the node dies halfway through
				close(killed)
			}
			time.Sleep(time.Millisecond)
			return b, nil
		}).RandomShuffle(1)
	done := make(chan error, 1)
	go func() {
		_, err := ds.Count(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		<-killed
		if err == nil || !strings.Contains(err.Error(), nodes[1].ID()) || !strings.Contains(err.Error(), "lost") {
			t.Fatalf("after a node died the run ended with %v, want an error saying blocks on %s were lost", err, nodes[1].ID())
		}
		t.Logf("the run failed with: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the run hung after a node died")
	}
	// New blocks go to the node that is left: a run that needs none of the
	// lost ones completes.
	n, err := dataset.Range(50000, dataset.WithRuntime(rt), dataset.WithParallelism(20)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { return b, nil }).RandomShuffle(2).Count(ctx)
	if err != nil || n != 50000 {
		t.Fatalf("a run after the loss: %d rows, %v; want 50000 on the surviving node", n, err)
	}
}
