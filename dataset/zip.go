package dataset

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
)

// Zip puts the columns of other beside this dataset's, row by row: row i
// of the result is row i of each. Both must have the same number of rows.
// A column of other whose name this dataset already uses gets the suffix
// "_right". The output keeps this dataset's blocks; other's rows are sliced
// to match them.
func (d *Dataset) Zip(other *Dataset) *Dataset {
	if d.err != nil {
		return d
	}
	if other == nil {
		return d.withErr(errors.New("dataset.Zip: nil dataset"))
	}
	if other.err != nil {
		return d.withErr(other.err)
	}
	if other.cfg.rt != d.cfg.rt {
		return d.withErr(errors.New("dataset.Zip: the datasets run on different runtimes"))
	}
	lr, rr := d.plan.Rows(), other.plan.Rows()
	if lr >= 0 && rr >= 0 && lr != rr {
		return d.withErr(fmt.Errorf("dataset.Zip: the datasets have %d and %d rows; Zip needs equal counts", lr, rr))
	}
	var out *arrow.Schema
	if ls, rs := d.plan.Schema(), other.plan.Schema(); ls != nil && rs != nil {
		out = zipSchema(ls, rs)
	}
	return d.with(&pipeline.AllToAll{
		Input:     d.plan,
		More:      []ops.Node{other.plan},
		Label:     "Zip",
		OutSchema: out,
		PlanSides: zipPlan,
		RowsFunc:  func(rows []int64) int64 { return rows[0] },
	})
}

func zipSchema(ls, rs *arrow.Schema) *arrow.Schema {
	fields := append([]arrow.Field(nil), ls.Fields()...)
	used := map[string]bool{}
	for _, f := range fields {
		used[f.Name] = true
	}
	for _, f := range rs.Fields() {
		if used[f.Name] {
			f.Name += "_right"
		}
		fields = append(fields, f)
	}
	return arrow.NewSchema(fields, nil)
}

// zipPlan makes one task per left block, reading the right blocks that
// overlap its rows.
func zipPlan(sides [][]exec.ObjectRef) ([]pipeline.PlannedTask, error) {
	left, right := sides[0], sides[1]
	var lrows, rrows int64
	for _, r := range left {
		lrows += r.Rows
	}
	for _, r := range right {
		rrows += r.Rows
	}
	if lrows != rrows {
		return nil, fmt.Errorf("dataset.Zip: the datasets have %d and %d rows; Zip needs equal counts", lrows, rrows)
	}
	var tasks []pipeline.PlannedTask
	var lo int64     // first row of the current left block
	var rstart int64 // first row of right[ri]
	ri := 0
	for _, l := range left {
		hi := lo + l.Rows
		if l.Rows == 0 {
			continue
		}
		inputs := []exec.ObjectRef{l}
		var from, to []int64
		for ri < len(right) && rstart+right[ri].Rows <= lo {
			rstart += right[ri].Rows
			ri++
		}
		for j, start := ri, rstart; j < len(right) && start < hi; j++ {
			r := right[j]
			if r.Rows > 0 {
				inputs = append(inputs, r)
				from = append(from, max(lo, start)-start)
				to = append(to, min(hi, start+r.Rows)-start)
			}
			start += r.Rows
		}
		tasks = append(tasks, pipeline.PlannedTask{Inputs: inputs, Run: zipTaskFn(from, to),
			Spec: &exec.TaskSpec{Kind: zipTaskKind, Args: mustJSON(zipArgs{From: from, To: to})}})
		lo = hi
	}
	return tasks, nil
}

// zipArgs describe a Zip task: the rows of each right input beside the left.
type zipArgs struct {
	From []int64 `json:"from"`
	To   []int64 `json:"to"`
}

// zipTaskFn puts rows from[i]..to[i] of each right input (in[1:]) beside
// the left block in[0].
func zipTaskFn(from, to []int64) exec.RunFunc {
	return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		parts := make([]blocks.Block, len(in)-1)
		for i, b := range in[1:] {
			parts[i] = blocks.Slice(b, from[i], to[i])
		}
		defer func() {
			for _, p := range parts {
				p.Release()
			}
		}()
		r, err := blocks.Concat(tc.Alloc, parts)
		if err != nil {
			return nil, fmt.Errorf("zip: %w", err)
		}
		defer r.Release()
		schema := zipSchema(in[0].Schema(), r.Schema())
		cols := append(append([]arrow.Array(nil), in[0].Columns()...), r.Columns()...)
		return []blocks.Block{array.NewRecordBatch(schema, cols, in[0].NumRows())}, nil
	}
}
