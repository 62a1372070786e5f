package ops

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// expandByIndices is the boolean column a dictionary-encoded column d gives
// when each of its dictionary entries gives entries' value: a predicate
// computed once per distinct value, then looked up per row. A null row or
// a null entry gives null.
func expandByIndices(entries *array.Boolean, d *array.Dictionary) (arrow.Array, error) {
	n := d.Len()
	// Per-entry truth as bytes: 0 false, 1 true, 2 null.
	byEntry := make([]byte, entries.Len())
	for j := range byEntry {
		switch {
		case entries.IsNull(j):
			byEntry[j] = 2
		case entries.Value(j):
			byEntry[j] = 1
		}
	}
	vals := make([]byte, bitutil.BytesForBits(int64(n)))
	valid := make([]byte, len(vals))
	idx := d.Indices()
	var rowValid []byte // nil: no null row
	if d.NullN() > 0 {
		rowValid = d.NullBitmapBytes()
	}
	off := d.Data().Offset()
	var nulls int
	var err error
	switch a := idx.(type) {
	case *array.Int8:
		nulls, err = expandTyped(a.Int8Values(), byEntry, rowValid, off, vals, valid)
	case *array.Uint8:
		nulls, err = expandTyped(a.Uint8Values(), byEntry, rowValid, off, vals, valid)
	case *array.Int16:
		nulls, err = expandTyped(a.Int16Values(), byEntry, rowValid, off, vals, valid)
	case *array.Uint16:
		nulls, err = expandTyped(a.Uint16Values(), byEntry, rowValid, off, vals, valid)
	case *array.Int32:
		nulls, err = expandTyped(a.Int32Values(), byEntry, rowValid, off, vals, valid)
	case *array.Uint32:
		nulls, err = expandTyped(a.Uint32Values(), byEntry, rowValid, off, vals, valid)
	case *array.Int64:
		nulls, err = expandTyped(a.Int64Values(), byEntry, rowValid, off, vals, valid)
	case *array.Uint64:
		nulls, err = expandTyped(a.Uint64Values(), byEntry, rowValid, off, vals, valid)
	default:
		err = fmt.Errorf("dictionary indices of type %s", idx.DataType())
	}
	if err != nil {
		return nil, err
	}
	valsBuf := memory.NewBufferBytes(vals)
	var validBuf *memory.Buffer
	if nulls > 0 {
		validBuf = memory.NewBufferBytes(valid)
	}
	data := array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{validBuf, valsBuf}, nil, nulls, 0)
	defer data.Release()
	return array.NewBooleanData(data), nil
}

type dictIndex interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

func expandTyped[T dictIndex](idx []T, byEntry []byte, rowValid []byte, off int, vals, valid []byte) (nulls int, err error) {
	for i, k := range idx {
		if rowValid != nil && !bitutil.BitIsSet(rowValid, off+i) {
			nulls++
			continue
		}
		if uint64(k) >= uint64(len(byEntry)) {
			return 0, fmt.Errorf("dictionary index %d out of range (%d entries) at row %d", k, len(byEntry), i)
		}
		switch byEntry[k] {
		case 1:
			vals[i>>3] |= 1 << (i & 7)
			valid[i>>3] |= 1 << (i & 7)
		case 0:
			valid[i>>3] |= 1 << (i & 7)
		default:
			nulls++
		}
	}
	return nulls, nil
}
