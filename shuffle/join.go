package shuffle

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// JoinKind is the kind of a join.
type JoinKind int

const (
	// InnerJoin keeps pairs of rows whose keys match.
	InnerJoin JoinKind = iota
	// LeftJoin also keeps left rows without a match, with nulls on the right.
	LeftJoin
	// RightJoin also keeps right rows without a match, with nulls on the left.
	RightJoin
	// FullJoin keeps unmatched rows of both sides.
	FullJoin
	// SemiJoin keeps the left rows that have a match, once each, left columns only.
	SemiJoin
	// AntiJoin keeps the left rows without a match, left columns only.
	AntiJoin
)

var joinNames = [...]string{"inner", "left", "right", "full", "semi", "anti"}

// String is the kind's lowercase name ("inner", "left", ...).
func (k JoinKind) String() string {
	if int(k) < len(joinNames) {
		return joinNames[k]
	}
	return fmt.Sprintf("JoinKind(%d)", int(k))
}

// JoinKeys are the key columns of a join, by side: Left[i] is compared with
// Right[i]. The output keeps one column per pair, named Left[i].
type JoinKeys struct {
	Left, Right []string
}

// SameKeys are keys named the same on both sides.
func SameKeys(on []string) JoinKeys { return JoinKeys{Left: on, Right: on} }

// String shows the keys as "[a b]", or "[a b]=[c d]" when the sides' names
// differ.
func (k JoinKeys) String() string {
	if slices.Equal(k.Left, k.Right) {
		return fmt.Sprint(k.Left)
	}
	return fmt.Sprintf("%v=%v", k.Left, k.Right)
}

var sideNames = [...]string{"left", "right"}

// CheckJoinKeys checks that both sides have their key columns and that each
// pair has the same type (Grouper compares keys of one type). ls or rs may be
// nil (unknown): only the other side is checked.
func CheckJoinKeys(ls, rs *arrow.Schema, keys JoinKeys) error {
	if len(keys.Left) == 0 {
		return errors.New("no key columns")
	}
	if len(keys.Left) != len(keys.Right) {
		return fmt.Errorf("%d left key columns %v but %d right ones %v", len(keys.Left), keys.Left, len(keys.Right), keys.Right)
	}
	for side, names := range [][]string{keys.Left, keys.Right} {
		seen := map[string]bool{}
		for _, k := range names {
			if seen[k] {
				return fmt.Errorf("%s key %q is given twice", sideNames[side], k)
			}
			seen[k] = true
		}
	}
	for side, s := range []*arrow.Schema{ls, rs} {
		if s == nil {
			continue
		}
		for _, k := range [][]string{keys.Left, keys.Right}[side] {
			if len(s.FieldIndices(k)) == 0 {
				return fmt.Errorf("%s side: %w", sideNames[side], &blocks.UnknownColumnError{Column: k, Schema: s})
			}
		}
	}
	if ls == nil || rs == nil {
		return nil
	}
	for i, l := range keys.Left {
		r := keys.Right[i]
		lt, rt := ls.Field(ls.FieldIndices(l)[0]).Type, rs.Field(rs.FieldIndices(r)[0]).Type
		if !arrow.TypeEqual(lt, rt) {
			if l == r {
				return fmt.Errorf("key %q is %s on the left but %s on the right", l, lt, rt)
			}
			return fmt.Errorf("left key %q is %s but right key %q is %s: keys must have the same type (cast one side first)", l, lt, r, rt)
		}
	}
	return nil
}

