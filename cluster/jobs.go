package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/dashboard"
)

// A job is a driver program attached to the cluster. It attaches with the
// "job" action, a stream the head keeps open for as long as the driver is
// connected: its first message gives the job's ID, and its end (the
// driver closes it, exits or dies) marks the job finished. So the table of
// running jobs needs no heartbeats and cannot keep a dead driver's job.
// The later messages are the head's news of its nodes: those that died
// (missed heartbeats) or left, so that the driver gives them up at once
// instead of waiting on calls a frozen node will never answer, and those
// that joined (a node declared dead joins again as a new one), so that it
// uses them.
const actionJob = "job" // JobInfo → jobReply, then jobEvent..., then the end

// maxFinishedJobs bounds the finished jobs the head remembers.
const maxFinishedJobs = 50

// JobInfo is what a driver says of itself when it attaches.
type JobInfo struct {
	Name string `json:"name"` // the program, e.g. its executable's base name
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

type jobReply struct {
	ID string `json:"id"`
}

// jobEvent tells a driver of nodes that joined and nodes the head has
// given up.
type jobEvent struct {
	Joined []NodeJoined `json:"joined,omitempty"`
	Gone   []NodeGone   `json:"gone,omitempty"`
}

// NodeJoined is a live node, as it registered.
type NodeJoined struct {
	ID   string   `json:"id"`
	Info NodeInfo `json:"info"`
}

// NodeGone is a node the head no longer counts: declared dead after missed
// heartbeats, or left (stopped cleanly).
type NodeGone struct {
	ID    string    `json:"id"`
	Addr  string    `json:"addr"`
	Since time.Time `json:"since"`
	Left  bool      `json:"left,omitempty"`
}

// Reason says why the node is gone, for errors.
func (g NodeGone) Reason() string {
	if g.Left {
		return fmt.Sprintf("%s (%s) left the cluster at %s", g.ID, g.Addr, g.Since.Format("15:04:05.000"))
	}
	return fmt.Sprintf("the head declared %s (%s) dead at %s: it missed its heartbeats", g.ID, g.Addr, g.Since.Format("15:04:05.000"))
}

// JobStatus is one driver program attached to the cluster, or that was.
type JobStatus struct {
	ID      string    `json:"id"`
	Info    JobInfo   `json:"info"`
	Started time.Time `json:"started"`
	// Running until the driver disconnects; then Ended is set.
	Running bool      `json:"running"`
	Ended   time.Time `json:"ended,omitzero"`
	// runs are the job's pipeline runs as its driver reports them, for
	// the dashboard.
	runs *dashboard.Runs
}

// serveJob runs one job's stream until the driver goes or the head stops.
func (h *Head) serveJob(info JobInfo, stream flight.FlightService_DoActionServer) error {
	if info.Name == "" || len(info.Name) > 256 || len(info.Host) > 256 || info.PID < 0 {
		return status.Errorf(codes.InvalidArgument, "shoal: job: a name of 1 to 256 bytes, a host of at most 256 and a PID ≥ 0 are needed")
	}
	h.mu.Lock()
	h.nextJob++
	j := &JobStatus{ID: fmt.Sprintf("job-%d", h.nextJob), Info: info, Started: time.Now(), Running: true, runs: &dashboard.Runs{}}
	h.jobs = append(h.jobs, j)
	h.mu.Unlock()
	h.cfg.Logf("job %s started: %s (pid %d on %s)", j.ID, info.Name, info.PID, info.Host)
	err := stream.Send(&flight.Result{Body: encodeBody(jobReply{ID: j.ID})})
	if err == nil {
		err = h.tellNodes(stream)
	}
	h.mu.Lock()
	j.Running, j.Ended = false, time.Now()
	h.pruneJobs()
	h.mu.Unlock()
	// Runs the driver never reported ended: cancelled, and their gauges
	// in the head's metrics back to zero.
	for _, s := range j.runs.EndRunning(j.Ended, "the job ended (its driver exited or lost the head) before this run reported its end") {
		h.operators.Observe(j.ID+"/"+s.ID, s)
	}
	h.cfg.Logf("job %s ended after %v", j.ID, time.Since(j.Started).Round(time.Millisecond))
	return err
}

// tellNodes sends a job's driver the live nodes and those gone, then each
// node that joins or goes, until the driver or the head stops. A node is
// named at most once as joined and once as gone.
func (h *Head) tellNodes(stream flight.FlightService_DoActionServer) error {
	joined, gone := map[string]bool{}, map[string]bool{}
	for {
		h.mu.Lock()
		wake := h.changed
		var ev jobEvent
		for _, n := range h.nodes {
			switch {
			case !n.Alive && !gone[n.ID]:
				gone[n.ID] = true
				ev.Gone = append(ev.Gone, NodeGone{ID: n.ID, Addr: n.Info.Addr, Since: n.DeadSince, Left: n.Left})
			case n.Alive && !joined[n.ID]:
				joined[n.ID] = true
				ev.Joined = append(ev.Joined, NodeJoined{ID: n.ID, Info: n.Info})
			}
		}
		h.mu.Unlock()
		if len(ev.Gone)+len(ev.Joined) > 0 {
			slices.SortFunc(ev.Gone, func(a, b NodeGone) int { return compareNodeIDs(a.ID, b.ID) })
			slices.SortFunc(ev.Joined, func(a, b NodeJoined) int { return compareNodeIDs(a.ID, b.ID) })
			if err := stream.Send(&flight.Result{Body: encodeBody(ev)}); err != nil {
				return err
			}
		}
		select {
		case <-wake:
		case <-stream.Context().Done():
			return nil
		case <-h.done:
			return nil
		}
	}
}

// pruneJobs forgets the oldest finished jobs beyond maxFinishedJobs. h.mu
// is held.
func (h *Head) pruneJobs() {
	finished := 0
	for _, j := range h.jobs {
		if !j.Running {
			finished++
		}
	}
	h.jobs = slices.DeleteFunc(h.jobs, func(j *JobStatus) bool {
		if !j.Running && finished > maxFinishedJobs {
			finished--
			return true
		}
		return false
	})
}

// endedJobsFor is how long a finished job is named in heartbeat replies,
// so that every node, even one that missed some heartbeats, frees its
// blocks.
const endedJobsFor = 2 * time.Minute

// endedJobs are the jobs that finished in the last endedJobsFor.
func (h *Head) endedJobs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, j := range h.jobs {
		if !j.Running && time.Since(j.Ended) < endedJobsFor {
			out = append(out, j.ID)
		}
	}
	return out
}

