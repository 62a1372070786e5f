// Package dashboard serves Shoal's web dashboard: the jobs, each job's runs
// as graphs of operators with live rows, bytes, tasks, backpressure and
// spill, a timeline of each run's tasks (and its trace for Perfetto), the
// errors that ended runs, and the nodes with their CPUs, GPUs and object
// stores. The page is a small script embedded in the binary that polls a
// JSON API every second; nothing is fetched from outside.
//
// A cluster's head serves it (shoal start --head, on port 8265 of the
// loopback by default). An embedded program serves its own with Start, or
// by setting SHOAL_DASHBOARD=127.0.0.1:8265 in a program that imports this
// package:
//
//	import _ "github.com/shoal-data/shoal/dashboard"
//
// A token guards every page, the API and /metrics as the cluster token
// guards the cluster's gRPC port: scripts send "Authorization: Bearer
// <token>", a browser signs in once at /login and keeps a cookie; any
// other request gets 401.
package dashboard

import (
	"cmp"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"time"

	"github.com/shoal-data/shoal/pipeline"
)

//go:embed static
var static embed.FS

// HandlerOptions configure Handler. The zero value serves without a token
// and without /metrics.
type HandlerOptions struct {
	// Token, when set, must come with every request but /login's, as a
	// bearer token or the cookie /login sets.
	Token string
	// Metrics, when set, is served at /metrics (behind the token).
	Metrics http.Handler
	// Version is shown in the page.
	Version string
}

// Handler serves the dashboard of src.
func Handler(src Source, opts HandlerOptions) http.Handler {
	s := &server{src: src, opts: opts}
	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /login.css", serveLoginCSS)
	guard := func(pattern string, h http.Handler) { mux.Handle(pattern, s.guard(h)) }
	guard("GET /{$}", serveFile(files, "index.html"))
	guard("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
	guard("GET /api/overview", http.HandlerFunc(s.overview))
	guard("GET /api/jobs", http.HandlerFunc(s.jobs))
	guard("GET /api/jobs/{job}", http.HandlerFunc(s.job))
	guard("GET /api/jobs/{job}/runs/{run}/spans", http.HandlerFunc(s.spans))
	guard("GET /api/jobs/{job}/runs/{run}/trace.json", http.HandlerFunc(s.trace))
	guard("GET /api/nodes", http.HandlerFunc(s.nodes))
	if opts.Metrics != nil {
		guard("GET /metrics", opts.Metrics)
	}
	return securityHeaders(mux)
}

type server struct {
	src  Source
	opts HandlerOptions
}

func serveFile(files fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, name)
	})
}

// securityHeaders keep the page from loading anything from elsewhere or
// being framed.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) overview(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{"mode": s.src.Mode(), "version": s.opts.Version, "now": time.Now()})
}

// jobView is a job as the API shows it.
type jobView struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Host            string    `json:"host,omitempty"`
	PID             int       `json:"pid,omitempty"`
	Started         time.Time `json:"started"`
	Ended           time.Time `json:"ended,omitzero"`
	State           string    `json:"state"`
	Error           string    `json:"error,omitempty"`
	DurationSeconds float64   `json:"duration_seconds"`
	RunCount        int       `json:"runs"`
	RunningRuns     int       `json:"running_runs"`
}

type jobDetail struct {
	jobView
	Runs []Run `json:"runs"`
}

// view summarises a job: it failed when it ended with a run that failed.
func view(j Job) jobView {
	v := jobView{ID: j.ID, Name: j.Name, Host: j.Host, PID: j.PID, Started: j.Started, Ended: j.Ended, State: "running"}
	end := j.Ended
	if end.IsZero() {
		end = time.Now()
	}
	v.DurationSeconds = end.Sub(j.Started).Seconds()
	if j.Runs != nil {
		v.RunCount, v.RunningRuns, v.Error = j.Runs.summary()
	}
	if !j.Ended.IsZero() {
		v.State = "succeeded"
		if v.Error != "" {
			v.State = "failed"
		}
	}
	return v
}

