package cluster

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/exec"
)

// TaskRunner is an exec.RemoteRunner that runs tasks on a cluster's nodes,
// in worker processes that run this program's own binary: it uploads the
// binary to each node once (cached there by hash), places each task on the
// node that holds most of its input bytes among those with a CPU free, and
// adopts the outputs into a RemoteStore. A node that cannot be reached is
// marked down and the task goes to another one.
type TaskRunner struct {
	rs     *RemoteStore
	binary string // path of the executable workers run
	hash   string
}

// NewTaskRunner runs tasks on rs's nodes with this process's executable.
func NewTaskRunner(rs *RemoteStore) (*TaskRunner, error) {
	path, hash, err := SelfBinary()
	if err != nil {
		return nil, fmt.Errorf("cluster: finding this program's binary to ship to the nodes: %w", err)
	}
	return &TaskRunner{rs: rs, binary: path, hash: hash}, nil
}

// queueDepth is how many tasks per CPU the driver keeps sent to a node.
const queueDepth = 2

// TaskSlots is how many tasks the driver keeps in flight: queueDepth per
// CPU of the live nodes.
func (r *TaskRunner) TaskSlots() int { return queueDepth * r.CPUs() }

// CPUs is the number of CPUs the live nodes declared.
func (r *TaskRunner) CPUs() int {
	r.rs.mu.Lock()
	defer r.rs.mu.Unlock()
	n := 0
	for _, node := range r.rs.nodes {
		if !node.down {
			n += node.cpus
		}
	}
	return max(n, 1)
}

// RunRemote implements exec.RemoteRunner. A task call has no total
// deadline (a task may rightly run for minutes): it ends when the node
// answers, when the connection's keepalive finds the node silent, or when
// the head declares the node dead (or a node holding an input), which cuts
// the call (RemoteStore.markDown). The task then runs on another node.
func (r *TaskRunner) RunRemote(ctx context.Context, t exec.Task, attempt int) (exec.RemoteRun, error) {
	for {
		node, inputs, err := r.place(t)
		if err != nil {
			return exec.RemoteRun{}, err
		}
		if node == nil {
			r.rs.mu.Lock()
			why := r.rs.whyNoNode()
			r.rs.mu.Unlock()
			return exec.RemoteRun{}, fmt.Errorf("cluster: no live node can run %s task %d: %s", t.Operator, t.Index, why)
		}
		outs, cpu, err := r.runOn(ctx, node, t, attempt, inputs)
		if err == nil {
			return exec.RemoteRun{Outputs: outs, CPU: cpu, Node: node.id}, nil
		}
		if ctx.Err() != nil || status.Code(err) != codes.Unavailable {
			return exec.RemoteRun{Node: node.id}, err
		}
		// The node or a node holding an input is gone: find which.
		if !r.reachable(node) {
			r.rs.markDown(node, fmt.Errorf("%s (%s) stopped answering while running %s task %d: %w", node.id, node.addr, t.Operator, t.Index, err))
			continue
		}
		if r.markLostInputs(node, t.Inputs) {
			return exec.RemoteRun{Node: node.id}, fmt.Errorf("cluster: %s task %d: an input's node is gone: %w", t.Operator, t.Index, exec.ErrBlockLost)
		}
		// The node answers but its worker failed (crashed): try again, on
		// whichever node is best now, as a retryable failure.
		return exec.RemoteRun{Node: node.id}, exec.Retryable(fmt.Errorf("cluster: %s task %d on %s: %w", t.Operator, t.Index, node.id, err))
	}
}

// markLostInputs marks down the nodes other than exclude holding inputs
// that cannot be reached, and reports whether there were any.
func (r *TaskRunner) markLostInputs(exclude *remoteNode, inputs []exec.ObjectRef) bool {
	lost := false
	for _, in := range inputs {
		if n := r.rs.nodeOf(in); n != nil && n != exclude && !r.reachable(n) {
			r.rs.markDown(n, fmt.Errorf("%s (%s) could not be reached for a task's input", n.id, n.addr))
			lost = true
		}
	}
	return lost
}

// locate says where each input lives, or wraps ErrBlockLost when one
// lived on a node that is down.
func (r *TaskRunner) locate(operator string, index int, refs []exec.ObjectRef) ([]RemoteBlock, error) {
	r.rs.mu.Lock()
	defer r.rs.mu.Unlock()
	out, _, err := r.locateLocked(operator, index, refs)
	return out, err
}

