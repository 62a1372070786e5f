package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"golang.org/x/sys/unix"

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
	if addr := os.Getenv("SHOAL_TEST_INTERRUPT"); addr != "" {
		os.Exit(runInterruptDriver(addr))
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
	dataset.Register("chaos.gatedSquare", gatedSquare)
	dataset.Register("chaos.keepOdd", keepOdd)
	dataset.Register("chaos.passActor", newPassActor)
}

// gatedSquare is slowSquare, except that on a node whose environment has
// CHAOS_DIR a block from id 30000 on waits (at most two minutes) for the
// file CHAOS_DIR/faulted: the test creates it once it has killed or
// frozen a node, so the first half of the stage is done, and its blocks
// held, before the fault, and the run cannot end before it.
func gatedSquare(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	if dir := os.Getenv("CHAOS_DIR"); dir != "" && b.NumRows() > 0 && b.Column(0).(*array.Int64).Value(0) >= 30000 {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if _, err := os.Stat(filepath.Join(dir, "faulted")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("chaos: no fault within 2 minutes")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return slowSquare(b)
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
// node to kill, and another once it has made a block.
func newPassActor(*dataset.ActorContext) (dataset.BatchFunc, error) {
	dir := os.Getenv("CHAOS_DIR")
	if dir != "" {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("actor-on-", os.Getppid())), nil, 0o644); err != nil {
			return nil, err
		}
	}
	var once sync.Once
	return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		time.Sleep(5 * time.Millisecond)
		if dir != "" {
			var err error
			once.Do(func() {
				err = os.WriteFile(filepath.Join(dir, fmt.Sprint("actor-output-on-", os.Getppid())), nil, 0o644)
			})
			if err != nil {
				return nil, err
			}
		}
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
func (c *testCluster) actorNode() int { return c.markedNode("actor-on-") }

// markedNode is the index of a node whose process a file prefix+PID in
// c.dir names, -1 if none.
func (c *testCluster) markedNode(prefix string) int {
	for i, n := range c.nodes {
		if _, err := os.Stat(filepath.Join(c.dir, fmt.Sprint(prefix, n.cmd.Process.Pid))); err == nil {
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
	head := startProc(t, bin, c.env, "start", "--head", "--port", "0", "--heartbeat", "100ms", "--dead-after", "2s")
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
	runFaults(t, shoalBinary(t), syscall.SIGKILL)
}

// chaosWorkload is a job run on the embedded runtime and on a cluster
// whose node victim fails midway, its output materialized before it is
// read (chaosRun): every block the victim held when it failed is read
// after, so its loss is certain, not luck.
type chaosWorkload struct {
	name string
	make func(rt exec.Runtime) *dataset.Dataset
	// victim picks the node to fail, -1 while none is ready: one that
	// holds blocks that will be read after the fault.
	victim func(c *testCluster) int
	// workersToo: freezing the node freezes its worker processes too (a
	// machine frozen whole), not only the node's process.
	workersToo bool
}

// chaosWorkloads: a map stage, a shuffle and an actor stage, whose first
// half (gatedSquare) runs before the fault and the rest after.
func chaosWorkloads() []chaosWorkload {
	holds := func(c *testCluster) int {
		if c.objects(1) >= 2 {
			return 1 // its blocks are final outputs (map) or a shuffle's unread input
		}
		return -1
	}
	return []chaosWorkload{
		{"map", func(rt exec.Runtime) *dataset.Dataset {
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(120)).
				MapBatches(gatedSquare).Filter(keepOdd)
		}, holds, false},
		{"shuffle", func(rt exec.Runtime) *dataset.Dataset {
			// The shuffle's maps start once all its input is in: after the
			// fault, reading what the victim held.
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(120)).
				MapBatches(gatedSquare).RandomShuffle(11).Sort(dataset.Asc("sq"))
		}, holds, true},
		{"actors", func(rt exec.Runtime) *dataset.Dataset {
			return dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(120)).
				MapBatches(gatedSquare).
				MapBatchesWithActors(newPassActor, dataset.Actors(2, 2), dataset.ActorCPUs(0), dataset.BatchSize(500))
		}, func(c *testCluster) int {
			return c.markedNode("actor-output-on-") // its actor made a block: a final output
		}, true},
	}
}

// runFaults runs each workload on a fresh cluster of three node processes,
// failing its victim with sig (SIGKILL, or SIGSTOP: frozen, then SIGCONT
// once the job is done).
func runFaults(t *testing.T, bin string, sig syscall.Signal) {
	ctx := context.Background()
	name := unix.SignalName(sig)
	for _, w := range chaosWorkloads() {
		t.Run(w.name, func(t *testing.T) {
			local := exec.NewLocal(exec.WithWorkers(2))
			defer local.Close()
			want, err := materializedRows(ctx, w.make(local))
			if err != nil {
				t.Fatal(err)
			}
			c := startCluster(t, bin, 3)
			rt := c.connect(t)
			done := make(chan chaosResult, 1)
			go func() {
				rows, err := materializedRows(ctx, w.make(rt))
				done <- chaosResult{rows, err}
			}()
			victim := c.waitForVictim(t, w.victim, done)
			held := c.objects(victim)
			var frozen []int
			if sig == syscall.SIGSTOP {
				frozen = c.freeze(t, victim, w.workersToo)
			} else if err := c.nodes[victim].cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			faulted := time.Now()
			c.releaseGate(t)
			var res chaosResult
			select {
			case res = <-done:
			case <-time.After(120 * time.Second):
				t.Fatalf("the run did not finish within 120s of the %s", name)
			}
			took := time.Since(faulted)
			if res.err != nil {
				t.Fatalf("the run failed after the %s of a node: %v", name, res.err)
			}
			if !slices.Equal(res.rows, want) {
				t.Fatalf("after the %s of a node: %d rows (first %v), want %d (first %v)", name, len(res.rows), firstRow(res.rows), len(want), firstRow(want))
			}
			entries, reruns := rt.LineageStats()
			if rt.RemoteTasks() == 0 {
				t.Error("no task ran on the nodes")
			}
			if reruns == 0 {
				t.Errorf("the victim held %d blocks that are read after its %s, yet nothing was run again to rebuild them", held, name)
			}
			t.Logf("%s, %s: finished %v after the fault, %d rows equal to the embedded run; %d tasks ran on the nodes, %d tasks or calls run again to rebuild the %d blocks the victim held, %d lineage entries held",
				w.name, name, took.Round(time.Millisecond), len(want), rt.RemoteTasks(), reruns, held, entries)
			if sig == syscall.SIGSTOP {
				c.thawAndCheck(t, bin, victim, frozen)
			}
		})
	}
}

type chaosResult struct {
	rows []string
	err  error
}

// materializedRows materializes d, then reads its rows, each rendered.
func materializedRows(ctx context.Context, d *dataset.Dataset) ([]string, error) {
	m, err := d.Materialize(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := m.TakeAll(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r)
	}
	return out, nil
}

// waitForVictim waits until pick names a node to fail, failing the test
// if the run ends first or no node is ready within a minute.
func (c *testCluster) waitForVictim(t *testing.T, pick func(*testCluster) int, done <-chan chaosResult) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if v := pick(c); v >= 0 {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatal("no node was ready to fail within 60s")
		}
		select {
		case res := <-done:
			marks, _ := filepath.Glob(filepath.Join(c.dir, "*"))
			t.Fatalf("the run ended before a node was ready to fail (%d rows, %v; nodes %v, marks %v)", len(res.rows), res.err, c.addrs, marks)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// connect is a runtime on the cluster, closed when the test ends.
func (c *testCluster) connect(t *testing.T) *exec.Local {
	t.Helper()
	rt, err := dataset.ConnectCluster(context.Background(), c.addr, "chaos-test-token")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// startDriver runs this test binary as a driver of the cluster, in the
// mode the environment variable mode picks (see TestMain), and waits for
// it to say it is ready.
func (c *testCluster) startDriver(t *testing.T, mode string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	driver := startProc(t, exe, append(c.env, mode+"="+c.addr))
	if driver.first != "ready" {
		t.Fatalf("the driver printed %q", driver.first)
	}
	return driver
}

// releaseGate lets the second half of a gated stage run.
func (c *testCluster) releaseGate(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, "faulted"), nil, 0o644); err != nil {
		t.Fatal(err)
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
	driver := c.startDriver(t, "SHOAL_TEST_DRIVER")
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
	joined := run(t, driver.cmd.Path, append(c.env, "SHOAL_TEST_JOIN="+c.addr))
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
	rt := c.connect(t)
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
