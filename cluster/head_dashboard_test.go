package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/pipeline"
)

// TestJobReports: a driver's reports reach its job's runs on the head; a
// run still going when the job ends shows cancelled; a report for a job
// the head does not know is refused.
func TestJobReports(t *testing.T) {
	h := startHead(t)
	ctx := context.Background()
	j, err := AttachJob(ctx, h.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	ops := []pipeline.OperatorSnapshot{{Name: "Range(10)", Short: "Range", Inputs: []int{}, Tasks: 1, Running: 2, RowsOut: 10}}
	rep := jobReport{Job: j.ID(), Runs: []pipeline.RunSnapshot{
		{ID: "run-1", Started: time.Now(), Ended: time.Now(), State: "finished", Operators: ops},
		{ID: "run-2", Started: time.Now(), State: "running", Operators: ops, Spans: []pipeline.TaskSpan{{Op: 0, Start: time.Now(), End: time.Now()}}},
	}}
	if err := j.client.action(ctx, actionJobReport, rep, nil); err != nil {
		t.Fatal(err)
	}
	if got := runningGauge(t, h, "Range"); got != 2 {
		t.Errorf("the head's metrics show %v tasks of Range running, want the running run's 2", got)
	}
	runs := headSource{h}.Jobs()[0].Runs.List()
	if len(runs) != 2 || runs[0].State != "finished" || runs[1].State != "running" || runs[1].SpanCount != 1 || runs[1].Operators[0].RowsOut != 10 {
		t.Fatalf("the head's runs: %+v", runs)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runs = headSource{h}.Jobs()[0].Runs.List()
		if runs[1].State == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unfinished run after its job ended: %+v", runs[1])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if runs[0].State != "finished" || runs[1].Operators[0].Running != 0 || runs[1].Error == "" {
		t.Errorf("after the job ended: %+v", runs)
	}
	// The cancelled run's running tasks leave the head's metrics.
	if got := runningGauge(t, h, "Range"); got != 0 {
		t.Errorf("after the job ended, the head's metrics show %v tasks of Range running, want 0", got)
	}
	c := connectT(t, h.Addr(), testToken, ProtocolVersion)
	if err := c.action(ctx, actionJobReport, jobReport{Job: "job-99"}, nil); status.Code(err) != codes.NotFound {
		t.Errorf("a report for no job: %v", err)
	}
}

// runningGauge reads shoal_operator_tasks_running{operator=op} from the
// head's operator metrics.
func runningGauge(t *testing.T, h *Head, op string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.operators)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "shoal_operator_tasks_running" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operator" && l.GetValue() == op {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
