package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Expr is a row predicate that Shoal can see into, unlike a Go closure:
// it is evaluated a whole block at a time with arrow compute kernels, the
// optimizer pushes it towards the source, and file sources use it to skip
// files and Parquet row groups whose statistics rule it out.
//
// Build one with Col: Col("fare").Gt(10).And(Col("city").Eq("Oslo")).
// Comparisons with null are false, as in SQL.
type Expr interface {
	// String renders the predicate: `fare > 10 AND city = "Oslo"`.
	String() string
	// Columns are the columns the predicate reads.
	Columns() []string
	// Eval computes the predicate for every row of b: a boolean array with
	// one value per row, null where the predicate is unknown.
	Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error)
	// MayMatch reports whether a row could match, given the range of each
	// column's values. It must answer true when unsure; false lets a source
	// skip the data. stats reports min, max and null count (-1 unknown) of a
	// column, ok=false when nothing is known.
	MayMatch(stats StatsFunc) bool
}

// StatsFunc gives what is known of a column's values in a part of a file.
// min and max are int64, uint64, float64, string or bool. ok with both nil
// means every value is null; ok=false means nothing is known.
type StatsFunc func(col string) (min, max any, nulls int64, ok bool)

// CmpOp is a comparison operator.
type CmpOp int

const (
	Eq CmpOp = iota
	Ne
	Lt
	Le
	Gt
	Ge
)

var cmpNames = [...]string{"=", "!=", "<", "<=", ">", ">="}
var cmpFuncs = [...]string{"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}

// ColumnRef names a column in a predicate.
type ColumnRef struct{ Name string }

// Col starts a predicate on a column.
func Col(name string) ColumnRef { return ColumnRef{Name: name} }

func (c ColumnRef) cmp(op CmpOp, v any) Expr { return &Cmp{Column: c.Name, Op: op, Value: v} }

// Eq is column = v. v is a Go int, float, string or bool.
func (c ColumnRef) Eq(v any) Expr { return c.cmp(Eq, v) }

// Ne is column != v.
func (c ColumnRef) Ne(v any) Expr { return c.cmp(Ne, v) }

// Lt is column < v.
func (c ColumnRef) Lt(v any) Expr { return c.cmp(Lt, v) }

// Le is column <= v.
func (c ColumnRef) Le(v any) Expr { return c.cmp(Le, v) }

// Gt is column > v.
func (c ColumnRef) Gt(v any) Expr { return c.cmp(Gt, v) }

// Ge is column >= v.
func (c ColumnRef) Ge(v any) Expr { return c.cmp(Ge, v) }

// In is true where the column equals one of vs.
func (c ColumnRef) In(vs ...any) Expr {
	terms := make([]Expr, len(vs))
	for i, v := range vs {
		terms[i] = c.Eq(v)
	}
	return Or(terms...)
}

// IsNull is true where the column is null.
func (c ColumnRef) IsNull() Expr { return &NullCheck{Column: c.Name, Null: true} }

// IsNotNull is true where the column is not null.
func (c ColumnRef) IsNotNull() Expr { return &NullCheck{Column: c.Name} }

// Cmp compares a column with a constant.
type Cmp struct {
	Column string
	Op     CmpOp
	Value  any
}

func (c *Cmp) String() string {
	if s, ok := c.Value.(string); ok {
		return fmt.Sprintf("%s %s %q", c.Column, cmpNames[c.Op], s)
	}
	return fmt.Sprintf("%s %s %v", c.Column, cmpNames[c.Op], c.Value)
}

func (c *Cmp) Columns() []string { return []string{c.Column} }

func (c *Cmp) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	col, err := exprColumn(b, c.Column)
	if err != nil {
		return nil, err
	}
	lit, ok := literal(c.Value)
	if !ok {
		return nil, fmt.Errorf("predicate %s: unsupported constant of type %T", c, c.Value)
	}
	if out, ok := fastCompare(mem, col, c.Op, lit); ok {
		return out, nil
	}
	ctx = compute.WithAllocator(ctx, mem)
	colType := col.DataType()
	var owned arrow.Array
	switch {
	case isNumeric(colType) && isNumericValue(lit):
		// Compare an integer column with 2.5 as floats rather than truncate
		// the constant, and with a constant too large for it as int64.
		var wider arrow.DataType
		if _, isFloat := lit.(float64); isFloat && !isFloatType(colType) {
			wider = arrow.PrimitiveTypes.Float64
		} else if !fitsInteger(lit, colType) {
			wider = arrow.PrimitiveTypes.Float64
			if _, isInt := lit.(int64); isInt {
				wider = arrow.PrimitiveTypes.Int64
			}
		}
		if wider != nil {
			owned, err = compute.CastArray(ctx, col, compute.SafeCastOptions(wider))
			if err != nil {
				return nil, fmt.Errorf("predicate %s: %w", c, err)
			}
			defer owned.Release()
			col, colType = owned, wider
		}
	case isStringType(colType) && isString(lit):
	case colType.ID() == arrow.BOOL && isBool(lit):
	case isTimeType(colType) && isTime(lit):
	default:
		return nil, fmt.Errorf("predicate %s: column %q is %s, which cannot be compared with %T", c, c.Column, colType, c.Value)
	}
	var s scalar.Scalar
	if t, ok := lit.(time.Time); ok {
		s, err = timeScalar(t, colType)
	} else {
		s, err = scalar.MakeScalar(lit).CastTo(colType)
	}
	if err != nil {
		return nil, fmt.Errorf("predicate %s: constant does not fit column %q (%s): %w", c, c.Column, colType, err)
	}
	colDatum, litDatum := compute.NewDatum(col), compute.NewDatum(s)
	defer colDatum.Release()
	defer litDatum.Release()
	out, err := compute.CallFunction(ctx, cmpFuncs[c.Op], nil, colDatum, litDatum)
	if err != nil {
		return nil, fmt.Errorf("predicate %s: %w", c, err)
	}
	defer out.Release()
	return out.(*compute.ArrayDatum).MakeArray(), nil
}

