package cluster

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/exec"
)

// StartRemoteActor implements exec.RemoteActors: the actor starts on a
// live node with the CPUs, GPUs and memory it asks for, preferring nodes
// where this driver's actors hold least. The node has the last word: one
// that refuses (another driver holds its GPUs) is passed over. When no
// node can start it, started gets an *exec.ResourceError whose Total is
// the most any live node has, so a pool can tell "wait" from "never".
func (r *TaskRunner) StartRemoteActor(ctx context.Context, spec exec.ActorSpec, started func(exec.Actor, error)) {
	go func() {
		a, err := r.startActor(ctx, spec)
		if err != nil {
			started(nil, err)
			return
		}
		started(a, nil)
	}()
}

func (r *TaskRunner) startActor(ctx context.Context, spec exec.ActorSpec) (*remoteActor, error) {
	req := ActorStartRequest{Binary: r.hash, Spec: *spec.Spec, Operator: spec.Operator, Index: spec.Index,
		CPUs: spec.CPUs, GPUs: spec.GPUs, Memory: spec.Memory}
	var refusals []error
	for _, n := range r.actorCandidates(spec) {
		if err := r.ensureBinary(ctx, n); err != nil {
			if status.Code(err) == codes.Unavailable || !r.reachable(n) {
				r.rs.markDown(n, fmt.Errorf("%s (%s) could not be reached to start an actor: %w", n.id, n.addr, err))
				continue
			}
			return nil, err
		}
		h, err := n.client.StartActor(ctx, req)
		switch {
		case err == nil:
			return r.newRemoteActor(n, h, spec), nil
		case IsResourceExhausted(err):
			refusals = append(refusals, err)
			continue
		case status.Code(err) == codes.Unavailable:
			// Gone, or stopping: either way it takes no more actors.
			r.rs.markDown(n, fmt.Errorf("%s (%s) could not start an actor: %w", n.id, n.addr, err))
			continue
		}
		return nil, fmt.Errorf("%s: actor %d on %s: %w", spec.Operator, spec.Index, n.id, err)
	}
	return nil, r.resourceError(spec, refusals)
}

// actorCandidates are the live nodes whose declared resources could hold
// spec, those with most left (by this driver's reckoning) first.
func (r *TaskRunner) actorCandidates(spec exec.ActorSpec) []*remoteNode {
	rs := r.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*remoteNode
	for _, n := range rs.nodes {
		if n.down || spec.GPUs > n.gpus || spec.CPUs > float64(n.cpus) || (n.memory > 0 && spec.Memory > n.memory) || !hasLabels(n.labels, spec.Labels) {
			continue
		}
		out = append(out, n)
	}
	free := func(n *remoteNode) (int, float64) {
		return n.gpus - n.actorGPUs, float64(n.cpus) - n.actorCPUs - float64(n.running)
	}
	slices.SortStableFunc(out, func(a, b *remoteNode) int {
		ag, ac := free(a)
		bg, bc := free(b)
		if spec.GPUs > 0 && ag != bg {
			return bg - ag
		}
		switch {
		case ac > bc:
			return -1
		case ac < bc:
			return 1
		}
		return 0
	})
	return out
}

