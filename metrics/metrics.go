// Package metrics exports Shoal's counters in the Prometheus text format:
// every run's operators (tasks, rows, bytes, backpressure, actors) and
// the runtime's object store (memory, spilled, restored), for a
// Prometheus server to scrape and Grafana to draw. It uses
// prometheus/client_golang, the reference implementation of the format.
//
// Importing the package links Prometheus; a program that does not import
// it does without. Handler serves the metrics of one runtime:
//
//	http.Handle("/metrics", metrics.Handler(rt, ""))
//
// Metric names follow Prometheus conventions: shoal_operator_rows_out_total,
// shoal_object_store_memory_bytes and so on, with an "operator" label
// naming an operator by its stages' kinds ("ReadParquet→Where→MapBatches")
// so that the label set stays small whatever the plans' arguments.
package metrics

import (
	"crypto/subtle"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/pipeline"
)

// Operators counts the operators of the runs it watches: tasks, rows,
// bytes, backpressure and actors, labelled by each operator's stages'
// kinds. It is a prometheus.Collector. Handler serves the one that
// watches every run in the process; a cluster's head keeps another, fed
// by its drivers' reports.
type Operators struct {
	tasks, rowsIn, rowsOut, bytesIn, bytesOut, files *prometheus.CounterVec
	backpressured, backpressureSeconds               *prometheus.CounterVec
	running, actors                                  *prometheus.GaugeVec

	mu   sync.Mutex
	last map[string][]pipeline.OperatorSnapshot // by run, what was counted
}

// NewOperators returns counters at zero.
func NewOperators() *Operators {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "shoal", Subsystem: "operator", Name: name, Help: help}, []string{"operator"})
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "shoal", Subsystem: "operator", Name: name, Help: help}, []string{"operator"})
	}
	return &Operators{
		tasks:               counter("tasks_total", "Tasks that finished, by operator."),
		running:             gauge("tasks_running", "Tasks running now, by operator."),
		rowsIn:              counter("rows_in_total", "Rows that came into the operator."),
		rowsOut:             counter("rows_out_total", "Rows the operator produced (for a write, the rows it wrote)."),
		bytesIn:             counter("bytes_in_total", "Bytes that came into the operator (for a read, what it read)."),
		bytesOut:            counter("bytes_out_total", "Bytes of the blocks the operator produced."),
		files:               counter("files_written_total", "Files a write operator wrote."),
		backpressured:       counter("backpressure_total", "Times the executor held a ready task of the operator back for memory."),
		backpressureSeconds: counter("backpressure_seconds_total", "Time the operator's ready tasks waited for memory."),
		actors:              gauge("actors", "Actors in the operator's pool now."),
		last:                map[string][]pipeline.OperatorSnapshot{},
	}
}

// WatchRun implements pipeline.Watcher.
func (o *Operators) WatchRun(_ exec.Runtime, s *pipeline.RunSnapshot) { o.Observe(s.ID, s) }

// Observe counts what changed in run key's operators since its previous
// snapshot; the run's gauges go back to zero when it has ended.
func (o *Operators) Observe(key string, s *pipeline.RunSnapshot) {
	o.mu.Lock()
	defer o.mu.Unlock()
	was := o.last[key]
	ended := !s.Ended.IsZero()
	for i, now := range s.Operators {
		if ended { // nothing of an ended run runs, whatever it said
			now.Running, now.Actors = 0, 0
		}
		var prev pipeline.OperatorSnapshot
		if i < len(was) {
			prev = was[i]
		}
		add := func(c *prometheus.CounterVec, d float64) {
			if d > 0 {
				c.WithLabelValues(now.Short).Add(d)
			}
		}
		add(o.tasks, float64(now.Tasks-prev.Tasks))
		add(o.rowsIn, float64(now.RowsIn-prev.RowsIn))
		add(o.rowsOut, float64(now.RowsOut-prev.RowsOut))
		add(o.bytesIn, float64(now.BytesIn-prev.BytesIn))
		add(o.bytesOut, float64(now.BytesOut-prev.BytesOut))
		add(o.files, float64(now.FilesOut-prev.FilesOut))
		add(o.backpressured, float64(now.Backpressured-prev.Backpressured))
		add(o.backpressureSeconds, now.BackpressureSeconds-prev.BackpressureSeconds)
		if d := now.Running - prev.Running; d != 0 {
			o.running.WithLabelValues(now.Short).Add(float64(d))
		}
		if d := now.Actors - prev.Actors; d != 0 {
			o.actors.WithLabelValues(now.Short).Add(float64(d))
		}
	}
	if !ended {
		o.last[key] = s.Operators
	} else {
		delete(o.last, key)
	}
}

func (o *Operators) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.tasks, o.running, o.rowsIn, o.rowsOut, o.bytesIn, o.bytesOut, o.files, o.backpressured, o.backpressureSeconds, o.actors}
}

// Describe implements prometheus.Collector.
func (o *Operators) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range o.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (o *Operators) Collect(ch chan<- prometheus.Metric) {
	for _, c := range o.collectors() {
		c.Collect(ch)
	}
}

// processOperators watches every run in the process, from the first
// Handler on.
var processOperators = sync.OnceValue(func() *Operators {
	o := NewOperators()
	pipeline.Watch(o)
	return o
})

// storeCollector reads a runtime's object store counters at each scrape.
type storeCollector struct {
	rt                                     exec.Runtime
	objects, memory, spilled, budget, peak *prometheus.Desc
	spilledTotal, restoredTotal, failures  *prometheus.Desc
}

func newStoreCollector(rt exec.Runtime) *storeCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("shoal_object_store_"+name, help, nil, nil)
	}
	return &storeCollector{rt: rt,
		objects:       d("objects", "Blocks the object store holds."),
		memory:        d("memory_bytes", "Bytes of blocks the store holds in memory."),
		spilled:       d("spilled_bytes", "Bytes of blocks the store holds on disk now."),
		budget:        d("budget_bytes", "The store's memory budget: above it blocks spill."),
		peak:          d("memory_peak_bytes", "The most bytes the store has held in memory."),
		spilledTotal:  d("spill_bytes_total", "Bytes the store has written to disk."),
		restoredTotal: d("restore_bytes_total", "Bytes the store has read back from disk."),
		failures:      d("spill_failures_total", "Spills that could not be written."),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.objects, c.memory, c.spilled, c.budget, c.peak, c.spilledTotal, c.restoredTotal, c.failures} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.rt.Stats()
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.objects, int64(st.Objects))
	gauge(c.memory, st.MemoryBytes)
	gauge(c.spilled, st.SpilledBytes)
	gauge(c.budget, st.Budget)
	gauge(c.peak, st.PeakMemory)
	counter(c.spilledTotal, st.SpilledTotal)
	counter(c.restoredTotal, st.RestoredTotal)
	counter(c.failures, int64(st.SpillFailures))
}

// Handler serves the Prometheus metrics of every run in the process and
// of rt's object store (exec.Default() when rt is nil), with Go's own
// runtime and process metrics. When token is not empty a request must
// carry "Authorization: Bearer <token>", as the cluster's ports require
// the cluster token; others get 401.
func Handler(rt exec.Runtime, token string) http.Handler {
	if rt == nil {
		rt = exec.Default()
	}
	return NewHandler(token, processOperators(), newStoreCollector(rt))
}

// NewHandler serves the metrics of cs, with Go's runtime and process
// metrics, guarded by token as Handler is: what a cluster's head serves
// of its nodes and jobs.
func NewHandler(token string, cs ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(cs...)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
			http.Error(w, "shoal: wrong or missing token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
