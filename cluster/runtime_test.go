package cluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/dataset"
)

func init() { dataset.Register("runtime-test.gpu-actor", newGPUActor) }

// newGPUActor tags each row with the process and the GPU its actor holds.
func newGPUActor(ac *dataset.ActorContext) (dataset.BatchFunc, error) {
	gpu := int64(-1)
	if len(ac.GPUIDs) > 0 {
		gpu = int64(ac.GPUIDs[0])
	}
	return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		time.Sleep(2 * time.Millisecond)
		n := int(b.NumRows())
		pids, gpus := make([]int64, n), make([]int64, n)
		for i := range n {
			pids[i], gpus[i] = int64(os.Getpid()), gpu
		}
		p, g := blocks.NumericArray(pids), blocks.NumericArray(gpus)
		defer p.Release()
		defer g.Release()
		with, err := blocks.WithColumn(b, "pid", p)
		if err != nil {
			return nil, err
		}
		defer with.Release()
		return blocks.WithColumn(with, "gpu", g)
	}, nil
}

// gpuCluster starts a head, a node without GPUs and one with a GPU.
func gpuCluster(t *testing.T) (string, []*cluster.Node) {
	t.Helper()
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: token, HeartbeatPeriod: 20 * time.Millisecond, DeadAfter: testDeadAfter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	var nodes []*cluster.Node
	for i := range 2 {
		n, err := cluster.StartNode(context.Background(), cluster.NodeConfig{Head: h.Addr(), Token: token, SpillDir: t.TempDir(),
			Resources: cluster.Resources{CPUs: 2, GPUs: i, ObjectStoreMemory: 256 << 20, Labels: map[string]string{"zone": fmt.Sprint("z", i)}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		nodes = append(nodes, n)
	}
	return h.Addr(), nodes
}

// TestClusterActorsOnNodes: an actor stage asking for a GPU runs on the
// one node that has one, in a worker process, and its rows are all there.
// When that node dies, the stage fails with an error saying no node has a
// GPU, not a hang.
func TestClusterActorsOnNodes(t *testing.T) {
	ctx := context.Background()
	addr, nodes := gpuCluster(t)
	rt, err := dataset.ConnectCluster(ctx, addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if g := rt.Resources().GPUs; g != 1 {
		t.Fatalf("the cluster runtime offers %d GPUs, want the nodes' 1", g)
	}
	rows, err := dataset.Range(3000, dataset.WithRuntime(rt), dataset.WithParallelism(6)).
		MapBatchesWithActors(newGPUActor, dataset.ActorGPUs(1), dataset.Actors(1, 1), dataset.BatchSize(500)).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3000 {
		t.Fatalf("%d rows, want 3000", len(rows))
	}
	for _, r := range rows {
		if r["pid"] == int64(os.Getpid()) || r["gpu"] != int64(0) {
			t.Fatalf("row %v: want an actor in a worker process holding GPU 0", r)
		}
	}

	// Labels: the GPU node is in zone z1; none in z0 has a GPU.
	n, err := dataset.Range(1000, dataset.WithRuntime(rt)).MapBatchesWithActors(newGPUActor, dataset.ActorGPUs(1),
		dataset.ActorNodeLabels(map[string]string{"zone": "z1"})).Count(ctx)
	if err != nil || n != 1000 {
		t.Fatalf("an actor placed in zone z1: %d rows, %v", n, err)
	}
	_, err = dataset.Range(1000, dataset.WithRuntime(rt)).MapBatchesWithActors(newGPUActor, dataset.ActorGPUs(1),
		dataset.ActorNodeLabels(map[string]string{"zone": "z0"})).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), "no actor can start") || !strings.Contains(err.Error(), "zone:z0") {
		t.Fatalf("a GPU actor in zone z0, which has no GPU: %v", err)
	}

	// The only GPU node dies while the stage runs.
	killed := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		nodes[1].Close()
		close(killed)
	}()
	start := time.Now()
	_, err = dataset.Range(200000, dataset.WithRuntime(rt), dataset.WithParallelism(400)).
		MapBatchesWithActors(newGPUActor, dataset.ActorGPUs(1), dataset.Actors(1, 1), dataset.BatchSize(100)).Count(ctx)
	<-killed
	if err == nil || !strings.Contains(err.Error(), "GPU") || !strings.Contains(err.Error(), "no actor can start") {
		t.Fatalf("after the only GPU node died: %v; want an error saying no actor can start for want of a GPU", err)
	}
	t.Logf("failed after %v with: %v", time.Since(start).Round(time.Millisecond), err)

	// A stage that needs a GPU is now refused before it runs.
	_, err = dataset.Range(10, dataset.WithRuntime(rt)).
		MapBatchesWithActors(newGPUActor, dataset.ActorGPUs(1)).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), "GPU") {
		t.Fatalf("a GPU stage on a cluster without GPUs: %v", err)
	}
}

