package ops

import (
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

// datum is a node's result: a column (arr, one reference owned by the
// holder) or one constant for every row (v, normalized by literal, nil for
// null, of type typ). Constants stay constants through kernels, so
// price * (1 - disc) computes 1 - disc without a column of ones.
type datum struct {
	arr arrow.Array
	v   any
	typ arrow.DataType
}

func arrayDatum(a arrow.Array) datum { return datum{arr: a, typ: a.DataType()} }

func scalarDatum(v any, t arrow.DataType) datum { return datum{v: v, typ: t} }

func (d datum) isScalar() bool { return d.arr == nil }

// isNull reports a null constant.
func (d datum) isNull() bool { return d.arr == nil && d.v == nil }

func (d datum) release() {
	if d.arr != nil {
		d.arr.Release()
	}
}

// toArray is d as an array of n rows, handing d's reference to the caller.
func (d datum) toArray(mem memory.Allocator, n int) (arrow.Array, error) {
	if d.arr != nil {
		return d.arr, nil
	}
	s, err := toScalar(d.v, d.typ)
	if err != nil {
		return nil, err
	}
	return scalar.MakeArrayFromScalar(s, n, mem)
}

// computeDatum is d as an arrow compute argument (the caller releases it).
func (d datum) computeDatum() (compute.Datum, error) {
	if d.arr != nil {
		return compute.NewDatum(d.arr), nil
	}
	s, err := toScalar(d.v, d.typ)
	if err != nil {
		return nil, err
	}
	return compute.NewDatum(s), nil
}

// fromCompute takes a compute result as a datum.
func fromCompute(out compute.Datum) (datum, error) {
	defer out.Release()
	switch o := out.(type) {
	case *compute.ArrayDatum:
		return arrayDatum(o.MakeArray()), nil
	case *compute.ScalarDatum:
		return scalarDatum(fromScalar(o.Value), o.Type()), nil
	}
	return datum{}, fmt.Errorf("unexpected %s result", out.Kind())
}

// toScalar makes an arrow scalar of type t holding v (normalized).
func toScalar(v any, t arrow.DataType) (scalar.Scalar, error) {
	if v == nil {
		return scalar.MakeNullScalar(t), nil
	}
	if tm, ok := v.(time.Time); ok {
		return timeScalar(tm, t)
	}
	s := scalar.MakeScalar(v)
	if arrow.TypeEqual(s.DataType(), t) {
		return s, nil
	}
	return s.CastTo(t)
}

// fromScalar is a scalar's value, normalized as literal does; nil for null
// or a type it does not know.
func fromScalar(s scalar.Scalar) any {
	if !s.IsValid() {
		return nil
	}
	switch x := s.(type) {
	case *scalar.Boolean:
		return x.Value
	case *scalar.String:
		return x.String()
	case *scalar.Float64:
		return x.Value
	case *scalar.Float32:
		return float64(x.Value)
	case *scalar.Int64:
		return x.Value
	case *scalar.Int32:
		return int64(x.Value)
	case *scalar.Int16:
		return int64(x.Value)
	case *scalar.Int8:
		return int64(x.Value)
	case *scalar.Uint64:
		return x.Value
	case *scalar.Uint32:
		return uint64(x.Value)
	case *scalar.Uint16:
		return uint64(x.Value)
	case *scalar.Uint8:
		return uint64(x.Value)
	case *scalar.Timestamp:
		return x.ToTime()
	case *scalar.Date32:
		return x.Value.ToTime()
	case *scalar.Date64:
		return x.Value.ToTime()
	}
	return nil
}

// validity is an array's validity bitmap, nil when it has no nulls.
type validity struct {
	bits   []byte
	offset int64
}

func validityOf(a arrow.Array) validity {
	if a == nil || a.NullN() == 0 || a.Data().Buffers()[0] == nil {
		return validity{}
	}
	return validity{bits: a.Data().Buffers()[0].Bytes(), offset: int64(a.Data().Offset())}
}

// andValidity is the rows valid in every operand as a new bitmap, nil when
// no operand has a null.
func andValidity(mem memory.Allocator, n int, vs ...validity) *memory.Buffer {
	var out *memory.Buffer
	for _, v := range vs {
		if v.bits == nil {
			continue
		}
		if out == nil {
			out = memory.NewResizableBuffer(mem)
			out.Resize(int(bitutil.BytesForBits(int64(n))))
			bitutil.CopyBitmap(v.bits, int(v.offset), n, out.Bytes(), 0)
			continue
		}
		bitutil.BitmapAnd(out.Bytes(), v.bits, 0, v.offset, out.Bytes(), 0, int64(n))
	}
	return out
}

func (v validity) valid(i int) bool {
	return v.bits == nil || bitutil.BitIsSet(v.bits, int(v.offset)+i)
}

// newFixed allocates a fixed-width values buffer of n elements of T from
// mem, returning it and its elements to fill.
func newFixed[T int64 | float64 | int32](mem memory.Allocator, n int) (*memory.Buffer, []T) {
	buf := memory.NewResizableBuffer(mem)
	var zero T
	size := 8
	if _, ok := any(zero).(int32); ok {
		size = 4
	}
	buf.Resize(n * size)
	var vals []T
	switch any(zero).(type) {
	case int64:
		vals = any(arrow.Int64Traits.CastFromBytes(buf.Bytes())).([]T)
	case float64:
		vals = any(arrow.Float64Traits.CastFromBytes(buf.Bytes())).([]T)
	case int32:
		vals = any(arrow.Int32Traits.CastFromBytes(buf.Bytes())).([]T)
	}
	return buf, vals[:n]
}

// makeFixed builds an array of type t from a values buffer and validity
// (either may be released by the caller afterwards).
func makeFixed(t arrow.DataType, n int, vals, valid *memory.Buffer) arrow.Array {
	nulls := 0
	if valid != nil {
		nulls = n - bitutil.CountSetBits(valid.Bytes(), 0, n)
	}
	data := array.NewData(t, n, []*memory.Buffer{valid, vals}, nil, nulls, 0)
	defer data.Release()
	vals.Release()
	if valid != nil {
		valid.Release()
	}
	return array.MakeFromData(data)
}

// numClass sorts types for arithmetic: 0 not a number, 1 integer, 2 float
// (decimals compute as float64).
func numClass(t arrow.DataType) int {
	switch valueType(t).ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return 1
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.DECIMAL256:
		return 2
	}
	return 0
}

