package ops

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arithOp is an arithmetic operator.
type arithOp int

const (
	opAdd arithOp = iota
	opSub
	opMul
	opDiv
	opMod
)

var arithNames = [...]string{"+", "-", "*", "/", "%"}

// arithNode is l op r.
type arithNode struct {
	op   arithOp
	l, r Expr
	// label, when set, is how the node prints (the negation it computes).
	label string
}

func arith(op arithOp, l, r Expr) Expr { return Expr{&arithNode{op: op, l: fix(l), r: fix(r)}} }

func (a *arithNode) String() string {
	if a.label != "" {
		return a.label
	}
	return paren(a.l) + " " + arithNames[a.op] + " " + paren(a.r)
}
func (a *arithNode) columns(add func(string)) { a.l.n.columns(add); a.r.n.columns(add) }
func (a *arithNode) mayMatch(StatsFunc) bool  { return true }
func (a *arithNode) children() []Expr         { return []Expr{a.l, a.r} }
func (a *arithNode) withChildren(c []Expr) exprNode {
	return &arithNode{op: a.op, l: c[0], r: c[1]}
}

func (a *arithNode) dataType(s *arrow.Schema) (arrow.DataType, error) {
	lt, err := a.l.n.dataType(s)
	if err != nil {
		return nil, err
	}
	rt, err := a.r.n.dataType(s)
	if err != nil {
		return nil, err
	}
	if t, ok := arithType(a.op, lt, rt); ok {
		return t, nil
	}
	return nil, typeError(a, "cannot "+[...]string{"add", "subtract", "multiply", "divide", "take the remainder of"}[a.op],
		[]Expr{a.l, a.r}, []arrow.DataType{lt, rt})
}

// arithType is the result type of l op r: int64 for two integers, float64
// when a float (or decimal) is involved, a duration for two timestamps
// subtracted and int64 days for two dates; false when the types do not fit.
func arithType(op arithOp, l, r arrow.DataType) (arrow.DataType, bool) {
	l, r = valueType(l), valueType(r)
	if l.ID() == arrow.NULL && r.ID() == arrow.NULL {
		return arrow.Null, true
	}
	if l.ID() == arrow.NULL {
		l = r
	}
	if r.ID() == arrow.NULL {
		r = l
	}
	lc, rc := numClass(l), numClass(r)
	switch {
	case lc == 1 && rc == 1:
		return arrow.PrimitiveTypes.Int64, true
	case lc > 0 && rc > 0:
		return arrow.PrimitiveTypes.Float64, true
	case op == opSub && l.ID() == arrow.TIMESTAMP && r.ID() == arrow.TIMESTAMP:
		return &arrow.DurationType{Unit: finerUnit(l.(*arrow.TimestampType).Unit, r.(*arrow.TimestampType).Unit)}, true
	case op == opSub && isDate(l) && isDate(r):
		return arrow.PrimitiveTypes.Int64, true
	}
	return nil, false
}

func isDate(t arrow.DataType) bool { return t.ID() == arrow.DATE32 || t.ID() == arrow.DATE64 }

func finerUnit(a, b arrow.TimeUnit) arrow.TimeUnit { return max(a, b) }

func (a *arithNode) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	if b.NumRows() > 0 && a.fusesFloats(b.Schema()) {
		return a.evalFloatTree(ec, b)
	}
	l, r, err := evalOperands(ec, a, a.l, a.r, b)
	if err != nil {
		return datum{}, err
	}
	defer l.release()
	defer r.release()
	t, ok := arithType(a.op, l.typ, r.typ)
	if !ok {
		return datum{}, typeError(a, "cannot compute", []Expr{a.l, a.r}, []arrow.DataType{l.typ, r.typ})
	}
	n := int(b.NumRows())
	if l.isNull() || r.isNull() {
		return scalarDatum(nil, t), nil
	}
	switch {
	case t.ID() == arrow.DURATION:
		return a.subTimes(ec, l, r, t.(*arrow.DurationType).Unit, n)
	case isDate(l.typ):
		return a.subDates(ec, l, r, n)
	case t.ID() == arrow.INT64:
		if l.isScalar() && r.isScalar() {
			v, null, err := intOp(a.op, asInt64(l.v), asInt64(r.v))
			if err != nil {
				return datum{}, fmt.Errorf("expression %s: %w", a, err)
			}
			if null {
				return scalarDatum(nil, t), nil
			}
			return scalarDatum(v, t), nil
		}
		lv, lvd, err := int64Operand(l, n)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", a, err)
		}
		rv, rvd, err := int64Operand(r, n)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", a, err)
		}
		out, err := a.intKernel(ec.mem, lv, rv, andValidity(ec.mem, n, lvd, rvd))
		if err != nil {
			return datum{}, err
		}
		return arrayDatum(out), nil
	}
	if l.isScalar() && r.isScalar() {
		x, _ := asFloat(l.v)
		y, _ := asFloat(r.v)
		return scalarDatum(floatOp(a.op, x, y), t), nil
	}
	if l.isScalar() || r.isScalar() {
		// Column op constant: one loop over the column, no column of the
		// constant.
		colSide, constSide := l, r
		if l.isScalar() {
			colSide, constSide = r, l
		}
		vals, vd, err := float64Operand(ec, colSide, n)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", a, err)
		}
		c, _ := asFloat(constSide.v)
		buf, out := newFixed[float64](ec.mem, n)
		floatConstKernel(a.op, out, vals[:n], c, l.isScalar())
		return arrayDatum(makeFixed(t, n, buf, andValidity(ec.mem, n, vd))), nil
	}
	lv, lvd, err := float64Operand(ec, l, n)
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", a, err)
	}
	rv, rvd, err := float64Operand(ec, r, n)
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", a, err)
	}
	buf, out := newFixed[float64](ec.mem, n)
	floatKernel(a.op, out, lv[:n], rv[:n])
	return arrayDatum(makeFixed(t, n, buf, andValidity(ec.mem, n, lvd, rvd))), nil
}

