package pipeline

import (
	"context"
	"fmt"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// sourceOp runs a datasource's read tasks, each followed by a fused chain of
// one-to-one stages applied to every block it reads.
type sourceOp struct {
	taskOp
	tasks  []ops.ReadTask
	stages []*ops.OneToOne
	next   int
}

func newSourceOp(name string, tasks []ops.ReadTask, stages []*ops.OneToOne, cpus float64) *sourceOp {
	s := &sourceOp{tasks: tasks, stages: stages}
	s.taskOp = taskOp{self: s, name: name, cpus: cpus}
	return s
}

func (s *sourceOp) AddInput(int, Bundle) {}
func (s *sourceOp) InputDone(int)        {}
func (s *sourceOp) InputFull(int) bool   { return false }
func (s *sourceOp) CanDispatch() bool    { return !s.cancelled && s.next < len(s.tasks) && !s.aheadFull() }
func (s *sourceOp) Finished() bool {
	return (s.cancelled || s.next == len(s.tasks) && s.active == 0) && len(s.outQueue) == 0
}
func (s *sourceOp) Cancel() { s.cancelTasks() }
func (s *sourceOp) Usage() Usage {
	u := Usage{OutputBytes: s.outBytes + s.heldBytes, Active: s.active}
	if s.next < len(s.tasks) {
		u.TaskBytes = s.estimate(max(s.tasks[s.next].Bytes, 1<<20))
	}
	return u
}

func (s *sourceOp) Dispatch() {
	rt := s.tasks[s.next]
	s.next++
	est := rt.Bytes
	if est < 0 {
		est = 1 << 20
	}
	maxBytes := s.env.maxBlockBytes
	s.launch(exec.Task{
		Run:  readTaskFn(rt.Read, rt.Stream, s.stages, maxBytes),
		Spec: readTaskSpec(rt.Spec, s.stages, maxBytes),
	}, Bundle{}, est, true)
}

// refsOp emits blocks already in the store, one bundle each, taking a
// reference for downstream so the materialized dataset keeps its own.
type refsOp struct {
	name      string
	refs      []exec.ObjectRef
	keep      any // the plan node that owns refs, kept alive while we run
	next      int
	env       *Env
	cancelled bool
	metrics   Metrics
}

func (r *refsOp) Name() string         { return r.name }
func (r *refsOp) Inputs() []Operator   { return nil }
func (r *refsOp) Start(env *Env)       { r.env = env }
func (r *refsOp) AddInput(int, Bundle) {}
func (r *refsOp) InputDone(int)        {}
func (r *refsOp) InputFull(int) bool   { return false }
func (r *refsOp) CanDispatch() bool    { return false }
func (r *refsOp) Dispatch()            {}
func (r *refsOp) Finished() bool       { return r.cancelled || r.next == len(r.refs) }
func (r *refsOp) Cancel()              { r.cancelled = true }
func (r *refsOp) Usage() Usage         { return Usage{} }
func (r *refsOp) Metrics() Metrics     { return r.metrics }
func (r *refsOp) Output() (Bundle, bool) {
	if r.cancelled || r.next == len(r.refs) {
		return Bundle{}, false
	}
	ref := r.refs[r.next]
	r.next++
	r.env.rt.Retain(ref)
	r.metrics.RowsOut += ref.Rows
	r.metrics.BytesOut += ref.Bytes
	r.metrics.BlocksOut++
	return Bundle{Refs: []exec.ObjectRef{ref}}, true
}

// mapOp runs a fused chain of one-to-one stages, one task per bundle of
// inputs. Bundles are grown to the first stage's batch size.
type mapOp struct {
	taskOp
	stages     []*ops.OneToOne
	batchRows  int64
	pending    Bundle // inputs gathered towards batchRows
	queue      []Bundle
	queueBytes int64
	maxQueue   int
	inputDone  bool
	spec       *exec.TaskSpec // of every task, once specDone
	specDone   bool
}

func newMapOp(name string, input Operator, stages []*ops.OneToOne, batchRows int64, maxQueue int) *mapOp {
	m := &mapOp{stages: stages, batchRows: batchRows, maxQueue: maxQueue}
	m.taskOp = taskOp{self: m, name: name, inputs: []Operator{input}}
	return m
}

func (m *mapOp) AddInput(_ int, b Bundle) {
	if m.cancelled {
		b.release(m.env.rt)
		return
	}
	m.queueBytes += b.Bytes()
	if m.batchRows <= 0 {
		m.queue = append(m.queue, b)
		return
	}
	m.pending.Refs = append(m.pending.Refs, b.Refs...)
	if m.pending.Rows() >= m.batchRows {
		m.queue = append(m.queue, m.pending)
		m.pending = Bundle{}
	}
}

func (m *mapOp) InputDone(int) {
	m.inputDone = true
	if len(m.pending.Refs) > 0 {
		m.queue = append(m.queue, m.pending)
		m.pending = Bundle{}
	}
}

func (m *mapOp) InputFull(int) bool { return len(m.queue) >= m.maxQueue }
func (m *mapOp) CanDispatch() bool  { return !m.cancelled && len(m.queue) > 0 && !m.aheadFull() }
func (m *mapOp) Finished() bool {
	return (m.cancelled || m.inputDone && len(m.queue) == 0 && m.active == 0) && len(m.outQueue) == 0
}

func (m *mapOp) Cancel() {
	m.cancelTasks()
	for _, b := range m.queue {
		b.release(m.env.rt)
	}
	m.pending.release(m.env.rt)
	m.queue, m.pending, m.queueBytes = nil, Bundle{}, 0
}

func (m *mapOp) Usage() Usage {
	u := Usage{InputBytes: m.queueBytes, OutputBytes: m.outBytes + m.heldBytes, Active: m.active}
	if len(m.queue) > 0 {
		u.TaskBytes = m.estimate(m.queue[0].Bytes())
	}
	return u
}

func (m *mapOp) Dispatch() {
	in := m.queue[0]
	m.queue[0] = Bundle{}
	m.queue = m.queue[1:]
	m.queueBytes -= in.Bytes()
	if !m.specDone {
		// The same for every task: only the inputs differ.
		m.spec, m.specDone = mapTaskSpec(m.stages, m.env.maxBlockBytes), true
	}
	m.launch(exec.Task{Inputs: in.Refs, Run: mapTaskFn(m.stages, m.env.maxBlockBytes), Spec: m.spec}, in, in.Bytes(), false)
}

// concatInputs makes one block of a task's inputs.
func concatInputs(tc *exec.TaskContext, inputs []blocks.Block) (blocks.Block, error) {
	if len(inputs) == 1 {
		inputs[0].Retain()
		return inputs[0], nil
	}
	b, err := blocks.Concat(tc.Alloc, inputs)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func releaseAll(bs []blocks.Block) {
	for _, b := range bs {
		if b != nil {
			b.Release()
		}
	}
}

// limitOp passes on the first n rows, slicing the block that crosses the
// limit, then asks the executor to stop everything upstream.
type limitOp struct {
	name      string
	input     Operator
	remaining int64
	env       *Env
	queue     []Bundle
	bytes     int64
	inputDone bool
	cancelled bool
	metrics   Metrics
}

func (l *limitOp) Name() string       { return l.name }
func (l *limitOp) Inputs() []Operator { return []Operator{l.input} }
func (l *limitOp) Start(env *Env)     { l.env = env }
func (l *limitOp) InputDone(int)      { l.inputDone = true }
func (l *limitOp) InputFull(int) bool { return false }
func (l *limitOp) CanDispatch() bool  { return false }
func (l *limitOp) Dispatch()          {}
func (l *limitOp) Usage() Usage       { return Usage{OutputBytes: l.bytes} }
func (l *limitOp) Metrics() Metrics   { return l.metrics }
func (l *limitOp) wantsInput() bool   { return !l.cancelled && l.remaining > 0 }
func (l *limitOp) Finished() bool {
	return (l.cancelled || !l.wantsInput() || l.inputDone) && len(l.queue) == 0
}
func (l *limitOp) Output() (Bundle, bool) {
	if len(l.queue) == 0 {
		return Bundle{}, false
	}
	b := l.queue[0]
	l.queue = l.queue[1:]
	l.bytes -= b.Bytes()
	return b, true
}

func (l *limitOp) Cancel() {
	l.cancelled = true
	for _, b := range l.queue {
		b.release(l.env.rt)
	}
	l.queue, l.bytes = nil, 0
}

func (l *limitOp) AddInput(_ int, b Bundle) {
	var keep Bundle
	for _, ref := range b.Refs {
		switch {
		case l.cancelled || l.remaining <= 0:
			l.env.rt.Release(ref)
		case ref.Rows <= l.remaining:
			l.remaining -= ref.Rows
			keep.Refs = append(keep.Refs, ref)
		default:
			sliced, err := l.slice(ref, l.remaining)
			l.env.rt.Release(ref)
			if err != nil {
				l.env.fail(fmt.Errorf("%s: %w", l.name, err))
				continue
			}
			l.remaining = 0
			keep.Refs = append(keep.Refs, sliced)
		}
	}
	if len(keep.Refs) > 0 {
		l.metrics.RowsOut += keep.Rows()
		l.metrics.BytesOut += keep.Bytes()
		l.metrics.BlocksOut += int64(len(keep.Refs))
		l.queue = append(l.queue, keep)
		l.bytes += keep.Bytes()
	}
}

// slice stores the first n rows of ref as a new block. It runs on the loop:
// the block is in memory (it was just produced) and slicing copies nothing.
func (l *limitOp) slice(ref exec.ObjectRef, n int64) (exec.ObjectRef, error) {
	return exec.PutSlice(context.Background(), l.env.rt, ref, 0, n, l.name)
}

// unionOp emits all of input 0, then all of input 1, and so on; later inputs
// run concurrently and wait in its queues.
type unionOp struct {
	name      string
	inputs    []Operator
	env       *Env
	queues    [][]Bundle
	done      []bool
	cur       int
	bytes     int64
	cancelled bool
	metrics   Metrics
}

func newUnionOp(name string, inputs []Operator) *unionOp {
	return &unionOp{name: name, inputs: inputs, queues: make([][]Bundle, len(inputs)), done: make([]bool, len(inputs))}
}

func (u *unionOp) Name() string       { return u.name }
func (u *unionOp) Inputs() []Operator { return u.inputs }
func (u *unionOp) Start(env *Env)     { u.env = env }
func (u *unionOp) InputDone(i int)    { u.done[i] = true }
func (u *unionOp) InputFull(int) bool { return false }
func (u *unionOp) CanDispatch() bool  { return false }
func (u *unionOp) Dispatch()          {}
func (u *unionOp) Usage() Usage       { return Usage{OutputBytes: u.bytes} }
func (u *unionOp) Metrics() Metrics   { return u.metrics }
func (u *unionOp) AddInput(i int, b Bundle) {
	if u.cancelled {
		b.release(u.env.rt)
		return
	}
	u.queues[i] = append(u.queues[i], b)
	u.bytes += b.Bytes()
}

func (u *unionOp) Output() (Bundle, bool) {
	for u.cur < len(u.queues) {
		if q := u.queues[u.cur]; len(q) > 0 {
			b := q[0]
			u.queues[u.cur] = q[1:]
			u.bytes -= b.Bytes()
			u.metrics.RowsOut += b.Rows()
			u.metrics.BytesOut += b.Bytes()
			u.metrics.BlocksOut += int64(len(b.Refs))
			return b, true
		}
		if !u.done[u.cur] {
			break
		}
		u.cur++
	}
	return Bundle{}, false
}

func (u *unionOp) Finished() bool {
	if u.cancelled {
		return true
	}
	for i, q := range u.queues {
		if len(q) > 0 || !u.done[i] {
			return false
		}
	}
	return true
}

func (u *unionOp) Cancel() {
	u.cancelled = true
	for i, q := range u.queues {
		for _, b := range q {
			b.release(u.env.rt)
		}
		u.queues[i] = nil
	}
	u.bytes = 0
}