// locateLocked is locate, and the bytes of the inputs each node holds
// (its workers' included). rs.mu is held.
func (r *TaskRunner) locateLocked(operator string, index int, refs []exec.ObjectRef) ([]RemoteBlock, map[*remoteNode]int64, error) {
	out := make([]RemoteBlock, len(refs))
	local := map[*remoteNode]int64{}
	for i, in := range refs {
		o, ok := r.rs.objects[in.ID]
		if !ok {
			return nil, nil, fmt.Errorf("cluster: %s %d: input object %d is not in the store", operator, index, in.ID)
		}
		if o.node.gone() {
			return nil, nil, fmt.Errorf("cluster: %s %d: an input lived on %s (%s), which is gone: %w",
				operator, index, o.node.id, o.node.addr, exec.ErrBlockLost)
		}
		out[i] = RemoteBlock{Addr: o.node.addr, ID: o.local}
		local[o.node.host()] += o.bytes
	}
	return out, local, nil
}

// reachable asks n for its stats with a short deadline.
func (r *TaskRunner) reachable(n *remoteNode) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := n.client.Stats(ctx)
	return err == nil
}

// place picks the node for t: among live nodes with a CPU free (all live
// nodes if none has), the one holding most input bytes, then the least
// busy. It reports where each input lives, or ErrBlockLost when one is on
// a node that is down.
func (r *TaskRunner) place(t exec.Task) (*remoteNode, []RemoteBlock, error) {
	rs := r.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	inputs, local, err := r.locateLocked(t.Operator, t.Index, t.Inputs)
	if err != nil {
		return nil, nil, err
	}
	var best *remoteNode
	// A node may have queueDepth tasks per CPU sent to it: one running and
	// one waiting, so its CPU does not idle while the next task travels.
	// Among nodes under that, the one holding most input bytes wins (the
	// input is then read with no copy), then the least busy.
	better := func(a, b *remoteNode) bool { // a before b
		aFree, bFree := a.running < queueDepth*a.cpus, b.running < queueDepth*b.cpus
		if aFree != bFree {
			return aFree
		}
		if local[a] != local[b] {
			return local[a] > local[b]
		}
		return float64(a.running)/float64(max(a.cpus, 1)) < float64(b.running)/float64(max(b.cpus, 1))
	}
	for _, n := range rs.nodes {
		if !n.down && (best == nil || better(n, best)) {
			best = n
		}
	}
	if best != nil {
		best.running++
	}
	return best, inputs, nil
}

// runOn uploads the binary if the node lacks it, runs the task there and
// adopts its outputs.
func (r *TaskRunner) runOn(ctx context.Context, n *remoteNode, t exec.Task, attempt int, inputs []RemoteBlock) ([]exec.ObjectRef, time.Duration, error) {
	defer func() {
		r.rs.mu.Lock()
		n.running--
		r.rs.mu.Unlock()
	}()
	if err := r.ensureBinary(ctx, n); err != nil {
		return nil, 0, err
	}
	wctx, inputsLost := r.rs.watchInputs(ctx, t.Inputs)
	res, err := n.client.RunTask(wctx, RunTaskRequest{Binary: r.hash, Spec: *t.Spec, Operator: t.Operator, Index: t.Index,
		Attempt: attempt, CPUs: t.CPUs, Inputs: inputs, Job: r.rs.job.ID()})
	if lost := inputsLost(); lost != nil && err != nil {
		return nil, 0, fmt.Errorf("cluster: %s task %d: %w", t.Operator, t.Index, lost)
	}
	if status.Code(err) == codes.FailedPrecondition {
		// The node lost the binary (its work dir was cleaned); the client
		// forgot it has it, so the next attempt uploads it again.
		return nil, 0, exec.Retryable(err)
	}
	if err != nil {
		return nil, 0, err
	}
	return r.rs.adopt(n, res.Addr, res.Outputs, t.Operator), res.CPU, nil
}

// ensureBinary uploads the binary to n unless n has it. The client keeps
// which hashes its node has and lets one upload run at a time, so
// concurrent tasks send it once.
func (r *TaskRunner) ensureBinary(ctx context.Context, n *remoteNode) error {
	if err := n.client.EnsureBinary(ctx, r.binary, r.hash); err != nil {
		return fmt.Errorf("cluster: shipping %s to %s: %w", r.binary, n.id, err)
	}
	return nil
}

var _ exec.RemoteRunner = (*TaskRunner)(nil)