// floatConstKernel fills out with x op c (or c op x when constLeft), one
// tight loop per operator.
func floatConstKernel(op arithOp, out, x []float64, c float64, constLeft bool) {
	out = out[:len(x)]
	switch {
	case op == opAdd:
		for i, v := range x {
			out[i] = v + c
		}
	case op == opMul:
		for i, v := range x {
			out[i] = v * c
		}
	case op == opSub && !constLeft:
		for i, v := range x {
			out[i] = v - c
		}
	case op == opSub:
		for i, v := range x {
			out[i] = c - v
		}
	case op == opDiv && !constLeft:
		for i, v := range x {
			out[i] = v / c
		}
	case op == opDiv:
		for i, v := range x {
			out[i] = c / v
		}
	default:
		for i, v := range x {
			if constLeft {
				out[i] = math.Mod(c, v)
			} else {
				out[i] = math.Mod(v, c)
			}
		}
	}
}

func asInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case uint64:
		return int64(x)
	}
	return 0
}

// floatOp is x op y for one pair, IEEE (x / 0 is ±Inf or NaN).
func floatOp(op arithOp, x, y float64) float64 {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	}
	return math.Mod(x, y)
}

// floatKernel fills out with l op r, one tight loop per operator.
func floatKernel(op arithOp, out, l, r []float64) {
	r = r[:len(l)]
	out = out[:len(l)]
	switch op {
	case opAdd:
		for i := range l {
			out[i] = l[i] + r[i]
		}
	case opSub:
		for i := range l {
			out[i] = l[i] - r[i]
		}
	case opMul:
		for i := range l {
			out[i] = l[i] * r[i]
		}
	case opDiv:
		for i := range l {
			out[i] = l[i] / r[i]
		}
	default:
		for i := range l {
			out[i] = math.Mod(l[i], r[i])
		}
	}
}

// intOp is x op y for one pair: null for a division by zero, an error on
// overflow.
func intOp(op arithOp, x, y int64) (v int64, null bool, err error) {
	switch op {
	case opAdd:
		v = x + y
		if (x^v)&(y^v) < 0 {
			return 0, false, overflow(x, y, op)
		}
	case opSub:
		v = x - y
		if (x^y)&(x^v) < 0 {
			return 0, false, overflow(x, y, op)
		}
	case opMul:
		if x != 0 && y != 0 {
			v = x * y
			if v/y != x || x == -1 && y == math.MinInt64 || y == -1 && x == math.MinInt64 {
				return 0, false, overflow(x, y, op)
			}
		}
	case opDiv, opMod:
		if y == 0 {
			return 0, true, nil
		}
		if x == math.MinInt64 && y == -1 {
			if op == opMod {
				return 0, false, nil
			}
			return 0, false, overflow(x, y, op)
		}
		if op == opDiv {
			v = x / y
		} else {
			v = x % y
		}
	}
	return v, false, nil
}

func overflow(x, y int64, op arithOp) error {
	return fmt.Errorf("integer overflow (%d %s %d does not fit int64)", x, arithNames[op], y)
}

