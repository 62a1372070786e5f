package shuffle

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Agg is an aggregation for GroupBy(...).Aggregate and Dataset.Aggregate:
// CountRows, SumOf, MinOf, MaxOf, MeanOf, StdOf.
type Agg struct {
	kind aggKind
	col  string
	// zero makes a sum 0, not null, for a group with no value (CountOf).
	zero bool
	// As names the output column; by default "count()", "sum(x)", and so on.
	As string
}

type aggKind int

const (
	aggCount aggKind = iota
	aggSum
	aggMin
	aggMax
	aggMean
	aggStd
)

var aggNames = [...]string{"count", "sum", "min", "max", "mean", "std"}

// CountRows counts the rows of each group.
func CountRows() Agg { return Agg{kind: aggCount} }

// SumOf sums a numeric column (int64 for integer columns, checked for
// overflow; float64 otherwise). A group with no values sums to null.
func SumOf(col string) Agg { return Agg{kind: aggSum, col: col} }

// CountOf counts the values of a column of 0s and 1s (1 where the counted
// value is not null) by summing them: 0, not null, for a group with none.
func CountOf(flags string) Agg { return Agg{kind: aggSum, col: flags, zero: true} }

// MinOf is the smallest value of a numeric column.
func MinOf(col string) Agg { return Agg{kind: aggMin, col: col} }

// MaxOf is the largest value of a numeric column.
func MaxOf(col string) Agg { return Agg{kind: aggMax, col: col} }

// MeanOf is the mean of a numeric column's non-null values.
func MeanOf(col string) Agg { return Agg{kind: aggMean, col: col} }

// StdOf is the sample standard deviation (ddof=1) of a numeric column,
// computed with Welford's update per block and Chan's merge across blocks,
// so it stays accurate for large means; null below two values.
func StdOf(col string) Agg { return Agg{kind: aggStd, col: col} }

// Name is the output column's name: As, or by default "count()",
// "sum(x)", and so on.
func (a Agg) Name() string {
	if a.As != "" {
		return a.As
	}
	return aggNames[a.kind] + "(" + a.col + ")"
}

// OnColumn is a reading column col instead.
func (a Agg) OnColumn(col string) Agg { a.col = col; return a }

// Column is the input column the aggregation reads; "" for CountRows.
func (a Agg) Column() string { return a.col }

// IsCount reports whether the aggregation is CountRows, which reads no
// column.
func (a Agg) IsCount() bool { return a.kind == aggCount }

// AggregateMap is the map side of an aggregation: it reduces b to its
// partial states, one row per key (combine), and splits them into n parts
// by the hash of the keys. A void block is every part.
func AggregateMap(tc *exec.TaskContext, b blocks.Block, keys []string, aggs []Agg, n int, ad *Adaptive) ([]blocks.Block, error) {
	if blocks.IsVoid(b) {
		parts := make([]blocks.Block, n)
		for j := range parts {
			b.Retain()
			parts[j] = b
		}
		return parts, nil
	}
	var partial blocks.Block
	var err error
	if ad != nil && len(keys) > 0 && ad.skip.Load() {
		partial, err = AggregateRows(tc.Alloc, b, keys, aggs)
	} else {
		partial, err = AggregateBlock(tc.Alloc, b, keys, aggs, false)
		if err == nil && ad != nil {
			ad.observe(b.NumRows(), partial.NumRows())
		}
	}
	if err != nil {
		return nil, err
	}
	defer partial.Release()
	return splitPartial(tc.Alloc, partial, keys, n)
}

// splitPartial splits partial states into n parts by the hash of their
// keys (a global aggregate's one state lands in one of them).
func splitPartial(mem memory.Allocator, partial blocks.Block, keys []string, n int) ([]blocks.Block, error) {
	if n == 1 {
		partial.Retain()
		return []blocks.Block{partial}, nil
	}
	p, err := blocks.HashPartition(partial, keys, n)
	if err != nil {
		return nil, err
	}
	return blocks.Scatter(mem, partial, p, n)
}

// Adaptive is what an aggregation's map tasks learn as they run: once a
// block of at least adaptiveMinRows rows groups into more than
// adaptiveKeep of its rows, pre-aggregating does not pay (the keys hardly
// repeat within a block, as with a million keys), and later blocks skip the
// hash table (AggregateRows), leaving all grouping to the reduce side, as
// Spark and DuckDB adapt. Its zero value pre-aggregates. Safe for
// concurrent use by the map tasks of one aggregation.
type Adaptive struct{ skip atomic.Bool }

