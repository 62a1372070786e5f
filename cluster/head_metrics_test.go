package cluster

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/shoal-data/shoal/internal/promtest"
	"go.uber.org/goleak"
)

// scrapeHead returns the head's samples by name and node (or state)
// label, or the HTTP status when it is not 200.
func scrapeHead(t *testing.T, addr, token string) (map[string]float64, int) {
	t.Helper()
	got, code, err := promtest.Scrape("http://"+addr+"/metrics", token, "node", "state")
	if err != nil {
		t.Fatal(err)
	}
	return got, code
}

// TestHeadMetrics: the head serves its nodes' heartbeats to Prometheus,
// only with the cluster token, and shows a node that left as down.
func TestHeadMetrics(t *testing.T) {
	others := goleak.IgnoreCurrent()
	h, err := StartHead(HeadConfig{Addr: "127.0.0.1:0", Token: testToken, HeartbeatPeriod: 50 * time.Millisecond,
		DeadAfter: 5 * time.Second, DashboardAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		h.Close()
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, others)
	}()
	if _, code := scrapeHead(t, h.DashboardAddr(), ""); code != http.StatusUnauthorized {
		t.Fatalf("a scrape without the token: %d, want 401", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var nodes []*Node
	for _, cpus := range []int{2, 3} {
		n, err := StartNode(ctx, NodeConfig{Head: h.Addr(), Token: testToken, SpillDir: t.TempDir(),
			Resources: Resources{CPUs: cpus, ObjectStoreMemory: 32 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}
	var got map[string]float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, _ = scrapeHead(t, h.DashboardAddr(), testToken)
		if got["shoal_node_up{"+nodes[0].ID()+"}"] == 1 && got["shoal_node_up{"+nodes[1].ID()+"}"] == 1 &&
			got["shoal_node_last_heartbeat_timestamp_seconds{"+nodes[1].ID()+"}"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes never showed up: %v", got)
		}
	}
	if got["shoal_node_cpus{"+nodes[0].ID()+"}"] != 2 || got["shoal_node_cpus{"+nodes[1].ID()+"}"] != 3 ||
		got["shoal_node_object_store_budget_bytes{"+nodes[0].ID()+"}"] != 32<<20 {
		t.Errorf("the nodes' resources: %v", got)
	}
	nodes[1].Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, _ = scrapeHead(t, h.DashboardAddr(), testToken)
		if got["shoal_node_up{"+nodes[1].ID()+"}"] == 0 && got["shoal_node_up{"+nodes[0].ID()+"}"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node that left is not down: %v", got)
		}
	}
}