// JoinReduce is the reduce side of a join: it concatenates each side's
// parts (parts[0] left, parts[1] right) and joins them with JoinPartition.
// schemas are the sides' schemas where the plan knows them; a side with a
// non-void part takes that part's schema instead.
func JoinReduce(tc *exec.TaskContext, parts [][]blocks.Block, schemas [2]*arrow.Schema, on JoinKeys, kind JoinKind) ([]blocks.Block, error) {
	for side := range parts {
		for _, p := range parts[side] {
			if !blocks.IsVoid(p) {
				schemas[side] = p.Schema()
				break
			}
		}
	}
	left, err := ConcatNonEmpty(tc.Alloc, parts[0])
	if err != nil {
		return nil, fmt.Errorf("join left side: %w", err)
	}
	if left != nil {
		defer left.Release()
	}
	right, err := ConcatNonEmpty(tc.Alloc, parts[1])
	if err != nil {
		return nil, fmt.Errorf("join right side: %w", err)
	}
	if right != nil {
		defer right.Release()
	}
	out, err := JoinPartition(tc, left, right, schemas, on, kind)
	if err != nil || out == nil {
		return nil, err
	}
	return []blocks.Block{out}, nil
}

// JoinSchema is the output schema of a join: the key columns (one per
// pair, named and typed as on the left), the left side's other columns, then
// the right side's other columns, those whose name is already used getting
// the suffix "_right". Semi and anti joins have no right columns.
func JoinSchema(ls, rs *arrow.Schema, on JoinKeys, kind JoinKind) *arrow.Schema {
	isLeftKey := keySet(on.Left)
	var fields []arrow.Field
	for _, k := range on.Left {
		f := ls.Field(ls.FieldIndices(k)[0])
		f.Nullable = f.Nullable || kind == RightJoin || kind == FullJoin
		fields = append(fields, f)
	}
	used := map[string]bool{}
	for _, f := range fields {
		used[f.Name] = true
	}
	for _, f := range ls.Fields() {
		if isLeftKey[f.Name] {
			continue
		}
		f.Nullable = f.Nullable || kind == RightJoin || kind == FullJoin
		used[f.Name] = true
		fields = append(fields, f)
	}
	if kind == SemiJoin || kind == AntiJoin {
		return arrow.NewSchema(fields, nil)
	}
	isRightKey := keySet(on.Right)
	for _, f := range rs.Fields() {
		if isRightKey[f.Name] {
			continue
		}
		if used[f.Name] {
			f.Name += "_right"
		}
		f.Nullable = f.Nullable || kind == LeftJoin || kind == FullJoin
		fields = append(fields, f)
	}
	return arrow.NewSchema(fields, nil)
}

// JoinPartition joins the rows of one partition. left or right may be nil
// (no rows).
func JoinPartition(tc *exec.TaskContext, left, right blocks.Block, schemas [2]*arrow.Schema, on JoinKeys, kind JoinKind) (blocks.Block, error) {
	if left == nil && (right == nil || kind == InnerJoin || kind == LeftJoin || kind == SemiJoin || kind == AntiJoin) {
		return nil, nil
	}
	for side, b := range []*blocks.Block{&left, &right} {
		if *b != nil {
			continue
		}
		if schemas[side] == nil {
			return nil, fmt.Errorf("join: the %s side has no rows and no known schema", sideNames[side])
		}
		*b = blocks.Empty(tc.Alloc, schemas[side])
		defer (*b).Release()
	}
	if err := CheckJoinKeys(left.Schema(), right.Schema(), on); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	// The build side is the right one, or the left where it is smaller
	// and the join's output does not depend on which side is built (inner,
	// semi and anti joins): the hash table and its row chains then hold
	// the fewer rows.
	if left.NumRows() < right.NumRows() && (kind == InnerJoin || kind == SemiJoin || kind == AntiJoin) {
		li, ri, err := probeFromRight(tc, left, right, on, kind)
		if err != nil || len(li) == 0 {
			return nil, err
		}
		return assembleJoin(tc, left, right, on, kind, li, ri)
	}
	g, head, next, err := buildChains(right, on.Right)
	if err != nil {
		return nil, err
	}
	defer g.Release()
	lkeys, err := blocks.Select(left, on.Left)
	if err != nil {
		return nil, err
	}
	defer lkeys.Release()
	lids, err := g.Lookup(lkeys, on.Left)
	if err != nil {
		return nil, fmt.Errorf("join keys: %w", err)
	}
	lnull := nullKeys(lkeys)

	// Output pairs, -1 for a null row; most joins give about a row per
	// left row.
	li := make([]int64, 0, len(lids))
	var ri []int64 // semi and anti joins keep left rows only
	if kind != SemiJoin && kind != AntiJoin {
		ri = make([]int64, 0, len(lids))
	}
	var matchedRight []bool // only right and full joins need it
	if kind == RightJoin || kind == FullJoin {
		matchedRight = make([]bool, right.NumRows())
	}
	for l, id := range lids {
		matched := false
		if id >= 0 && (lnull == nil || !lnull[l]) {
			for r := head[id]; r >= 0; r = next[r] {
				if err := checkCancelEvery(tc, len(li)); err != nil {
					return nil, err
				}
				matched = true
				if kind == SemiJoin || kind == AntiJoin {
					break
				}
				if matchedRight != nil {
					matchedRight[r] = true
				}
				li, ri = append(li, int64(l)), append(ri, int64(r))
			}
		}
		switch {
		case kind == SemiJoin && matched, kind == AntiJoin && !matched:
			li = append(li, int64(l))
		case !matched && (kind == LeftJoin || kind == FullJoin):
			li, ri = append(li, int64(l)), append(ri, -1)
		}
	}
	if kind == RightJoin || kind == FullJoin {
		for r, m := range matchedRight {
			if !m {
				li, ri = append(li, -1), append(ri, int64(r))
			}
		}
	}
	if len(li) == 0 {
		return nil, nil
	}
	return assembleJoin(tc, left, right, on, kind, li, ri)
}