// fitsInteger reports whether an int64 or uint64 constant is representable
// in an integer column type (always true for float columns).
func fitsInteger(lit any, t arrow.DataType) bool {
	var lo, hi float64
	switch t.ID() {
	case arrow.INT8:
		lo, hi = math.MinInt8, math.MaxInt8
	case arrow.INT16:
		lo, hi = math.MinInt16, math.MaxInt16
	case arrow.INT32:
		lo, hi = math.MinInt32, math.MaxInt32
	case arrow.UINT8:
		lo, hi = 0, math.MaxUint8
	case arrow.UINT16:
		lo, hi = 0, math.MaxUint16
	case arrow.UINT32:
		lo, hi = 0, math.MaxUint32
	case arrow.INT64:
		_, isU := lit.(uint64)
		return !isU || lit.(uint64) <= math.MaxInt64
	case arrow.UINT64:
		i, isI := lit.(int64)
		return !isI || i >= 0
	default:
		return true
	}
	f, _ := asFloat(lit)
	return f >= lo && f <= hi
}

func (c *Cmp) MayMatch(stats StatsFunc) bool {
	min, max, _, ok := stats(c.Column)
	lit, litOK := literal(c.Value)
	if !ok || !litOK {
		return true
	}
	if min == nil && max == nil {
		return false // every value is null: no comparison is true
	}
	if min == nil || max == nil {
		return true
	}
	lo, okLo := compareValues(min, lit)
	hi, okHi := compareValues(max, lit)
	if !okLo || !okHi {
		return true
	}
	switch c.Op {
	case Eq:
		return lo <= 0 && hi >= 0
	case Ne:
		return !(lo == 0 && hi == 0)
	case Lt:
		return lo < 0
	case Le:
		return lo <= 0
	case Gt:
		return hi > 0
	case Ge:
		return hi >= 0
	}
	return true
}

// NullCheck is IS NULL or IS NOT NULL.
type NullCheck struct {
	Column string
	Null   bool
}

func (n *NullCheck) String() string {
	if n.Null {
		return n.Column + " IS NULL"
	}
	return n.Column + " IS NOT NULL"
}

func (n *NullCheck) Columns() []string { return []string{n.Column} }

func (n *NullCheck) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	col, err := exprColumn(b, n.Column)
	if err != nil {
		return nil, err
	}
	bld := array.NewBooleanBuilder(mem)
	defer bld.Release()
	bld.Reserve(col.Len())
	for i := range col.Len() {
		bld.UnsafeAppend(col.IsNull(i) == n.Null)
	}
	return bld.NewArray(), nil
}

func (n *NullCheck) MayMatch(stats StatsFunc) bool {
	min, _, nulls, ok := stats(n.Column)
	if !ok || nulls < 0 {
		return true
	}
	if n.Null {
		return nulls > 0
	}
	// IS NOT NULL fails only where every value is null, which stats show
	// as no min/max and some nulls.
	return min != nil || nulls == 0
}

// Logical combines predicates with AND or OR.
type Logical struct {
	And   bool
	Terms []Expr
}

// And is true where every term is true.
func And(terms ...Expr) Expr { return &Logical{And: true, Terms: terms} }

// Or is true where any term is true.
func Or(terms ...Expr) Expr { return &Logical{Terms: terms} }

// AndExpr joins e with more terms by AND; a nil e gives just the terms.
func AndExpr(e Expr, more ...Expr) Expr {
	if e == nil && len(more) == 1 {
		return more[0]
	}
	if e == nil {
		return And(more...)
	}
	return And(append([]Expr{e}, more...)...)
}

