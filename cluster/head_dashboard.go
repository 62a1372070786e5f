package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/dashboard"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/metrics"
	"github.com/shoal-data/shoal/pipeline"
)

// The head's dashboard shows the jobs with the runs their drivers report,
// and the nodes as their heartbeats tell them.

// actionJobReport carries a driver's runs to the head: each run's latest
// snapshot and the tasks it ran since the last report.
const actionJobReport = "job-report" // jobReport → nothing

type jobReport struct {
	Job  string                 `json:"job"`
	Runs []pipeline.RunSnapshot `json:"runs"`
}

// Bounds on one report, against a driver gone wrong.
const (
	maxReportRuns      = 64
	maxReportOperators = 4096
)

// jobReport files a driver's report under its job, and counts its
// operators in the head's metrics.
func (h *Head) jobReport(rep jobReport) error {
	if len(rep.Runs) > maxReportRuns {
		return status.Errorf(codes.InvalidArgument, "shoal: job report: %d runs, at most %d", len(rep.Runs), maxReportRuns)
	}
	h.mu.Lock()
	var j *JobStatus
	for _, x := range h.jobs {
		if x.ID == rep.Job {
			j = x
		}
	}
	h.mu.Unlock()
	if j == nil {
		return status.Errorf(codes.NotFound, "shoal: job report: no job %q", rep.Job)
	}
	for i := range rep.Runs {
		s := &rep.Runs[i]
		if len(s.Operators) > maxReportOperators {
			return status.Errorf(codes.InvalidArgument, "shoal: job report: run %s has %d operators", s.ID, len(s.Operators))
		}
		j.runs.Add(s)
		h.operators.Observe(j.ID+"/"+s.ID, s)
	}
	return nil
}

// headSource is the dashboard's view of the head.
type headSource struct{ h *Head }

func (s headSource) Mode() string { return "cluster" }

func (s headSource) Jobs() []dashboard.Job {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	out := make([]dashboard.Job, 0, len(s.h.jobs))
	for i := len(s.h.jobs) - 1; i >= 0; i-- {
		j := s.h.jobs[i]
		out = append(out, dashboard.Job{ID: j.ID, Name: j.Info.Name, Host: j.Info.Host, PID: j.Info.PID, Started: j.Started, Ended: j.Ended, Runs: j.runs})
	}
	return out
}

func (s headSource) Nodes() []dashboard.Node {
	st := s.h.Status()
	out := make([]dashboard.Node, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		state := "alive"
		switch {
		case n.Left:
			state = "left"
		case !n.Alive:
			state = "dead"
		}
		out = append(out, dashboard.Node{ID: n.ID, Address: n.Info.Addr, Alive: n.Alive, State: state,
			CPUs: n.Info.Resources.CPUs, GPUs: n.Info.Resources.GPUs, MemoryBytes: n.Info.Resources.Memory,
			StoreBudget: n.Info.Resources.ObjectStoreMemory, StoreMemory: n.Last.MemoryBytes, StoreSpilled: n.Last.Spilled,
			Objects: n.Last.Objects, TasksRunning: n.Last.Running, Actors: n.Last.Actors, LastHeartbeat: n.LastSeen})
	}
	return out
}

// serveDashboard serves the dashboard and /metrics on addr, guarded by
// the cluster token. It returns the listener's address and a stop
// function.
func (h *Head) serveDashboard(addr string) (string, func(), error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("cluster: head dashboard: %w", err)
	}
	handler := dashboard.Handler(headSource{h}, dashboard.HandlerOptions{Token: h.cfg.Token, Version: h.cfg.Version,
		Metrics: metrics.NewHandler("", newHeadCollector(h), h.operators)})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.cfg.Logf("dashboard server: %v", err)
		}
	}()
	return lis.Addr().String(), func() {
		_ = srv.Close()
		<-done
	}, nil
}

// runReporter sends the head a driver's runs on one runtime: every
// reportInterval, and at once when a run ends, the latest snapshot of each
// run that changed, with the tasks it ran since the last report.
type runReporter struct {
	rt     exec.Runtime
	client *Client
	job    string

	mu      sync.Mutex
	pending map[string]*pipeline.RunSnapshot
	order   []string // pending's runs, in the order they came

	// sendMu keeps reports in order; unanswered is set while the head
	// does not take them, so that run ends stop waiting on it.
	sendMu     sync.Mutex
	unanswered atomic.Bool

	wake      chan struct{}
	quit      chan struct{}
	done      chan struct{}
	stopWatch func()
}

const (
	reportInterval = time.Second
	// runEndReportTimeout bounds how long a run's end waits on the head.
	runEndReportTimeout = 500 * time.Millisecond
	// maxPendingSpans bounds the tasks held for one run between reports
	// (the head keeps no more than the dashboard's bound either).
	maxPendingSpans = 10000
)

// reportRuns starts reporting rt's runs under job; stop flushes what is
// left and ends it.
func reportRuns(rt exec.Runtime, client *Client, job string) (stop func()) {
	r := &runReporter{rt: rt, client: client, job: job, pending: map[string]*pipeline.RunSnapshot{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	r.stopWatch = pipeline.Watch(r)
	go r.loop()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.stopWatch()
			close(r.quit)
			<-r.done
		})
	}
}

// WatchRun implements pipeline.Watcher: it keeps the run's newest state
// and adds its tasks to those not yet sent.
func (r *runReporter) WatchRun(rt exec.Runtime, s *pipeline.RunSnapshot) {
	if rt != r.rt {
		return
	}
	r.mu.Lock()
	p := r.pending[s.ID]
	next := *s
	if p == nil {
		r.order = append(r.order, s.ID)
		next.Spans = append([]pipeline.TaskSpan(nil), s.Spans...)
	} else {
		next.Spans = append(p.Spans, s.Spans[:min(len(s.Spans), max(maxPendingSpans-len(p.Spans), 0))]...)
	}
	r.pending[s.ID] = &next
	r.mu.Unlock()
	if s.Ended.IsZero() {
		return
	}
	// A run's end is sent before the run returns to the program, which
	// may exit at once: a short wait here, unless the head has not been
	// answering or a report is being sent (the run must not wait on that
	// call), in which case the loop sends it.
	if !r.unanswered.Load() && r.sendMu.TryLock() {
		r.send(runEndReportTimeout)
		r.sendMu.Unlock()
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runReporter) loop() {
	defer close(r.done)
	t := time.NewTicker(reportInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.wake:
		case <-r.quit:
			// The last reports: briefly, if the head has stopped answering.
			timeout := controlCallTimeout
			if r.unanswered.Load() {
				timeout = runEndReportTimeout
			}
			r.flush(timeout)
			return
		}
		r.flush(controlCallTimeout)
	}
}

// flush sends what is pending, each call within timeout; a report the
// head does not take is dropped: the dashboard is a view, and the run
// goes on.
func (r *runReporter) flush(timeout time.Duration) {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.send(timeout)
}

// send is flush with sendMu held.
func (r *runReporter) send(timeout time.Duration) {
	r.mu.Lock()
	rep := jobReport{Job: r.job}
	for _, id := range r.order {
		rep.Runs = append(rep.Runs, *r.pending[id])
	}
	r.pending, r.order = map[string]*pipeline.RunSnapshot{}, nil
	r.mu.Unlock()
	for len(rep.Runs) > 0 {
		part := jobReport{Job: r.job, Runs: rep.Runs[:min(len(rep.Runs), maxReportRuns)]}
		rep.Runs = rep.Runs[len(part.Runs):]
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := r.client.action(ctx, actionJobReport, part, nil)
		cancel()
		r.unanswered.Store(err != nil)
	}
}