// intKernel computes l op r over int64s. Add, Sub and Mul run a tight loop
// that only notes whether anything may have overflowed, and look for the
// row only then; a division by zero makes the row null.
func (a *arithNode) intKernel(mem memory.Allocator, l, r []int64, valid *memory.Buffer) (arrow.Array, error) {
	n := len(l)
	r = r[:n]
	buf, out := newFixed[int64](mem, n)
	suspect := false
	switch a.op {
	case opAdd:
		var flag int64
		for i := range l {
			v := l[i] + r[i]
			flag |= (l[i] ^ v) & (r[i] ^ v)
			out[i] = v
		}
		suspect = flag < 0
	case opSub:
		var flag int64
		for i := range l {
			v := l[i] - r[i]
			flag |= (l[i] ^ r[i]) & (l[i] ^ v)
			out[i] = v
		}
		suspect = flag < 0
	case opMul:
		// Both factors within ±2^31 cannot overflow; any other pair is
		// checked exactly below.
		var big uint64
		for i := range l {
			out[i] = l[i] * r[i]
			big |= (uint64(l[i]+1<<31) | uint64(r[i]+1<<31)) >> 32
		}
		suspect = big != 0
	default:
		zero := false
		for i := range l {
			if r[i] == 0 || r[i] == -1 {
				zero = true
				continue
			}
			if a.op == opDiv {
				out[i] = l[i] / r[i]
			} else {
				out[i] = l[i] % r[i]
			}
		}
		suspect = zero
	}
	if suspect {
		vd := validity{}
		if valid != nil {
			vd.bits = valid.Bytes()
		}
		for i := range l {
			if !vd.valid(i) {
				continue
			}
			v, null, err := intOp(a.op, l[i], r[i])
			if err != nil {
				buf.Release()
				if valid != nil {
					valid.Release()
				}
				return nil, fmt.Errorf("expression %s: row %d: %w", a, i, err)
			}
			if null {
				if valid == nil {
					valid = memory.NewResizableBuffer(mem)
					valid.Resize(int(bitutil.BytesForBits(int64(n))))
					bitutil.SetBitsTo(valid.Bytes(), 0, int64(n), true)
					vd.bits = valid.Bytes()
				}
				bitutil.ClearBit(valid.Bytes(), i)
				v = 0
			}
			out[i] = v
		}
	}
	return makeFixed(arrow.PrimitiveTypes.Int64, n, buf, valid), nil
}

// subTimes is timestamp - timestamp as a duration in the finer unit.
func (a *arithNode) subTimes(ec *evalCtx, l, r datum, unit arrow.TimeUnit, n int) (datum, error) {
	lv, lvd, err := timeOperand(l, unit, n)
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", a, err)
	}
	rv, rvd, err := timeOperand(r, unit, n)
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", a, err)
	}
	sub := &arithNode{op: opSub, l: a.l, r: a.r}
	out, err := sub.intKernel(ec.mem, lv, rv, andValidity(ec.mem, n, lvd, rvd))
	if err != nil {
		return datum{}, err
	}
	defer out.Release()
	data := array.NewData(&arrow.DurationType{Unit: unit}, n, out.Data().Buffers(), nil, out.NullN(), 0)
	defer data.Release()
	return arrayDatum(array.MakeFromData(data)), nil
}

// timeOperand is a timestamp datum's values in unit.
func timeOperand(d datum, unit arrow.TimeUnit, n int) ([]int64, validity, error) {
	if d.isScalar() {
		t, err := toScalar(d.v, &arrow.TimestampType{Unit: unit})
		if err != nil {
			return nil, validity{}, err
		}
		v := int64(fromTimestampScalar(t))
		out := make([]int64, n)
		for i := range out {
			out[i] = v
		}
		return out, validity{}, nil
	}
	ts := d.arr.(*array.Timestamp)
	from := d.typ.(*arrow.TimestampType).Unit
	vals := ts.TimestampValues()
	out := make([]int64, len(vals))
	mul := int64(1)
	for u := from; u < unit; u++ {
		mul *= 1000
	}
	for i, v := range vals {
		out[i] = int64(v) * mul
	}
	return out, validityOf(d.arr), nil
}

// subDates is date - date in days.
func (a *arithNode) subDates(ec *evalCtx, l, r datum, n int) (datum, error) {
	days := func(d datum) ([]int64, validity) {
		out := make([]int64, n)
		if d.isScalar() {
			v := dayNumber(d.v)
			for i := range out {
				out[i] = v
			}
			return out, validity{}
		}
		switch x := d.arr.(type) {
		case *array.Date32:
			for i, v := range x.Date32Values() {
				out[i] = int64(v)
			}
		case *array.Date64:
			for i, v := range x.Date64Values() {
				out[i] = int64(v) / 86_400_000
			}
		}
		return out, validityOf(d.arr)
	}
	lv, lvd := days(l)
	rv, rvd := days(r)
	sub := &arithNode{op: opSub, l: a.l, r: a.r}
	out, err := sub.intKernel(ec.mem, lv, rv, andValidity(ec.mem, n, lvd, rvd))
	if err != nil {
		return datum{}, err
	}
	return arrayDatum(out), nil
}