func (l *Logical) String() string {
	op := " OR "
	if l.And {
		op = " AND "
	}
	parts := make([]string, len(l.Terms))
	for i, t := range l.Terms {
		parts[i] = t.String()
		if inner, ok := t.(*Logical); ok && inner.And != l.And {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, op)
}

func (l *Logical) Columns() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range l.Terms {
		for _, c := range t.Columns() {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

func (l *Logical) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	if len(l.Terms) == 0 {
		bld := array.NewBooleanBuilder(mem)
		defer bld.Release()
		for range b.NumRows() {
			bld.Append(l.And)
		}
		return bld.NewArray(), nil
	}
	if l.And {
		if out, ok := fastAnd(mem, l.Terms, b); ok {
			return out, nil
		}
	}
	acc, err := l.Terms[0].Eval(ctx, mem, b)
	if err != nil {
		return nil, err
	}
	fn := "or_kleene"
	if l.And {
		fn = "and_kleene"
	}
	ctx = compute.WithAllocator(ctx, mem)
	for _, t := range l.Terms[1:] {
		next, err := t.Eval(ctx, mem, b)
		if err != nil {
			acc.Release()
			return nil, err
		}
		accDatum, nextDatum := compute.NewDatum(acc), compute.NewDatum(next)
		out, err := compute.CallFunction(ctx, fn, nil, accDatum, nextDatum)
		accDatum.Release()
		nextDatum.Release()
		acc.Release()
		next.Release()
		if err != nil {
			return nil, fmt.Errorf("predicate %s: %w", l, err)
		}
		acc = out.(*compute.ArrayDatum).MakeArray()
		out.Release()
	}
	return acc, nil
}

func (l *Logical) MayMatch(stats StatsFunc) bool {
	for _, t := range l.Terms {
		m := t.MayMatch(stats)
		if l.And && !m {
			return false
		}
		if !l.And && m {
			return true
		}
	}
	return l.And || len(l.Terms) == 0
}

// FilterBlock keeps the rows of b where e is true. The result carries one
// reference for the caller.
func FilterBlock(ctx context.Context, mem memory.Allocator, e Expr, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	mask, err := e.Eval(ctx, mem, b)
	if err != nil {
		return nil, err
	}
	defer mask.Release()
	return applyMask(mem, mask.(*array.Boolean), b)
}

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

// UnknownColumn is returned by Expr.Eval for a column the block lacks.
type UnknownColumn struct {
	Column    string
	Available []string
}

func (e *UnknownColumn) Error() string {
	return fmt.Sprintf("predicate: unknown column %q (have %s)", e.Column, strings.Join(e.Available, ", "))
}

func exprColumn(b arrow.RecordBatch, name string) (arrow.Array, error) {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		names := make([]string, b.Schema().NumFields())
		for i, f := range b.Schema().Fields() {
			names[i] = f.Name
		}
		return nil, &UnknownColumn{Column: name, Available: names}
	}
	return b.Column(idx[0]), nil
}

// literal normalizes a Go constant to int64, uint64, float64, string or bool.
func literal(v any) (any, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case string, bool:
		return x, true
	case time.Time:
		return x, true
	}
	return nil, false
}

// timeScalar is t as a scalar of a timestamp or date column's type.
func timeScalar(t time.Time, colType arrow.DataType) (scalar.Scalar, error) {
	switch ct := colType.(type) {
	case *arrow.TimestampType:
		v, err := arrow.TimestampFromTime(t, ct.Unit)
		if err != nil {
			return nil, err
		}
		return scalar.NewTimestampScalar(v, ct), nil
	case *arrow.Date32Type:
		return scalar.NewDate32Scalar(arrow.Date32FromTime(t)), nil
	case *arrow.Date64Type:
		return scalar.NewDate64Scalar(arrow.Date64FromTime(t)), nil
	}
	return nil, fmt.Errorf("%s is not a time type", colType)
}

// compareValues orders a statistic against a constant: -1, 0 or +1, and
// false when the two are not comparable.
func compareValues(stat, lit any) (int, bool) {
	switch s := stat.(type) {
	case string:
		l, ok := lit.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(s, l), true
	case bool:
		l, ok := lit.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case s == l:
			return 0, true
		case !s:
			return -1, true
		}
		return 1, true
	}
	if a, ok := stat.(int64); ok {
		if b, ok := lit.(int64); ok {
			return cmp3(a, b), true
		}
	}
	if a, ok := stat.(uint64); ok {
		if b, ok := lit.(uint64); ok {
			return cmp3(a, b), true
		}
	}
	a, okA := asFloat(stat)
	b, okB := asFloat(lit)
	if !okA || !okB || math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return cmp3(a, b), true
}

func cmp3[T int64 | uint64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func isNumericValue(v any) bool { _, ok := asFloat(v); return ok }
func isString(v any) bool       { _, ok := v.(string); return ok }
func isBool(v any) bool         { _, ok := v.(bool); return ok }

func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

func isFloatType(t arrow.DataType) bool {
	return t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64
}

func isStringType(t arrow.DataType) bool {
	return t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING
}

func isTime(v any) bool { _, ok := v.(time.Time); return ok }

func isTimeType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return true
	}
	return false
}
