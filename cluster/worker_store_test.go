package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/exec"
)

// workerSpillDirs are the spill directories of node n's workers.
func workerSpillDirs(t *testing.T, n *taskNode) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(n.cfg.SpillDir, "shoal-worker-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestWorkerStore: a task's outputs stay in its worker's store, which
// serves them as a node's store does; a task on the same worker takes them
// from there with no fetch, one elsewhere fetches them; the node's stats
// and heartbeats count them; a killed worker takes them with it.
func TestWorkerStore(t *testing.T) {
	h := startHead(t)
	a := startTaskNode(t, h.Addr(), 2)
	b := startTaskNode(t, h.Addr(), 2)
	path, hash := testBinary(t)
	ctx := context.Background()
	for _, n := range []*taskNode{a, b} {
		if err := n.client.EnsureBinary(ctx, path, hash); err != nil {
			t.Fatal(err)
		}
	}
	double := func(t *testing.T, n *taskNode, in ...RemoteBlock) RunTaskResult {
		t.Helper()
		res, err := n.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, Operator: "double", Inputs: in})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Outputs) != len(in) {
			t.Fatalf("%d outputs of %d inputs", len(res.Outputs), len(in))
		}
		return res
	}

	input := putInts(t, a.client, 1, 2, 3)
	first := double(t, a, RemoteBlock{Addr: a.Addr(), ID: input})
	wa := objDialToken(t, first.Addr, testToken)
	out := RemoteBlock{Addr: first.Addr, ID: first.Outputs[0].ID}

	t.Run("chain on one worker", func(t *testing.T) {
		before := workerStoreStats(t, wa)
		if before.InputsFetched != 1 || before.InputsLocal != 0 || before.Objects != 1 {
			t.Fatalf("the worker after the first task: %+v, want 1 input fetched (from its node) and 1 object", before)
		}
		second := double(t, a, out)
		if second.Addr != first.Addr {
			t.Fatalf("the second task's outputs are at %s, the first's at %s: want one worker", second.Addr, first.Addr)
		}
		after := workerStoreStats(t, wa)
		if after.InputsFetched != before.InputsFetched || after.InputsLocal != before.InputsLocal+1 {
			t.Errorf("the second task's input: fetched %d→%d, local %d→%d; want it taken from the worker's store",
				before.InputsFetched, after.InputsFetched, before.InputsLocal, after.InputsLocal)
		}
		if got := getInts(t, wa, second.Outputs[0].ID, memory.DefaultAllocator); !equalInts(got, []int64{4, 8, 12}) {
			t.Errorf("doubled twice: %v", got)
		}
		// The node's own store has only what was put there.
		if o := a.Store().Stats().Objects; o != 1 || after.Objects != 2 {
			t.Errorf("the node's store holds %d objects, its worker's %d; want 1 and 2", o, after.Objects)
		}
		if err := wa.Release(ctx, second.Outputs[0].ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("served to others", func(t *testing.T) {
		// Another client reads it, and a task on another node fetches it.
		other := objDialToken(t, first.Addr, testToken)
		if got := getInts(t, other, out.ID, memory.DefaultAllocator); !equalInts(got, []int64{2, 4, 6}) {
			t.Errorf("the first task's output from another client: %v", got)
		}
		onB := double(t, b, out)
		wb := objDialToken(t, onB.Addr, testToken)
		if st := workerStoreStats(t, wb); st.InputsFetched != 1 || st.InputsLocal != 0 {
			t.Errorf("node b's worker: %+v, want its input fetched", st)
		}
		if got := getInts(t, wb, onB.Outputs[0].ID, memory.DefaultAllocator); !equalInts(got, []int64{4, 8, 12}) {
			t.Errorf("doubled on node b: %v", got)
		}
		if err := wb.Release(ctx, onB.Outputs[0].ID); err != nil {
			t.Fatal(err)
		}
		// A block put in a worker's store directly is there too.
		id := putInts(t, other, 7)
		if got := getInts(t, wa, id, memory.DefaultAllocator); !equalInts(got, []int64{7}) {
			t.Errorf("a block put in the worker's store: %v", got)
		}
		if err := other.Release(ctx, id); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("actor call", func(t *testing.T) {
		before := workerStoreStats(t, wa)
		act, err := a.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: actorSpec(t, "test-counter", map[string]any{"dir": t.TempDir()}), Operator: "count"})
		if err != nil {
			t.Fatal(err)
		}
		defer stopActor(t, act)
		res, err := act.Call(ctx, ActorCallRequest{Operator: "count", Inputs: []RemoteBlock{out}})
		if err != nil {
			t.Fatal(err)
		}
		after := workerStoreStats(t, wa)
		if res.Addr != first.Addr || after.InputsLocal != before.InputsLocal+1 || after.InputsFetched != before.InputsFetched {
			t.Errorf("an actor call on the worker holding its input: outputs at %s (want %s), local inputs %d→%d, fetched %d→%d",
				res.Addr, first.Addr, before.InputsLocal, after.InputsLocal, before.InputsFetched, after.InputsFetched)
		}
		if x, count, _, _ := counterOutputs(t, a, res); fmt.Sprint(x, count) != "[[2 4 6]] [[1 2 3]]" {
			t.Errorf("the actor's outputs: x %v, count %v", x, count)
		}
	})

	t.Run("node stats and heartbeats count the workers", func(t *testing.T) {
		st, err := a.client.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w := workerStoreStats(t, wa)
		if own := a.Store().Stats(); st.Objects != own.Objects+w.Objects || st.MemoryBytes != own.MemoryBytes+w.MemoryBytes || w.Objects != 1 {
			t.Errorf("node stats %+v; its store %+v and its worker's %+v", st, own, w.StoreStats)
		}
		c := connectT(t, h.Addr(), testToken, ProtocolVersion)
		waitStatus(t, c, "the head sees the worker's object", func(s Status) bool {
			for _, n := range s.Nodes {
				if n.ID == a.ID() {
					return n.Last.Objects == 2
				}
			}
			return false
		})
	})

	t.Run("release", func(t *testing.T) {
		again := double(t, a, out)
		if err := wa.Release(ctx, again.Outputs[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := wa.Get(ctx, again.Outputs[0].ID, memory.DefaultAllocator); status.Code(err) != codes.NotFound {
			t.Errorf("a released output: %v, want NotFound", err)
		}
		if err := wa.Release(ctx, again.Outputs[0].ID); status.Code(err) != codes.NotFound {
			t.Errorf("releasing it again: %v, want NotFound", err)
		}
		if o := workerStoreStats(t, wa).Objects; o != 1 {
			t.Errorf("the worker holds %d objects, want the first task's 1", o)
		}
	})

	t.Run("worker killed", func(t *testing.T) {
		pid := a.tasks.workerPID(hash)
		if len(workerSpillDirs(t, a)) != 1 || pid == 0 {
			t.Fatalf("worker %d, spill dirs %v", pid, workerSpillDirs(t, a))
		}
		if p, err := os.FindProcess(pid); err != nil || p.Kill() != nil {
			t.Fatalf("killing worker %d: %v", pid, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for a.tasks.workerPID(hash) != 0 || len(workerSpillDirs(t, a)) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("10s after the kill: worker %d, spill dirs %v", a.tasks.workerPID(hash), workerSpillDirs(t, a))
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := wa.Get(ctx, out.ID, memory.DefaultAllocator); status.Code(err) != codes.Unavailable {
			t.Errorf("an output of a dead worker: %v, want Unavailable", err)
		}
		// A task that takes it fails as an infrastructure failure.
		_, err := b.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, Inputs: []RemoteBlock{out}})
		if !IsTaskInfraError(err) || !strings.Contains(err.Error(), out.Addr) {
			t.Errorf("a task whose input's worker died: %v, want Unavailable naming %s", err, out.Addr)
		}
		if st, err := a.client.Stats(ctx); err != nil || st.Objects != a.Store().Stats().Objects {
			t.Errorf("node stats after its worker died: %+v, %v; want only its own store's", st, err)
		}
	})
}

// TestWorkerStoreSpills: a worker whose store's budget is tiny spills its
// tasks' outputs under its node's spill directory, and they stay readable,
// to other clients and to its own tasks.
func TestWorkerStoreSpills(t *testing.T) {
	h := startHead(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spill := t.TempDir()
	n, err := StartNode(ctx, NodeConfig{Head: h.Addr(), Token: testToken, SpillDir: spill, Logf: t.Logf, WorkerOutput: &syncBuffer{},
		Resources: Resources{CPUs: 1, ObjectStoreMemory: 1 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	c := objDialToken(t, n.Addr(), testToken)
	path, hash := testBinary(t)
	if err := c.EnsureBinary(ctx, path, hash); err != nil {
		t.Fatal(err)
	}
	vals := make([]int64, 1000) // 8000 bytes: over the budget alone
	for i := range vals {
		vals[i] = int64(i)
	}
	in := putInts(t, c, vals...)
	var outs []RemoteBlock
	for range 3 {
		res, err := c.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, Operator: "double",
			Inputs: []RemoteBlock{{Addr: n.Addr(), ID: in}}})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, RemoteBlock{Addr: res.Addr, ID: res.Outputs[0].ID})
	}
	w := objDialToken(t, outs[0].Addr, testToken)
	st := workerStoreStats(t, w)
	if st.Objects != 3 || st.SpilledBytes < 2*8000 || st.SpilledTotal < 2*8000 || st.Budget != 1<<10 {
		t.Errorf("the worker's store: %+v, want 3 objects, at least 2 spilled, a budget of 1 KiB", st.StoreStats)
	}
	files, _ := filepath.Glob(filepath.Join(spill, "shoal-worker-*", "shoal-spill-*", "*.arrow"))
	if len(files) < 2 {
		t.Errorf("spill files under the node's spill dir: %v", files)
	}
	if ns, err := c.Stats(ctx); err != nil || ns.SpilledBytes < st.SpilledBytes {
		t.Errorf("node stats %+v (%v): want the worker's spilled bytes counted", ns, err)
	}
	want := make([]int64, len(vals))
	for i, v := range vals {
		want[i] = 2 * v
	}
	for _, o := range outs {
		if got := getInts(t, w, o.ID, memory.DefaultAllocator); !equalInts(got, want) {
			t.Fatalf("spilled output %d read back: %d values, want %d doubled", o.ID, len(got), len(want))
		}
	}
	// A task on the worker takes a spilled output from its store.
	res, err := c.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, Operator: "double", Inputs: outs[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if got := getInts(t, w, res.Outputs[0].ID, memory.DefaultAllocator); len(got) != len(vals) || got[1] != 4 {
		t.Errorf("doubled twice from a spilled block: %d values", len(got))
	}
	if st := workerStoreStats(t, w); st.InputsLocal != 1 || st.InputsFetched != 3 {
		t.Errorf("the worker's inputs: %d local, %d fetched; want 1 and 3", st.InputsLocal, st.InputsFetched)
	}
	for _, id := range append([]exec.ObjectID{res.Outputs[0].ID}, outs[0].ID, outs[1].ID, outs[2].ID) {
		if err := w.Release(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if st := workerStoreStats(t, w); st.Objects != 0 || st.SpilledBytes != 0 {
		t.Errorf("after the releases: %+v", st.StoreStats)
	}
	if files, _ := filepath.Glob(filepath.Join(spill, "shoal-worker-*", "shoal-spill-*", "*.arrow")); len(files) != 0 {
		t.Errorf("spill files left after the releases: %v", files)
	}
	n.Close()
	if dirs, _ := filepath.Glob(filepath.Join(spill, "shoal-worker-*")); len(dirs) != 0 {
		t.Errorf("the worker's spill directory after its node stopped: %v", dirs)
	}
}

// workerAddr is the advertised address of node n's live worker for hash.
func workerAddr(t *testing.T, n *taskNode, hash string) string {
	t.Helper()
	for _, w := range n.tasks.liveWorkers() {
		if w.hash == hash {
			return w.addr
		}
	}
	t.Fatalf("node %s has no worker for %s", n.ID(), hash[:8])
	return ""
}

// TestWorkerStoreCancelledTask: a task whose call was cancelled but which
// finished anyway leaves nothing in its worker's store: the node, which
// sent the cancel, frees the outputs of the reply. (A reply already on its
// way when the driver cancels can still reach a driver that no longer
// listens; its outputs belong to the driver's job and go when it ends.)
func TestWorkerStoreCancelledTask(t *testing.T) {
	h := startHead(t)
	n := startTaskNode(t, h.Addr(), 1)
	path, hash := testBinary(t)
	ctx := context.Background()
	if err := n.client.EnsureBinary(ctx, path, hash); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := fmt.Appendf(nil, `{"dir": %q}`, dir)
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := n.client.RunTask(cctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-deaf", Args: args}})
		errc <- err
	}()
	waitFile(t, filepath.Join(dir, "started"))
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Errorf("a cancelled task: %v, want Canceled", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "returning"))
	w := objDialToken(t, workerAddr(t, n, hash), testToken)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A fresh worker: a peak above zero means the output was stored.
		st := workerStoreStats(t, w)
		if st.PeakMemory > 0 && st.Objects == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker's store 10s after the cancelled task returned: %+v", st.StoreStats)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWorkerAddrs: where a worker listens, what it advertises, and how its
// announcement reads.
func TestWorkerAddrs(t *testing.T) {
	for host, want := range map[string]string{"": "127.0.0.1:0", "0.0.0.0": ":0", "::": ":0", "10.1.2.3": "10.1.2.3:0", "::1": "[::1]:0"} {
		if got := listenAddr(host); got != want {
			t.Errorf("listenAddr(%q) = %s, want %s", host, got, want)
		}
	}
	lis := &net.TCPAddr{IP: net.IPv4zero, Port: 4242}
	if got := advertisedAddr("10.0.0.5", lis); got != "10.0.0.5:4242" {
		t.Errorf("advertised %s, want 10.0.0.5:4242", got)
	}
	if got := advertisedAddr("fe80::1", lis); got != "[fe80::1]:4242" {
		t.Errorf("advertised %s, want [fe80::1]:4242", got)
	}
	if got := advertisedAddr("", lis); got != "127.0.0.1:4242" {
		t.Errorf("advertised %s with no host to advertise, want 127.0.0.1:4242", got)
	}
	a := workerAddrs{advertised: "10.0.0.5:4242", local: "127.0.0.1:4242"}
	if got, ok := parseAnnounce(a.announceLine()); !ok || got != a {
		t.Errorf("parseAnnounce(%q) = %+v, %v", a.announceLine(), got, ok)
	}
	if got, ok := parseAnnounce("worker at 127.0.0.1:9\n"); !ok || got.advertised != "127.0.0.1:9" || got.local != "127.0.0.1:9" {
		t.Errorf("one address: %+v, %v", got, ok)
	}
	for _, bad := range []string{"hello\n", "worker at \n", "worker at nowhere\n", "worker at a:1 b:2 c:3\n"} {
		if _, ok := parseAnnounce(bad); ok {
			t.Errorf("parseAnnounce(%q) passed", bad)
		}
	}
}