// int64Operand is d's values as int64s (a view of an int64 column, a
// converted copy of a narrower one, n copies of a constant) and their
// validity. owned says the slice was allocated here.
func int64Operand(d datum, n int) ([]int64, validity, error) {
	if d.isScalar() {
		var v int64
		switch x := d.v.(type) {
		case int64:
			v = x
		case uint64:
			if x > math.MaxInt64 {
				return nil, validity{}, fmt.Errorf("%d does not fit int64", x)
			}
			v = int64(x)
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = v
		}
		return out, validity{}, nil
	}
	vd := validityOf(d.arr)
	switch a := d.arr.(type) {
	case *array.Int64:
		return a.Int64Values(), vd, nil
	case *array.Int32:
		return widen(a.Int32Values()), vd, nil
	case *array.Int16:
		return widen(a.Int16Values()), vd, nil
	case *array.Int8:
		return widen(a.Int8Values()), vd, nil
	case *array.Uint32:
		return widen(a.Uint32Values()), vd, nil
	case *array.Uint16:
		return widen(a.Uint16Values()), vd, nil
	case *array.Uint8:
		return widen(a.Uint8Values()), vd, nil
	case *array.Uint64:
		vals := a.Uint64Values()
		out := make([]int64, len(vals))
		for i, x := range vals {
			if x > math.MaxInt64 && vd.valid(i) {
				return nil, vd, fmt.Errorf("row %d: %d does not fit int64", i, x)
			}
			out[i] = int64(x)
		}
		return out, vd, nil
	}
	return nil, vd, fmt.Errorf("%s is not an integer type", d.typ)
}

