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
	// A dead node's heartbeat is answered with when it was declared dead:
	// it must drop what it held and join again.
	var reply HeartbeatReply
	if err := c.action(ctx, actionHeartbeat, Heartbeat{ID: ids[1]}, &reply); err != nil || !reply.DeadSince.Equal(st.Nodes[1].DeadSince) {
		t.Errorf("heartbeat of a dead node: %+v, %v; want it told it was declared dead at %v", reply, err, st.Nodes[1].DeadSince)
	}
	if st, _ := c.Status(ctx); !st.Nodes[0].Alive || st.Nodes[1].Alive {
		t.Errorf("a dead node's heartbeat brought it back: %+v", st.Nodes)
	}
}

// TestHeadTellsJobsOfNodes: a job's stream names, once each, the nodes
// that are live and those the head gives up: one gone before the job
// attached, one that goes silent while it runs, one that leaves; and a
// node that joins later.
func TestHeadTellsJobsOfNodes(t *testing.T) {
	h := startHead(t)
	c := connectT(t, h.Addr(), testToken, ProtocolVersion)
	ctx := context.Background()
	register := func(port string) string {
		var r RegisterReply
		if err := c.action(ctx, actionRegister, NodeInfo{Addr: "127.0.0.1:" + port, Resources: Resources{CPUs: 1}}, &r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	early, silent, leaving := register("7001"), register("7002"), register("7003")
	beat := func(id string) {
		if err := c.action(ctx, actionHeartbeat, Heartbeat{ID: id}, &HeartbeatReply{}); err != nil {
			t.Fatal(err)
		}
	}
	// early dies before the job attaches: only the others keep beating.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		beat(silent)
		beat(leaving)
		if st, _ := c.Status(ctx); !st.Nodes[0].Alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a silent node was not declared dead within 5s")
		}
	}
	news := make(chan jobEvent, 10)
	var jobID string
	job, err := attachJob(ctx, h.Addr(), testToken, func(id string, ev jobEvent) {
		jobID = id
		news <- ev
	})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	joined, gone := map[string]NodeJoined{}, map[string]NodeGone{}
	// until wants the named nodes heard of, and no node named twice.
	until := func(joins, goes []string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			done := true
			for _, id := range joins {
				_, ok := joined[id]
				done = done && ok
			}
			for _, id := range goes {
				_, ok := gone[id]
				done = done && ok
			}
			if done {
				return
			}
			select {
			case ev := <-news:
				for _, j := range ev.Joined {
					if _, dup := joined[j.ID]; dup {
						t.Errorf("%s named twice as joined", j.ID)
					}
					joined[j.ID] = j
				}
				for _, g := range ev.Gone {
					if _, dup := gone[g.ID]; dup {
						t.Errorf("%s named twice as gone", g.ID)
					}
					gone[g.ID] = g
				}
			case <-deadline:
				t.Fatalf("within 5s the job heard of joined %v and gone %v, want %v and %v", joined, gone, joins, goes)
			}
		}
	}
	until([]string{silent, leaving}, []string{early})
	if g := gone[early]; g.Left || g.Addr != "127.0.0.1:7001" || !strings.Contains(g.Reason(), "declared "+early+" (127.0.0.1:7001) dead") {
		t.Errorf("verdict %+v (%s), want %s declared dead", g, g.Reason(), early)
	}
	if jobID != job.ID() || joined[silent].Info.Addr != "127.0.0.1:7002" {
		t.Errorf("news for job %q (%s), nodes %+v", jobID, job.ID(), joined)
	}
	// leaving leaves, silent stops beating, a new node joins.
	if err := c.action(ctx, actionLeave, Heartbeat{ID: leaving}, nil); err != nil {
		t.Fatal(err)
	}
	late := register("7004")
	until([]string{late}, []string{leaving, silent})
	if g := gone[leaving]; !g.Left || !strings.Contains(g.Reason(), leaving+" (127.0.0.1:7003) left the cluster") {
		t.Errorf("verdict %+v (%s), want %s left", g, g.Reason(), leaving)
	}
	if g := gone[silent]; g.Left {
		t.Errorf("verdict %+v, want %s declared dead", g, silent)
	}
	if _, ok := joined[early]; ok {
		t.Errorf("%s, dead when the job attached, was named as joined", early)
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