const (
	adaptiveMinRows = 4096
	adaptiveKeep    = 0.8
)

func (a *Adaptive) observe(rows, groups int64) {
	if rows >= adaptiveMinRows && float64(groups) > adaptiveKeep*float64(rows) {
		a.skip.Store(true)
	}
}

// Skipping reports whether map tasks stopped pre-aggregating.
func (a *Adaptive) Skipping() bool { return a.skip.Load() }

// AggregateReduce is the reduce side of an aggregation: it merges the
// partial states of a partition's parts and finalizes them. A global
// aggregate (no keys) of nothing is still one row (EmptyAggregate).
func AggregateReduce(tc *exec.TaskContext, parts []blocks.Block, keys []string, aggs []Agg) ([]blocks.Block, error) {
	var nonEmpty []blocks.Block
	for _, p := range parts {
		if p.NumRows() > 0 || (len(keys) == 0 && p.NumCols() > 0) {
			nonEmpty = append(nonEmpty, p)
		}
	}
	if len(nonEmpty) == 0 {
		if len(keys) > 0 {
			return nil, nil
		}
		out, err := EmptyAggregate(tc.Alloc, aggs)
		return []blocks.Block{out}, err
	}
	if out, ok, err := mergeParts(tc.Alloc, nonEmpty, keys, aggs); ok || err != nil {
		if err != nil {
			return nil, err
		}
		return []blocks.Block{out}, nil
	}
	// The parts' states differ in type (an integer sum in one, a float in
	// another): concatenating unifies them first.
	all, err := blocks.Concat(tc.Alloc, nonEmpty)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	out, err := AggregateBlock(tc.Alloc, all, keys, aggs, true)
	if err != nil {
		return nil, err
	}
	return []blocks.Block{out}, nil
}

// mergeParts merges partial states part by part into one table, without
// concatenating them first, and finalizes them. It reports false when the
// parts' state types differ.
func mergeParts(mem memory.Allocator, parts []blocks.Block, keys []string, aggs []Agg) (blocks.Block, bool, error) {
	var ints []bool
	for i, p := range parts {
		pi, err := stateInts(p.Schema(), aggs)
		if err != nil {
			return nil, false, err
		}
		if i == 0 {
			ints = pi
		} else if !slices.Equal(ints, pi) {
			return nil, false, nil
		}
	}
	st := newAggStates(aggs, ints)
	var grouper *blocks.Grouper
	var gids []int32
	if len(keys) == 0 {
		st.grow(1)
	}
	defer func() {
		if grouper != nil {
			grouper.Release()
		}
	}()
	for _, p := range parts {
		if len(keys) > 0 {
			keyBlock, err := blocks.Select(p, keys)
			if err != nil {
				return nil, false, fmt.Errorf("group key %w", err)
			}
			if grouper == nil {
				grouper, err = blocks.NewGrouperFor(keyBlock.Schema(), int(p.NumRows()))
			}
			if err == nil {
				gids, err = grouper.Add(keyBlock, keys)
			}
			keyBlock.Release()
			if err != nil {
				return nil, false, err
			}
			st.grow(grouper.NumGroups())
		} else {
			gids = slices.Grow(gids[:0], int(p.NumRows()))[:p.NumRows()]
			clear(gids)
		}
		for k := range aggs {
			if err := st.mergeState(k, p, gids); err != nil {
				return nil, false, err
			}
		}
	}
	var keyOut blocks.Block
	if grouper != nil {
		var err error
		if keyOut, err = grouper.Keys(mem); err != nil {
			return nil, false, err
		}
		defer keyOut.Release()
	}
	out, err := st.finish(mem, keyOut)
	return out, err == nil, err
}

// EmptyAggregate is the result of a global aggregate of nothing: still
// one row, count 0 and the other aggregations null.
func EmptyAggregate(mem memory.Allocator, aggs []Agg) (blocks.Block, error) {
	st := newAggStates(aggs, nil)
	st.grow(1)
	return st.finish(mem, nil)
}

