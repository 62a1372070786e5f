package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

const token = "store-test-token"

// testDeadAfter is how long the heads of these tests wait for a node's
// heartbeat before declaring it dead. Their nodes die by Close, which
// tells the head at once; a loaded test machine may delay the heartbeats
// of healthy nodes for far more than the default 5 periods, and a driver
// gives up a node the head declares dead.
const testDeadAfter = 10 * time.Second

// TestRemoteStoreRunsDatasets runs dataset operations on a local runtime
// whose blocks live on two cluster nodes, and checks that they give what
// the embedded runtime gives, that blocks were spread over both nodes, and
// that none is left on them afterwards.
func TestRemoteStoreRunsDatasets(t *testing.T) {
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: token, HeartbeatPeriod: 20 * time.Millisecond, DeadAfter: testDeadAfter})
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
			w := dataset.FromItems(items, dataset.WithRuntime(rt), dataset.WithParallelism(4))
			if err := w.WriteParquet(ctx, dir); err != nil {
				t.Fatal(err)
			}
			// The write's files are counted where its tasks ran.
			files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
			if st := w.Stats(); len(files) == 0 || st.Operators[len(st.Operators)-1].FilesOut != int64(len(files)) {
				t.Errorf("%d files written, the write counted %d", len(files), st.Operators[len(st.Operators)-1].FilesOut)
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

// lossCluster starts a head and n nodes in this process and a runtime
// whose blocks live on them.
func lossCluster(t *testing.T, n int) (*exec.Local, []*cluster.Node) {
	t.Helper()
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: token, HeartbeatPeriod: 20 * time.Millisecond, DeadAfter: testDeadAfter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ctx := context.Background()
	var nodes []*cluster.Node
	for range n {
		n, err := cluster.StartNode(ctx, cluster.NodeConfig{Head: h.Addr(), Token: token, SpillDir: t.TempDir(),
			Resources: cluster.Resources{CPUs: 2, ObjectStoreMemory: 256 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		nodes = append(nodes, n)
	}
	rs, err := cluster.NewRemoteStore(ctx, h.Addr(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := exec.NewLocal(exec.WithWorkers(2), exec.WithObjectStore(rs))
	t.Cleanup(func() { rt.Close() })
	return rt, nodes
}

// TestRemoteStoreRebuildsLostBlocks: a node dies during a map stage, a
// shuffle and an actor stage; the blocks that lived only there are
// rebuilt from lineage (the tasks and actor calls that made them run
// again) and each run gives exactly what a run without the loss gives.
// The loss comes before the blocks are read, by construction: the node
// dies once it holds blocks of the stage, and those are read only after
// (the map's output is materialized first; a shuffle and the stage after
// the actors wait for their whole input).
func TestRemoteStoreRebuildsLostBlocks(t *testing.T) {
	ctx := context.Background()
	double := func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		time.Sleep(200 * time.Microsecond)
		return b, nil
	}
	var actorCalls atomic.Int64
	workloads := map[string]struct {
		make func(rt exec.Runtime, kill func(arrow.RecordBatch)) *dataset.Dataset
		// materialize: the whole output is made (the node dies meanwhile)
		// before any of it is read.
		materialize bool
	}{
		"map": {func(rt exec.Runtime, kill func(arrow.RecordBatch)) *dataset.Dataset {
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(60)).
				MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { kill(b); return double(b) }).
				Map(func(r dataset.Row) (dataset.Item, error) {
					return dataset.Item{"id": r.Int64("id"), "sq": r.Int64("id") * r.Int64("id")}, nil
				})
		}, true},
		// The node dies in the map of a shuffle: the map parts on it are
		// lost before the reduces, which wait for every map, read them.
		"shuffle": {func(rt exec.Runtime, kill func(arrow.RecordBatch)) *dataset.Dataset {
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(60)).
				MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { kill(b); return double(b) }).
				RandomShuffle(7).GroupBy("id").Count().Sort(dataset.Asc("id"))
		}, false},
		// The node dies in an actor stage: lost actor outputs are made again
		// on an actor.
		"actors": {func(rt exec.Runtime, kill func(arrow.RecordBatch)) *dataset.Dataset {
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(60)).
				MapBatchesWithActors(func(*dataset.ActorContext) (dataset.BatchFunc, error) {
					return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
						actorCalls.Add(1)
						kill(b)
						return double(b)
					}, nil
				}, dataset.Actors(2, 2), dataset.ActorCPUs(0), dataset.BatchSize(1000)).RandomShuffle(3)
		}, false},
	}
	render := func(t *testing.T, d *dataset.Dataset, materialize bool) []string {
		t.Helper()
		if materialize {
			m, err := d.Materialize(ctx)
			if err != nil {
				t.Fatal(err)
			}
			d = m
		}
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
		t.Run(name, func(t *testing.T) {
			want := render(t, w.make(exec.NewLocal(exec.WithWorkers(2)), func(arrow.RecordBatch) {}), w.materialize)
			rt, nodes := lossCluster(t, 3)
			actorCalls.Store(0)
			var once sync.Once
			held := -1 // the victim's blocks when it died
			got := render(t, w.make(rt, func(b arrow.RecordBatch) {
				if b.Column(0).(*array.Int64).Value(0) >= 30000 {
					once.Do(func() {
						held = nodes[1].Store().Stats().Objects
						nodes[1].Close()
					})
				}
			}), w.materialize)
			switch {
			case held < 0:
				t.Fatal("the node was never killed")
			case held == 0:
				t.Fatal("the node held no block when it was killed: nothing was lost")
			}
			if !slices.Equal(got, want) {
				t.Fatalf("after a node died: %d rows (first %v), want %d (first %v)", len(got), first(got), len(want), first(want))
			}
			entries, reruns := rt.LineageStats()
			if reruns == 0 {
				t.Fatalf("nothing was run again, though the node held %d blocks of the stage when it died", held)
			}
			t.Logf("the node held %d blocks; %d tasks or calls run again; %d lineage entries left", held, reruns, entries)
			if name == "actors" && actorCalls.Load() <= 60 {
				t.Errorf("the actors were called %d times for 60 batches: no lost actor output was made again on an actor", actorCalls.Load())
			}
		})
	}
}

