package pipeline

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// PlannedTask is one reduce-side task of an all-to-all operator: the input
// blocks it reads (borrowed from the operator) and what it computes.
type PlannedTask struct {
	Inputs []exec.ObjectRef
	Run    func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error)
	// Spec, when set, describes Run as data (see exec.Task.Spec).
	Spec *exec.TaskSpec
}

// PlanFunc turns all of an operator's input blocks, in order, into tasks.
type PlanFunc func(inputs []exec.ObjectRef) ([]PlannedTask, error)

// PlanSidesFunc plans an all-to-all operator with several inputs: the
// blocks of each input, in order.
type PlanSidesFunc func(inputs [][]exec.ObjectRef) ([]PlannedTask, error)

// allToAllOp is a barrier: it gathers every input, then plans and runs tasks
// over the whole set. Inputs stay in the store (spilling if need be) until
// every task has run.
type allToAllOp struct {
	taskOp
	plan      PlanFunc
	planSides PlanSidesFunc
	sides     []int // input index of each gathered block
	doneIns   int
	gathered  []exec.ObjectRef
	gatherB   int64
	inputDone bool
	tasks     []PlannedTask
	next      int
	released  bool
}

func newAllToAllOp(name string, input Operator, plan PlanFunc) *allToAllOp {
	a := &allToAllOp{plan: plan}
	a.taskOp = taskOp{self: a, name: name, inputs: []Operator{input}, inputsCounted: true}
	return a
}

func (a *allToAllOp) AddInput(side int, b Bundle) {
	if a.cancelled {
		b.release(a.env.rt)
		return
	}
	for range b.Refs {
		a.sides = append(a.sides, side)
	}
	a.gathered = append(a.gathered, b.Refs...)
	a.gatherB += b.Bytes()
	a.countInput(b)
}

func (a *allToAllOp) InputDone(int) {
	a.doneIns++
	if a.doneIns < len(a.inputs) {
		return
	}
	a.inputDone = true
	if a.cancelled {
		return
	}
	var tasks []PlannedTask
	var err error
	if a.planSides != nil {
		bySide := make([][]exec.ObjectRef, len(a.inputs))
		for i, r := range a.gathered {
			bySide[a.sides[i]] = append(bySide[a.sides[i]], r)
		}
		tasks, err = a.planSides(bySide)
	} else {
		tasks, err = a.plan(a.gathered)
	}
	if err != nil {
		a.env.fail(err)
		return
	}
	a.tasks = tasks
}

func (a *allToAllOp) InputFull(int) bool { return false }
func (a *allToAllOp) CanDispatch() bool {
	return !a.cancelled && a.next < len(a.tasks) && !a.aheadFull()
}

func (a *allToAllOp) Dispatch() {
	t := a.tasks[a.next]
	a.next++
	var in Bundle
	in.Refs = t.Inputs
	a.launch(exec.Task{Inputs: t.Inputs, Run: t.Run, Spec: t.Spec}, Bundle{}, in.Bytes(), false)
}

func (a *allToAllOp) Finished() bool {
	done := a.cancelled || a.inputDone && a.next == len(a.tasks) && a.active == 0
	if done && a.active == 0 {
		a.releaseGathered()
	}
	return done && len(a.outQueue) == 0
}

func (a *allToAllOp) releaseGathered() {
	if a.released {
		return
	}
	a.released = true
	for _, r := range a.gathered {
		a.env.rt.Release(r)
	}
	a.gathered, a.gatherB = nil, 0
}

func (a *allToAllOp) Cancel() {
	a.cancelTasks()
	if a.active == 0 {
		a.releaseGathered()
	}
}

// Usage counts the gathered inputs as held; they leave the budget's view
// only by spilling.
func (a *allToAllOp) Usage() Usage {
	u := Usage{InputBytes: a.gatherB, OutputBytes: a.outBytes + a.heldBytes, Active: a.active}
	if a.next < len(a.tasks) {
		var b Bundle
		b.Refs = a.tasks[a.next].Inputs
		u.TaskBytes = b.Bytes()
	}
	return u
}

// RepartitionPlan splits and merges blocks, in order, into exactly n
// blocks whose row counts differ by at most one. Each output task reads only
// the input blocks that overlap its rows and copies nothing when one input
// slice covers it. schema, when known, types the empty blocks made when there
// is no input at all.
func RepartitionPlan(n int, schema *arrow.Schema) PlanFunc {
	return func(inputs []exec.ObjectRef) ([]PlannedTask, error) {
		var total int64
		for _, r := range inputs {
			total += r.Rows
			if schema == nil && !(r.Rows == 0 && r.Schema.NumFields() == 0) {
				schema = r.Schema
			}
		}
		if schema == nil {
			return nil, nil
		}
		starts := make([]int64, len(inputs)) // first global row of each input
		var off int64
		for i, r := range inputs {
			starts[i] = off
			off += r.Rows
		}
		tasks := make([]PlannedTask, n)
		first := 0
		for k := range n {
			lo, hi := total*int64(k)/int64(n), total*int64(k+1)/int64(n)
			for first < len(inputs) && starts[first]+inputs[first].Rows <= lo {
				first++
			}
			var refs []exec.ObjectRef
			var from []int64 // row offset within each chosen input where the slice starts
			var to []int64
			for i := first; i < len(inputs) && starts[i] < hi; i++ {
				r := inputs[i]
				if r.Rows == 0 {
					continue
				}
				refs = append(refs, r)
				from = append(from, max(lo, starts[i])-starts[i])
				to = append(to, min(hi, starts[i]+r.Rows)-starts[i])
			}
			tasks[k] = PlannedTask{Inputs: refs, Run: repartitionTaskFn(from, to, schema)}
			if enc, err := ops.MarshalSchema(schema); err == nil {
				tasks[k].Spec = taskSpec(RepartitionTaskKind, repartitionArgs{From: from, To: to, Schema: enc})
			}
		}
		return tasks, nil
	}
}

// repartitionTaskFn concatenates rows from[i]..to[i] of each input; with
// no input, it makes an empty block of schema.
func repartitionTaskFn(from, to []int64, schema *arrow.Schema) exec.RunFunc {
	return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		if len(in) == 0 {
			return []blocks.Block{blocks.Empty(tc.Alloc, schema)}, nil
		}
		parts := make([]blocks.Block, len(in))
		for i, b := range in {
			parts[i] = blocks.Slice(b, from[i], to[i])
		}
		defer releaseAll(parts)
		out, err := blocks.Concat(tc.Alloc, parts)
		if err != nil {
			return nil, err
		}
		return []blocks.Block{out}, nil
	}
}
