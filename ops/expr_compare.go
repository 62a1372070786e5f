package ops

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/shoal-data/shoal/blocks"
)

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

// Cmp compares a column with a constant.
type Cmp struct {
	Column string
	Op     CmpOp
	Value  any
}

func (c *Cmp) String() string {
	v, _ := literal(c.Value)
	return fmt.Sprintf("%s %s %s", quoteIdent(c.Column), cmpNames[c.Op], formatLiteral(v))
}

func (c *Cmp) columns(add func(string)) { add(c.Column) }

func (c *Cmp) evalArray(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	col, err := exprColumn(b, c.Column)
	if err != nil {
		return nil, err
	}
	if d, ok := col.(*array.Dictionary); ok {
		// Compare each dictionary entry once, then look the rows up.
		entries, err := c.compareColumn(ctx, mem, d.Dictionary())
		if err != nil {
			return nil, err
		}
		defer entries.Release()
		return expandByIndices(entries.(*array.Boolean), d)
	}
	return c.compareColumn(ctx, mem, col)
}

// compareColumn compares a plain (not dictionary-encoded) column.
func (c *Cmp) compareColumn(ctx context.Context, mem memory.Allocator, col arrow.Array) (arrow.Array, error) {
	var err error
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
	case numClass(colType) > 0 && isNumericValue(lit):
		// Compare an integer column with 2.5 as floats rather than truncate
		// the constant, and with a constant too large for it as int64;
		// decimals compare as float64, as they compute.
		var wider arrow.DataType
		if !isNumeric(colType) {
			wider = arrow.PrimitiveTypes.Float64
		} else if _, isFloat := lit.(float64); isFloat && !isFloatType(colType) {
			wider = arrow.PrimitiveTypes.Float64
		} else if !fitsInteger(lit, colType) {
			wider = arrow.PrimitiveTypes.Float64
			if _, isInt := lit.(int64); isInt {
				wider = arrow.PrimitiveTypes.Int64
			}
		}
		if wider != nil {
			owned, err = blocks.Cast(ctx, nil, col, wider)
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

func (c *Cmp) mayMatch(stats StatsFunc) bool {
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

func (c *Cmp) dataType(s *arrow.Schema) (arrow.DataType, error) {
	idx := s.FieldIndices(c.Column)
	if len(idx) == 0 {
		return nil, unknownColumn(s, c.Column)
	}
	colType := s.Field(idx[0]).Type
	lit, ok := literal(c.Value)
	if !ok {
		return nil, fmt.Errorf("expression %s: unsupported constant of type %T", c, c.Value)
	}
	if !comparableTypes(colType, literalType(lit)) {
		return nil, typeError(c, "cannot compare", []Expr{Col(c.Column), Lit(c.Value)}, []arrow.DataType{colType, literalType(lit)})
	}
	return arrow.FixedWidthTypes.Boolean, nil
}

func (c *Cmp) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	out, err := c.evalArray(ec.ctx, ec.mem, b)
	if err != nil {
		return datum{}, err
	}
	return arrayDatum(out), nil
}

func (c *Cmp) children() []Expr { return []Expr{Col(c.Column), Lit(c.Value)} }
func (c *Cmp) withChildren(k []Expr) exprNode {
	return compare(c.Op, k[0], k[1]).n
}

// comparableTypes reports whether values of types a and b compare: two
// numbers, two strings, two booleans, two times (dates and timestamps), or
// anything with a null.
func comparableTypes(a, b arrow.DataType) bool {
	a, b = valueType(a), valueType(b)
	switch {
	case a.ID() == arrow.NULL || b.ID() == arrow.NULL:
		return true
	case numClass(a) > 0 && numClass(b) > 0:
		return true
	case isStringType(a) && isStringType(b):
		return true
	case isTimeType(a) && isTimeType(b):
		return true
	case a.ID() == arrow.BINARY && b.ID() == arrow.BINARY:
		return true
	}
	return a.ID() == arrow.BOOL && b.ID() == arrow.BOOL
}

// flip is the operator that gives the same result with the operands swapped.
func (op CmpOp) flip() CmpOp {
	switch op {
	case Lt:
		return Gt
	case Le:
		return Ge
	case Gt:
		return Lt
	case Ge:
		return Le
	}
	return op
}

// compare builds l op r: a Cmp when one side is a column and the other a
// constant (the form sources prune files and row groups with, and that has
// typed fast paths), a comparison otherwise.
func compare(op CmpOp, l, r Expr) Expr {
	l, r = fix(l), fix(r)
	lc, lIsCol := l.n.(*colRef)
	rc, rIsCol := r.n.(*colRef)
	ll, lIsLit := l.n.(*literalNode)
	rl, rIsLit := r.n.(*literalNode)
	switch {
	case lIsCol && rIsLit && rl.err == nil && rl.v != nil:
		return Expr{&Cmp{Column: lc.name, Op: op, Value: rl.orig}}
	case rIsCol && lIsLit && ll.err == nil && ll.v != nil:
		return Expr{&Cmp{Column: rc.name, Op: op.flip(), Value: ll.orig}}
	}
	return Expr{&comparison{op: op, l: l, r: r}}
}

// comparison is l op r over any two expressions.
type comparison struct {
	op   CmpOp
	l, r Expr
}

func (c *comparison) String() string {
	return paren(c.l) + " " + cmpNames[c.op] + " " + paren(c.r)
}
func (c *comparison) columns(add func(string)) { c.l.n.columns(add); c.r.n.columns(add) }
func (c *comparison) dataType(s *arrow.Schema) (arrow.DataType, error) {
	lt, err := c.l.n.dataType(s)
	if err != nil {
		return nil, err
	}
	rt, err := c.r.n.dataType(s)
	if err != nil {
		return nil, err
	}
	if !comparableTypes(lt, rt) {
		return nil, typeError(c, "cannot compare", []Expr{c.l, c.r}, []arrow.DataType{lt, rt})
	}
	return arrow.FixedWidthTypes.Boolean, nil
}

func (c *comparison) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	l, r, err := evalOperands(ec, c, c.l, c.r, b)
	if err != nil {
		return datum{}, err
	}
	defer l.release()
	defer r.release()
	boolType := arrow.FixedWidthTypes.Boolean
	n := int(b.NumRows())
	switch {
	case l.isNull() || r.isNull():
		return scalarDatum(nil, boolType), nil
	case l.isScalar() && r.isScalar():
		k, ok := compareValues(l.v, r.v)
		if !ok { // NaN: unequal to everything, ordered with nothing
			return scalarDatum(c.op == Ne, boolType), nil
		}
		return scalarDatum(holds(c.op, k), boolType), nil
	case numClass(l.typ) == 1 && numClass(r.typ) == 1 && l.typ.ID() != arrow.UINT64 && r.typ.ID() != arrow.UINT64:
		lv, lvd, err := int64Operand(l, n)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", c, err)
		}
		rv, rvd, err := int64Operand(r, n)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", c, err)
		}
		return arrayDatum(compareSlices(ec.mem, c.op, lv, rv, andValidity(ec.mem, n, lvd, rvd))), nil
	case numClass(l.typ) > 0 && numClass(r.typ) > 0:
		lv, lvd, err := float64Operand(ec, l, n)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", c, err)
		}
		rv, rvd, err := float64Operand(ec, r, n)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", c, err)
		}
		return arrayDatum(compareSlices(ec.mem, c.op, lv, rv, andValidity(ec.mem, n, lvd, rvd))), nil
	}
	// Strings, booleans and times: arrow compute, on a common type.
	ctx := compute.WithAllocator(ec.ctx, ec.mem)
	lt, rt := l.typ, r.typ
	if !arrow.TypeEqual(lt, rt) {
		target := lt
		if l.isScalar() || lt.ID() == arrow.DATE32 && rt.ID() == arrow.TIMESTAMP {
			target = rt
		}
		if l, err = castDatum(ctx, l, target); err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", c, err)
		}
		defer l.release()
		if r, err = castDatum(ctx, r, target); err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", c, err)
		}
		defer r.release()
	}
	ld, err := l.computeDatum()
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", c, err)
	}
	defer ld.Release()
	rd, err := r.computeDatum()
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", c, err)
	}
	defer rd.Release()
	out, err := compute.CallFunction(ctx, cmpFuncs[c.op], nil, ld, rd)
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", c, err)
	}
	return fromCompute(out)
}