// TestRemoteStoreLostPutBlockFailsClearly: a block put with Runtime.Put
// has no lineage; losing it ends the run with an error naming the node,
// never a hang, and later runs use the nodes that are left.
func TestRemoteStoreLostPutBlockFailsClearly(t *testing.T) {
	ctx := context.Background()
	rt, nodes := lossCluster(t, 2)
	var refs []exec.ObjectRef
	for i := range 4 {
		b, err := blocks.FromItems(rt.Allocator(), []blocks.Item{{"id": int64(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := rt.Put(b, "test")
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	if nodes[1].Store().Stats().Objects == 0 {
		t.Fatal("no block sits on the node about to die")
	}
	nodes[1].Close()
	lost := 0
	for _, ref := range refs {
		b, err := rt.Get(ctx, ref)
		if err == nil {
			b.Release()
			continue
		}
		lost++
		if !strings.Contains(err.Error(), nodes[1].ID()) || !strings.Contains(err.Error(), "cannot be rebuilt") {
			t.Fatalf("losing a block put by hand: %v, want an error naming %s that says it cannot be rebuilt", err, nodes[1].ID())
		}
	}
	if lost == 0 {
		t.Fatal("no block was lost")
	}
	n, err := dataset.Range(50000, dataset.WithRuntime(rt), dataset.WithParallelism(20)).RandomShuffle(2).Count(ctx)
	if err != nil || n != 50000 {
		t.Fatalf("a run after the loss: %d rows, %v; want 50000 on the surviving node", n, err)
	}
}