// AggregateSchema is the output schema of an aggregation over in: the
// keys, then a column per aggregation.
func AggregateSchema(in *arrow.Schema, keys []string, aggs []Agg) *arrow.Schema {
	var fields []arrow.Field
	for _, k := range keys {
		fields = append(fields, in.Field(in.FieldIndices(k)[0]))
	}
	for _, a := range aggs {
		f := arrow.Field{Name: a.Name(), Type: arrow.PrimitiveTypes.Float64, Nullable: true}
		switch {
		case a.kind == aggCount:
			f = arrow.Field{Name: a.Name(), Type: arrow.PrimitiveTypes.Int64}
		case a.kind == aggSum || a.kind == aggMin || a.kind == aggMax:
			if isIntegerType(in.Field(in.FieldIndices(a.col)[0]).Type) {
				f.Type = arrow.PrimitiveTypes.Int64
			}
		}
		fields = append(fields, f)
	}
	return arrow.NewSchema(fields, nil)
}

// reduceTargetBytes is the most input a reduce task of a groupby or join
// aims for: large enough that per-part costs vanish, small enough to hold;

// IsNumericType reports whether t is an integer or floating-point type,
// the types SumOf, MinOf, MaxOf, MeanOf and StdOf accept.
func IsNumericType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

func isIntegerType(t arrow.DataType) bool { return IsNumericType(t) && !isFloat(t) }
func isFloat(t arrow.DataType) bool       { return t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64 }

// aggStates holds, per group, the partial state of every aggregation:
// a value count, and an int64 (exact integer sums, integer min/max) or
// float64 accumulator, plus the mean and M2 for Std.
type aggStates struct {
	aggs  []Agg
	ints  []bool // per agg: accumulates in int64
	share []int  // per agg: whose state it keeps (shareStates)
	n     [][]int64
	i     [][]int64
	f     [][]float64
	// m2 is Std's M2, and a float sum's (or mean's) compensation
	// (neumaier), which partial blocks carry beside the sum ("__c<k>").
	m2    [][]float64
	nGrps int
}

func newAggStates(aggs []Agg, ints []bool) *aggStates {
	if ints == nil {
		ints = make([]bool, len(aggs))
	}
	return &aggStates{aggs: aggs, ints: ints, share: shareStates(aggs, ints), n: make([][]int64, len(aggs)), i: make([][]int64, len(aggs)),
		f: make([][]float64, len(aggs)), m2: make([][]float64, len(aggs))}
}

// shareStates says which aggregation's state each one keeps: its own, or
// an earlier one's that holds the same (a sum and a mean of one column
// both count the values and sum them, in the same type), so the column is
// folded once and partial blocks carry one state.
func shareStates(aggs []Agg, ints []bool) []int {
	share := make([]int, len(aggs))
	for k := range aggs {
		share[k] = k
		if j := sharedWith(aggs, k); j >= 0 && ints[j] == ints[k] {
			share[k] = j
		}
	}
	return share
}

// sharedWith is the first aggregation before k whose state k's may be
// (a sum or mean of the same column), or -1.
func sharedWith(aggs []Agg, k int) int {
	sumLike := func(a Agg) bool { return a.kind == aggSum || a.kind == aggMean }
	if !sumLike(aggs[k]) {
		return -1
	}
	for j := range k {
		if sumLike(aggs[j]) && aggs[j].col == aggs[k].col {
			return j
		}
	}
	return -1
}

// stateInts reads from a partial block's schema which aggregations'
// states are int64; one that shares an earlier one's state (no columns of
// its own) takes that one's.
func stateInts(sc *arrow.Schema, aggs []Agg) ([]bool, error) {
	ints := make([]bool, len(aggs))
	for k, a := range aggs {
		if a.kind == aggCount {
			continue
		}
		idx := sc.FieldIndices(stateName("v", k))
		if len(idx) == 0 {
			j := sharedWith(aggs, k)
			if j < 0 {
				return nil, fmt.Errorf("aggregate %s: partial state missing", a.Name())
			}
			ints[k] = ints[j]
			continue
		}
		ints[k] = sc.Field(idx[0]).Type.ID() == arrow.INT64
	}
	return ints, nil
}

// owns says aggregation k keeps its own state.
func (s *aggStates) owns(k int) bool { return s.share[k] == k }

