package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/promtest"
	"github.com/shoal-data/shoal/metrics"
)

// scrape fetches and parses the metrics: every sample by its name and
// operator label.
func scrape(t *testing.T, url, token string) (map[string]float64, int) {
	t.Helper()
	got, code, err := promtest.Scrape(url, token, "operator")
	if err != nil {
		t.Fatal(err)
	}
	return got, code
}

// TestMetricsDuringAJob: /metrics scraped while a job runs parses, its
// counters never go down, and at the end they equal the run's Stats.
func TestMetricsDuringAJob(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	srv := httptest.NewServer(metrics.Handler(rt, "s3cret"))
	defer srv.Close()
	if _, code := scrape(t, srv.URL, ""); code != http.StatusUnauthorized {
		t.Fatalf("a scrape without the token: %d, want 401", code)
	}
	if _, code := scrape(t, srv.URL, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("a scrape with a wrong token: %d, want 401", code)
	}

	// The counters are the process's: this run adds to what earlier runs
	// (of -count) left.
	before, _ := scrape(t, srv.URL, "s3cret")
	ds := dataset.Range(40000, dataset.WithRuntime(rt), dataset.WithParallelism(40)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			time.Sleep(30 * time.Millisecond)
			b.Retain()
			return b, nil
		})
	done := make(chan error, 1)
	go func() {
		_, err := ds.Sum(context.Background(), "id")
		done <- err
	}()
	last := map[string]float64{}
	scrapes := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		case <-time.After(100 * time.Millisecond):
		}
		got, code := scrape(t, srv.URL, "s3cret")
		if code != http.StatusOK {
			t.Fatalf("scrape: %d", code)
		}
		scrapes++
		for k, v := range got {
			if isCounter(k) && v < last[k] {
				t.Errorf("counter %s went down: %v after %v", k, v, last[k])
			}
			last[k] = v
		}
	}
	if scrapes < 3 {
		t.Fatalf("only %d scrapes during the job", scrapes)
	}
	st := ds.Stats()
	op := st.Operators[0]
	label := "{Range→MapBatches→PartialSum}" // the fused read, map and partial sum
	added := func(k string) float64 { return last[k+label] - before[k+label] }
	if added("shoal_operator_rows_out_total") != float64(op.RowsOut) || op.RowsOut != 40 ||
		added("shoal_operator_tasks_total") != float64(op.Tasks) ||
		added("shoal_operator_bytes_out_total") != float64(op.BytesOut) {
		t.Errorf("the final counters of %s differ from Stats (%d rows, %d tasks, %d bytes): %v", op.Name, op.RowsOut, op.Tasks, op.BytesOut, last)
	}
	if last["shoal_operator_tasks_running"+label] != 0 {
		t.Errorf("tasks still running after the job: %v", last["shoal_operator_tasks_running"+label])
	}
	if last["shoal_object_store_budget_bytes"] != float64(rt.Stats().Budget) || last["go_goroutines"] == 0 {
		t.Errorf("the store's and Go's metrics are missing: %v", last)
	}
}

func isCounter(key string) bool { return strings.Contains(key, "_total") }
