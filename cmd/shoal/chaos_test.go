package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// TestMain lets this test binary serve as a cluster worker: the nodes the
// cluster tests start run it to execute the tasks it ships.
func TestMain(m *testing.M) {
	dataset.Init()
	if addr := os.Getenv("SHOAL_TEST_DRIVER"); addr != "" {
		os.Exit(runTestDriver(addr))
	}
	if addr := os.Getenv("SHOAL_TEST_JOIN"); addr != "" {
		// A program naming its cluster with an Init option: the default
		// runtime joins it.
		dataset.Init(dataset.JoinCluster(addr))
		n, err := dataset.Range(1000).MapBatches(slowSquare).Count(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("count", n)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runTestDriver makes this binary a driver that materializes a dataset on
// the cluster at addr, says "ready" and waits to be killed.
func runTestDriver(addr string) int {
	ctx := context.Background()
	rt, err := dataset.ConnectCluster(ctx, addr, "chaos-test-token")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m, err := dataset.Range(20000, dataset.WithRuntime(rt), dataset.WithParallelism(20)).MapBatches(slowSquare).Materialize(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = m
	fmt.Println("ready")
	select {} // until killed
}

func init() {
	dataset.Register("chaos.slowSquare", slowSquare)
	dataset.Register("chaos.keepOdd", keepOdd)
	dataset.Register("chaos.passActor", newPassActor)
}

// slowSquare adds sq = id² after a pause, so a stage lasts long enough for
// a node to die in the middle of it.
func slowSquare(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	time.Sleep(25 * time.Millisecond)
	ids, err := blocks.Values[int64](b.Column(0))
	if err != nil {
		return nil, err
	}
	sq := make([]int64, len(ids))
	for i, v := range ids {
		sq[i] = v * v
	}
	col := blocks.NumericArray(sq)
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{b.Schema().Field(0), {Name: "sq", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{b.Column(0), col}, b.NumRows()), nil
}

// newPassActor is an actor that passes batches on after a pause. Started
// on a node whose environment has CHAOS_DIR, it leaves a file there named
// after its node's process (its worker's parent), so the test knows which
// node to kill.
func newPassActor(*dataset.ActorContext) (dataset.BatchFunc, error) {
	if dir := os.Getenv("CHAOS_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("actor-on-", os.Getppid())), nil, 0o644); err != nil {
			return nil, err
		}
	}
	return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		time.Sleep(5 * time.Millisecond)
		b.Retain()
		return b, nil
	}, nil
}

func keepOdd(r dataset.Row) (bool, error) { return r.Int64("id")%2 == 1, nil }

// testCluster is a head and nodes started as processes of the shoal binary.
type testCluster struct {
	addr  string
	env   []string
	nodes []*proc
	addrs []string // each node's Flight address
	dir   string   // where actors on the nodes leave their marks
}

// actorNode is the index of a node an actor was started on, -1 if none.
func (c *testCluster) actorNode() int {
	for i, n := range c.nodes {
		if _, err := os.Stat(filepath.Join(c.dir, fmt.Sprint("actor-on-", n.cmd.Process.Pid))); err == nil {
			return i
		}
	}
	return -1
}

// startCluster starts a head and nodes; node i declares gpus[i] GPUs (0
// past the end of gpus).
func startCluster(t *testing.T, bin string, nodes int, gpus ...int) *testCluster {
	t.Helper()
	c := &testCluster{env: []string{"SHOAL_TOKEN=chaos-test-token", "HOME=" + t.TempDir()}, dir: t.TempDir()}
	c.env = append(c.env, "CHAOS_DIR="+c.dir)
	head := startProc(t, bin, c.env, "start", "--head", "--port", "0", "--heartbeat", "100ms")
	m := regexp.MustCompile(`^head at (\S+)$`).FindStringSubmatch(head.first)
	if m == nil {
		t.Fatalf("head printed %q", head.first)
	}
	c.addr = m[1]
	for i := range nodes {
		g := 0
		if i < len(gpus) {
			g = gpus[i]
		}
		n := startProc(t, bin, c.env, "start", "--address", c.addr, "--num-cpus", "2", "--num-gpus", fmt.Sprint(g), "--object-store-memory", "256MiB")
		f := strings.Fields(n.first) // node <id> at <addr>
		c.nodes = append(c.nodes, n)
		c.addrs = append(c.addrs, f[len(f)-1])
	}
	return c
}

// objects is how many blocks node i holds, -1 if it cannot be asked.
func (c *testCluster) objects(i int) int {
	oc, err := cluster.DialObjects(c.addrs[i], "chaos-test-token")
	if err != nil {
		return -1
	}
	defer oc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := oc.Stats(ctx)
	if err != nil {
		return -1
	}
	return st.Objects
}

// TestClusterChaos runs a map stage, a shuffle and an actor stage on a
// head and three nodes (separate processes; tasks run in worker processes
// of this test binary on the nodes), kills one node with SIGKILL while the
// stage runs, and checks the output is exactly that of a run on the
// embedded runtime: the dead node's tasks ran again elsewhere and its
// blocks were rebuilt from lineage.
func TestClusterChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := shoalBinary(t)
	ctx := context.Background()
	workloads := []struct {
		name string
		make func(rt exec.Runtime) *dataset.Dataset
	}{
		{"map", func(rt exec.Runtime) *dataset.Dataset {
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(120)).
				MapBatches(slowSquare).Filter(keepOdd)
		}},
		{"shuffle", func(rt exec.Runtime) *dataset.Dataset {
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(120)).
				MapBatches(slowSquare).RandomShuffle(11).Sort(dataset.Asc("sq"))
		}},
		{"actors", func(rt exec.Runtime) *dataset.Dataset {
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(120)).
				MapBatches(slowSquare).
				MapBatchesWithActors(newPassActor, dataset.Actors(2, 2), dataset.ActorCPUs(0), dataset.BatchSize(500))
		}},
	}
	render := func(d *dataset.Dataset) ([]string, error) {
		rows, err := d.TakeAll(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = fmt.Sprint(r)
		}
		return out, nil
	}
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			local := exec.NewLocal(exec.WithWorkers(2))
			defer local.Close()
			want, err := render(w.make(local))
			if err != nil {
				t.Fatal(err)
			}
			c := startCluster(t, bin, 3)
			rt, err := dataset.ConnectCluster(ctx, c.addr, "chaos-test-token")
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			type result struct {
				rows []string
				err  error
			}
			done := make(chan result, 1)
			go func() {
				rows, err := render(w.make(rt))
				done <- result{rows, err}
			}()
			// Kill a node once it holds blocks of the running stage: node 1,
			// or for the actor stage a node with an actor.
			victim := 1
			deadline := time.Now().Add(60 * time.Second)
			for {
				if w.name == "actors" {
					victim = c.actorNode()
				}
				if victim >= 0 && c.objects(victim) >= 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no node to kill held 2 blocks")
				}
				select {
				case res := <-done:
					marks, _ := filepath.Glob(filepath.Join(c.dir, "*"))
					t.Fatalf("the run ended before the node to kill held 2 blocks (%d rows, %v; nodes %v, actor marks %v)", len(res.rows), res.err, c.addrs, marks)
				case <-time.After(2 * time.Millisecond):
				}
			}
			if err := c.nodes[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var res result
			select {
			case res = <-done:
			case <-time.After(120 * time.Second):
				t.Fatal("the run did not finish within 120s of the kill")
			}
			if res.err != nil {
				t.Fatalf("the run failed after a node died: %v", res.err)
			}
			if !slices.Equal(res.rows, want) {
				t.Fatalf("after a node died: %d rows (first %v), want %d (first %v)", len(res.rows), firstRow(res.rows), len(want), firstRow(want))
			}
			entries, reruns := rt.LineageStats()
			if rt.RemoteTasks() == 0 {
				t.Error("no task ran on the nodes")
			}
			t.Logf("%s: %d rows equal to the embedded run; %d tasks ran on the nodes, %d tasks or calls run again to rebuild lost blocks, %d lineage entries held",
				w.name, len(want), rt.RemoteTasks(), reruns, entries)
		})
	}
}