func (s *aggStates) grow(groups int) {
	defer func() {
		for k, j := range s.share {
			s.n[k], s.i[k], s.f[k], s.m2[k] = s.n[j], s.i[j], s.f[j], s.m2[j]
		}
	}()
	for k, a := range s.aggs {
		if !s.owns(k) {
			continue
		}
		have := len(s.n[k])
		if have >= groups {
			continue
		}
		s.n[k] = append(s.n[k], make([]int64, groups-have)...)
		s.m2[k] = append(s.m2[k], make([]float64, groups-have)...)
		s.i[k] = fillTo(s.i[k], groups, initInt(a.kind))
		s.f[k] = fillTo(s.f[k], groups, initFloat(a.kind))
	}
	s.nGrps = max(s.nGrps, groups)
}

// fillTo extends xs to n values, the new ones v.
func fillTo[T any](xs []T, n int, v T) []T {
	have := len(xs)
	xs = slices.Grow(xs, n-have)[:n]
	for i := have; i < n; i++ {
		xs[i] = v
	}
	return xs
}

func initInt(k aggKind) int64 {
	switch k {
	case aggMin:
		return math.MaxInt64
	case aggMax:
		return math.MinInt64
	}
	return 0
}

// initFloat is the identity of a float aggregation: NaN for a minimum,
// since NaN orders above +Inf (blocks.MinFloat).
func initFloat(k aggKind) float64 {
	switch k {
	case aggMin:
		return math.NaN()
	case aggMax:
		return math.Inf(-1)
	}
	return 0
}

// Partial state columns, per aggregation k: "__n<k>", "__v<k>" (int64 or
// float64), "__m2<k>" (float64, Std only), "__c<k>" (float64, a float sum's
// or mean's compensation).
func stateName(prefix string, k int) string { return fmt.Sprintf("__%s%d", prefix, k) }

// AggregateBlock groups b by keys. With merge false, b holds raw rows and
// the result is a partial-state block; with merge true, b holds partial
// states and the result is the final block.
func AggregateBlock(mem memory.Allocator, b blocks.Block, keys []string, aggs []Agg, merge bool) (blocks.Block, error) {
	if len(keys) == 0 && !merge {
		return aggregateAll(mem, b, aggs)
	}
	keyBlock, err := blocks.Select(b, keys)
	if err != nil {
		return nil, fmt.Errorf("group key %w", err)
	}
	defer keyBlock.Release()
	grouper, err := blocks.NewGrouperFor(keyBlock.Schema(), min(int(b.NumRows()), 1<<16))
	if err != nil {
		return nil, err
	}
	defer grouper.Release()
	gids, err := grouper.Add(keyBlock, keys)
	if err != nil {
		return nil, err
	}
	keyOut, err := grouper.Keys(mem)
	if err != nil {
		return nil, err
	}
	defer keyOut.Release()
	groups := grouper.NumGroups()
	if len(keys) == 0 && groups == 0 {
		groups = 1
	}
	return aggregateGroups(mem, b, aggs, merge, gids, groups, keyOut)
}

// AggregateRows is AggregateBlock of raw rows without grouping them: every
// row becomes a partial state of its own, keyed by its own key values. It
// gives the same states as AggregateBlock would for all-distinct keys, at
// the cost of a pass over the columns instead of a hash table; the reduce
// side merges them as usual.
func AggregateRows(mem memory.Allocator, b blocks.Block, keys []string, aggs []Agg) (blocks.Block, error) {
	if len(keys) == 0 {
		return aggregateAll(mem, b, aggs)
	}
	keyOut, err := blocks.Select(b, keys)
	if err != nil {
		return nil, fmt.Errorf("group key %w", err)
	}
	defer keyOut.Release()
	// Partial states carry plain keys, whatever encoding the block had.
	plainKeys, err := blocks.DecodeDictionaries(mem, keyOut)
	if err != nil {
		return nil, fmt.Errorf("group keys: %w", err)
	}
	defer plainKeys.Release()
	keyOut = plainKeys
	gids := make([]int32, b.NumRows())
	for i := range gids {
		gids[i] = int32(i)
	}
	return aggregateGroups(mem, b, aggs, false, gids, len(gids), keyOut)
}