// buildChains is a join's build side: a table of the key tuples of b's
// columns cols, and for each tuple the rows holding it in order (a list
// through next, -1 ending it, from head). Rows with a null key are in no
// list: they match nothing.
func buildChains(b blocks.Block, cols []string) (g *blocks.Grouper, head, next []int32, err error) {
	keys, err := blocks.Select(b, cols)
	if err != nil {
		return nil, nil, nil, err
	}
	defer keys.Release()
	if g, err = blocks.NewGrouper(keys.Schema()); err != nil {
		return nil, nil, nil, err
	}
	ids, err := g.Add(keys, cols)
	if err != nil {
		g.Release()
		return nil, nil, nil, err
	}
	null := nullKeys(keys)
	head = make([]int32, g.NumGroups())
	for i := range head {
		head[i] = -1
	}
	next = make([]int32, len(ids))
	for r := len(ids) - 1; r >= 0; r-- {
		if null != nil && null[r] {
			continue
		}
		next[r] = head[ids[r]]
		head[ids[r]] = int32(r)
	}
	return g, head, next, nil
}

// probeFromRight is the row pairs of an inner, semi or anti join built on
// the left side: the right rows probe the left's table. Inner pairs come in
// right-row order; semi and anti joins keep left rows in order.
func probeFromRight(tc *exec.TaskContext, left, right blocks.Block, on JoinKeys, kind JoinKind) (li, ri []int64, err error) {
	g, head, next, err := buildChains(left, on.Left)
	if err != nil {
		return nil, nil, err
	}
	defer g.Release()
	rkeys, err := blocks.Select(right, on.Right)
	if err != nil {
		return nil, nil, err
	}
	defer rkeys.Release()
	rids, err := g.Lookup(rkeys, on.Right)
	if err != nil {
		return nil, nil, fmt.Errorf("join keys: %w", err)
	}
	rnull := nullKeys(rkeys)
	var matched []bool
	if kind != InnerJoin {
		matched = make([]bool, left.NumRows())
	}
	for r, id := range rids {
		if id < 0 || (rnull != nil && rnull[r]) {
			continue
		}
		if matched != nil {
			if h := head[id]; h >= 0 && !matched[h] { // the whole chain matches at once
				for l := head[id]; l >= 0; l = next[l] {
					matched[l] = true
				}
			}
			continue
		}
		for l := head[id]; l >= 0; l = next[l] {
			if err := checkCancelEvery(tc, len(li)); err != nil {
				return nil, nil, err
			}
			li, ri = append(li, int64(l)), append(ri, int64(r))
		}
	}
	for l, m := range matched {
		if m == (kind == SemiJoin) {
			li = append(li, int64(l))
		}
	}
	return li, ri, nil
}

