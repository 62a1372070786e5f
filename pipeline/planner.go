package pipeline

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/ops"
)

// AllToAll is a logical barrier operator whose reduce side is planned by a
// PlanFunc once all inputs are in: repartition today, shuffles and sorts later.
type AllToAll struct {
	Input ops.Node
	Label string
	Plan  PlanFunc
	// More are further inputs; with them PlanSides plans instead of Plan.
	More      []ops.Node
	PlanSides PlanSidesFunc
	// OutSchema, when set, is the output schema; otherwise the input's.
	OutSchema *arrow.Schema
	// RowsFunc, when set, derives the row count from the inputs' (each -1
	// when unknown); otherwise the input's row count.
	RowsFunc func(inputs []int64) int64
}

func (a *AllToAll) Name() string         { return a.Label }
func (a *AllToAll) Children() []ops.Node { return append([]ops.Node{a.Input}, a.More...) }
func (a *AllToAll) WithChildren(c []ops.Node) ops.Node {
	n := *a
	n.Input, n.More = c[0], append([]ops.Node(nil), c[1:]...)
	return &n
}
func (a *AllToAll) Schema() *arrow.Schema {
	if a.OutSchema != nil || len(a.More) > 0 {
		return a.OutSchema // with several inputs, only the builder knows
	}
	return a.Input.Schema()
}
func (a *AllToAll) Rows() int64 {
	if a.RowsFunc != nil {
		rows := make([]int64, 0, 1+len(a.More))
		for _, c := range a.Children() {
			rows = append(rows, c.Rows())
		}
		return a.RowsFunc(rows)
	}
	return a.Input.Rows()
}

// Build turns an optimized logical plan into physical operators. queue is
// how many ready bundles a map operator queues before upstream waits.
func Build(n ops.Node, queue int) (Operator, error) {
	switch n := n.(type) {
	case *ops.Read:
		tasks, err := n.Source.ReadTasks(n.Parallelism)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Name(), err)
		}
		src := newSourceOp(n.Name(), tasks, nil, n.CPUs)
		src.maxConcurrency = n.MaxConcurrency
		return src, nil
	case *ops.Refs:
		return &refsOp{name: n.Name(), refs: n.Refs, keep: n}, nil
	case *ops.OneToOne:
		return Build(&ops.Fused{Input: n.Input, Stages: []*ops.OneToOne{n}}, queue)
	case *ops.Fused:
		// Reads fuse with what follows them, as Ray fuses Read->Map, unless
		// the chain wants batches larger than a read task may produce.
		if n.HasActors() {
			in, err := Build(n.Input, queue)
			if err != nil {
				return nil, err
			}
			return newActorPoolOp(n.Name(), in, n.Stages[0], queue), nil
		}
		if r, ok := fusesWithRead(n); ok {
			tasks, err := r.Source.ReadTasks(r.Parallelism)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.Name(), err)
			}
			src := newSourceOp(r.Name()+"->"+n.Name(), tasks, n.Stages, r.CPUs)
			src.maxConcurrency = r.MaxConcurrency
			return src, nil
		}
		in, err := Build(n.Input, queue)
		if err != nil {
			return nil, err
		}
		m := newMapOp(n.Name(), in, n.Stages, n.BatchRows(), queue)
		m.cpus, m.maxConcurrency = n.TaskCPUs(), n.MaxConcurrency()
		return m, nil
	case *ops.Limit:
		in, err := Build(n.Input, queue)
		if err != nil {
			return nil, err
		}
		return &limitOp{name: n.Name(), input: in, remaining: n.N}, nil
	case *ops.TopK:
		in, err := Build(n.Input, queue)
		if err != nil {
			return nil, err
		}
		return newTopKOp(n, in), nil
	case *ops.Union:
		ins := make([]Operator, len(n.Inputs))
		for i, c := range n.Inputs {
			in, err := Build(c, queue)
			if err != nil {
				return nil, err
			}
			ins[i] = in
		}
		return newUnionOp(n.Name(), ins), nil
	case *ops.Repartition:
		in, err := Build(n.Input, queue)
		if err != nil {
			return nil, err
		}
		return newAllToAllOp(n.Name(), in, RepartitionPlan(n.N, n.Schema())), nil
	case *AllToAll:
		var ins []Operator
		for _, c := range n.Children() {
			in, err := Build(c, queue)
			if err != nil {
				return nil, err
			}
			ins = append(ins, in)
		}
		op := newAllToAllOp(n.Name(), ins[0], n.Plan)
		op.inputs, op.planSides = ins, n.PlanSides
		return op, nil
	case *Exchange:
		if op, ok, err := buildReadExchange(n); ok || err != nil {
			return op, err
		}
		n = withUpfrontPartitions(n)
		if f, ok := n.Input.(*ops.Fused); ok && n.Sample == nil && n.Partitions > 0 && len(n.More) == 0 && f.BatchRows() == 0 && !f.HasActors() {
			// Run the one-to-one chain before the exchange inside its map
			// tasks: each block goes through the chain and is split into
			// parts in one task, without a trip through the object store.
			// Only where the map streams (N fixed up front): an exchange
			// that waits for all its inputs first would otherwise gather
			// blocks before a filter could shrink them.
			in, err := Build(f.Input, queue)
			if err != nil {
				return nil, err
			}
			return newExchangeOp(fuseIntoMap(n, f), in), nil
		}
		var ins []Operator
		for _, c := range n.Children() {
			in, err := Build(c, queue)
			if err != nil {
				return nil, err
			}
			ins = append(ins, in)
		}
		return newExchangeOp(n, ins...), nil
	}
	return nil, fmt.Errorf("pipeline: no physical operator for %T", n)
}

// Format prints a physical plan as an indented tree, the output first.
func Format(op Operator) string {
	var b strings.Builder
	var walk func(op Operator, depth int)
	walk = func(op Operator, depth int) {
		kind := "Stream"
		switch op.(type) {
		case *sourceOp:
			kind = "Read"
		case *mapOp:
			kind = "Map"
		case *allToAllOp:
			kind = "AllToAll"
		case *exchangeOp:
			kind = "Exchange"
		case *limitOp:
			kind = "Limit"
		case *topKOp:
			kind = "TopK"
		case *unionOp:
			kind = "Union"
		case *refsOp:
			kind = "Input"
		}
		fmt.Fprintf(&b, "%s%s[%s]\n", strings.Repeat("  ", depth), kind, op.Name())
		for _, in := range op.Inputs() {
			walk(in, depth+1)
		}
	}
	walk(op, 0)
	return b.String()
}

// fuseIntoMap returns a copy of x whose map first runs f's stages.
func fuseIntoMap(x *Exchange, f *ops.Fused) *Exchange {
	fused := *x
	fused.Input = f.Input
	fused.Label = f.Name() + "->" + x.Label
	fused.stages = append(append([]*ops.OneToOne(nil), f.Stages...), x.stages...) // f's run first
	fused.Map = stagesThenMap(f.Stages, x.Map)
	return &fused
}