// aggregateGroups folds b's rows (raw, or partial states when merge) into
// groups by gids and builds the partial (or final) block with keyOut as its
// key columns, one row per group.
func aggregateGroups(mem memory.Allocator, b blocks.Block, aggs []Agg, merge bool, gids []int32, groups int, keyOut blocks.Block) (blocks.Block, error) {
	var ints []bool
	var cols []arrow.Array
	if merge {
		var err error
		if ints, err = stateInts(b.Schema(), aggs); err != nil {
			return nil, err
		}
	} else {
		var err error
		if ints, cols, err = aggInputs(b, aggs); err != nil {
			return nil, err
		}
	}
	st := newAggStates(aggs, ints)
	st.grow(groups)
	if !merge {
		if err := st.add(cols, gids, b.NumRows()); err != nil {
			return nil, err
		}
	}
	for k := range aggs {
		if merge {
			if err := st.mergeState(k, b, gids); err != nil {
				return nil, err
			}
		}
	}
	if merge {
		return st.finish(mem, keyOut)
	}
	return st.partial(mem, keyOut)
}

// aggregateAll is AggregateBlock of raw rows without keys: one group, so no
// grouping at all.
func aggregateAll(mem memory.Allocator, b blocks.Block, aggs []Agg) (blocks.Block, error) {
	ints, cols, err := aggInputs(b, aggs)
	if err != nil {
		return nil, err
	}
	st := newAggStates(aggs, ints)
	st.grow(1)
	if err := st.add(cols, nil, b.NumRows()); err != nil {
		return nil, err
	}
	keyOut := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1)
	defer keyOut.Release()
	return st.partial(mem, keyOut)
}

// add folds raw rows into the states: cols as aggInputs gives them,
// gids each row's group (nil: all in group 0).
func (s *aggStates) add(cols []arrow.Array, gids []int32, rows int64) error {
	for k, a := range s.aggs {
		switch {
		case !s.owns(k):
		case a.kind != aggCount:
			if err := s.addColumn(k, cols[k], gids); err != nil {
				return err
			}
		case gids == nil:
			s.n[k][0] += rows
		default:
			for _, g := range gids {
				s.n[k][g]++
			}
		}
	}
	return nil
}

// addColumn folds a raw column into aggregation k; nil gids put every row
// in group 0.
func (s *aggStates) addColumn(k int, col arrow.Array, gids []int32) error {
	switch c := col.(type) {
	case *array.Int8:
		return addInts(s, k, c.Int8Values(), c, gids)
	case *array.Int16:
		return addInts(s, k, c.Int16Values(), c, gids)
	case *array.Int32:
		return addInts(s, k, c.Int32Values(), c, gids)
	case *array.Int64:
		return addInts(s, k, c.Int64Values(), c, gids)
	case *array.Uint8:
		return addInts(s, k, c.Uint8Values(), c, gids)
	case *array.Uint16:
		return addInts(s, k, c.Uint16Values(), c, gids)
	case *array.Uint32:
		return addInts(s, k, c.Uint32Values(), c, gids)
	case *array.Uint64:
		for i, v := range c.Uint64Values() {
			if c.IsValid(i) && v > math.MaxInt64 {
				return fmt.Errorf("aggregate %s: value %d does not fit int64", s.aggs[k].Name(), v)
			}
		}
		return addInts(s, k, c.Uint64Values(), c, gids)
	case *array.Float32:
		addFloats(s, k, c.Float32Values(), c, gids)
	case *array.Float64:
		addFloats(s, k, c.Float64Values(), c, gids)
	default:
		return fmt.Errorf("aggregate %s: column is %s, not numeric", s.aggs[k].Name(), col.DataType())
	}
	return nil
}

