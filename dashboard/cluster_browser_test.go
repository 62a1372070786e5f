package dashboard_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/chromedp/chromedp"

	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/internal/promtest"
)

func TestMain(m *testing.M) {
	dataset.Init() // the cluster's task workers are this test binary
	if os.Getenv("SHOAL_TEST_DASHBOARD_PROGRAM") != "" {
		runProgram()
	}
	os.Exit(m.Run())
}

// The cluster test's functions, registered so that the nodes' workers
// find them.
func init() {
	dataset.Register("dashboard-test/slow", slowBatch)
	dataset.Register("dashboard-test/fail", failBatch)
}

func slowBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	time.Sleep(150 * time.Millisecond)
	b.Retain()
	return b, nil
}

func failBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	if b.Column(0).(*array.Int64).Value(0) == 3000 {
		return nil, errors.New("block starting at 3000 is corrupt")
	}
	b.Retain()
	return b, nil
}

// TestBrowserCluster opens a head's dashboard in Chromium: a head and two
// nodes, a driver's job advancing, a failed job's error, and the nodes.
func TestBrowserCluster(t *testing.T) {
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: testToken, HeartbeatPeriod: 100 * time.Millisecond,
		DeadAfter: 5 * time.Second, DashboardAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		dir := t.TempDir()
		n, err := cluster.StartNode(ctx, cluster.NodeConfig{Head: h.Addr(), Token: testToken, WorkDir: dir, SpillDir: dir,
			Resources: cluster.Resources{CPUs: 2, ObjectStoreMemory: 64 << 20}})
		cancel()
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer n.Close()
	}
	url := "http://" + h.DashboardAddr() + "/"
	resp, err := http.Get(url + "api/jobs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the head's API without the token: %d, want 401", resp.StatusCode)
	}

	ctx := browser(t)
	signIn(t, ctx, url, testToken)
	if err := chromedp.Run(ctx, chromedp.Navigate(url+"#/nodes")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "two live nodes on the nodes page", func() bool {
		return count(t, ctx, `#nodes-table tr.node[data-state="alive"]`) == 2
	})
	screenshot(t, ctx, "cluster-nodes")

	// A driver's job: 100 blocks of 150 ms on 4 CPUs, about 4 s.
	rt, err := cluster.NewRuntime(context.Background(), h.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ds := dataset.Range(100000, dataset.WithRuntime(rt), dataset.WithParallelism(100)).MapBatches(slowBatch)
	done := make(chan error, 1)
	go func() {
		_, err := ds.Count(context.Background())
		done <- err
	}()
	watchAdvance(t, ctx, url+"#/jobs/job-1", done, "cluster-job-running")
	waitFor(t, 10*time.Second, "the driver's run to show finished", func() bool {
		return count(t, ctx, `section.run[data-state="finished"] g.operator[data-op-index="0"][data-tasks-done="100"]`) == 1
	})
	// The timeline's lanes are the nodes the tasks ran on.
	c := &http.Client{Timeout: 10 * time.Second}
	var job apiJob
	if code := get(t, c, url, "/api/jobs/job-1", testToken, &job); code != 200 || len(job.Runs) != 1 {
		t.Fatalf("job-1: %d, %+v", code, job)
	}
	var spans struct {
		Spans []struct{ Lane string } `json:"spans"`
	}
	if code := get(t, c, url, "/api/jobs/job-1/runs/"+job.Runs[0].ID+"/spans", testToken, &spans); code != 200 || len(spans.Spans) != 100 {
		t.Fatalf("job-1's spans: %d, %d of 100", code, len(spans.Spans))
	}
	nodes := map[string]bool{}
	for _, s := range spans.Spans {
		node, _, ok := strings.Cut(s.Lane, " · slot ")
		if !ok || !strings.HasPrefix(node, "node-") {
			t.Fatalf("a task on lane %q", s.Lane)
		}
		nodes[node] = true
	}
	if len(nodes) != 2 {
		t.Errorf("tasks ran on %v, want both nodes", nodes)
	}
	// The head counts the drivers' operators for Prometheus too.
	got, code, err := promtest.Scrape(url+"metrics", testToken, "operator")
	if err != nil || code != 200 {
		t.Fatalf("the head's metrics: %d %v", code, err)
	}
	if n := got["shoal_operator_tasks_total{Range→MapBatches}"]; n != 100 {
		t.Errorf("the head counted %v tasks of Range→MapBatches, want 100", n)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}

	// A job whose run fails, and whose driver then exits.
	rt2, err := cluster.NewRuntime(context.Background(), h.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dataset.Range(6000, dataset.WithRuntime(rt2), dataset.WithParallelism(6)).MapBatches(failBatch).Count(context.Background())
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("the failing job: %v", err)
	}
	if err := rt2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(url+"#/jobs")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the jobs page to show job-1 succeeded and job-2 failed", func() bool {
		return count(t, ctx, `tr.job[data-job-id="job-1"][data-state="succeeded"]`) == 1 &&
			count(t, ctx, `tr.job[data-job-id="job-2"][data-state="failed"]`) == 1
	})
	screenshot(t, ctx, "cluster-jobs")
	if err := chromedp.Run(ctx, chromedp.Navigate(url+"#/jobs/job-2")); err != nil {
		t.Fatal(err)
	}
	msg := text(t, ctx, `#job .error`)
	if !strings.Contains(msg, "block starting at 3000 is corrupt") || !strings.Contains(msg, "block 3") {
		t.Errorf("the failed job's error box says %q", msg)
	}
	screenshot(t, ctx, "cluster-job-failed")
}
