package ops

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// This file is the plumbing shared by the function library (expr_fn_*.go):
// arguments seen as arrays, so one kernel serves columns and constants.

// fnArg is one function argument as an array: a column as it is (stride
// 1), a constant as a one-row array (stride 0), so a kernel reads row i at
// index i*stride and never expands a constant to a column.
type fnArg struct {
	arr    arrow.Array
	stride int
	owned  bool
	vd     validity
	null   bool // a null constant
}

func newFnArg(arr arrow.Array, stride int, owned bool) fnArg {
	return fnArg{arr: arr, stride: stride, owned: owned, vd: validityOf(arr),
		null: arr.DataType().ID() == arrow.NULL || stride == 0 && arr.IsNull(0)}
}

// at is the array index holding row i.
func (a fnArg) at(i int) int { return i * a.stride }

// valid reports whether row i is not null.
func (a fnArg) valid(i int) bool { return !a.null && a.vd.valid(i*a.stride) }

// validity is the column's validity bitmap; a constant's is empty (the
// caller has dealt with a null constant).
func (a fnArg) validity() validity {
	if a.stride == 0 {
		return validity{}
	}
	return a.vd
}

// fnMode says how a function treats nulls and dictionary-encoded columns.
type fnMode int

const (
	// nullable functions see null arguments (coalesce, if).
	nullable fnMode = iota
	// strict functions are null wherever an argument is.
	strict
	// strictTotal functions are strict and fail on no value, so over a
	// dictionary-encoded column they run once per dictionary entry.
	strictTotal
)

// valueType is the type of t's values: a dictionary's value type.
func valueType(t arrow.DataType) arrow.DataType {
	if d, ok := t.(*arrow.DictionaryType); ok {
		return d.ValueType
	}
	return t
}

// dictAware is a Type function that sees dictionaries as their values.
func dictAware(typ func([]arrow.DataType) (arrow.DataType, error)) func([]arrow.DataType) (arrow.DataType, error) {
	return func(ts []arrow.DataType) (arrow.DataType, error) {
		vs := make([]arrow.DataType, len(ts))
		for i, t := range ts {
			vs[i] = valueType(t)
		}
		return typ(vs)
	}
}

// decoded is a dictionary-encoded column as a plain one (owned says it
// is new), or the column itself.
func decoded(ec *evalCtx, a arrow.Array) (arrow.Array, bool, error) {
	d, ok := a.(*array.Dictionary)
	if !ok {
		return a, false, nil
	}
	out, err := compute.TakeArray(compute.WithAllocator(ec.ctx, ec.mem), d.Dictionary(), d.Indices())
	if err != nil {
		return nil, false, fmt.Errorf("decoding dictionary: %w", err)
	}
	return out, true, nil
}

// perEntry computes k once per dictionary entry of the column argument
// args[col] (the others are constants, already in fa) and takes the
// results by the column's indices: lower(city) over a million rows of 50
// cities lowers 50 strings.
func perEntry(ec *evalCtx, k kernel, fa []fnArg, args []datum, col int, out arrow.DataType, n int) (datum, error) {
	d := args[col].arr.(*array.Dictionary)
	for i, a := range args {
		if i == col {
			fa[i] = newFnArg(d.Dictionary(), 1, false)
			continue
		}
		arr, err := a.toArray(ec.mem, 1)
		if err != nil {
			return datum{}, fmt.Errorf("argument %d: %w", i+1, err)
		}
		fa[i] = newFnArg(arr, 0, true)
	}
	vals, err := k(ec, fa, out, d.Dictionary().Len())
	if err != nil {
		return datum{}, err
	}
	defer vals.Release()
	res, err := compute.TakeArray(compute.WithAllocator(ec.ctx, ec.mem), vals, d.Indices())
	if err != nil {
		return datum{}, fmt.Errorf("taking per-entry results: %w", err)
	}
	return arrayDatum(res), nil
}

// kernel computes a function over n rows of arguments of types given; out
// is the result type Type chose.
type kernel func(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error)