// castDatum is d as type t: the datum itself (retained) when it already is.
func castDatum(ctx context.Context, d datum, t arrow.DataType) (datum, error) {
	if arrow.TypeEqual(d.typ, t) {
		if d.arr != nil {
			d.arr.Retain()
		}
		return d, nil
	}
	if d.isScalar() {
		if tm, ok := d.v.(time.Time); ok {
			return scalarDatum(tm, t), nil
		}
		s, err := toScalar(d.v, d.typ)
		if err != nil {
			return datum{}, err
		}
		out, err := s.CastTo(t)
		if err != nil {
			return datum{}, err
		}
		return scalarDatum(fromScalar(out), t), nil
	}
	out, err := blocks.Cast(ctx, nil, d.arr, t)
	if err != nil {
		return datum{}, err
	}
	return arrayDatum(out), nil
}

// compareSlices compares two equally long slices element by element into
// a boolean array with validity valid (owned by the result).
func compareSlices[T int64 | float64](mem memory.Allocator, op CmpOp, l, r []T, valid *memory.Buffer) arrow.Array {
	n := len(l)
	vals := memory.NewResizableBuffer(mem)
	vals.Resize(int(bitutil.BytesForBits(int64(n))))
	bits := vals.Bytes()
	clear(bits)
	r = r[:n]
	switch op {
	case Eq:
		setPairs(bits, l, r, func(a, b T) bool { return a == b })
	case Ne:
		setPairs(bits, l, r, func(a, b T) bool { return a != b })
	case Lt:
		setPairs(bits, l, r, func(a, b T) bool { return a < b })
	case Le:
		setPairs(bits, l, r, func(a, b T) bool { return a <= b })
	case Gt:
		setPairs(bits, l, r, func(a, b T) bool { return a > b })
	case Ge:
		setPairs(bits, l, r, func(a, b T) bool { return a >= b })
	}
	return makeFixed(arrow.FixedWidthTypes.Boolean, n, vals, valid)
}

// setPairs sets bit i where f(l[i], r[i]).
func setPairs[T any](bits []byte, l, r []T, f func(a, b T) bool) {
	for i := range l {
		if f(l[i], r[i]) {
			bits[i>>3] |= 1 << (i & 7)
		}
	}
}

func (c *comparison) mayMatch(StatsFunc) bool { return true }
func (c *comparison) children() []Expr        { return []Expr{c.l, c.r} }
func (c *comparison) withChildren(k []Expr) exprNode {
	return compare(c.op, k[0], k[1]).n
}
