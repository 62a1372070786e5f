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

// JoinKind is the kind of a join.
type JoinKind = shuffle.JoinKind

const (
	// InnerJoin keeps pairs of rows whose keys match.
	InnerJoin = shuffle.InnerJoin
	// LeftJoin also keeps left rows without a match, with nulls on the right.
	LeftJoin = shuffle.LeftJoin
	// RightJoin also keeps right rows without a match, with nulls on the left.
	RightJoin = shuffle.RightJoin
	// FullJoin keeps unmatched rows of both sides.
	FullJoin = shuffle.FullJoin
	// SemiJoin keeps the left rows that have a match, once each, left columns only.
	SemiJoin = shuffle.SemiJoin
	// AntiJoin keeps the left rows without a match, left columns only.
	AntiJoin = shuffle.AntiJoin
)

// Join joins the dataset (left) with other (right) on equal values of the
// key columns, which both sides must have with the same types. Null keys
// match nothing, as in SQL. The output has the key columns, the left
// columns, then the right columns; a right column whose name the left side
// already uses gets the suffix "_right". Both sides are hash-partitioned by
// key through the object store (and spill); each partition is joined by
// building a hash table on its right rows and probing it with its left rows.
func (d *Dataset) Join(other *Dataset, on []string, kind JoinKind) *Dataset {
	if d.err != nil {
		return d
	}
	if other == nil {
		return d.withErr(errors.New("dataset.Join: nil dataset"))
	}
	if other.err != nil {
		return d.withErr(other.err)
	}
	if other.cfg.rt != d.cfg.rt {
		return d.withErr(errors.New("dataset.Join: the datasets run on different runtimes"))
	}
	if len(on) == 0 {
		return d.withErr(errors.New("dataset.Join: no key columns"))
	}
	if kind < InnerJoin || kind > AntiJoin {
		return d.withErr(fmt.Errorf("dataset.Join: unknown join kind %d", kind))
	}
	on = append([]string(nil), on...)
	var outSchema *arrow.Schema
	ls, rs := d.plan.Schema(), other.plan.Schema()
	for side, s := range []*arrow.Schema{ls, rs} {
		if s == nil {
			continue
		}
		for _, k := range on {
			if len(s.FieldIndices(k)) == 0 {
				return d.withErr(fmt.Errorf("dataset.Join: %s side: %w", [...]string{"left", "right"}[side], &blocks.UnknownColumnError{Column: k, Schema: s}))
			}
		}
	}
	if ls != nil && rs != nil {
		for _, k := range on {
			lt, rt := ls.Field(ls.FieldIndices(k)[0]).Type, rs.Field(rs.FieldIndices(k)[0]).Type
			if !arrow.TypeEqual(lt, rt) {
				return d.withErr(fmt.Errorf("dataset.Join: key %q is %s on the left but %s on the right", k, lt, rt))
			}
		}
		outSchema = shuffle.JoinSchema(ls, rs, on, kind)
	}
	var spec func() *ops.Spec
	a := joinArgs{On: on, Kind: kind}
	var err1, err2 error
	a.Left, err1 = ops.MarshalSchema(ls)
	a.Right, err2 = ops.MarshalSchema(rs)
	if err1 == nil && err2 == nil {
		spec = pipeline.ConstSpec(ops.MustSpec(joinKind, a))
	}
	f := a.funcs(ls, rs)
	return d.with(&pipeline.Exchange{
		Input:         d.plan,
		More:          []ops.Node{other.plan},
		Label:         fmt.Sprintf("Join(%s, on=%v)", kind, on),
		PartitionsFor: d.reducePartitions,
		OutSchema:     outSchema,
		MapSide:       f.MapSide,
		ReduceSides:   f.ReduceSides,
		Spec:          spec,
	})
}

// joinArgs describe a Join; the sides' schemas are Arrow IPC (absent when
// unknown before running).
type joinArgs struct {
	On    []string `json:"on"`
	Kind  JoinKind `json:"kind"`
	Left  []byte   `json:"left,omitempty"`
	Right []byte   `json:"right,omitempty"`
}

func (a joinArgs) funcs(ls, rs *arrow.Schema) pipeline.ExchangeFuncs {
	on, kind := a.On, a.Kind
	return pipeline.ExchangeFuncs{
		MapSide: func(tc *exec.TaskContext, _, _ int, b blocks.Block, n int) ([]blocks.Block, error) {
			return shuffle.HashParts(tc, b, on, n)
		},
		ReduceSides: func(tc *exec.TaskContext, _ int, parts [][]blocks.Block) ([]blocks.Block, error) {
			return shuffle.JoinReduce(tc, parts, [2]*arrow.Schema{ls, rs}, on, kind)
		},
	}
}