func addInts[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](s *aggStates, k int, vals []T, col arrow.Array, gids []int32) error {
	n, acc, f, m2 := s.n[k], s.i[k], s.f[k], s.m2[k]
	kind, asInt := s.aggs[k].kind, s.ints[k]
	nulls := col.NullN() > 0
	if gids != nil && !nulls {
		// The hot cases, one loop per kind with no branch per row but the
		// overflow check.
		gids = gids[:len(vals)]
		switch {
		case asInt && kind == aggSum:
			for r, v := range vals {
				g := gids[r]
				n[g]++
				sum, overflow := addInt64(acc[g], int64(v))
				if overflow {
					return fmt.Errorf("aggregate %s: int64 overflow", s.aggs[k].Name())
				}
				acc[g] = sum
			}
			return nil
		case asInt && kind == aggMin:
			for r, v := range vals {
				g := gids[r]
				n[g]++
				acc[g] = min(acc[g], int64(v))
			}
			return nil
		case asInt && kind == aggMax:
			for r, v := range vals {
				g := gids[r]
				n[g]++
				acc[g] = max(acc[g], int64(v))
			}
			return nil
		case !asInt && (kind == aggSum || kind == aggMean):
			for r, v := range vals {
				g := gids[r]
				n[g]++
				f[g], m2[g] = neumaier(f[g], m2[g], float64(v))
			}
			return nil
		}
	}
	for r, v := range vals {
		if nulls && col.IsNull(r) {
			continue
		}
		var g int32 // nil gids: every row is group 0
		if gids != nil {
			g = gids[r]
		}
		n[g]++
		x := int64(v)
		switch {
		case asInt && kind == aggSum:
			sum, overflow := addInt64(acc[g], x)
			if overflow {
				return fmt.Errorf("aggregate %s: int64 overflow", s.aggs[k].Name())
			}
			acc[g] = sum
		case asInt && kind == aggMin:
			acc[g] = min(acc[g], x)
		case asInt && kind == aggMax:
			acc[g] = max(acc[g], x)
		case kind == aggStd:
			welford(&f[g], &m2[g], n[g], float64(x))
		default:
			f[g], m2[g] = neumaier(f[g], m2[g], float64(x))
		}
	}
	return nil
}

func addFloats[T float32 | float64](s *aggStates, k int, vals []T, col arrow.Array, gids []int32) {
	n, f, m2 := s.n[k], s.f[k], s.m2[k]
	kind := s.aggs[k].kind
	nulls := col.NullN() > 0
	if gids == nil && !nulls && (kind == aggSum || kind == aggMean) {
		// One group, no nulls: the sum and its compensation stay in
		// registers.
		sum, comp := f[0], m2[0]
		for _, v := range vals {
			sum, comp = neumaier(sum, comp, float64(v))
		}
		f[0], m2[0] = sum, comp
		n[0] += int64(len(vals))
		return
	}
	if gids != nil && !nulls {
		// The hot cases, one loop per kind with no branch per row.
		gids = gids[:len(vals)]
		switch kind {
		case aggSum, aggMean:
			for r, v := range vals {
				g := gids[r]
				n[g]++
				f[g], m2[g] = neumaier(f[g], m2[g], float64(v))
			}
			return
		case aggMin:
			for r, v := range vals {
				g := gids[r]
				n[g]++
				f[g] = blocks.MinFloat(f[g], float64(v))
			}
			return
		case aggMax:
			for r, v := range vals {
				g := gids[r]
				n[g]++
				f[g] = blocks.MaxFloat(f[g], float64(v))
			}
			return
		}
	}
	for r, v := range vals {
		if nulls && col.IsNull(r) {
			continue
		}
		var g int32 // nil gids: every row is group 0
		if gids != nil {
			g = gids[r]
		}
		n[g]++
		x := float64(v)
		switch kind {
		case aggMin:
			f[g] = blocks.MinFloat(f[g], x)
		case aggMax:
			f[g] = blocks.MaxFloat(f[g], x)
		case aggStd:
			welford(&f[g], &m2[g], n[g], x)
		default:
			f[g], m2[g] = neumaier(f[g], m2[g], x)
		}
	}
}

// neumaier adds x to the sum s whose rounding errors so far are c
// (Neumaier's improvement of Kahan summation): sumOf(s, c) stays within an
// ulp or two of the exact sum however many values are added, where plain
// addition drifts by up to n ulps (Polars and DuckDB's fsum do the same).
func neumaier(s, c, x float64) (float64, float64) {
	t := s + x
	if math.Abs(s) >= math.Abs(x) {
		c += (s - t) + x
	} else {
		c += (x - t) + s
	}
	return t, c
}

// sumOf is a compensated sum's value. Once the sum is infinite or NaN the
// compensation means nothing (it is NaN itself).
func sumOf(s, c float64) float64 {
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return s
	}
	return s + c
}

// welford folds x into a running mean and M2, n counting x.
func welford(mean, m2 *float64, n int64, x float64) {
	d := x - *mean
	*mean += d / float64(n)
	*m2 += d * (x - *mean)
}

