package blocks

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// gather copies the rows at idx (all in range) of a column into a new
// array with typed loops over the raw buffers: fixed-width values of 1, 2,
// 4 or 8 bytes, and strings and binaries with 32-bit offsets. It returns
// false for other types, which go through arrow's Take kernel. Shuffles
// call Take once per column per part, where the kernel's setup cost
// dominates small parts.
func gather(mem memory.Allocator, col arrow.Array, idx []int64) (arrow.Array, bool) {
	if len(idx) == 0 || len(col.Data().Buffers()) < 2 || col.Data().Buffers()[1] == nil {
		return nil, false
	}
	switch col.DataType().ID() {
	case arrow.INT8, arrow.UINT8:
		return gatherFixed[uint8](mem, col, idx, 1), true
	case arrow.INT16, arrow.UINT16, arrow.FLOAT16:
		return gatherFixed[uint16](mem, col, idx, 2), true
	case arrow.INT32, arrow.UINT32, arrow.FLOAT32, arrow.DATE32, arrow.TIME32:
		return gatherFixed[uint32](mem, col, idx, 4), true
	case arrow.INT64, arrow.UINT64, arrow.FLOAT64, arrow.DATE64, arrow.TIME64, arrow.TIMESTAMP, arrow.DURATION:
		return gatherFixed[uint64](mem, col, idx, 8), true
	case arrow.STRING, arrow.BINARY:
		if len(col.Data().Buffers()) < 3 {
			return nil, false
		}
		return gatherBinary(mem, col, idx), true
	}
	return nil, false
}

// gatherValidity builds the validity bitmap of the gathered rows, or nil
// when col has no nulls.
func gatherValidity(mem memory.Allocator, col arrow.Array, idx []int64) (*memory.Buffer, int) {
	if col.NullN() == 0 {
		return nil, 0
	}
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(len(idx)))))
	bits := buf.Bytes()
	clear(bits)
	nulls := 0
	for i, j := range idx {
		if col.IsValid(int(j)) {
			bitutil.SetBit(bits, i)
		} else {
			nulls++
		}
	}
	return buf, nulls
}

func gatherFixed[T uint8 | uint16 | uint32 | uint64](mem memory.Allocator, col arrow.Array, idx []int64, width int) arrow.Array {
	data := col.Data()
	raw := data.Buffers()[1].Bytes()
	src := gatherCast[T](raw)[data.Offset():]
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(len(idx) * width)
	dst := gatherCast[T](buf.Bytes())
	for i, j := range idx {
		dst[i] = src[j]
	}
	valid, nulls := gatherValidity(mem, col, idx)
	out := array.NewData(col.DataType(), len(idx), []*memory.Buffer{valid, buf}, nil, nulls, 0)
	buf.Release()
	if valid != nil {
		valid.Release()
	}
	defer out.Release()
	return array.MakeFromData(out)
}

func gatherCast[T uint8 | uint16 | uint32 | uint64](b []byte) []T {
	var zero T
	switch any(zero).(type) {
	case uint8:
		return any(b).([]T)
	case uint16:
		return any(arrow.Uint16Traits.CastFromBytes(b)).([]T)
	case uint32:
		return any(arrow.Uint32Traits.CastFromBytes(b)).([]T)
	default:
		return any(arrow.Uint64Traits.CastFromBytes(b)).([]T)
	}
}

func gatherBinary(mem memory.Allocator, col arrow.Array, idx []int64) arrow.Array {
	data := col.Data()
	offsets := arrow.Int32Traits.CastFromBytes(data.Buffers()[1].Bytes())[data.Offset():]
	var values []byte
	if b := data.Buffers()[2]; b != nil {
		values = b.Bytes()
	}
	total := 0
	for _, j := range idx {
		total += int(offsets[j+1] - offsets[j])
	}
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize((len(idx) + 1) * 4)
	dstOff := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
	valBuf := memory.NewResizableBuffer(mem)
	valBuf.Resize(total)
	dst := valBuf.Bytes()
	pos := int32(0)
	for i, j := range idx {
		dstOff[i] = pos
		pos += int32(copy(dst[pos:], values[offsets[j]:offsets[j+1]]))
	}
	dstOff[len(idx)] = pos
	valid, nulls := gatherValidity(mem, col, idx)
	out := array.NewData(col.DataType(), len(idx), []*memory.Buffer{valid, offBuf, valBuf}, nil, nulls, 0)
	offBuf.Release()
	valBuf.Release()
	if valid != nil {
		valid.Release()
	}
	defer out.Release()
	return array.MakeFromData(out)
}