// jobsStatus lists the jobs, newest first. h.mu is held.
func (h *Head) jobsStatus() []JobStatus {
	out := make([]JobStatus, 0, len(h.jobs))
	for i := len(h.jobs) - 1; i >= 0; i-- {
		out = append(out, *h.jobs[i])
	}
	return out
}

// Job is this program's attachment to a cluster: listed by `shoal status`
// while it is open.
type Job struct {
	id     string
	client *Client
	cancel context.CancelFunc
	done   chan struct{}
}

// AttachJob tells the head at addr that this program is running a job on
// the cluster; the job ends with Close, or when this process exits.
func AttachJob(ctx context.Context, addr, token string) (*Job, error) {
	return attachJob(ctx, addr, token, nil)
}

// attachJob is AttachJob calling news, from the job's own goroutine, with
// the job's ID and each message of the head's about its nodes (the live
// and gone ones first, then each that joins or goes).
func attachJob(ctx context.Context, addr, token string, news func(job string, ev jobEvent)) (*Job, error) {
	c, err := Connect(addr, token)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	exe, _ := os.Executable()
	info := JobInfo{Name: filepath.Base(exe), Host: host, PID: os.Getpid()}
	if info.Name == "" || info.Name == "." {
		info.Name = "driver"
	}
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := c.fc.DoAction(sctx, &flight.Action{Type: actionJob, Body: encodeBody(info)})
	var res *flight.Result
	if err == nil {
		// The first message is bounded by ctx; the stream outlives it.
		got := make(chan error, 1)
		go func() {
			var rerr error
			res, rerr = stream.Recv()
			got <- rerr
		}()
		select {
		case err = <-got:
		case <-ctx.Done():
			cancel()
			<-got
			err = ctx.Err()
		}
	}
	var reply jobReply
	if err == nil {
		err = decodeBody(actionJob+" reply", res.Body, &reply)
	}
	if err != nil {
		cancel()
		c.Close()
		return nil, fmt.Errorf("cluster: attaching a job to %s: %w", addr, err)
	}
	j := &Job{id: reply.ID, client: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		for {
			res, err := stream.Recv()
			if err != nil {
				return // the head stopped, or Close cancelled the stream
			}
			var ev jobEvent
			if decodeBody(actionJob+" event", res.Body, &ev) == nil && news != nil {
				news(j.id, ev)
			}
		}
	}()
	return j, nil
}

// ID is the job's ID at the head ("job-3").
func (j *Job) ID() string { return j.id }

// Close ends the job.
func (j *Job) Close() error {
	j.cancel()
	<-j.done
	return j.client.Close()
}
