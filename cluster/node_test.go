package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func startNode(t *testing.T, head string, res Resources) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := StartNode(ctx, NodeConfig{Head: head, Token: testToken, Resources: res, SpillDir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func waitStatus(t *testing.T, c *Client, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s (last %+v, %v)", what, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNodeJoinsServesBlocksAndLeaves: a node registers with its resources,
// reports its store in heartbeats, serves blocks over Flight, and when it
// stops the head records that it left.
func TestNodeJoinsServesBlocksAndLeaves(t *testing.T) {
	h := startHead(t)
	c := connectT(t, h.Addr(), testToken, ProtocolVersion)
	n := startNode(t, h.Addr(), Resources{CPUs: 3, GPUs: 0, ObjectStoreMemory: 64 << 20})
	if !strings.HasPrefix(n.ID(), "node-") {
		t.Fatalf("node ID %q", n.ID())
	}
	oc, err := DialObjects(n.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	bld := array.NewInt64Builder(mem)
	bld.AppendValues([]int64{1, 2, 3}, nil)
	col := bld.NewArray()
	bld.Release()
	b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, 3)
	col.Release()
	ref, err := oc.Put(context.Background(), b, "test")
	b.Release()
	if err != nil {
		t.Fatal(err)
	}
	// The next heartbeats carry the store's new object.
	waitStatus(t, c, "the head sees the node's object", func(s Status) bool {
		return len(s.Nodes) == 1 && s.Nodes[0].Alive && s.Nodes[0].Last.Objects == 1 && s.Total().CPUs == 3
	})
	got, err := oc.Get(context.Background(), ref.ID, mem)
	if err != nil {
		t.Fatal(err)
	}
	if got.NumRows() != 3 || got.Column(0).(*array.Int64).Value(2) != 3 {
		t.Errorf("got back %v", got)
	}
	got.Release()
	n.Close()
	st := waitStatus(t, c, "the node left", func(s Status) bool { return len(s.Nodes) == 1 && s.Nodes[0].Left })
	if st.Nodes[0].Alive || st.Total().CPUs != 0 {
		t.Errorf("after leaving: %+v", st.Nodes[0])
	}
}

// TestNodeStopsWhenHeadIsLost: a node whose head disappears stops after
// HeadLostAfter with an error saying so, instead of running orphaned.
func TestNodeStopsWhenHeadIsLost(t *testing.T) {
	others := goleak.IgnoreCurrent()
	defer goleak.VerifyNone(t, others)
	h, err := StartHead(HeadConfig{Addr: "127.0.0.1:0", Token: testToken, HeartbeatPeriod: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := StartNode(ctx, NodeConfig{Head: h.Addr(), Token: testToken, HeadLostAfter: 300 * time.Millisecond, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the node kept running without its head")
	}
	if err := n.Err(); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("Err() = %v, want the head unreachable", err)
	}
	n.Close()
}

// TestNodeRefusedByAnotherVersion: a node of another protocol version cannot
// join, and says why.
func TestNodeRefusedByAnotherVersion(t *testing.T) {
	h := startHead(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := StartNode(ctx, NodeConfig{Head: h.Addr(), Token: testToken, Version: "shoal-0", SpillDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "shoal-0") || !strings.Contains(err.Error(), ProtocolVersion) {
		t.Fatalf("err %v, want a refusal naming both versions", err)
	}
	_, err = StartNode(ctx, NodeConfig{Head: h.Addr(), Token: "nope", SpillDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("err %v, want a refusal of the token", err)
	}
}

func TestNodeHealthNeedsNoToken(t *testing.T) {
	h := startHead(t)
	n := startNode(t, h.Addr(), Resources{CPUs: 1, ObjectStoreMemory: 1 << 20})
	conn, err := dial(n.Addr(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("node health check: %v %v, want SERVING without a token", res, err)
	}
}