func addInt64(a, b int64) (int64, bool) {
	s, _ := bits.Add64(uint64(a), uint64(b), 0)
	sum := int64(s)
	return sum, (a >= 0) == (b >= 0) && (sum >= 0) != (a >= 0)
}

// mergeState folds partial states (rows of b) into aggregation k.
func (s *aggStates) mergeState(k int, b blocks.Block, gids []int32) error {
	if !s.owns(k) {
		return nil
	}
	cn, err := blocks.Column(b, stateName("n", k))
	if err != nil {
		return err
	}
	counts := cn.(*array.Int64).Int64Values()
	kind := s.aggs[k].kind
	n, acc, f, m2 := s.n[k], s.i[k], s.f[k], s.m2[k]
	if kind == aggCount {
		for r, c := range counts {
			n[gids[r]] += c
		}
		return nil
	}
	cv, err := blocks.Column(b, stateName("v", k))
	if err != nil {
		return err
	}
	var iv []int64
	var fv, mv []float64
	if s.ints[k] {
		iv = cv.(*array.Int64).Int64Values()
	} else {
		fv = cv.(*array.Float64).Float64Values()
	}
	switch {
	case kind == aggStd:
		cm, err := blocks.Column(b, stateName("m2", k))
		if err != nil {
			return err
		}
		mv = cm.(*array.Float64).Float64Values()
	case !s.ints[k] && (kind == aggSum || kind == aggMean):
		// The compensation (mv here): blocks concatenated from partials
		// of integer and float sums have none.
		if cc, err := blocks.Column(b, stateName("c", k)); err == nil {
			mv = cc.(*array.Float64).Float64Values()
		}
	}
	if mergeFast(s, k, counts, iv, fv, mv, gids) {
		return nil
	}
	for r, c := range counts {
		if c == 0 {
			continue
		}
		g := gids[r]
		switch {
		case kind == aggStd:
			// Chan et al.: merge (n_a, mean_a, M2_a) with (n_b, mean_b, M2_b).
			na, nb := float64(n[g]), float64(c)
			d := fv[r] - f[g]
			tot := na + nb
			f[g] += d * nb / tot
			m2[g] += mv[r] + d*d*na*nb/tot
		case s.ints[k] && kind == aggSum:
			sum, overflow := addInt64(acc[g], iv[r])
			if overflow {
				return fmt.Errorf("aggregate %s: int64 overflow", s.aggs[k].Name())
			}
			acc[g] = sum
		case s.ints[k] && kind == aggMin:
			acc[g] = min(acc[g], iv[r])
		case s.ints[k] && kind == aggMax:
			acc[g] = max(acc[g], iv[r])
		case kind == aggMin:
			f[g] = blocks.MinFloat(f[g], fv[r])
		case kind == aggMax:
			f[g] = blocks.MaxFloat(f[g], fv[r])
		default:
			f[g], m2[g] = neumaier(f[g], m2[g], fv[r])
			if mv != nil {
				m2[g] += mv[r]
			}
		}
		n[g] += c
	}
	return nil
}

// mergeFast merges the states of a sum, min or max with one loop per kind
// and no branch per row: a state of no values is the kind's identity (0,
// +Inf, MaxInt64, ...), so it needs no skipping. An integer sum, which
// checks each addition, and Std are left to mergeState's loop.
func mergeFast(s *aggStates, k int, counts, iv []int64, fv, cv []float64, gids []int32) bool {
	n, acc, f, comp := s.n[k], s.i[k], s.f[k], s.m2[k]
	gids = gids[:len(counts)]
	switch kind := s.aggs[k].kind; {
	case s.ints[k] && kind == aggMin:
		iv = iv[:len(counts)]
		for r, c := range counts {
			g := gids[r]
			n[g] += c
			acc[g] = min(acc[g], iv[r])
		}
	case s.ints[k] && kind == aggMax:
		iv = iv[:len(counts)]
		for r, c := range counts {
			g := gids[r]
			n[g] += c
			acc[g] = max(acc[g], iv[r])
		}
	case s.ints[k]:
		return false
	case (kind == aggSum || kind == aggMean) && cv != nil:
		fv, cv = fv[:len(counts)], cv[:len(counts)]
		for r, c := range counts {
			g := gids[r]
			n[g] += c
			f[g], comp[g] = neumaier(f[g], comp[g], fv[r])
			comp[g] += cv[r]
		}
	case kind == aggMin:
		fv = fv[:len(counts)]
		for r, c := range counts {
			g := gids[r]
			n[g] += c
			f[g] = blocks.MinFloat(f[g], fv[r])
		}
	case kind == aggMax:
		fv = fv[:len(counts)]
		for r, c := range counts {
			g := gids[r]
			n[g] += c
			f[g] = blocks.MaxFloat(f[g], fv[r])
		}
	default:
		return false
	}
	return true
}

