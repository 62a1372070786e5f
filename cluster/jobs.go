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
)

// A job is a driver program attached to the cluster. It attaches with the
// "job" action, a stream the head keeps open for as long as the driver is
// connected: its first message gives the job's ID, and its end (the
// driver closes it, exits or dies) marks the job finished. So the table of
// running jobs needs no heartbeats and cannot keep a dead driver's job.
const actionJob = "job" // JobInfo → jobReply, then the end

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

// JobStatus is one driver program attached to the cluster, or that was.
type JobStatus struct {
	ID      string    `json:"id"`
	Info    JobInfo   `json:"info"`
	Started time.Time `json:"started"`
	// Running until the driver disconnects; then Ended is set.
	Running bool      `json:"running"`
	Ended   time.Time `json:"ended,omitzero"`
}

// serveJob runs one job's stream until the driver goes or the head stops.
func (h *Head) serveJob(info JobInfo, stream flight.FlightService_DoActionServer) error {
	if info.Name == "" || len(info.Name) > 256 || len(info.Host) > 256 || info.PID < 0 {
		return status.Errorf(codes.InvalidArgument, "shoal: job: a name of 1 to 256 bytes, a host of at most 256 and a PID ≥ 0 are needed")
	}
	h.mu.Lock()
	h.nextJob++
	j := &JobStatus{ID: fmt.Sprintf("job-%d", h.nextJob), Info: info, Started: time.Now(), Running: true}
	h.jobs = append(h.jobs, j)
	h.mu.Unlock()
	h.cfg.Logf("job %s started: %s (pid %d on %s)", j.ID, info.Name, info.PID, info.Host)
	err := stream.Send(&flight.Result{Body: encodeBody(jobReply{ID: j.ID})})
	if err == nil {
		select {
		case <-stream.Context().Done():
		case <-h.done:
		}
	}
	h.mu.Lock()
	j.Running, j.Ended = false, time.Now()
	h.pruneJobs()
	h.mu.Unlock()
	h.cfg.Logf("job %s ended after %v", j.ID, time.Since(j.Started).Round(time.Millisecond))
	return err
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
			if _, err := stream.Recv(); err != nil {
				return // the head stopped, or Close cancelled the stream
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