func (s *server) jobs(w http.ResponseWriter, _ *http.Request) {
	jobs := s.src.Jobs()
	out := make([]jobView, len(jobs))
	for i, j := range jobs {
		out[i] = view(j)
	}
	writeJSON(w, out)
}

func (s *server) find(w http.ResponseWriter, r *http.Request) (Job, bool) {
	id := r.PathValue("job")
	for _, j := range s.src.Jobs() {
		if j.ID == id {
			return j, true
		}
	}
	http.Error(w, "shoal: no job "+id, http.StatusNotFound)
	return Job{}, false
}

func (s *server) job(w http.ResponseWriter, r *http.Request) {
	j, ok := s.find(w, r)
	if !ok {
		return
	}
	d := jobDetail{jobView: view(j), Runs: []Run{}}
	if j.Runs != nil {
		d.Runs = j.Runs.List()
	}
	writeJSON(w, d)
}

// spanView is a task on the timeline, in microseconds from the run's
// start.
type spanView struct {
	Op       int     `json:"op"`
	Index    int     `json:"index"`
	Lane     string  `json:"lane"`
	StartUS  float64 `json:"start_us"`
	EndUS    float64 `json:"end_us"`
	Attempts int     `json:"attempts"`
	Failed   bool    `json:"failed"`
}

func (s *server) runSpans(w http.ResponseWriter, r *http.Request) (pipeline.RunSnapshot, []pipeline.TaskSpan, bool, bool) {
	j, ok := s.find(w, r)
	if !ok {
		return pipeline.RunSnapshot{}, nil, false, false
	}
	var (
		snap      pipeline.RunSnapshot
		spans     []pipeline.TaskSpan
		truncated bool
	)
	if j.Runs != nil {
		snap, spans, truncated, ok = j.Runs.spans(r.PathValue("run"))
	}
	if !ok {
		http.Error(w, "shoal: job "+j.ID+" has no run "+r.PathValue("run"), http.StatusNotFound)
		return pipeline.RunSnapshot{}, nil, false, false
	}
	return snap, spans, truncated, true
}

func (s *server) spans(w http.ResponseWriter, r *http.Request) {
	snap, spans, truncated, ok := s.runSpans(w, r)
	if !ok {
		return
	}
	slices.SortFunc(spans, func(a, b pipeline.TaskSpan) int { return a.Start.Compare(b.Start) })
	us := func(t time.Time) float64 { return float64(max(t.Sub(snap.Started), 0).Nanoseconds()) / 1e3 }
	out := make([]spanView, len(spans))
	for i, sp := range spans {
		out[i] = spanView{Op: sp.Op, Index: sp.Index, Lane: sp.Lane(), StartUS: us(sp.Start), EndUS: us(sp.End), Attempts: sp.Attempts, Failed: sp.Failed}
	}
	writeJSON(w, map[string]any{"spans": out, "truncated": truncated})
}

// trace serves a run's tasks as a Chrome trace, for Perfetto.
func (s *server) trace(w http.ResponseWriter, r *http.Request) {
	snap, spans, _, ok := s.runSpans(w, r)
	if !ok {
		return
	}
	names := make([]string, len(snap.Operators))
	for i, o := range snap.Operators {
		names[i] = o.Name
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="shoal-`+r.PathValue("job")+"-"+snap.ID+`.trace.json"`)
	_ = pipeline.WriteTrace(w, snap.Started, names, spans)
}

func (s *server) nodes(w http.ResponseWriter, _ *http.Request) {
	nodes := slices.Clone(s.src.Nodes())
	slices.SortStableFunc(nodes, func(a, b Node) int { return cmp.Compare(a.State, b.State) })
	if nodes == nil {
		nodes = []Node{}
	}
	writeJSON(w, nodes)
}