// partial builds the partial-state block: the keys, then each
// aggregation's state columns.
func (s *aggStates) partial(mem memory.Allocator, keys blocks.Block) (blocks.Block, error) {
	fields := append([]arrow.Field(nil), keys.Schema().Fields()...)
	cols := append([]arrow.Array(nil), keys.Columns()...)
	for _, c := range cols {
		c.Retain()
	}
	for k, a := range s.aggs {
		if !s.owns(k) {
			continue
		}
		fields = append(fields, arrow.Field{Name: stateName("n", k), Type: arrow.PrimitiveTypes.Int64})
		cols = append(cols, int64Array(mem, s.n[k], nil))
		if a.kind == aggCount {
			continue
		}
		if s.ints[k] {
			fields = append(fields, arrow.Field{Name: stateName("v", k), Type: arrow.PrimitiveTypes.Int64})
			cols = append(cols, int64Array(mem, s.i[k], nil))
		} else {
			fields = append(fields, arrow.Field{Name: stateName("v", k), Type: arrow.PrimitiveTypes.Float64})
			cols = append(cols, float64Array(mem, s.f[k], nil))
			if a.kind == aggSum || a.kind == aggMean {
				fields = append(fields, arrow.Field{Name: stateName("c", k), Type: arrow.PrimitiveTypes.Float64})
				cols = append(cols, float64Array(mem, s.m2[k], nil))
			}
		}
		if a.kind == aggStd {
			fields = append(fields, arrow.Field{Name: stateName("m2", k), Type: arrow.PrimitiveTypes.Float64})
			cols = append(cols, float64Array(mem, s.m2[k], nil))
		}
	}
	return newBlock(fields, cols, int64(s.nGrps)), nil
}

// finish builds the output: the keys, then one column per aggregation.
func (s *aggStates) finish(mem memory.Allocator, keys blocks.Block) (blocks.Block, error) {
	var fields []arrow.Field
	var cols []arrow.Array
	if keys != nil {
		fields = append(fields, keys.Schema().Fields()...)
		for _, c := range keys.Columns() {
			c.Retain()
			cols = append(cols, c)
		}
	}
	for k, a := range s.aggs {
		n := s.n[k]
		valid := make([]bool, s.nGrps)
		for g := range valid {
			valid[g] = n[g] > 0 || a.kind == aggCount || a.zero
		}
		name := a.Name()
		switch {
		case a.kind == aggCount:
			fields = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Int64})
			cols = append(cols, int64Array(mem, n, nil))
		case s.ints[k]:
			fields = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Int64, Nullable: true})
			cols = append(cols, int64Array(mem, s.i[k], valid))
		default:
			out := make([]float64, s.nGrps)
			for g := range out {
				switch a.kind {
				case aggMean:
					out[g] = sumOf(s.f[k][g], s.m2[k][g]) / float64(n[g])
				case aggStd:
					valid[g] = n[g] > 1
					if valid[g] {
						out[g] = math.Sqrt(s.m2[k][g] / float64(n[g]-1))
					}
				case aggSum:
					out[g] = sumOf(s.f[k][g], s.m2[k][g])
				default:
					out[g] = s.f[k][g]
				}
			}
			fields = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
			cols = append(cols, float64Array(mem, out, valid))
		}
	}
	return newBlock(fields, cols, int64(s.nGrps)), nil
}

func newBlock(fields []arrow.Field, cols []arrow.Array, rows int64) blocks.Block {
	b := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return b
}

func int64Array(mem memory.Allocator, vals []int64, valid []bool) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(vals, valid)
	return b.NewArray()
}

func float64Array(mem memory.Allocator, vals []float64, valid []bool) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.AppendValues(vals, valid)
	return b.NewArray()
}
