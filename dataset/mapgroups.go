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

// MapGroups calls fn once per group with all the group's rows as one Arrow
// batch (with the dataset's columns), and makes the dataset of what fn
// returns. Rows travel to their group's partition through the object
// store; one group must fit in memory. Groups come in no particular order.
func (g *Grouped) MapGroups(fn BatchFunc) *Dataset {
	if fn == nil {
		return g.d.withErr(nilFunc("MapGroups"))
	}
	name := "MapGroups(" + ops.FuncName(fn) + ")"
	return g.byGroup(name, nil, func(tc *exec.TaskContext, parts []blocks.Block) ([]blocks.Block, error) {
		all, err := concatNonEmpty(tc.Alloc, parts)
		if err != nil || all == nil {
			return nil, err
		}
		defer all.Release()
		groups, err := splitGroups(tc, all, g.keys)
		if err != nil {
			return nil, err
		}
		defer releaseBlocks(groups)
		var outs []blocks.Block
		for _, grp := range groups {
			out, err := callBatch(fn, grp)
			if err != nil {
				releaseBlocks(outs)
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			outs = append(outs, out)
		}
		if len(outs) == 0 {
			return nil, nil
		}
		defer releaseBlocks(outs)
		out, err := blocks.Concat(tc.Alloc, outs)
		if err != nil {
			return nil, fmt.Errorf("%s: the groups' results do not fit together: %w", name, err)
		}
		return []blocks.Block{out}, nil
	})
}

// byGroup hash-partitions rows by the group keys and runs reduce on each
// partition's parts.
func (g *Grouped) byGroup(label string, out *arrow.Schema, reduce func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error)) *Dataset {
	d, keys := g.d, g.keys
	if d.err != nil {
		return d
	}
	if len(keys) == 0 {
		return d.withErr(fmt.Errorf("dataset.%s: no key columns", label))
	}
	if s := d.plan.Schema(); s != nil {
		for _, c := range keys {
			if len(s.FieldIndices(c)) == 0 {
				return d.withErr(fmt.Errorf("dataset.GroupBy: key %w", &blocks.UnknownColumnError{Column: c, Schema: s}))
			}
		}
	}
	return d.with(&pipeline.Exchange{
		Input:         d.plan,
		Label:         fmt.Sprintf("GroupBy%v.%s", keys, label),
		PartitionsFor: d.reducePartitions,
		OutSchema:     out,
		Map: func(tc *exec.TaskContext, _ int, b, _ blocks.Block, n int) ([]blocks.Block, error) {
			return hashParts(tc, b, keys, n)
		},
		Reduce: func(tc *exec.TaskContext, _ int, parts []blocks.Block) ([]blocks.Block, error) {
			return reduce(tc, parts)
		},
	})
}

// hashParts splits b into n parts by the hash of its key columns; an empty
// block (which may have no columns at all) is every part.
func hashParts(tc *exec.TaskContext, b blocks.Block, keys []string, n int) ([]blocks.Block, error) {
	if b.NumRows() == 0 {
		parts := make([]blocks.Block, n)
		for j := range parts {
			b.Retain()
			parts[j] = b
		}
		return parts, nil
	}
	p, err := blocks.HashPartition(b, keys, n)
	if err != nil {
		return nil, err
	}
	return blocks.Scatter(tc.Alloc, b, p, n)
}

// groupOrder groups the rows of b: one Take puts each group's rows
// together (groups in order of first appearance, rows in input order), and
// the groups are slices of the result. It returns the grouper, the
// reordered block and each group's row range in it.
func groupOrder(tc *exec.TaskContext, grouper *blocks.Grouper, b blocks.Block, keys []string) (blocks.Block, []int32, []int64, error) {
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

// splitGroups returns each group of b as its own block (slices of one
// reordered copy), in order of first appearance.
func splitGroups(tc *exec.TaskContext, b blocks.Block, keys []string) ([]blocks.Block, error) {
	kb, err := blocks.Select(b, keys)
	if err != nil {
		return nil, err
	}
	grouper, err := blocks.NewGrouper(kb.Schema())
	kb.Release()
	if err != nil {
		return nil, err
	}
	sorted, _, starts, err := groupOrder(tc, grouper, b, keys)
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
// value: a Go value as in Item (int64, float64, string, bool, slices,
// maps, or nil).
type AggFunc struct {
	Name       string
	Init       func() any
	Accumulate func(state any, rows arrow.RecordBatch) (any, error)
	Merge      func(a, b any) (any, error)
	Finalize   func(state any) (any, error)
}

// AggregateFunc computes user-defined aggregations per group: one row per
// group with the key columns, then one column per function (named by its
// Name, typed from the finalized values). States stay in the reduce task;
// the rows themselves move, so there is no map-side combining.
func (g *Grouped) AggregateFunc(fns ...AggFunc) *Dataset {
	if len(fns) == 0 {
		return g.d.withErr(errors.New("dataset.AggregateFunc: no aggregations"))
	}
	names := make([]string, len(fns))
	for i, f := range fns {
		if f.Name == "" || f.Init == nil || f.Accumulate == nil || f.Merge == nil || f.Finalize == nil {
			return g.d.withErr(fmt.Errorf("dataset.AggregateFunc: %q needs a name and all four functions", f.Name))
		}
		names[i] = f.Name
	}
	fns = append([]AggFunc(nil), fns...)
	keys := g.keys
	return g.byGroup(fmt.Sprintf("AggregateFunc%v", names), nil, func(tc *exec.TaskContext, parts []blocks.Block) ([]blocks.Block, error) {
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
			sorted, gids, starts, err := groupOrder(tc, grouper, p, keys)
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
		items := make([]Item, grouper.NumGroups())
		for gid := range items {
			items[gid] = Item{}
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
	})
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