// columnwise adapts a kernel to ScalarFunc.Eval. strict functions are null
// wherever an argument is, so a null constant makes the whole result a
// null constant. When every argument is a constant the kernel runs over
// one row and the result stays a constant.
func columnwise(typ func([]arrow.DataType) (arrow.DataType, error), mode fnMode, k kernel) func(*evalCtx, []datum, int) (datum, error) {
	strict := mode != nullable
	return func(ec *evalCtx, args []datum, n int) (datum, error) {
		types := make([]arrow.DataType, len(args))
		allConst := true
		columns, dict := 0, -1
		for i, d := range args {
			types[i] = valueType(d.typ)
			allConst = allConst && d.isScalar()
			if !d.isScalar() {
				columns++
				if d.typ.ID() == arrow.DICTIONARY {
					dict = i
				}
			}
		}
		out, err := typ(types)
		if err != nil {
			return datum{}, err
		}
		if strict {
			for _, d := range args {
				if d.isNull() || d.typ.ID() == arrow.NULL {
					return scalarDatum(nil, out), nil
				}
			}
		}
		fa := make([]fnArg, len(args))
		defer func() {
			for _, a := range fa {
				if a.owned {
					a.arr.Release()
				}
			}
		}()
		if dict >= 0 && mode == strictTotal && columns == 1 {
			return perEntry(ec, k, fa, args, dict, out, n)
		}
		for i, d := range args {
			if !d.isScalar() {
				arr, owned, err := decoded(ec, d.arr)
				if err != nil {
					return datum{}, fmt.Errorf("argument %d: %w", i+1, err)
				}
				fa[i] = newFnArg(arr, 1, owned)
				continue
			}
			arr, err := d.toArray(ec.mem, 1)
			if err != nil {
				return datum{}, fmt.Errorf("argument %d: %w", i+1, err)
			}
			fa[i] = newFnArg(arr, 0, true)
		}
		if allConst {
			if d, ok, err := constResult(ec, k, fa, out); ok || err != nil {
				return d, err
			}
		}
		arr, err := k(ec, fa, out, n)
		if err != nil {
			return datum{}, err
		}
		return arrayDatum(arr), nil
	}
}

// constResult runs k over one row of constants and returns the value as a
// constant; false when the result's type has no constant form.
func constResult(ec *evalCtx, k kernel, args []fnArg, out arrow.DataType) (datum, bool, error) {
	arr, err := k(ec, args, out, 1)
	if err != nil {
		return datum{}, false, err
	}
	defer arr.Release()
	s, err := scalar.GetScalar(arr, 0)
	if err != nil {
		return datum{}, false, err
	}
	if r, ok := s.(scalar.Releasable); ok {
		defer r.Release()
	}
	v := fromScalar(s)
	if v == nil && s.IsValid() {
		return datum{}, false, nil
	}
	return scalarDatum(v, arr.DataType()), true, nil
}

// argValidity is the rows valid in every column argument, nil when none
// has a null.
func argValidity(mem memory.Allocator, n int, args ...fnArg) *memory.Buffer {
	vs := make([]validity, len(args))
	for i, a := range args {
		vs[i] = a.validity()
	}
	return andValidity(mem, n, vs...)
}

// floatsOf is a numeric argument's values as float64s.
func floatsOf(ec *evalCtx, a fnArg) ([]float64, error) {
	v, _, err := float64Operand(ec, arrayDatum(a.arr), a.arr.Len())
	return v, err
}

// intsOf is an integer argument's values as int64s.
func intsOf(a fnArg) ([]int64, error) {
	v, _, err := int64Operand(arrayDatum(a.arr), a.arr.Len())
	return v, err
}

// strArg is a string argument's bytes and offsets (either width), so
// kernels slice values without converting them to Go strings.
type strArg struct {
	fnArg
	offs32 []int32
	offs64 []int64
	data   []byte
}

func stringsOf(a fnArg) strArg {
	s := strArg{fnArg: a}
	if b := a.arr.Data().Buffers()[2]; b != nil {
		s.data = b.Bytes()
	}
	if a.arr.Len() == 0 {
		// No rows: the offsets buffer may be missing altogether.
		s.offs64 = []int64{0}
		return s
	}
	switch x := a.arr.(type) {
	case *array.String:
		s.offs32 = x.ValueOffsets()
	case *array.LargeString:
		s.offs64 = x.ValueOffsets()
	}
	return s
}