func checkCancelEvery(tc *exec.TaskContext, n int) error {
	if n&0xffff == 0 {
		return tc.Err()
	}
	return nil
}

// nullKeys marks rows with a null in any key column; nil when there are none.
func nullKeys(keys blocks.Block) []bool {
	var out []bool
	for _, c := range keys.Columns() {
		if c.NullN() == 0 {
			continue
		}
		if out == nil {
			out = make([]bool, keys.NumRows())
		}
		for i := range out {
			out[i] = out[i] || c.IsNull(i)
		}
	}
	return out
}

// assembleJoin gathers the output columns for the row pairs (li, ri).
func assembleJoin(tc *exec.TaskContext, left, right blocks.Block, on JoinKeys, kind JoinKind, li, ri []int64) (blocks.Block, error) {
	schema := JoinSchema(left.Schema(), right.Schema(), on, kind)
	var cols []arrow.Array
	release := func() {
		for _, c := range cols {
			c.Release()
		}
	}
	nLeft := left.NumRows()
	for i, k := range on.Left {
		lc, _ := blocks.Column(left, k)
		if kind == RightJoin || kind == FullJoin {
			// A key comes from the left row, or from the right one where
			// there is no left row.
			rc, _ := blocks.Column(right, on.Right[i])
			both, err := array.Concatenate([]arrow.Array{lc, rc}, tc.Alloc)
			if err != nil {
				release()
				return nil, err
			}
			idx := make([]int64, len(li))
			for i := range li {
				idx[i] = li[i]
				if li[i] < 0 {
					idx[i] = nLeft + ri[i]
				}
			}
			c, err := takeNullable(tc, tc.Alloc, both, idx)
			both.Release()
			if err != nil {
				release()
				return nil, err
			}
			cols = append(cols, c)
			continue
		}
		c, err := takeNullable(tc, tc.Alloc, lc, li)
		if err != nil {
			release()
			return nil, err
		}
		cols = append(cols, c)
	}
	isLeftKey, isRightKey := keySet(on.Left), keySet(on.Right)
	for i, f := range left.Schema().Fields() {
		if isLeftKey[f.Name] {
			continue
		}
		c, err := takeNullable(tc, tc.Alloc, left.Column(i), li)
		if err != nil {
			release()
			return nil, err
		}
		cols = append(cols, c)
	}
	if kind != SemiJoin && kind != AntiJoin {
		for i, f := range right.Schema().Fields() {
			if isRightKey[f.Name] {
				continue
			}
			c, err := takeNullable(tc, tc.Alloc, right.Column(i), ri)
			if err != nil {
				release()
				return nil, err
			}
			cols = append(cols, c)
		}
	}
	out := array.NewRecordBatch(schema, cols, int64(len(li)))
	release()
	return out, nil
}

func keySet(keys []string) map[string]bool {
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set
}

// takeNullable gathers rows of col; index -1 gives a null.
func takeNullable(ctx context.Context, mem memory.Allocator, col arrow.Array, idx []int64) (arrow.Array, error) {
	if !slices.ContainsFunc(idx, func(i int64) bool { return i < 0 }) {
		return blocks.TakeColumn(mem, col, idx) // typed gathers
	}
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.Reserve(len(idx))
	for _, i := range idx {
		if i < 0 {
			b.UnsafeAppendBoolToBitmap(false)
		} else {
			b.UnsafeAppend(i)
		}
	}
	ix := b.NewArray()
	defer ix.Release()
	return compute.TakeArray(compute.WithAllocator(ctx, mem), col, ix)
}
