package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/dashboard"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/pipeline"
)

const testToken = "dashboard-test-token"

// checkLeaks checks, once t and its cleanups are done, that no goroutine
// it started is left.
func checkLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// startDashboard serves the dashboard of a new runtime of workers, with
// the test token; both close when t ends (the server first).
func startDashboard(t *testing.T, workers int) (*exec.Local, *dashboard.Server) {
	t.Helper()
	rt := exec.NewLocal(exec.WithWorkers(workers))
	t.Cleanup(func() { rt.Close() })
	srv, err := dashboard.Start("127.0.0.1:0", dashboard.Options{Runtime: rt, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return rt, srv
}

// apiJob is the part of /api/jobs/ID the tests read.
type apiJob struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Error string `json:"error"`
	Runs  []struct {
		ID             string `json:"id"`
		Name           string `json:"name"`
		State          string `json:"state"`
		Error          string `json:"error"`
		FailedOperator *int   `json:"failed_operator"`
		FailedTask     *int   `json:"failed_task"`
		Spans          int    `json:"spans"`
		Operators      []struct {
			Name    string `json:"name"`
			Short   string `json:"short"`
			Inputs  []int  `json:"inputs"`
			State   string `json:"state"`
			Tasks   int64  `json:"tasks"`
			Done    int64  `json:"tasks_done"`
			Total   int64  `json:"tasks_total"`
			RowsIn  int64  `json:"rows_in"`
			RowsOut int64  `json:"rows_out"`
			Files   int64  `json:"files_out"`
		} `json:"operators"`
	} `json:"runs"`
}

// get fetches path with the bearer token (none if token is "") and
// decodes JSON into out when out is not nil.
func get(t *testing.T, c *http.Client, base, path, token string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", strings.TrimSuffix(base, "/")+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

// slowSum runs a job of 40 blocks of 30 ms each on rt and sends its
// error; stats are the run's, once done has been sent.
func slowSum(rt exec.Runtime, done chan<- error, stats **pipeline.RunStats) {
	ds := dataset.Range(40000, dataset.WithRuntime(rt), dataset.WithParallelism(40)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			time.Sleep(30 * time.Millisecond)
			b.Retain()
			return b, nil
		})
	_, err := ds.Sum(context.Background(), "id")
	*stats = ds.Stats()
	done <- err
}

func TestAPIFollowsRuns(t *testing.T) {
	checkLeaks(t)
	rt, srv := startDashboard(t, 2)
	c := &http.Client{Timeout: 10 * time.Second}

	done := make(chan error, 1)
	var stats *pipeline.RunStats
	go slowSum(rt, done, &stats)
	var job apiJob
	sawRunning, lastRows := false, int64(0)
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		case <-time.After(150 * time.Millisecond):
		}
		if code := get(t, c, srv.URL(), "/api/jobs/local", testToken, &job); code != http.StatusOK {
			t.Fatalf("/api/jobs/local: %d", code)
		}
		if len(job.Runs) == 1 && job.Runs[0].State == "running" {
			sawRunning = true
			ops := job.Runs[0].Operators
			if rows := ops[0].RowsOut; rows < lastRows {
				t.Fatalf("rows out went down: %d after %d", rows, lastRows)
			} else {
				lastRows = rows
			}
		}
	}
	// The last snapshot is published before the run's stream ends.
	if !sawRunning || len(job.Runs) != 1 {
		t.Fatalf("saw the run running: %v; runs: %+v", sawRunning, job.Runs)
	}
	r := job.Runs[0]
	if r.State != "finished" || job.State != "running" || r.Error != "" {
		t.Fatalf("run %s job %s error %q", r.State, job.State, r.Error)
	}
	if len(r.Operators) != len(stats.Operators) {
		t.Fatalf("%d operators, Stats has %d", len(r.Operators), len(stats.Operators))
	}
	for i, o := range r.Operators {
		want := stats.Operators[i]
		if o.Name != want.Name || o.RowsOut != want.RowsOut || o.RowsIn != want.RowsIn || o.Tasks != int64(want.Tasks) || o.State != "done" {
			t.Errorf("operator %d: %+v, Stats: %+v", i, o, want)
		}
		if i > 0 && (len(o.Inputs) != 1 || o.Inputs[0] != i-1) {
			t.Errorf("operator %d's inputs: %v", i, o.Inputs)
		}
	}
	if src := r.Operators[0]; src.Done != 40 || src.Total != 40 || len(src.Inputs) != 0 {
		t.Errorf("source operator: %+v", src)
	}
	if r.Spans < 40 {
		t.Errorf("%d task spans, want at least the source's 40", r.Spans)
	}
	// The timeline and the trace have every task.
	var spans struct {
		Spans []struct {
			Lane    string  `json:"lane"`
			StartUS float64 `json:"start_us"`
			EndUS   float64 `json:"end_us"`
		} `json:"spans"`
	}
	if code := get(t, c, srv.URL(), "/api/jobs/local/runs/"+r.ID+"/spans", testToken, &spans); code != 200 || len(spans.Spans) != r.Spans {
		t.Fatalf("spans: %d, %d of %d", code, len(spans.Spans), r.Spans)
	}
	for _, s := range spans.Spans {
		if !strings.HasPrefix(s.Lane, "worker ") || s.EndUS < s.StartUS || s.StartUS < 0 {
			t.Fatalf("span %+v", s)
		}
	}
	var trace struct {
		TraceEvents []struct {
			Ph   string `json:"ph"`
			Name string `json:"name"`
		} `json:"traceEvents"`
	}
	if code := get(t, c, srv.URL(), "/api/jobs/local/runs/"+r.ID+"/trace.json", testToken, &trace); code != 200 {
		t.Fatalf("trace.json: %d", code)
	}
	tasks := 0
	for _, ev := range trace.TraceEvents {
		if ev.Ph == "X" {
			tasks++
		}
	}
	if tasks != r.Spans {
		t.Errorf("trace has %d tasks, the run %d", tasks, r.Spans)
	}

	// A run that fails shows its error, the operator and the block.
	ds := dataset.Range(1000, dataset.WithRuntime(rt), dataset.WithParallelism(10)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			if ids := b.Column(0).(*array.Int64); ids.Value(0) == 700 {
				return nil, errors.New("row 700 is <bad> & broken")
			}
			b.Retain()
			return b, nil
		})
	if _, err := ds.Count(context.Background()); err == nil {
		t.Fatal("the failing run did not fail")
	}
	if code := get(t, c, srv.URL(), "/api/jobs/local", testToken, &job); code != 200 || len(job.Runs) != 2 {
		t.Fatalf("%d, %d runs", code, len(job.Runs))
	}
	f := job.Runs[1]
	if f.State != "failed" || !strings.Contains(f.Error, "row 700 is <bad> & broken") || !strings.Contains(job.Error, "row 700") {
		t.Fatalf("failed run: %s %q; job error %q", f.State, f.Error, job.Error)
	}
	if f.FailedOperator == nil || !strings.Contains(f.Operators[*f.FailedOperator].Name, "MapBatches") || f.FailedTask == nil || *f.FailedTask != 7 {
		t.Errorf("failed at operator %v task %v, want the MapBatches operator's task 7", f.FailedOperator, f.FailedTask)
	}
	// A write shows its rows and, apart, its files.
	if err := dataset.Range(1000, dataset.WithRuntime(rt), dataset.WithParallelism(4)).WriteParquet(context.Background(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if code := get(t, c, srv.URL(), "/api/jobs/local", testToken, &job); code != 200 || len(job.Runs) != 3 {
		t.Fatalf("%d, %d runs", code, len(job.Runs))
	}
	if ops := job.Runs[2].Operators; ops[len(ops)-1].RowsOut != 1000 || ops[len(ops)-1].Files != 4 {
		t.Errorf("the write's operator: %+v", ops[len(ops)-1])
	}
	var nodes []dashboard.Node
	if code := get(t, c, srv.URL(), "/api/nodes", testToken, &nodes); code != 200 || len(nodes) != 1 || nodes[0].CPUs != 2 || !nodes[0].Alive {
		t.Errorf("nodes: %d %+v", code, nodes)
	}
}

func TestTokenGuardsEveryPage(t *testing.T) {
	checkLeaks(t)
	rt, srv := startDashboard(t, 1)
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/", "/static/app.js", "/api/jobs", "/api/jobs/local", "/api/nodes", "/api/overview", "/metrics"} {
		if code := get(t, noRedirect, srv.URL(), path, "", nil); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", path, code)
		}
		if code := get(t, noRedirect, srv.URL(), path, "wrong", nil); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", path, code)
		}
		if code := get(t, noRedirect, srv.URL(), path, testToken, nil); code != http.StatusOK {
			t.Errorf("%s with the token: %d, want 200", path, code)
		}
	}
	// A browser gets the sign-in form with its 401, and a cookie for the
	// right token.
	req, _ := http.NewRequest("GET", srv.URL(), nil)
	req.Header.Set("Accept", "text/html")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(page), `<form method="post" action="/login"`) {
		t.Fatalf("a browser without the token: %d\n%s", resp.StatusCode, page)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Timeout: 10 * time.Second, Jar: jar}
	resp, err = browser.PostForm(srv.URL()+"login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("sign-in with a wrong token: %d", resp.StatusCode)
	}
	resp, err = browser.PostForm(srv.URL()+"login", url.Values{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/" {
		t.Fatalf("sign-in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	for _, path := range []string{"/api/jobs", "/metrics"} {
		if code := get(t, browser, srv.URL(), path, "", nil); code != 200 {
			t.Errorf("%s with the session cookie: %d", path, code)
		}
	}
	// Without a token, only the loopback is served.
	if s, err := dashboard.Start("0.0.0.0:0", dashboard.Options{Runtime: rt}); err == nil {
		s.Close()
		t.Error("Start served every interface without a token")
	}
}
