package dataset

import (
	"fmt"
	"slices"

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
// key columns, which both sides must have with the same types: it is
// JoinOn(other, on, on, kind).
func (d *Dataset) Join(other *Dataset, on []string, kind JoinKind) *Dataset {
	return d.join("dataset.Join", other, shuffle.SameKeys(on), kind)
}

// JoinOn joins the dataset (left) with other (right) where leftOn[i] on the
// left equals rightOn[i] on the right, for every i: keys named differently
// on each side, as SQL's "ON l.a = r.b" (Polars' left_on/right_on). Each
// pair of key columns must have the same type; a missing key or a type
// mismatch is an error when the plan is built, naming both columns and
// types. Null keys match nothing, as in SQL.
//
// The output has one column per key pair, named and typed as the left key,
// then the left side's other columns, then the right side's other columns;
// the right key columns are dropped, since they equal the left ones on
// matched rows. For right and full joins, a right row without a match
// gives its key values to the left key column (a coalesce, as SQL's USING),
// so no key is lost. A right column whose name the output already uses gets
// the suffix "_right". Semi and anti joins keep only the left columns.
//
// Both sides are hash-partitioned by key through the object store (and
// spill); each partition is joined by building a hash table on its right
// rows and probing it with its left rows.
func (d *Dataset) JoinOn(other *Dataset, leftOn, rightOn []string, kind JoinKind) *Dataset {
	return d.join("dataset.JoinOn", other, shuffle.JoinKeys{Left: leftOn, Right: rightOn}, kind)
}

func (d *Dataset) join(method string, other *Dataset, on shuffle.JoinKeys, kind JoinKind) *Dataset {
	if d.err != nil {
		return d
	}
	if other == nil {
		return d.withErr(fmt.Errorf("%s: nil dataset", method))
	}
	if other.err != nil {
		return d.withErr(other.err)
	}
	if other.cfg.rt != d.cfg.rt {
		return d.withErr(fmt.Errorf("%s: the datasets run on different runtimes", method))
	}
	if kind < InnerJoin || kind > AntiJoin {
		return d.withErr(fmt.Errorf("%s: unknown join kind %d", method, kind))
	}
	on = shuffle.JoinKeys{Left: slices.Clone(on.Left), Right: slices.Clone(on.Right)}
	ls, rs := d.plan.Schema(), other.plan.Schema()
	if err := shuffle.CheckJoinKeys(ls, rs, on); err != nil {
		return d.withErr(fmt.Errorf("%s: %w", method, err))
	}
	return d.with(newJoinExchange(d.plan, other.plan, on, kind, d.hashPartitions))
}

// newJoinExchange is the exchange that joins left with right. Its tasks
// carry both sides' schemas, so an optimizer that narrows an input
// rebuilds the exchange (PruneInputs) rather than editing its children.
func newJoinExchange(left, right ops.Node, on shuffle.JoinKeys, kind JoinKind, partitionsFor func(int, int64) int) *pipeline.Exchange {
	ls, rs := left.Schema(), right.Schema()
	var outSchema *arrow.Schema
	if ls != nil && rs != nil {
		outSchema = shuffle.JoinSchema(ls, rs, on, kind)
	}
	var spec func() *ops.Spec
	a := joinArgs{On: on.Left, Kind: kind, Broadcast: broadcastJoin(right, kind)}
	if !slices.Equal(on.Left, on.Right) {
		a.RightOn = on.Right
	}
	var err1, err2 error
	a.Left, err1 = ops.MarshalSchema(ls)
	a.Right, err2 = ops.MarshalSchema(rs)
	if err1 == nil && err2 == nil {
		spec = pipeline.ConstSpec(ops.MustSpec(joinKind, a))
	}
	f := a.funcs(ls, rs)
	x := &pipeline.Exchange{
		Input:         left,
		More:          []ops.Node{right},
		Label:         joinLabel(kind, on, a.Broadcast),
		PartitionsFor: partitionsFor,
		OutSchema:     outSchema,
		FilterInputs:  joinFilterSides(ls, rs, on, kind),
		MapSide:       f.MapSide,
		ReduceSides:   f.ReduceSides,
		Spec:          spec,
	}
	if a.Broadcast {
		x.Broadcast = func(right []byte) (*ops.OneToOne, error) {
			return broadcastStage(a, x.Label, outSchema, right)
		}
	}
	if outSchema != nil {
		x.PruneInputs = func(out []string) ([][]string, func([]ops.Node) ops.Node) {
			need := joinInputNeeds(ls, rs, outSchema, on, kind, out)
			if need == nil {
				return nil, nil
			}
			return need, func(kids []ops.Node) ops.Node {
				return newJoinExchange(kids[0], kids[1], on, kind, partitionsFor)
			}
		}
	}
	return x
}

// joinInputNeeds is the columns each side of a join must give for the
// output columns out to be computed: the keys, and each needed column's
// source, plus any left column whose name makes a kept right column's
// "_right" suffix (so every output column keeps its name). Nil when that
// is every column of both sides.
func joinInputNeeds(ls, rs, outSchema *arrow.Schema, on shuffle.JoinKeys, kind JoinKind, out []string) [][]string {
	left := slices.Clone(on.Left)
	right := slices.Clone(on.Right)
	// Output fields, in order: the keys, the left's other columns, then
	// the right's other columns under their output names.
	i := len(on.Left)
	for _, f := range ls.Fields() {
		if slices.Contains(on.Left, f.Name) {
			continue
		}
		if slices.Contains(out, f.Name) {
			left = append(left, f.Name)
		}
		i++
	}
	if kind != SemiJoin && kind != AntiJoin {
		for _, f := range rs.Fields() {
			if slices.Contains(on.Right, f.Name) {
				continue
			}
			if i < outSchema.NumFields() && slices.Contains(out, outSchema.Field(i).Name) {
				right = append(right, f.Name)
				if outSchema.Field(i).Name != f.Name && !slices.Contains(left, f.Name) {
					left = append(left, f.Name) // keeps the suffix
				}
			}
			i++
		}
	}
	if len(left) == ls.NumFields() && len(right) == rs.NumFields() {
		return nil
	}
	return [][]string{left, right}
}

func joinLabel(kind JoinKind, on shuffle.JoinKeys, broadcast bool) string {
	if broadcast {
		return fmt.Sprintf("Join(%s, on=%s, broadcast right)", kind, on)
	}
	return fmt.Sprintf("Join(%s, on=%s)", kind, on)
}

// broadcastRows is the most rows a right side may have for a left-keeping
// join to broadcast it: every reduce task builds its hash table.
const broadcastRows = 100_000

// broadcastJoin reports whether a join should broadcast its right side:
// a left-preserving kind (inner, left, semi, anti: no reduce needs the
// right rows no left row matched anywhere) over a right side known to be
// small.
func broadcastJoin(right ops.Node, kind JoinKind) bool {
	rows := right.Rows()
	return rows >= 0 && rows <= broadcastRows && (kind == InnerJoin || kind == LeftJoin || kind == SemiJoin || kind == AntiJoin)
}

// broadcastParts splits a block for a broadcast join: a right block (side
// 1) goes whole to every part, a left block whole to part index mod n; the
// other parts are empty slices of it. Each part carries a reference.
func broadcastParts(b blocks.Block, side, index, n int) []blocks.Block {
	parts := make([]blocks.Block, n)
	for j := range parts {
		if side == 1 || j == index%n {
			b.Retain()
			parts[j] = b
		} else {
			parts[j] = b.NewSlice(0, 0)
		}
	}
	return parts
}

// joinFilterSides says where a filter above a join may go: to the left
// input when it reads only left columns and the join keeps left rows as
// they are (inner, left, semi, anti); to the right input when it reads
// only right columns that keep their names in the output (not the keys,
// not renamed) and the join keeps right rows as they are (inner, right).
func joinFilterSides(ls, rs *arrow.Schema, on shuffle.JoinKeys, kind JoinKind) func([]string) []int {
	if ls == nil || rs == nil {
		return nil
	}
	has := func(s *arrow.Schema, c string) bool { return len(s.FieldIndices(c)) > 0 }
	return func(cols []string) []int {
		left, right := len(cols) > 0, len(cols) > 0
		for _, c := range cols {
			left = left && has(ls, c)
			right = right && has(rs, c) && !has(ls, c) && !slices.Contains(on.Right, c)
		}
		switch {
		case left && (kind == InnerJoin || kind == LeftJoin || kind == SemiJoin || kind == AntiJoin):
			return []int{0}
		case right && (kind == InnerJoin || kind == RightJoin):
			return []int{1}
		}
		return nil
	}
}

// joinArgs describe a Join; the sides' schemas are Arrow IPC (absent when
// unknown before running).
// RightOn is absent when the right keys are named as the left ones (On).
type joinArgs struct {
	// Broadcast sends every right block to every partition and each left
	// block whole to one, instead of hashing both sides (a small right
	// side, known before the join runs).
	Broadcast bool     `json:"broadcast,omitempty"`
	On        []string `json:"on"`
	RightOn   []string `json:"right_on,omitempty"`
	Kind      JoinKind `json:"kind"`
	Left      []byte   `json:"left,omitempty"`
	Right     []byte   `json:"right,omitempty"`
}

func (a joinArgs) funcs(ls, rs *arrow.Schema) pipeline.ExchangeFuncs {
	on, kind := shuffle.SameKeys(a.On), a.Kind
	if a.RightOn != nil {
		on.Right = a.RightOn
	}
	return pipeline.ExchangeFuncs{
		MapSide: func(tc *exec.TaskContext, side, index int, b blocks.Block, n int) ([]blocks.Block, error) {
			if a.Broadcast {
				return broadcastParts(b, side, index, n), nil
			}
			// Equal values hash alike whatever their column's name, so
			// both sides' matching rows meet in the same partition.
			return shuffle.HashParts(tc, b, [][]string{on.Left, on.Right}[side], n)
		},
		ReduceSides: func(tc *exec.TaskContext, _ int, parts [][]blocks.Block) ([]blocks.Block, error) {
			return shuffle.JoinReduce(tc, parts, [2]*arrow.Schema{ls, rs}, on, kind)
		},
	}
}
