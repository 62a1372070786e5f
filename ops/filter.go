package ops

import (
	"encoding/json"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// applyMask keeps the rows of b where mask is true (null drops the row, as
// SQL does), gathered with the typed kernels of blocks.Take.
func applyMask(mem memory.Allocator, m *array.Boolean, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	idx := maskIndices(m)
	if len(idx) == m.Len() {
		b.Retain()
		return b, nil
	}
	return blocks.Take(mem, b, idx)
}

// maskIndices lists the rows where m is true and not null, a byte of the
// bitmap at a time when m starts on a byte boundary (as masks made here do).
func maskIndices(m *array.Boolean) []int64 {
	n := m.Len()
	var idx []int64
	data := m.Data()
	if n == 0 {
		return nil
	}
	if data.Offset()%8 != 0 || data.Buffers()[1] == nil {
		for i := range n {
			if m.Value(i) && m.IsValid(i) {
				idx = append(idx, int64(i))
			}
		}
		return idx
	}
	vals := data.Buffers()[1].Bytes()[data.Offset()/8:]
	var valid []byte
	if m.NullN() > 0 && data.Buffers()[0] != nil {
		valid = data.Buffers()[0].Bytes()[data.Offset()/8:]
	}
	count := 0
	for j := 0; j < (n+7)/8; j++ {
		b := vals[j]
		if valid != nil {
			b &= valid[j]
		}
		count += bits.OnesCount8(b)
	}
	idx = make([]int64, 0, count)
	for j := 0; j < (n+7)/8; j++ {
		b := vals[j]
		if valid != nil {
			b &= valid[j]
		}
		for b != 0 {
			k := bits.TrailingZeros8(b)
			if i := j*8 + k; i < n {
				idx = append(idx, int64(i))
			}
			b &= b - 1
		}
	}
	return idx
}

// filterThenProject is a Where stage followed by a column selection in one
// stage: the predicate is computed on the input, the selection made, and
// only the selected columns are gathered, not the ones only the predicate
// read.
func filterThenProject(where, project *OneToOne) *OneToOne {
	st := &OneToOne{
		Label:          where.Label + "->" + project.Label,
		PreservesRows:  false,
		OutSchema:      chainSchemas(where.OutSchema, project.OutSchema),
		Project:        project.Project,
		CPUs:           where.CPUs,
		MaxConcurrency: where.MaxConcurrency,
		Fn:             filterProjectFn(where.Predicate, project.Fn),
	}
	if project.Spec != nil {
		// The stage runs the predicate and the selection's own function:
		// it ships when both do.
		if pred, err := MarshalExpr(where.Predicate); err == nil {
			st.Spec, _ = NewSpec(whereSelectKind, whereSelectArgs{Predicate: pred, Project: *project.Spec})
		}
	}
	return st
}

// whereSelectKind is the stage kind of a Where fused with a selection.
const whereSelectKind = "ops.where-select"

type whereSelectArgs struct {
	Predicate json.RawMessage `json:"predicate"`
	Project   Spec            `json:"project"`
}

func init() {
	RegisterStage(whereSelectKind, func(args json.RawMessage) (BlockFn, error) {
		var a whereSelectArgs
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		pred, err := UnmarshalExpr(a.Predicate)
		if err != nil {
			return nil, err
		}
		sel, err := BuildStage(a.Project)
		if err != nil {
			return nil, err
		}
		return filterProjectFn(pred, sel), nil
	})
}

// filterProjectFn computes pred on a block, selects with sel and gathers
// the selected columns of the rows where pred holds.
func filterProjectFn(pred Expr, sel BlockFn) BlockFn {
	return func(tc *exec.TaskContext, in arrow.RecordBatch) (arrow.RecordBatch, error) {
		if in.NumCols() == 0 {
			in.Retain()
			return in, nil
		}
		mask, err := pred.Eval(tc, tc.Alloc, in)
		if err != nil {
			return nil, err
		}
		defer mask.Release()
		projected, err := sel(tc, in)
		if err != nil {
			return nil, err
		}
		defer projected.Release()
		return applyMask(tc.Alloc, mask.(*array.Boolean), projected)
	}
}

func chainSchemas(a, b func(*arrow.Schema) (*arrow.Schema, error)) func(*arrow.Schema) (*arrow.Schema, error) {
	if a == nil || b == nil {
		return nil
	}
	return func(in *arrow.Schema) (*arrow.Schema, error) {
		mid, err := a(in)
		if err != nil {
			return nil, err
		}
		return b(mid)
	}
}
