package pipeline

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// taskOp is what operators that run tasks share: tasks numbered in dispatch
// order, outputs released downstream in that order whatever order tasks
// finish in, usage accounting and metrics.
type taskOp struct {
	self   Operator // the embedding operator, for the executor's bookkeeping
	name   string
	inputs []Operator
	env    *Env

	nextSeq  int
	emitSeq  int
	finished map[int]Bundle // outputs of tasks that finished ahead of emitSeq
	// early holds the outputs running tasks handed over before ending
	// (exec.Task.Partial) that cannot go downstream yet: an earlier task
	// has not emitted all of its own.
	early     map[int][]exec.ObjectRef
	heldBytes int64 // bytes in finished and early
	outQueue  []Bundle
	outBytes  int64
	active    int
	cancelled bool
	metrics   Metrics

	// Output size estimate: the ratio of output to input bytes seen so far.
	seenIn, seenOut int64

	// cpus is what each task holds (0 means 1, negative none);
	// maxConcurrency caps the tasks running at once (0: no cap).
	cpus           float64
	maxConcurrency int
	// inputsCounted: the operator counts RowsIn and BytesIn as its input
	// arrives, because its tasks read that input in overlapping parts (an
	// all-to-all's reduces, which would count a block once per slice) or
	// read what its own tasks made (an exchange's merged partials).
	inputsCounted bool
}

// countInput adds b to the operator's input counts.
func (t *taskOp) countInput(b Bundle) {
	t.metrics.RowsIn += b.Rows()
	t.metrics.BytesIn += b.Bytes()
}

// taskMilliCPUs is what one task of op holds, in milli-CPUs.
func taskMilliCPUs(op Operator) int64 {
	if t, ok := op.(interface{ base() *taskOp }); ok {
		return milliCPUs(t.base().cpus)
	}
	return milliCPUs(1)
}

func milliCPUs(c float64) int64 {
	return int64(math.Ceil(ops.TaskCPUs(c) * 1000))
}

func (t *taskOp) Name() string       { return t.name }
func (t *taskOp) Inputs() []Operator { return t.inputs }
func (t *taskOp) Start(env *Env) {
	t.env, t.finished, t.early = env, make(map[int]Bundle), make(map[int][]exec.ObjectRef)
}
func (t *taskOp) Metrics() Metrics { return t.metrics }
func (t *taskOp) base() *taskOp    { return t }

// Output pops the next output in order.
func (t *taskOp) Output() (Bundle, bool) {
	if len(t.outQueue) == 0 {
		return Bundle{}, false
	}
	b := t.outQueue[0]
	t.outQueue[0] = Bundle{}
	t.outQueue = t.outQueue[1:]
	t.outBytes -= b.Bytes()
	return b, true
}

// aheadFull reports that the operator has as many tasks running or outputs
// waiting as it may: outputs are emitted in order, so one slow task would
// otherwise let an unbounded number of finished ones pile up behind it.
func (t *taskOp) aheadFull() bool {
	if t.maxConcurrency > 0 && t.active >= t.maxConcurrency {
		return true
	}
	limit := t.env.maxAhead
	if c := ops.TaskCPUs(t.cpus); c < 1 {
		// Tasks of a fraction of a CPU (or none) run more at once; let them.
		limit = maxAheadFractional
		if c > 0 {
			limit = min(max(t.env.maxAhead, int(2*float64(t.env.concurrency)/c)), maxAheadFractional)
		}
	}
	return t.active+len(t.finished)+len(t.outQueue) >= limit
}

// maxAheadFractional caps the tasks running or waiting to emit of an
// operator whose tasks hold a fraction of a CPU.
const maxAheadFractional = 64

// estimate guesses the output bytes of a task reading inBytes.
func (t *taskOp) estimate(inBytes int64) int64 {
	if t.seenIn > 0 {
		return int64(float64(inBytes) * float64(t.seenOut) / float64(t.seenIn))
	}
	return inBytes
}

// launch submits task; inputs are released when it finishes. With
// streaming, the task may hand outputs over while it runs.
func (t *taskOp) launch(task exec.Task, inputs Bundle, inBytes int64, streaming bool) {
	seq := t.nextSeq
	t.nextSeq++
	t.active++
	task.Operator = t.name
	task.Index = seq
	task.CPUs = t.cpus
	if streaming {
		task.Partial = func(ref exec.ObjectRef) { t.env.post(func() { t.handedOver(seq, ref) }) }
	}
	if !t.inputsCounted {
		t.metrics.RowsIn += inputs.Rows()
		t.metrics.BytesIn += inBytes
	}
	t.env.submit(t.self, task, func(res exec.TaskResult) { t.complete(seq, inputs, inBytes, res) })
}

// handedOver takes an output task seq handed over while running: it
// goes downstream at once when every earlier task's outputs have.
func (t *taskOp) handedOver(seq int, ref exec.ObjectRef) {
	if t.cancelled {
		t.env.rt.Release(ref)
		return
	}
	b := Bundle{Refs: []exec.ObjectRef{ref}}
	t.metrics.FilesOut += filesWritten(b)
	t.metrics.RowsOut += b.Rows()
	t.metrics.BytesOut += b.Bytes()
	t.metrics.BlocksOut++
	t.seenOut += b.Bytes()
	if seq == t.emitSeq {
		t.outQueue = append(t.outQueue, b)
		t.outBytes += b.Bytes()
		return
	}
	t.early[seq] = append(t.early[seq], ref)
	t.heldBytes += b.Bytes()
}