// value is row i's bytes.
func (s strArg) value(i int) []byte {
	j := i * s.stride
	if s.offs32 != nil {
		return s.data[s.offs32[j]:s.offs32[j+1]]
	}
	return s.data[s.offs64[j]:s.offs64[j+1]]
}

// totalBytes is the size of all the argument's values.
func (s strArg) totalBytes() int {
	if s.offs32 != nil {
		return int(s.offs32[len(s.offs32)-1] - s.offs32[0])
	}
	return int(s.offs64[len(s.offs64)-1] - s.offs64[0])
}

// outBytes is the bytes the argument gives over n rows (a constant's
// value n times), to size a result up front.
func (s strArg) outBytes(n int) int {
	if s.stride == 0 {
		return s.totalBytes() * n
	}
	return s.totalBytes()
}

// strOut builds a string column of type t (utf8 or large_utf8) from values
// appended in row order.
type strOut struct {
	t    arrow.DataType
	data []byte
	offs []int64
}

func newStrOut(t arrow.DataType, n, bytes int) *strOut {
	o := &strOut{t: t, data: make([]byte, 0, bytes), offs: make([]int64, 1, n+1)}
	return o
}

// end closes the current row (whose bytes were appended to data).
func (o *strOut) end() { o.offs = append(o.offs, int64(len(o.data))) }

// finish builds the array with validity valid (released here).
func (o *strOut) finish(mem memory.Allocator, valid *memory.Buffer) (arrow.Array, error) {
	n := len(o.offs) - 1
	var offs *memory.Buffer
	if o.t.ID() == arrow.LARGE_STRING {
		buf, vals := newFixed[int64](mem, n+1)
		copy(vals, o.offs)
		offs = buf
	} else {
		if len(o.data) > math.MaxInt32 {
			if valid != nil {
				valid.Release()
			}
			return nil, fmt.Errorf("result of %d bytes is too large for %s (cast an argument to large_utf8)", len(o.data), o.t)
		}
		buf, vals := newFixed[int32](mem, n+1)
		for i, v := range o.offs {
			vals[i] = int32(v)
		}
		offs = buf
	}
	data := memory.NewBufferBytes(o.data)
	nulls := 0
	if valid != nil {
		nulls = n - bitutil.CountSetBits(valid.Bytes(), 0, n)
	}
	d := array.NewData(o.t, n, []*memory.Buffer{valid, offs, data}, nil, nulls, 0)
	defer d.Release()
	for _, b := range []*memory.Buffer{valid, offs, data} {
		if b != nil {
			b.Release()
		}
	}
	return array.MakeFromData(d), nil
}

// Type checks shared by the functions.

// errNeed is a Type error: "needs a string".
func errNeed(what string) error { return fmt.Errorf("needs %s", what) }

// numericResult is the type of a number function that keeps integers as
// int64 (floats become float64).
func numericResult(keepInt bool) func([]arrow.DataType) (arrow.DataType, error) {
	return func(ts []arrow.DataType) (arrow.DataType, error) {
		for _, t := range ts {
			if t.ID() != arrow.NULL && numClass(t) == 0 {
				return nil, errNeed("a number")
			}
		}
		if keepInt && (numClass(ts[0]) == 1 || ts[0].ID() == arrow.NULL) {
			return arrow.PrimitiveTypes.Int64, nil
		}
		return arrow.PrimitiveTypes.Float64, nil
	}
}

// stringResult checks that every argument is a string and answers t, or
// the string type of the first argument when t is nil.
func stringResult(t arrow.DataType) func([]arrow.DataType) (arrow.DataType, error) {
	return func(ts []arrow.DataType) (arrow.DataType, error) {
		for _, a := range ts {
			if a.ID() != arrow.NULL && !isStringType(a) {
				return nil, errNeed("a string")
			}
		}
		if t != nil {
			return t, nil
		}
		for _, a := range ts {
			if a.ID() == arrow.LARGE_STRING {
				return arrow.BinaryTypes.LargeString, nil
			}
		}
		return arrow.BinaryTypes.String, nil
	}
}
