package cluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The head's metrics: what it knows of the nodes from their heartbeats,
// and of the jobs, for Prometheus to scrape at HeadConfig.DashboardAddr.

type headCollector struct {
	h                                                         *Head
	up, cpus, gpus, budget, memory, spilled, objects, running *prometheus.Desc
	actors, lastSeen, jobs                                    *prometheus.Desc
}

func newHeadCollector(h *Head) *headCollector {
	node := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("shoal_node_"+name, help, []string{"node", "address"}, nil)
	}
	return &headCollector{h: h,
		up:       node("up", "1 while the node is alive, 0 once it died or left."),
		cpus:     node("cpus", "CPUs the node offers."),
		gpus:     node("gpus", "GPUs the node offers."),
		budget:   node("object_store_budget_bytes", "The node's object store budget."),
		memory:   node("object_store_memory_bytes", "Bytes of blocks the node's store holds in memory, at its last heartbeat."),
		spilled:  node("object_store_spilled_bytes", "Bytes of blocks the node's store holds on disk, at its last heartbeat."),
		objects:  node("objects", "Blocks the node's store holds, at its last heartbeat."),
		running:  node("tasks_running", "Tasks running on the node, at its last heartbeat."),
		actors:   node("actors", "Actors living on the node, at its last heartbeat."),
		lastSeen: node("last_heartbeat_timestamp_seconds", "When the head last heard from the node (Unix time)."),
		jobs:     prometheus.NewDesc("shoal_jobs", "Jobs (driver programs) the head knows, by state.", []string{"state"}, nil),
	}
}

func (c *headCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.cpus, c.gpus, c.budget, c.memory, c.spilled, c.objects, c.running, c.actors, c.lastSeen, c.jobs} {
		ch <- d
	}
}

func (c *headCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Status()
	for _, n := range st.Nodes {
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, n.ID, n.Info.Addr)
		}
		up := 0.0
		if n.Alive {
			up = 1
		}
		gauge(c.up, up)
		gauge(c.cpus, float64(n.Info.Resources.CPUs))
		gauge(c.gpus, float64(n.Info.Resources.GPUs))
		gauge(c.budget, float64(n.Info.Resources.ObjectStoreMemory))
		gauge(c.memory, float64(n.Last.MemoryBytes))
		gauge(c.spilled, float64(n.Last.Spilled))
		gauge(c.objects, float64(n.Last.Objects))
		gauge(c.running, float64(n.Last.Running))
		gauge(c.actors, float64(n.Last.Actors))
		gauge(c.lastSeen, float64(n.LastSeen.UnixNano())/float64(time.Second))
	}
	running, finished := 0, 0
	for _, j := range st.Jobs {
		if j.Running {
			running++
		} else {
			finished++
		}
	}
	ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(running), "running")
	ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(finished), "finished")
}
