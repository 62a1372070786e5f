package cluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const testToken = "test-token-7f3a"

// startHead starts a head on a free loopback port with fast heartbeats,
// closed (and checked for leaked goroutines) when the test ends.
func startHead(t *testing.T) *Head {
	t.Helper()
	others := goleak.IgnoreCurrent()
	h, err := StartHead(HeadConfig{Addr: "127.0.0.1:0", Token: testToken, HeartbeatPeriod: 20 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		goleak.VerifyNone(t, others)
	})
	return h
}

func connectT(t *testing.T, addr, token, version string) *Client {
	t.Helper()
	c, err := connect(addr, token, version)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestHeadRegistryAndDeath(t *testing.T) {
	h := startHead(t)
	c := connectT(t, h.Addr(), testToken, ProtocolVersion)
	ctx := context.Background()
	var ids []string
	for i, res := range []Resources{{CPUs: 8, GPUs: 1, ObjectStoreMemory: 4 << 30}, {CPUs: 4, ObjectStoreMemory: 1 << 30}} {
		var r RegisterReply
		info := NodeInfo{Addr: "127.0.0.1:" + []string{"7001", "7002"}[i], Hostname: "box", PID: 100 + i, Resources: res}
		if err := c.action(ctx, actionRegister, info, &r); err != nil {
			t.Fatal(err)
		}
		if r.HeartbeatPeriod != 20*time.Millisecond {
			t.Errorf("heartbeat period %v, want the head's 20ms", r.HeartbeatPeriod)
		}
		ids = append(ids, r.ID)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 2 || st.Total().CPUs != 12 || st.Total().GPUs != 1 || st.Version != ProtocolVersion {
		t.Fatalf("status %+v, want two live nodes with 12 CPUs and 1 GPU", st)
	}
	// Node 0 keeps beating, node 1 goes silent: it is declared dead within
	// DeadAfter (5 periods, 100ms) plus a monitor tick.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := c.action(ctx, actionHeartbeat, Heartbeat{ID: ids[0], Objects: 3}, &HeartbeatReply{}); err != nil {
			t.Fatal(err)
		}
		st, err = c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Nodes[1].Alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a silent node was not declared dead within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !st.Nodes[0].Alive || st.Nodes[0].Last.Objects != 3 || st.Nodes[1].DeadSince.IsZero() || st.Total().CPUs != 8 {
		t.Errorf("after node 1 went silent: %+v", st.Nodes)
	}
	// A dead node's heartbeat is refused: it must join again.
	err = c.action(ctx, actionHeartbeat, Heartbeat{ID: ids[1]}, &HeartbeatReply{})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "declared dead") {
		t.Errorf("heartbeat of a dead node: %v, want NotFound saying it was declared dead", err)
	}
}

func TestHeadRefusesWrongTokenAndVersion(t *testing.T) {
	h := startHead(t)
	ctx := context.Background()
	_, err := connectT(t, h.Addr(), "guess", ProtocolVersion).Status(ctx)
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong token: %v, want Unauthenticated", err)
	}
	_, err = connectT(t, h.Addr(), "", ProtocolVersion).Status(ctx)
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", err)
	}
	_, err = connectT(t, h.Addr(), testToken, "shoal-0").Status(ctx)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "shoal-0") || !strings.Contains(err.Error(), ProtocolVersion) {
		t.Errorf("another version: %v, want FailedPrecondition naming both versions", err)
	}
	if _, err := connectT(t, h.Addr(), testToken, ProtocolVersion).Status(ctx); err != nil {
		t.Errorf("the right token and version: %v", err)
	}
}

func TestHeadRejectsMalformedMessages(t *testing.T) {
	h := startHead(t)
	c := connectT(t, h.Addr(), testToken, ProtocolVersion)
	ctx := context.Background()
	for name, a := range map[string]*flight.Action{
		"garbage":         {Type: actionRegister, Body: []byte("\x00\xff not json")},
		"unknown fields":  {Type: actionRegister, Body: []byte(`{"addr":"127.0.0.1:1","evil":true}`)},
		"trailing data":   {Type: actionRegister, Body: []byte(`{"addr":"127.0.0.1:1"} {}`)},
		"bad address":     {Type: actionRegister, Body: []byte(`{"addr":"nowhere"}`)},
		"negative":        {Type: actionRegister, Body: []byte(`{"addr":"127.0.0.1:1","resources":{"cpus":-4}}`)},
		"oversized":       {Type: actionHeartbeat, Body: []byte(`{"id":"` + strings.Repeat("x", maxActionBody) + `"}`)},
		"unknown action":  {Type: "format-disk"},
		"wrong body type": {Type: actionHeartbeat, Body: []byte(`{"id": 42}`)},
	} {
		stream, err := c.fc.DoAction(ctx, a)
		if err == nil {
			_, err = stream.Recv()
		}
		if code := status.Code(err); code != codes.InvalidArgument && code != codes.Unimplemented {
			t.Errorf("%s: %v, want InvalidArgument or Unimplemented", name, err)
		}
	}
	// A message above gRPC's bound never reaches a handler.
	stream, err := c.fc.DoAction(ctx, &flight.Action{Type: actionStatus, Body: make([]byte, MaxMessageBytes+1)})
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil {
		t.Error("a message over MaxMessageBytes was accepted")
	}
	// The head still serves.
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("after abuse the head does not answer: %v", err)
	}
}

func TestHeadShutdownEndsWhenNodesGo(t *testing.T) {
	h := startHead(t)
	c := connectT(t, h.Addr(), testToken, ProtocolVersion)
	ctx := context.Background()
	var r RegisterReply
	if err := c.action(ctx, actionRegister, NodeInfo{Addr: "127.0.0.1:7001"}, &r); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var reply HeartbeatReply
	if err := c.action(ctx, actionHeartbeat, Heartbeat{ID: r.ID}, &reply); err != nil || !reply.Shutdown {
		t.Fatalf("heartbeat after shutdown: %+v %v, want Shutdown", reply, err)
	}
	select {
	case <-h.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the head did not stop after its node went silent")
	}
}

func TestHealthNeedsNoToken(t *testing.T) {
	h := startHead(t)
	conn, err := dial(h.Addr(), "", "") // no token, no version
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check: %v %v, want SERVING without a token", res, err)
	}
}

// TestJobsTable: a driver's job is listed as running while it is attached
// and as finished once it closes; a malformed job is refused.
func TestJobsTable(t *testing.T) {
	h := startHead(t)
	ctx := context.Background()
	j, err := AttachJob(ctx, h.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	st := h.Status()
	if len(st.Jobs) != 1 || !st.Jobs[0].Running || st.Jobs[0].ID != j.ID() || st.Jobs[0].Info.PID != os.Getpid() {
		t.Fatalf("while attached: %+v", st.Jobs)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st = h.Status()
		if len(st.Jobs) == 1 && !st.Jobs[0].Running && !st.Jobs[0].Ended.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Close: %+v", st.Jobs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := connectT(t, h.Addr(), testToken, ProtocolVersion)
	stream, err := c.fc.DoAction(ctx, &flight.Action{Type: actionJob, Body: []byte(`{"name":""}`)})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a job without a name: %v", err)
	}
	// A job still attached when the head stops ends with it.
	j2, err := AttachJob(ctx, h.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	select {
	case <-j2.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the job's stream outlived the head")
	}
	j2.Close()
}
