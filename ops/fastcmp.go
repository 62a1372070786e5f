package ops

import (
	"cmp"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// fastCompare evaluates column op literal with a typed loop for the common
// cases (int64, int32, float64 and float32 columns against a constant of
// the same kind, strings against a string), writing the result bits
// directly: arrow compute's kernels pay a per-element indirection that
// dominates a scan's filter. It returns false for other cases, which go
// through compute.
func fastCompare(mem memory.Allocator, col arrow.Array, op CmpOp, lit any) (arrow.Array, bool) {
	return fastCompareSel(mem, col, op, lit, nil)
}

// fastCompareSel is fastCompare that leaves false every row whose bit in
// sel is clear (sel nil: every row is computed), skipping the comparison
// where that saves work (strings): the result is sel AND the comparison.
func fastCompareSel(mem memory.Allocator, col arrow.Array, op CmpOp, lit any, sel []byte) (arrow.Array, bool) {
	out, ok := fastCompareAll(mem, col, op, lit, sel)
	if ok && sel != nil {
		bits := out.Data().Buffers()[1].Bytes()
		for i := range bits {
			bits[i] &= sel[i]
		}
	}
	return out, ok
}

func fastCompareAll(mem memory.Allocator, col arrow.Array, op CmpOp, lit any, sel []byte) (arrow.Array, bool) {
	if t, ok := lit.(time.Time); ok {
		// A time against a timestamp or date column: the constant in the
		// column's unit (as the compute path converts it), then integers.
		s, err := timeScalar(t, col.DataType())
		if err != nil {
			return nil, false
		}
		data := col.Data()
		switch x := s.(type) {
		case *scalar.Timestamp:
			vals := arrow.Int64Traits.CastFromBytes(data.Buffers()[1].Bytes())[data.Offset() : data.Offset()+col.Len()]
			return compareNumbers(mem, col, vals, op, int64(x.Value)), true
		case *scalar.Date64:
			vals := arrow.Int64Traits.CastFromBytes(data.Buffers()[1].Bytes())[data.Offset() : data.Offset()+col.Len()]
			return compareNumbers(mem, col, vals, op, int64(x.Value)), true
		case *scalar.Date32:
			vals := arrow.Int32Traits.CastFromBytes(data.Buffers()[1].Bytes())[data.Offset() : data.Offset()+col.Len()]
			return compareNumbers(mem, col, vals, op, int32(x.Value)), true
		}
		return nil, false
	}
	switch a := col.(type) {
	case *array.Int64:
		v, ok := lit.(int64)
		if !ok {
			return nil, false
		}
		return compareNumbers(mem, a, a.Int64Values(), op, v), true
	case *array.Int32:
		v, ok := lit.(int64)
		if !ok || int64(int32(v)) != v {
			return nil, false
		}
		return compareNumbers(mem, a, a.Int32Values(), op, int32(v)), true
	case *array.Float64:
		var v float64
		switch x := lit.(type) {
		case float64:
			v = x
		case int64:
			if int64(float64(x)) != x {
				return nil, false // not exact as a float64
			}
			v = float64(x)
		default:
			return nil, false
		}
		return compareNumbers(mem, a, a.Float64Values(), op, v), true
	case *array.Float32:
		x, ok := lit.(float64)
		if !ok || float64(float32(x)) != x {
			return nil, false
		}
		return compareNumbers(mem, a, a.Float32Values(), op, float32(x)), true
	case *array.String:
		v, ok := lit.(string)
		if !ok {
			return nil, false
		}
		n := a.Len()
		return boolResult(mem, a, n, func(bits []byte) {
			switch op {
			case Eq, Ne:
				// == checks lengths first: most unequal strings cost one compare.
				want := op == Eq
				for i := range n {
					if sel != nil && sel[i>>3]&(1<<(i&7)) == 0 {
						continue
					}
					if (a.Value(i) == v) == want {
						bits[i>>3] |= 1 << (i & 7)
					}
				}
			default:
				for i := range n {
					if sel != nil && sel[i>>3]&(1<<(i&7)) == 0 {
						continue
					}
					if holds(op, cmp.Compare(a.Value(i), v)) {
						bits[i>>3] |= 1 << (i & 7)
					}
				}
			}
		}), true
	}
	return nil, false
}

// compareNumbers compares fixed-width numbers with Go's operators, which
// for floats follow IEEE as arrow compute does: NaN equals nothing, is
// unequal to everything and orders with nothing.
func compareNumbers[T int64 | int32 | float64 | float32](mem memory.Allocator, col arrow.Array, vals []T, op CmpOp, v T) arrow.Array {
	return boolResult(mem, col, len(vals), func(bits []byte) {
		switch op {
		case Eq:
			setWhere(bits, vals, func(x T) bool { return x == v })
		case Ne:
			setWhere(bits, vals, func(x T) bool { return x != v })
		case Lt:
			setWhere(bits, vals, func(x T) bool { return x < v })
		case Le:
			setWhere(bits, vals, func(x T) bool { return x <= v })
		case Gt:
			setWhere(bits, vals, func(x T) bool { return x > v })
		case Ge:
			setWhere(bits, vals, func(x T) bool { return x >= v })
		}
	})
}

// setWhere sets bit i where f(vals[i]), eight values to a byte.
func setWhere[T any](bits []byte, vals []T, f func(T) bool) {
	n := len(vals)
	full := n &^ 7
	for i := 0; i < full; i += 8 {
		var b byte
		for k := range 8 {
			if f(vals[i+k]) {
				b |= 1 << k
			}
		}
		bits[i>>3] = b
	}
	for i := full; i < n; i++ {
		if f(vals[i]) {
			bits[i>>3] |= 1 << (i & 7)
		}
	}
}

func holds(op CmpOp, c int) bool {
	switch op {
	case Eq:
		return c == 0
	case Ne:
		return c != 0
	case Lt:
		return c < 0
	case Le:
		return c <= 0
	case Gt:
		return c > 0
	}
	return c >= 0
}

// boolResult builds a boolean array of n values whose bits fill sets, null
// where col is null.
func boolResult(mem memory.Allocator, col arrow.Array, n int, fill func(bits []byte)) arrow.Array {
	vals := memory.NewResizableBuffer(mem)
	vals.Resize(int(bitutil.BytesForBits(int64(n))))
	clear(vals.Bytes())
	fill(vals.Bytes())
	var valid *memory.Buffer
	if col.NullN() > 0 {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		bits := valid.Bytes()
		clear(bits)
		for i := range n {
			if col.IsValid(i) {
				bits[i>>3] |= 1 << (i & 7)
			}
		}
	}
	data := array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{valid, vals}, nil, col.NullN(), 0)
	vals.Release()
	if valid != nil {
		valid.Release()
	}
	defer data.Release()
	return array.MakeFromData(data)
}