// TestClusterDriverKilled: a driver killed with SIGKILL leaves blocks it
// never released on the nodes; its job ends with its connection, and the
// nodes free them. Then a program that joins with Init(JoinCluster) runs
// on the cluster, and status lists both jobs as finished.
func TestClusterDriverKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := shoalBinary(t)
	c := startCluster(t, bin, 2)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	driver := startProc(t, exe, append(c.env, "SHOAL_TEST_DRIVER="+c.addr))
	if driver.first != "ready" {
		t.Fatalf("the driver printed %q", driver.first)
	}
	held := c.objects(0) + c.objects(1)
	if held < 20 {
		t.Fatalf("the nodes hold %d blocks of the driver's materialized dataset, want 20", held)
	}
	if err := driver.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.objects(0)+c.objects(1) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the nodes still hold %d blocks 20s after their driver was killed", c.objects(0)+c.objects(1))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d blocks freed after the driver died", held)

	// A program that joins with Init(JoinCluster(addr)) runs there too.
	joined := run(t, exe, append(c.env, "SHOAL_TEST_JOIN="+c.addr))
	if joined.code != 0 || strings.TrimSpace(joined.stdout) != "count 1000" {
		t.Fatalf("a program joining with Init(JoinCluster): exit %d\n%s%s", joined.code, joined.stdout, joined.stderr)
	}
	st := run(t, bin, c.env, "status", "--address", c.addr)
	if strings.Count(st.stdout, "finished at") < 2 {
		t.Errorf("status does not list the two finished jobs:\n%s", st.stdout)
	}
}

// TestClusterOnlyGPUNodeKilled: an actor stage that needs a GPU runs on
// the one node that has one; when that node is killed, the run fails with
// an error saying no node has a GPU, within a bounded time.
func TestClusterOnlyGPUNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := shoalBinary(t)
	c := startCluster(t, bin, 2, 0, 1)
	ctx := context.Background()
	rt, err := dataset.ConnectCluster(ctx, c.addr, "chaos-test-token")
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	done := make(chan error, 1)
	go func() {
		_, err := dataset.Range(200000, dataset.WithRuntime(rt), dataset.WithParallelism(100)).
			MapBatchesWithActors(newPassActor, dataset.ActorGPUs(1), dataset.Actors(1, 1), dataset.BatchSize(100)).Count(ctx)
		done <- err
	}()
	deadline := time.Now().Add(60 * time.Second)
	for c.actorNode() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no actor started on the GPU node")
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended before the GPU node was killed: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	// status shows the actor and the GPU it holds.
	for {
		st := run(t, bin, c.env, "status", "--address", c.addr)
		if regexp.MustCompile(`alive\s+2\s+1 \(1 held\)\s+\d+\s+1\s`).MatchString(st.stdout) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status does not show the actor holding the GPU:\n%s", st.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.nodes[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no actor can start") || !strings.Contains(err.Error(), "GPU") {
			t.Fatalf("after the only GPU node was killed: %v; want an error saying no actor can start for want of a GPU", err)
		}
		t.Logf("failed %v after the kill with: %v", time.Since(killed).Round(time.Millisecond), err)
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not end within 60s of the GPU node's death")
	}
}

func firstRow(rows []string) string {
	if len(rows) == 0 {
		return "none"
	}
	return rows[0]
}
