package dataset

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
	"github.com/shoal-data/shoal/shuffle"
)

// MapGroups calls fn once per group with all the group's rows as one Arrow
// batch (with the dataset's columns), and makes the dataset of what fn
// returns. Rows travel to their group's partition through the object
// store; one group must fit in memory. Groups come in no particular order.
func (g *Grouped) MapGroups(fn BatchFunc) *Dataset {
	if fn == nil {
		return g.d.withErr(nilFunc("MapGroups"))
	}
	name := "MapGroups(" + funcLabel(fn) + ")"
	a := mapGroupsArgs{Keys: g.keys, Name: name}
	var spec func() *ops.Spec
	var specErr error
	if ref, err := refOf(fn); err != nil {
		specErr = unshippable(name, err)
	} else {
		a.Fn = ref
		spec = pipeline.ConstSpec(ops.MustSpec(mapGroupsKind, a))
	}
	return g.byGroup(name, nil, a.reduce(fn), spec, specErr)
}

// mapGroupsArgs describe MapGroups: the keys, the function and the stage's
// name (errors name it).
type mapGroupsArgs struct {
	Keys []string `json:"keys"`
	Fn   funcRef  `json:"fn"`
	Name string   `json:"name"`
}

// reduce is MapGroups' reduce: fn over each group of a partition.
func (a mapGroupsArgs) reduce(fn BatchFunc) func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
	keys, name := a.Keys, a.Name
	return func(tc *exec.TaskContext, parts []blocks.Block) ([]blocks.Block, error) {
		all, err := shuffle.ConcatNonEmpty(tc.Alloc, parts)
		if err != nil || all == nil {
			return nil, err
		}
		defer all.Release()
		groups, err := shuffle.SplitGroups(tc, all, keys)
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
	}
}

// hashPartsMap is the map of a hash exchange by keys.
func hashPartsMap(keys []string) func(*exec.TaskContext, int, blocks.Block, blocks.Block, int) ([]blocks.Block, error) {
	return func(tc *exec.TaskContext, _ int, b, _ blocks.Block, n int) ([]blocks.Block, error) {
		return shuffle.HashParts(tc, b, keys, n)
	}
}

// byGroup hash-partitions rows by the group keys and runs reduce on each
// partition's parts; spec and specErr are the exchange's.
func (g *Grouped) byGroup(label string, out *arrow.Schema, reduce func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error),
	spec func() *ops.Spec, specErr error) *Dataset {
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
		Map:           hashPartsMap(keys),
		Spec:          spec,
		SpecErr:       specErr,
		Reduce: func(tc *exec.TaskContext, _ int, parts []blocks.Block) ([]blocks.Block, error) {
			return reduce(tc, parts)
		},
	})
}

// AggFunc is a user-defined aggregation: Init makes an empty state,
// Accumulate folds a batch of one group's rows into a state, Merge
// combines two states of the same group (a group's rows arrive in several
// parts, one per map task), and Finalize turns a state into the output
// value: a Go value as in Item (int64, float64, string, bool, slices,
// maps, or nil).
type AggFunc = shuffle.AggFunc

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
		return shuffle.AggregateFuncPartition(tc, parts, keys, fns)
	}, nil, nil)
}