// fastAnd evaluates an AND of comparisons on columns without nulls as
// successive bitmaps, each comparison computed only where the terms before
// it held (numeric terms first, strings last, where skipping pays). It
// returns false when a term is not such a comparison.
func fastAnd(mem memory.Allocator, terms []Expr, b arrow.RecordBatch) (arrow.Array, bool) {
	type term struct {
		col arrow.Array
		op  CmpOp
		lit any
	}
	var nums, strs []term
	for _, t := range terms {
		c, ok := t.n.(*Cmp)
		if !ok {
			return nil, false
		}
		col, err := exprColumn(b, c.Column)
		if err != nil || col.NullN() > 0 {
			return nil, false
		}
		lit, ok := literal(c.Value)
		if !ok {
			return nil, false
		}
		if _, isStr := col.(*array.String); isStr {
			strs = append(strs, term{col, c.Op, lit})
		} else {
			nums = append(nums, term{col, c.Op, lit})
		}
	}
	var acc arrow.Array
	for _, t := range append(nums, strs...) {
		var sel []byte
		if acc != nil {
			sel = acc.Data().Buffers()[1].Bytes()
		}
		next, ok := fastCompareSel(mem, t.col, t.op, t.lit, sel)
		if acc != nil {
			acc.Release()
		}
		if !ok {
			return nil, false
		}
		acc = next
	}
	return acc, acc != nil
}