// hasLabels reports whether a node's labels include every wanted one.
func hasLabels(node, want map[string]string) bool {
	for k, v := range want {
		if got, ok := node[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// resourceError says why no node started the actor.
func (r *TaskRunner) resourceError(spec exec.ActorSpec, refusals []error) error {
	rs := r.rs
	rs.mu.Lock()
	var maxGPUs, maxCPUs int
	live := 0
	for _, n := range rs.nodes {
		if !n.down && hasLabels(n.labels, spec.Labels) {
			live++
			maxGPUs, maxCPUs = max(maxGPUs, n.gpus), max(maxCPUs, n.cpus)
		}
	}
	rs.mu.Unlock()
	e := &exec.ResourceError{Operator: spec.Operator, Resource: "CPUs", Need: spec.CPUs, Total: float64(maxCPUs)}
	if spec.GPUs > 0 {
		e.Resource, e.Need, e.Total = "GPUs", float64(spec.GPUs), float64(maxGPUs)
	}
	if spec.GPUs <= maxGPUs && spec.CPUs <= float64(maxCPUs) && len(refusals) > 0 {
		// Some node could hold it, but all are busy now.
		return fmt.Errorf("%w (on the cluster's %d live nodes, the largest has %g; every one that could refused: %v)", e, live, e.Total, refusals[0])
	}
	if len(spec.Labels) > 0 {
		return fmt.Errorf("%w (no live node with labels %v has that many; %d have the labels)", e, spec.Labels, live)
	}
	return fmt.Errorf("%w (no live node of the cluster's %d has that many)", e, live)
}

// RemoteResources implements exec.RemoteActors: the live nodes' GPUs and
// actor memory, and the CPUs this driver's actors hold there.
func (r *TaskRunner) RemoteResources() exec.Resources {
	rs := r.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var res exec.Resources
	for _, n := range rs.nodes {
		if n.down {
			continue
		}
		res.GPUs += n.gpus
		res.ActorCPUs += n.actorCPUs
		if n.memory == 0 || res.Memory == math.MaxInt64 {
			res.Memory = math.MaxInt64 // a node that does not count actor memory
		} else {
			res.Memory += n.memory
		}
	}
	return res
}

// remoteActor is an actor on a node, seen from the driver: calls go one at
// a time, in order, from one goroutine, and their outputs join the
// RemoteStore.
type remoteActor struct {
	r    *TaskRunner
	node *remoteNode
	h    *RemoteActorHandle
	spec exec.ActorSpec

	mu     sync.Mutex
	queue  []remoteCall
	ended  bool // the handle is done: later calls fail at once
	wake   chan struct{}
	exited chan struct{} // the call goroutine is gone
	done   chan struct{}
}

type remoteCall struct {
	ctx  context.Context
	call exec.ActorCall
	done func(exec.TaskResult)
}

func (r *TaskRunner) newRemoteActor(n *remoteNode, h *RemoteActorHandle, spec exec.ActorSpec) *remoteActor {
	a := &remoteActor{r: r, node: n, h: h, spec: spec, wake: make(chan struct{}, 1),
		exited: make(chan struct{}), done: make(chan struct{})}
	r.rs.mu.Lock()
	n.actorCPUs += spec.CPUs
	n.actorGPUs += spec.GPUs
	r.rs.mu.Unlock()
	go a.serve()
	go func() {
		<-h.Done()
		a.mu.Lock()
		a.ended = true
		a.mu.Unlock()
		a.signal()
		<-a.exited
		r.rs.mu.Lock()
		n.actorCPUs -= spec.CPUs
		n.actorGPUs -= spec.GPUs
		r.rs.mu.Unlock()
		close(a.done)
	}()
	return a
}

func (a *remoteActor) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Call implements exec.Actor.
func (a *remoteActor) Call(ctx context.Context, c exec.ActorCall, done func(exec.TaskResult)) {
	a.mu.Lock()
	if a.ended {
		a.mu.Unlock()
		go done(exec.TaskResult{Err: a.endedError(), Worker: -1})
		return
	}
	a.queue = append(a.queue, remoteCall{ctx: ctx, call: c, done: done})
	a.mu.Unlock()
	a.signal()
}

func (a *remoteActor) endedError() error {
	why := a.h.Err()
	if why == nil {
		why = fmt.Errorf("stopped")
	}
	return exec.ActorFailed(fmt.Errorf("%s: actor %d on %s has ended: %w", a.spec.Operator, a.spec.Index, a.node.id, why))
}

// serve sends the queued calls one at a time until the actor ends, then
// fails what is left.
func (a *remoteActor) serve() {
	defer close(a.exited)
	for {
		a.mu.Lock()
		for len(a.queue) == 0 && !a.ended {
			a.mu.Unlock()
			<-a.wake
			a.mu.Lock()
		}
		if a.ended {
			q := a.queue
			a.queue = nil
			a.mu.Unlock()
			for _, c := range q {
				c.done(exec.TaskResult{Err: a.endedError(), Worker: -1})
			}
			return
		}
		c := a.queue[0]
		a.queue = a.queue[1:]
		a.mu.Unlock()
		c.done(a.run(c))
	}
}

func (a *remoteActor) run(c remoteCall) exec.TaskResult {
	start := time.Now()
	res := exec.TaskResult{Start: start, Attempts: 1}
	inputs, err := a.r.locate(c.call.Operator, c.call.Index, c.call.Inputs)
	if err == nil {
		var out RunTaskResult
		wctx, inputsLost := a.r.rs.watchInputs(c.ctx, c.call.Inputs)
		out, err = a.h.Call(wctx, ActorCallRequest{Operator: c.call.Operator, Index: c.call.Index, Inputs: inputs,
			Offset: c.call.Offset, Length: c.call.Length, Job: a.r.rs.job.ID()})
		if lost := inputsLost(); lost != nil && err != nil {
			err = fmt.Errorf("%s call %d: %w", c.call.Operator, c.call.Index, lost)
		}
		if err == nil {
			res.Outputs = a.r.rs.adopt(a.node, out.Addr, out.Outputs, c.call.Operator)
			res.CPU = out.CPU
		} else if IsTaskInfraError(err) {
			if !a.r.reachable(a.node) {
				a.r.rs.markDown(a.node, fmt.Errorf("%s (%s) stopped answering during a call of %s: %w", a.node.id, a.node.addr, a.h, err))
			} else if lost := a.r.markLostInputs(a.node, c.call.Inputs); lost {
				err = fmt.Errorf("%s call %d: an input's node is gone: %w", c.call.Operator, c.call.Index, exec.ErrBlockLost)
			}
		}
	}
	res.Err = err
	res.Wall = time.Since(start)
	return res
}

// Stop implements exec.Actor.
func (a *remoteActor) Stop() { a.h.Stop() }

// Done implements exec.Actor.
func (a *remoteActor) Done() <-chan struct{} { return a.done }

// GPUIDs implements exec.Actor: the devices on its node.
func (a *remoteActor) GPUIDs() []int { return a.h.GPUIDs() }

var _ exec.RemoteActors = (*TaskRunner)(nil)