// takeEarly returns (and forgets) what task seq handed over that waits.
func (t *taskOp) takeEarly(seq int) Bundle {
	b := Bundle{Refs: t.early[seq]}
	delete(t.early, seq)
	t.heldBytes -= b.Bytes()
	return b
}

func (t *taskOp) complete(seq int, inputs Bundle, inBytes int64, res exec.TaskResult) {
	t.active--
	inputs.release(t.env.rt)
	out := Bundle{Refs: res.Outputs}
	if t.cancelled || res.Err != nil {
		out.release(t.env.rt)
		early := t.takeEarly(seq)
		early.release(t.env.rt)
		if res.Err != nil && !t.cancelled {
			t.env.fail(res.Err)
		}
		return
	}
	t.metrics.TasksDone++
	t.metrics.TaskWall += res.Wall
	t.metrics.FilesOut += filesWritten(out)
	t.metrics.RowsOut += out.Rows()
	t.metrics.BytesOut += out.Bytes()
	t.metrics.BlocksOut += int64(len(out.Refs))
	t.seenIn += max(inBytes, 1)
	t.seenOut += out.Bytes()
	if early := t.takeEarly(seq); len(early.Refs) > 0 {
		out.Refs = append(early.Refs, out.Refs...) // handed over first
	}
	t.finished[seq] = out
	t.heldBytes += out.Bytes()
	for {
		b, ok := t.finished[t.emitSeq]
		if !ok {
			break
		}
		delete(t.finished, t.emitSeq)
		t.emitSeq++
		t.heldBytes -= b.Bytes()
		if len(b.Refs) > 0 {
			t.outQueue = append(t.outQueue, b)
			t.outBytes += b.Bytes()
		}
	}
	// The task now first in line may be running, with outputs handed over.
	if early := t.takeEarly(t.emitSeq); len(early.Refs) > 0 {
		for _, ref := range early.Refs {
			t.outQueue = append(t.outQueue, Bundle{Refs: []exec.ObjectRef{ref}})
		}
		t.outBytes += early.Bytes()
	}
}

// cancelTasks releases held outputs; running tasks release theirs on completion.
func (t *taskOp) cancelTasks() {
	t.cancelled = true
	for _, b := range t.finished {
		b.release(t.env.rt)
	}
	clear(t.finished)
	for _, refs := range t.early {
		Bundle{Refs: refs}.release(t.env.rt)
	}
	clear(t.early)
	t.heldBytes = 0
	for _, b := range t.outQueue {
		b.release(t.env.rt)
	}
	t.outQueue, t.outBytes = nil, 0
}

// runStages passes b through a fused chain of one-to-one operators. It takes
// over the caller's reference to b. A panic in a stage becomes an error
// naming that stage, so errors point at the user's function, not the chain.
// A cancelled task stops before the next stage.
func runStages(tc *exec.TaskContext, stages []*ops.OneToOne, b blocks.Block) (blocks.Block, error) {
	for _, st := range stages {
		if err := tc.Err(); err != nil {
			b.Release()
			return nil, err
		}
		out, err := callStage(tc, st, b)
		b.Release()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.Label, err)
		}
		if out == nil {
			return nil, fmt.Errorf("%s: function returned no block", st.Label)
		}
		b = out
	}
	return b, nil
}

func callStage(tc *exec.TaskContext, st *ops.OneToOne, b blocks.Block) (out blocks.Block, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, &exec.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return st.Fn(tc, b)
}

// splitLarge cuts blocks above maxBytes into row slices of about maxBytes, so
// one huge output does not become one huge task downstream.
func splitLarge(bs []blocks.Block, maxBytes int64) []blocks.Block {
	if maxBytes <= 0 {
		return bs
	}
	out := bs[:0:0]
	for _, b := range bs {
		size := blocks.Size(b)
		if size <= maxBytes || b.NumRows() < 2 {
			out = append(out, b)
			continue
		}
		parts := (size + maxBytes - 1) / maxBytes
		rows := (b.NumRows() + parts - 1) / parts
		out = append(out, blocks.Split(b, rows)...)
		b.Release()
	}
	return out
}

// FilesWrittenKey is the schema metadata key of a write task's output
// block that holds how many files the task wrote (a decimal number), so
// that the executor counts a write's files apart from its rows.
const FilesWrittenKey = "shoal.files.written"

// filesWritten adds up the files b's blocks say they wrote.
func filesWritten(b Bundle) int64 {
	var n int64
	for _, r := range b.Refs {
		if r.Schema == nil || r.Schema.Metadata().Len() == 0 {
			continue
		}
		if v, ok := r.Schema.Metadata().GetValue(FilesWrittenKey); ok {
			if k, err := strconv.ParseInt(v, 10, 64); err == nil && k > 0 {
				n += k
			}
		}
	}
	return n
}