// TestClusterRefusesUnregistered: in cluster mode a plan over a function
// that is not registered is refused before any task runs, naming it.
func TestClusterRefusesUnregistered(t *testing.T) {
	ctx := context.Background()
	addr, nodes := gpuCluster(t)
	rt, err := dataset.ConnectCluster(ctx, addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	_, err = dataset.Range(100, dataset.WithRuntime(rt)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { b.Retain(); return b, nil }).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), "not registered") || !strings.Contains(err.Error(), "MapBatches") {
		t.Fatalf("an unregistered function: %v", err)
	}
	if rt.RemoteTasks() != 0 {
		t.Errorf("%d tasks ran before the refusal", rt.RemoteTasks())
	}
	for _, n := range nodes {
		if o := n.Store().Stats().Objects; o != 0 {
			t.Errorf("node %s holds %d blocks after a refused plan", n.ID(), o)
		}
	}
}

// TestClusterNoNodeLeft: when every node is gone the run ends with an
// error saying so, naming each node and why it is gone (it left, or
// stopped answering), within a bounded time, never a hang.
func TestClusterNoNodeLeft(t *testing.T) {
	ctx := context.Background()
	addr, nodes := gpuCluster(t)
	rt, err := dataset.ConnectCluster(ctx, addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, n := range nodes {
		n.Close()
	}
	done := make(chan error, 1)
	go func() {
		_, err := dataset.Range(10000, dataset.WithRuntime(rt), dataset.WithParallelism(10)).MapBatches(identityBatch).Count(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no live node") || strings.Contains(err.Error(), "%!") {
			t.Fatalf("with no node left: %v, want an error saying no live node can run the tasks", err)
		}
		for _, n := range nodes {
			if !strings.Contains(err.Error(), n.ID()+" ("+n.Addr()+")") {
				t.Errorf("the error does not say why %s is gone: %v", n.ID(), err)
			}
		}
		t.Logf("failed with: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the run hung with no node left")
	}
}

func init() { dataset.Register("runtime-test.crash-once", crashOnce) }

// crashOnce kills its worker process the first time it sees id 30000 (a
// marker file in $SHOAL_TEST_CRASH_DIR remembers it across processes).
func crashOnce(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	ids, err := blocks.Values[int64](b.Column(0))
	if err != nil {
		return nil, err
	}
	if dir := os.Getenv("SHOAL_TEST_CRASH_DIR"); dir != "" && slices.Contains(ids, 30000) {
		marker := filepath.Join(dir, "crashed")
		if _, err := os.Stat(marker); err != nil {
			_ = os.WriteFile(marker, nil, 0o644)
			os.Exit(3) // the worker dies mid-task, with the blocks it holds
		}
	}
	b.Retain()
	return b, nil
}

// TestClusterWorkerCrash: a worker process that dies mid-run (a task
// calls os.Exit) takes the blocks it held; its task runs again on a new
// worker, the lost blocks are rebuilt, and the result is exact.
func TestClusterWorkerCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("SHOAL_TEST_CRASH_DIR", dir) // the nodes' workers inherit it
	addr, _ := gpuCluster(t)
	rt, err := dataset.ConnectCluster(ctx, addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, err := dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(60)).MapBatches(crashOnce).Materialize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "crashed")); err != nil {
		t.Fatal("no worker crashed")
	}
	sum, err := m.Sum(ctx, "id")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(60000) * 59999 / 2; sum.Int64() != want {
		t.Fatalf("sum %v after a worker crashed, want %v", sum, want)
	}
	_, reruns := rt.LineageStats()
	t.Logf("%d tasks ran on the nodes; %d run again to rebuild blocks the dead worker held", rt.RemoteTasks(), reruns)
}
