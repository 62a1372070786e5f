package dashboard

import (
	"slices"
	"sync"
	"time"

	"github.com/shoal-data/shoal/pipeline"
)

// Bounds on what a Runs log keeps, so that a long job's dashboard stays
// small (a few MiB at most): its newest runs, and the first tasks of the
// newest few, whose timelines the page draws.
const (
	maxRuns        = 50
	maxTimelines   = 10
	maxSpansPerRun = 10000
	maxErrorToShow = 4096
)

// Runs is the log of a job's runs, built from the snapshots its executors
// publish (pipeline.Watcher): each run's latest state and the tasks it
// ran, for the job's page. It keeps the newest maxRuns runs. The zero
// value is empty and ready; it is safe for concurrent use.
type Runs struct {
	mu   sync.Mutex
	runs []*runEntry // oldest first
}

type runEntry struct {
	snap      pipeline.RunSnapshot // Spans moved to spans
	spans     []pipeline.TaskSpan
	truncated bool // spans were dropped: beyond maxSpansPerRun, or all of an older run's
}

// Add merges a snapshot into the log: the run's state is replaced, its new
// task spans are appended.
func (r *Runs) Add(s *pipeline.RunSnapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var e *runEntry
	for i := len(r.runs) - 1; i >= 0; i-- {
		if r.runs[i].snap.ID == s.ID {
			e = r.runs[i]
			break
		}
	}
	if e == nil {
		e = &runEntry{}
		r.runs = append(r.runs, e)
		if len(r.runs) > maxRuns {
			r.runs = slices.Delete(r.runs, 0, len(r.runs)-maxRuns)
		}
		if n := len(r.runs) - maxTimelines - 1; n >= 0 && r.runs[n].spans != nil {
			r.runs[n].spans, r.runs[n].truncated = nil, true
		}
	}
	e.snap = *s
	e.snap.Spans = nil
	e.snap.Operators = slices.Clone(s.Operators) // s is shared with other watchers
	if len(e.snap.Error) > maxErrorToShow {
		e.snap.Error = e.snap.Error[:maxErrorToShow] + "…"
	}
	room := maxSpansPerRun - len(e.spans)
	if len(s.Spans) > room {
		e.truncated = true
	}
	e.spans = append(e.spans, s.Spans[:min(len(s.Spans), max(room, 0))]...)
}

// EndRunning marks the runs still going as cancelled at end, with why:
// their job ended without reporting their ends. It returns their final
// snapshots, for other watchers of the job's runs.
func (r *Runs) EndRunning(end time.Time, why string) []*pipeline.RunSnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ended []*pipeline.RunSnapshot
	for _, e := range r.runs {
		if e.snap.Ended.IsZero() {
			e.snap.Ended, e.snap.State, e.snap.Error = end, "cancelled", why
			for i := range e.snap.Operators {
				e.snap.Operators[i].Running, e.snap.Operators[i].Actors = 0, 0
			}
			snap := e.snap
			snap.Operators = slices.Clone(e.snap.Operators)
			ended = append(ended, &snap)
		}
	}
	return ended
}

// Run is a run as the API shows it.
type Run struct {
	pipeline.RunSnapshot
	// SpanCount is the number of tasks recorded for the timeline.
	SpanCount int `json:"spans"`
}

// List returns the runs, oldest first.
func (r *Runs) List() []Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Run, len(r.runs))
	for i, e := range r.runs {
		out[i] = Run{RunSnapshot: e.snap, SpanCount: len(e.spans)}
	}
	return out
}

// spans returns a run's snapshot and tasks.
func (r *Runs) spans(id string) (pipeline.RunSnapshot, []pipeline.TaskSpan, bool, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.runs {
		if e.snap.ID == id {
			return e.snap, slices.Clone(e.spans), e.truncated, true
		}
	}
	return pipeline.RunSnapshot{}, nil, false, false
}

// summary counts the runs still going and gives the first failure.
func (r *Runs) summary() (total, running int, failure string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.runs {
		if e.snap.Ended.IsZero() {
			running++
		}
		if e.snap.State == "failed" && failure == "" {
			failure = e.snap.Error
		}
	}
	return len(r.runs), running, failure
}

// Job is a program whose runs the dashboard shows: on a cluster, a driver
// attached to the head; embedded, this process.
type Job struct {
	ID      string
	Name    string
	Host    string
	PID     int
	Started time.Time
	Ended   time.Time // zero while the job runs
	Runs    *Runs
}

// Node is a machine that runs tasks, as the nodes page shows it.
type Node struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Alive   bool   `json:"alive"`
	// State is "alive", "dead" (it missed its heartbeats) or "left".
	State         string    `json:"state"`
	CPUs          int       `json:"cpus"`
	GPUs          int       `json:"gpus"`
	MemoryBytes   int64     `json:"memory_bytes"`
	StoreBudget   int64     `json:"store_budget_bytes"`
	StoreMemory   int64     `json:"store_memory_bytes"`
	StoreSpilled  int64     `json:"store_spilled_bytes"`
	Objects       int       `json:"objects"`
	TasksRunning  int       `json:"tasks_running"`
	Actors        int       `json:"actors"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

// Source is what a dashboard shows. Local is an embedded program's; a
// cluster's head is another.
type Source interface {
	// Mode is "embedded" or "cluster".
	Mode() string
	// Jobs are the jobs known, newest first.
	Jobs() []Job
	// Nodes are the machines that run tasks.
	Nodes() []Node
}