func widen[T int8 | int16 | int32 | uint8 | uint16 | uint32](vals []T) []int64 {
	out := make([]int64, len(vals))
	for i, x := range vals {
		out[i] = int64(x)
	}
	return out
}

// float64Operand is d's values as float64s, as int64Operand.
func float64Operand(ec *evalCtx, d datum, n int) ([]float64, validity, error) {
	if d.isScalar() {
		v, _ := asFloat(d.v)
		out := make([]float64, n)
		for i := range out {
			out[i] = v
		}
		return out, validity{}, nil
	}
	vd := validityOf(d.arr)
	switch a := d.arr.(type) {
	case *array.Float64:
		return a.Float64Values(), vd, nil
	case *array.Float32:
		vals := a.Float32Values()
		out := make([]float64, len(vals))
		for i, x := range vals {
			out[i] = float64(x)
		}
		return out, vd, nil
	}
	if numClass(d.typ) == 1 {
		ints, vd, err := int64Operand(d, n)
		if err != nil {
			if _, isU := d.arr.(*array.Uint64); !isU {
				return nil, vd, err
			}
			vals := d.arr.(*array.Uint64).Uint64Values()
			out := make([]float64, len(vals))
			for i, x := range vals {
				out[i] = float64(x)
			}
			return out, vd, nil
		}
		out := make([]float64, len(ints))
		for i, x := range ints {
			out[i] = float64(x)
		}
		return out, vd, nil
	}
	// Decimals and half floats: arrow's cast.
	f, err := blocks.Cast(ec.ctx, ec.mem, d.arr, arrow.PrimitiveTypes.Float64)
	if err != nil {
		return nil, vd, err
	}
	defer f.Release()
	vals := append([]float64(nil), f.(*array.Float64).Float64Values()...)
	return vals, validityOf(d.arr), nil
}

func fromTimestampScalar(s scalar.Scalar) arrow.Timestamp { return s.(*scalar.Timestamp).Value }

// dayNumber is a time constant's day since the epoch.
func dayNumber(v any) int64 {
	t, _ := v.(time.Time)
	return int64(arrow.Date32FromTime(t))
}

// allNull is an array of n nulls of type t.
func allNull(mem memory.Allocator, t arrow.DataType, n int) (arrow.Array, error) {
	return scalar.MakeArrayFromScalar(scalar.MakeNullScalar(t), n, mem)
}

// plain is d with a dictionary-encoded column decoded (a new datum the
// caller releases, and true), or d itself: operators other than the
// functions compute on plain values.
func plain(ec *evalCtx, d datum) (datum, bool, error) {
	if d.arr == nil {
		return d, false, nil
	}
	out, owned, err := decoded(ec, d.arr)
	if err != nil || !owned {
		return d, false, err
	}
	return arrayDatum(out), true, nil
}

// evalOperands evaluates a binary node's operands over b as plain values
// (dictionaries decoded); the caller releases both.
func evalOperands(ec *evalCtx, node exprNode, le, re Expr, b arrow.RecordBatch) (l, r datum, err error) {
	var ds [2]datum
	for i, e := range []Expr{le, re} {
		d, err := e.n.eval(ec, b)
		if err == nil {
			var p datum
			var owned bool
			if p, owned, err = plain(ec, d); owned {
				d.release()
				d = p
			} else if err != nil {
				d.release()
				err = fmt.Errorf("expression %s: %w", node, err)
			}
		}
		if err != nil {
			if i == 1 {
				ds[0].release()
			}
			return datum{}, datum{}, err
		}
		ds[i] = d
	}
	return ds[0], ds[1], nil
}
