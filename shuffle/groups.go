package shuffle

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// GroupOrder groups the rows of b: one Take puts each group's rows
// together (groups in order of first appearance, rows in input order), and
// the groups are slices of the result. It returns the grouper, the
// reordered block and each group's row range in it.
func GroupOrder(tc *exec.TaskContext, grouper *blocks.Grouper, b blocks.Block, keys []string) (blocks.Block, []int32, []int64, error) {
	kb, err := blocks.Select(b, keys)
	if err != nil {
		return nil, nil, nil, err
	}
	defer kb.Release()
	gids, err := grouper.Add(kb, keys)
	if err != nil {
		return nil, nil, nil, err
	}
	ngroups := grouper.NumGroups()
	starts := make([]int64, ngroups+1)
	for _, g := range gids {
		starts[g+1]++
	}
	for g := range ngroups {
		starts[g+1] += starts[g]
	}
	pos := append([]int64(nil), starts[:ngroups]...)
	order := make([]int64, len(gids))
	for r, g := range gids {
		order[pos[g]] = int64(r)
		pos[g]++
	}
	sorted, err := blocks.Take(tc.Alloc, b, order)
	if err != nil {
		return nil, nil, nil, err
	}
	return sorted, gids, starts, nil
}

// SplitGroups returns each group of b as its own block (slices of one
// reordered copy), in order of first appearance.
func SplitGroups(tc *exec.TaskContext, b blocks.Block, keys []string) ([]blocks.Block, error) {
	kb, err := blocks.Select(b, keys)
	if err != nil {
		return nil, err
	}
	grouper, err := blocks.NewGrouper(kb.Schema())
	kb.Release()
	if err != nil {
		return nil, err
	}
	sorted, _, starts, err := GroupOrder(tc, grouper, b, keys)
	if err != nil {
		return nil, err
	}
	defer sorted.Release()
	out := make([]blocks.Block, len(starts)-1)
	for g := range out {
		out[g] = blocks.Slice(sorted, starts[g], starts[g+1])
	}
	return out, nil
}

// AggFunc is a user-defined aggregation: Init makes an empty state,
// Accumulate folds a batch of one group's rows into a state, Merge
// combines two states of the same group (a group's rows arrive in several
// parts, one per map task), and Finalize turns a state into the output
// value: a Go value as in blocks.Item (int64, float64, string, bool, slices,
// maps, or nil).
type AggFunc struct {
	Name       string
	Init       func() any
	Accumulate func(state any, rows arrow.RecordBatch) (any, error)
	Merge      func(a, b any) (any, error)
	Finalize   func(state any) (any, error)
}

// AggregateFuncPartition is the reduce side of user-defined aggregations:
// it groups each part's rows by keys, accumulates each group's rows of the
// part into a fresh state and merges it into the group's state, then
// finalizes: one row per group with the key columns, then one column per
// function. No rows give no block.
func AggregateFuncPartition(tc *exec.TaskContext, parts []blocks.Block, keys []string, fns []AggFunc) ([]blocks.Block, error) {
	var grouper *blocks.Grouper
	var states [][]any // per function, per group
	for _, p := range parts {
		if p.NumRows() == 0 {
			continue
		}
		if grouper == nil {
			kb, err := blocks.Select(p, keys)
			if err != nil {
				return nil, err
			}
			grouper, err = blocks.NewGrouper(kb.Schema())
			kb.Release()
			if err != nil {
				return nil, err
			}
			states = make([][]any, len(fns))
		}
		sorted, gids, starts, err := GroupOrder(tc, grouper, p, keys)
		if err != nil {
			return nil, err
		}
		_ = gids
		for k, f := range fns {
			for len(states[k]) < grouper.NumGroups() {
				states[k] = append(states[k], f.Init())
			}
			for gid := range grouper.NumGroups() {
				if starts[gid] == starts[gid+1] {
					continue // no rows of this group in this part
				}
				rows := blocks.Slice(sorted, starts[gid], starts[gid+1])
				s, err := callAgg(f.Name, func() (any, error) { return f.Accumulate(f.Init(), rows) })
				rows.Release()
				if err == nil {
					s, err = callAgg(f.Name, func() (any, error) { return f.Merge(states[k][gid], s) })
				}
				if err != nil {
					sorted.Release()
					return nil, err
				}
				states[k][gid] = s
			}
		}
		sorted.Release()
	}
	if grouper == nil {
		return nil, nil
	}
	keyBlock, err := grouper.Keys(tc.Alloc)
	if err != nil {
		return nil, err
	}
	defer keyBlock.Release()
	items := make([]blocks.Item, grouper.NumGroups())
	for gid := range items {
		items[gid] = blocks.Item{}
		for k, f := range fns {
			v, err := callAgg(f.Name, func() (any, error) { return f.Finalize(states[k][gid]) })
			if err != nil {
				return nil, err
			}
			items[gid][f.Name] = v
		}
	}
	vals, err := blocks.FromItems(tc.Alloc, items)
	if err != nil {
		return nil, fmt.Errorf("AggregateFunc results: %w", err)
	}
	defer vals.Release()
	fields := append(append([]arrow.Field(nil), keyBlock.Schema().Fields()...), vals.Schema().Fields()...)
	cols := append(append([]arrow.Array(nil), keyBlock.Columns()...), vals.Columns()...)
	return []blocks.Block{array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, keyBlock.NumRows())}, nil
}

// callAgg runs one step of a user's aggregation, naming it in errors and
// turning a panic into an error.
func callAgg(name string, step func() (any, error)) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("aggregation %s: panic: %v", name, p)
		}
	}()
	v, err = step()
	if err != nil {
		err = fmt.Errorf("aggregation %s: %w", name, err)
	}
	return v, err
}
