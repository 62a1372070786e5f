package pipeline

import (
	"fmt"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// topKMergeBatch is how many candidate blocks wait before a merge task
// starts while more are coming: fewer, larger merges, each still only a
// few times k rows.
const topKMergeBatch = 8

// topKOp runs an ops.TopK: it merges the candidate blocks its input (the
// TopKPartial stage) emits into a running top k as they arrive, one merge
// task at a time over the running result and the blocks that came since,
// in input order, so ties stay in input order as a sort leaves them. It
// holds about k rows plus the candidates of the blocks that finish during
// one merge, never the whole input, and emits the final k rows, if any,
// when its input is done.
type topKOp struct {
	taskOp
	k         int64
	keys      []blocks.SortKey
	pending   []exec.ObjectRef // candidates not merged yet, in input order
	pendingB  int64
	current   Bundle // the running top k, owned; empty before the first merge
	inputDone bool
}

func newTopKOp(n *ops.TopK, input Operator) *topKOp {
	o := &topKOp{k: n.K, keys: n.Keys}
	o.taskOp = taskOp{self: o, name: n.Name(), inputs: []Operator{input}}
	return o
}

func (o *topKOp) AddInput(_ int, b Bundle) {
	for _, r := range b.Refs {
		if o.cancelled || o.k == 0 || r.Rows == 0 {
			o.env.rt.Release(r)
			continue
		}
		o.pending = append(o.pending, r)
		o.pendingB += r.Bytes
	}
}

func (o *topKOp) InputDone(int)      { o.inputDone = true }
func (o *topKOp) InputFull(int) bool { return false }

// absorb takes the finished merge's output, which taskOp queued as an
// output, as the running top k. It is not output yet, so the metrics stop
// counting it as such (Output counts the final one).
func (o *topKOp) absorb() {
	for _, b := range o.outQueue {
		o.current.Refs = append(o.current.Refs, b.Refs...)
		o.metrics.RowsOut -= b.Rows()
		o.metrics.BytesOut -= b.Bytes()
		o.metrics.BlocksOut -= int64(len(b.Refs))
	}
	o.outQueue, o.outBytes = nil, 0
}

func (o *topKOp) CanDispatch() bool {
	o.absorb()
	return !o.cancelled && o.active == 0 && len(o.pending) > 0 &&
		(o.inputDone || len(o.pending) >= topKMergeBatch)
}

func (o *topKOp) Dispatch() {
	in := Bundle{Refs: append(o.current.Refs, o.pending...)}
	carried := o.current
	o.current, o.pending, o.pendingB = Bundle{}, nil, 0
	o.launch(exec.Task{
		Inputs: in.Refs,
		Run:    topKMergeTaskFn(o.k, o.keys),
		Spec:   taskSpec(TopKMergeTaskKind, topKMergeArgs{K: o.k, Keys: o.keys}),
	}, in, in.Bytes(), false)
	// The running top k came from this operator, not its input.
	o.metrics.RowsIn -= carried.Rows()
	o.metrics.BytesIn -= carried.Bytes()
}

// done reports that every candidate is merged into current.
func (o *topKOp) done() bool {
	o.absorb()
	return o.inputDone && len(o.pending) == 0 && o.active == 0
}

func (o *topKOp) Output() (Bundle, bool) {
	if o.cancelled || !o.done() || len(o.current.Refs) == 0 {
		return Bundle{}, false
	}
	out := o.current
	o.current = Bundle{}
	o.metrics.RowsOut += out.Rows()
	o.metrics.BytesOut += out.Bytes()
	o.metrics.BlocksOut += int64(len(out.Refs))
	return out, true
}

func (o *topKOp) Finished() bool {
	return o.cancelled || o.done() && len(o.current.Refs) == 0
}

func (o *topKOp) Cancel() {
	o.cancelTasks()
	for _, r := range o.pending {
		o.env.rt.Release(r)
	}
	o.pending, o.pendingB = nil, 0
	o.current.release(o.env.rt)
	o.current = Bundle{}
}

// Usage counts the candidates and the running top k as inputs held.
func (o *topKOp) Usage() Usage {
	return Usage{InputBytes: o.pendingB + o.current.Bytes(), Active: o.active,
		TaskBytes: o.estimate(o.pendingB + o.current.Bytes())}
}

type topKMergeArgs struct {
	K    int64            `json:"k"`
	Keys []blocks.SortKey `json:"keys"`
}

// topKMergeTaskFn keeps the first k rows by keys of its inputs taken in
// order, ties in that order.
func topKMergeTaskFn(k int64, keys []blocks.SortKey) exec.RunFunc {
	return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		all, err := blocks.Concat(tc.Alloc, in)
		if err != nil {
			return nil, fmt.Errorf("top-k merge: %w", err)
		}
		defer all.Release()
		out, err := blocks.TopK(tc.Alloc, all, keys, int(min(k, all.NumRows())))
		if err != nil {
			return nil, fmt.Errorf("top-k merge: %w", err)
		}
		return []blocks.Block{out}, nil
	}
}

func init() {
	exec.RegisterTaskKind(TopKMergeTaskKind, func(args []byte) (exec.RunFunc, error) {
		a, err := decode[topKMergeArgs](args)
		if err != nil {
			return nil, err
		}
		return topKMergeTaskFn(a.K, a.Keys), nil
	})
}
