package ops

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Conditionals: coalesce(a, b, ...) is the first argument not null in each
// row; if(cond, then, else) is then where cond is true and else where it is
// false or null, as SQL's CASE WHEN. Both decide, per row, which argument
// supplies the value (a pick), then copy values from the picked arguments
// with one typed loop per result type.

func init() {
	registerFunc(&ScalarFunc{Name: "coalesce", MinArgs: 1, MaxArgs: -1, Type: dictAware(commonType), Eval: columnwise(commonType, nullable, coalesceKernel)})
	registerFunc(&ScalarFunc{Name: "if", MinArgs: 3, MaxArgs: 3, Type: dictAware(ifType), Eval: columnwise(ifType, nullable, ifKernel)})
}

// commonType is the type values of these types share: numbers as
// arithmetic promotes them (int64, or float64 with any float), anything
// else only with its own type; nulls fit any.
func commonType(ts []arrow.DataType) (arrow.DataType, error) {
	var out arrow.DataType = arrow.Null
	for _, t := range ts {
		switch {
		case t.ID() == arrow.NULL:
		case out.ID() == arrow.NULL:
			out = t
		case numClass(out) > 0 && numClass(t) > 0:
			if numClass(out) == 2 || numClass(t) == 2 {
				out = arrow.PrimitiveTypes.Float64
			} else {
				out = arrow.PrimitiveTypes.Int64
			}
		case !arrow.TypeEqual(out, t):
			return nil, errNeed("arguments of one type")
		}
	}
	if numClass(out) == 1 {
		return arrow.PrimitiveTypes.Int64, nil
	}
	if numClass(out) == 2 {
		return arrow.PrimitiveTypes.Float64, nil
	}
	return out, nil
}

func ifType(ts []arrow.DataType) (arrow.DataType, error) {
	if c := ts[0].ID(); c != arrow.BOOL && c != arrow.NULL {
		return nil, errNeed("a boolean condition")
	}
	return commonType(ts[1:])
}

func coalesceKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	pick := make([]int32, n)
	for i := range pick {
		pick[i] = -1
	}
	// Fill the rows still null from each argument in turn.
	for k, a := range args {
		if a.null {
			continue
		}
		for i, p := range pick {
			if p < 0 && a.vd.valid(a.at(i)) {
				pick[i] = int32(k)
			}
		}
	}
	return gather(ec, out, args, pick)
}

func ifKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	pick := make([]int32, n)
	cond := args[0]
	for i := range pick {
		pick[i] = 2
	}
	if c, ok := cond.arr.(*array.Boolean); ok && !cond.null {
		for i := range pick {
			if j := cond.at(i); cond.vd.valid(j) && c.Value(j) {
				pick[i] = 1
			}
		}
	}
	for i, p := range pick {
		if !args[p].valid(i) {
			pick[i] = -1
		}
	}
	return gather(ec, out, args, pick)
}

// gather builds a column of type out whose row i is row i of argument
// pick[i], null where pick[i] is -1.
func gather(ec *evalCtx, out arrow.DataType, args []fnArg, pick []int32) (arrow.Array, error) {
	n := len(pick)
	valid := newBits(ec.mem, n)
	for i, p := range pick {
		if p >= 0 {
			bitutil.SetBit(valid.Bytes(), i)
		}
	}
	used := make([]bool, len(args))
	for _, p := range pick {
		if p >= 0 {
			used[p] = true
		}
	}
	fail := func(err error) (arrow.Array, error) {
		valid.Release()
		return nil, err
	}
	switch out.ID() {
	case arrow.NULL:
		valid.Release()
		return allNull(ec.mem, out, n)
	case arrow.INT64, arrow.FLOAT64:
		if out.ID() == arrow.INT64 {
			src := make([][]int64, len(args))
			for k, a := range args {
				var err error
				if used[k] {
					if src[k], err = intsOf(a); err != nil {
						return fail(err)
					}
				}
			}
			buf, vals := newFixed[int64](ec.mem, n)
			for i, p := range pick {
				if p >= 0 {
					vals[i] = src[p][args[p].at(i)]
				}
			}
			return makeFixed(out, n, buf, valid), nil
		}
		src := make([][]float64, len(args))
		for k, a := range args {
			var err error
			if used[k] {
				if src[k], err = floatsOf(ec, a); err != nil {
					return fail(err)
				}
			}
		}
		buf, vals := newFixed[float64](ec.mem, n)
		for i, p := range pick {
			if p >= 0 {
				vals[i] = src[p][args[p].at(i)]
			}
		}
		return makeFixed(out, n, buf, valid), nil
	case arrow.BOOL:
		src := make([]*array.Boolean, len(args))
		for k, a := range args {
			if used[k] {
				src[k] = a.arr.(*array.Boolean)
			}
		}
		buf := newBits(ec.mem, n)
		for i, p := range pick {
			if p >= 0 && src[p].Value(args[p].at(i)) {
				bitutil.SetBit(buf.Bytes(), i)
			}
		}
		return makeFixed(out, n, buf, valid), nil
	case arrow.STRING, arrow.LARGE_STRING:
		src := make([]strArg, len(args))
		size := 0
		for k, a := range args {
			if used[k] {
				src[k] = stringsOf(a)
				size += src[k].outBytes(n)
			}
		}
		o := newStrOut(out, n, min(size, 1<<30))
		for i, p := range pick {
			if p >= 0 {
				o.data = append(o.data, src[p].value(i)...)
			}
			o.end()
		}
		return o.finish(ec.mem, valid)
	}
	fw, ok := out.(arrow.FixedWidthDataType)
	if !ok || fw.BitWidth()%8 != 0 {
		return fail(fmt.Errorf("values of type %s are not supported", out))
	}
	// Timestamps, dates, durations and the like: copy each value's bytes.
	w := fw.BitWidth() / 8
	src := make([][]byte, len(args))
	for k, a := range args {
		if used[k] {
			src[k] = a.arr.Data().Buffers()[1].Bytes()[a.arr.Data().Offset()*w:]
		}
	}
	buf := memory.NewResizableBuffer(ec.mem)
	buf.Resize(n * w)
	b := buf.Bytes()
	for i, p := range pick {
		if p >= 0 {
			j := args[p].at(i) * w
			copy(b[i*w:i*w+w], src[p][j:j+w])
		}
	}
	return makeFixed(out, n, buf, valid), nil
}
