package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/chromedp/chromedp"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// slowBlocks is a job of n blocks of 1000 rows that take d each.
func slowBlocks(rt exec.Runtime, n int, d time.Duration) *dataset.Dataset {
	return dataset.Range(int64(n)*1000, dataset.WithRuntime(rt), dataset.WithParallelism(n)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			time.Sleep(d)
			b.Retain()
			return b, nil
		})
}

// TestBrowserEmbedded watches a program's own runs in Chromium: sign-in,
// a job's operators advancing, its timeline, a failed run's error, the
// node.
func TestBrowserEmbedded(t *testing.T) {
	rt, srv := startDashboard(t, 2)
	ctx := browser(t)
	signIn(t, ctx, srv.URL(), testToken)
	if n := count(t, ctx, `#jobs-table tr.job[data-job-id="local"]`); n != 1 {
		t.Fatalf("the jobs page lists %d rows for this process", n)
	}

	// 120 blocks of 60 ms on 2 workers (about 3.6 s), then an exchange and
	// a stage after it: a graph of three operators.
	ds := slowBlocks(rt, 120, 60*time.Millisecond).Repartition(6).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			b.Retain()
			return b, nil
		})
	done := make(chan error, 1)
	go func() {
		_, err := ds.Count(context.Background())
		done <- err
	}()
	watchAdvance(t, ctx, srv.URL()+"#/jobs/local", done, "job-running")
	finished := `section.run[data-state="finished"]`
	waitFor(t, 10*time.Second, "the run to show finished", func() bool { return count(t, ctx, finished) == 1 })
	if got := attrInt(t, ctx, finished+` g.operator[data-op-index="0"]`, "data-tasks-done"); got != 120 {
		t.Errorf("the finished run's source shows %d tasks done, want 120", got)
	}
	for i := range 3 {
		if got := attr(t, ctx, fmt.Sprintf(`%s g.operator[data-op-index="%d"]`, finished, i), "data-state"); got != "done" {
			t.Errorf("the finished run's operator %d is %q", i, got)
		}
	}
	if got := attrInt(t, ctx, finished+` g.operator[data-op-index="2"]`, "data-rows-out"); got != 120000 {
		t.Errorf("the finished run's last operator shows %d rows out, want 120000", got)
	}
	waitFor(t, 10*time.Second, "the timeline to draw the run's tasks", func() bool {
		return count(t, ctx, finished+" .timeline svg[data-spans]") == 1 && attrInt(t, ctx, finished+" .timeline svg", "data-spans") >= 120
	})
	if href := attr(t, ctx, finished+" a.trace-link", "href"); !strings.HasSuffix(href, "/trace.json") {
		t.Errorf("the trace link goes to %q", href)
	}

	// A run that fails: its error, with the operator, on the page.
	bad := dataset.Range(1000, dataset.WithRuntime(rt), dataset.WithParallelism(10)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			if b.Column(0).(*array.Int64).Value(0) == 700 {
				return nil, errors.New("row 700 is <bad>")
			}
			b.Retain()
			return b, nil
		})
	if _, err := bad.Count(context.Background()); err == nil {
		t.Fatal("the failing run did not fail")
	}
	failed := `section.run[data-state="failed"] .error`
	waitFor(t, 10*time.Second, "the failed run's error", func() bool { return count(t, ctx, failed) >= 1 })
	if msg := text(t, ctx, failed); !strings.Contains(msg, "row 700 is <bad>") || !strings.Contains(msg, "MapBatches") {
		t.Errorf("the failed run's error box says %q", msg)
	}
	screenshot(t, ctx, "job-failed")

	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL()+"#/nodes")); err != nil {
		t.Fatal(err)
	}
	if got := attr(t, ctx, `#nodes-table tr.node[data-node-id="local"]`, "data-state"); got != "alive" {
		t.Errorf("this machine's node is %q", got)
	}
}
