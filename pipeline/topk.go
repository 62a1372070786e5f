package pipeline

import (
	"fmt"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// TopKMergePlan plans an ops.TopK: one task over every input block (the
// candidates each TopKPartial task kept, in input order) that keeps the
// first k rows by keys, so ties stay in input order as a sort leaves them.
// With no input rows at all there is no task and no output, as for a sort.
func TopKMergePlan(k int64, keys []blocks.SortKey) PlanFunc {
	return func(inputs []exec.ObjectRef) ([]PlannedTask, error) {
		var refs []exec.ObjectRef
		for _, r := range inputs {
			if r.Rows > 0 {
				refs = append(refs, r)
			}
		}
		if len(refs) == 0 || k == 0 {
			return nil, nil
		}
		return []PlannedTask{{
			Inputs: refs,
			Run:    topKMergeTaskFn(k, keys),
			Spec:   taskSpec(TopKMergeTaskKind, topKMergeArgs{K: k, Keys: keys}),
		}}, nil
	}
}

type topKMergeArgs struct {
	K    int64            `json:"k"`
	Keys []blocks.SortKey `json:"keys"`
}

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
