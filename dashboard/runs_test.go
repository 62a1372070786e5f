package dashboard

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-data/shoal/pipeline"
)

// TestRunsStaySmall: a long job keeps its newest runs, and tasks for the
// timelines of the newest few only, each bounded.
func TestRunsStaySmall(t *testing.T) {
	var r Runs
	start := time.Now()
	for i := range maxRuns + 10 {
		id := fmt.Sprint("run-", i)
		for range 3 { // three snapshots per run, each with new tasks
			spans := make([]pipeline.TaskSpan, maxSpansPerRun/2)
			r.Add(&pipeline.RunSnapshot{ID: id, Started: start, State: "running", Spans: spans})
		}
		r.Add(&pipeline.RunSnapshot{ID: id, Started: start, Ended: time.Now(), State: "finished"})
	}
	runs := r.List()
	if len(runs) != maxRuns || runs[0].ID != "run-10" || runs[len(runs)-1].ID != fmt.Sprint("run-", maxRuns+9) {
		t.Fatalf("%d runs, from %s to %s", len(runs), runs[0].ID, runs[len(runs)-1].ID)
	}
	for i, run := range runs {
		want := 0
		if i >= len(runs)-maxTimelines {
			want = maxSpansPerRun
		}
		if run.SpanCount != want || run.State != "finished" {
			t.Errorf("%s: %d tasks kept, want %d; state %s", run.ID, run.SpanCount, want, run.State)
		}
		if _, _, truncated, _ := r.spans(run.ID); !truncated {
			t.Errorf("%s: not marked truncated", run.ID)
		}
	}
}
