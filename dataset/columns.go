package dataset

import (
	"context"
	"iter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ColumnBatch is a batch as Go slices by column name, as Ray's "numpy"
// batch format: int8..int64 and uint8..uint64 as slices of their type,
// float32/float64, bool, string (also large strings and dictionaries of
// strings), []byte for binary, time.Time for timestamps and dates, and []any
// for anything else (lists, structs) with the JSON-ready values of Arrow's
// GetOneForMarshal. Nulls
// are the zero value in the slice and false in Valid, which lists only
// columns that have nulls. Every slice is a copy the caller owns.
type ColumnBatch struct {
	Rows    int
	Columns map[string]any
	Valid   map[string][]bool
}

// IterColumnBatches is IterBatches with each batch converted to Go slices
// by column (see ColumnBatch), for code that wants plain slices rather
// than Arrow arrays.
func (d *Dataset) IterColumnBatches(ctx context.Context, size int, opts ...IterOption) iter.Seq2[ColumnBatch, error] {
	const method = "dataset.IterColumnBatches"
	return func(yield func(ColumnBatch, error) bool) {
		for b, err := range d.iterBatches(ctx, method, size, opts) {
			if err != nil {
				yield(ColumnBatch{}, err)
				return
			}
			if !yield(toColumns(b), nil) {
				return
			}
		}
	}
}

func toColumns(b arrow.RecordBatch) ColumnBatch {
	cb := ColumnBatch{Rows: int(b.NumRows()), Columns: make(map[string]any, b.NumCols())}
	for j, f := range b.Schema().Fields() {
		col := b.Column(j)
		cb.Columns[f.Name] = columnSlice(col)
		if col.NullN() > 0 {
			if cb.Valid == nil {
				cb.Valid = map[string][]bool{}
			}
			v := make([]bool, col.Len())
			for i := range v {
				v[i] = col.IsValid(i)
			}
			cb.Valid[f.Name] = v
		}
	}
	return cb
}

// copyValues copies a fixed-width column's values, zeroing nulls.
func copyValues[T any, A interface {
	arrow.Array
	Value(int) T
}](a A) []T {
	out := make([]T, a.Len())
	for i := range out {
		if a.IsValid(i) {
			out[i] = a.Value(i)
		}
	}
	return out
}

func columnSlice(col arrow.Array) any {
	switch a := col.(type) {
	case *array.Int8:
		return copyValues[int8](a)
	case *array.Int16:
		return copyValues[int16](a)
	case *array.Int32:
		return copyValues[int32](a)
	case *array.Int64:
		return copyValues[int64](a)
	case *array.Uint8:
		return copyValues[uint8](a)
	case *array.Uint16:
		return copyValues[uint16](a)
	case *array.Uint32:
		return copyValues[uint32](a)
	case *array.Uint64:
		return copyValues[uint64](a)
	case *array.Float32:
		return copyValues[float32](a)
	case *array.Float64:
		return copyValues[float64](a)
	case *array.Boolean:
		return copyValues[bool](a)
	case *array.String:
		return copyValues[string](a)
	case *array.LargeString:
		return copyValues[string](a)
	case *array.Binary:
		out := make([][]byte, a.Len())
		for i := range out {
			if a.IsValid(i) {
				out[i] = append([]byte(nil), a.Value(i)...)
			}
		}
		return out
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType)
		toTime, err := unit.GetToTimeFunc()
		out := make([]time.Time, a.Len())
		for i := range out {
			if a.IsValid(i) && err == nil {
				out[i] = toTime(a.Value(i))
			}
		}
		return out
	case *array.Date32:
		out := make([]time.Time, a.Len())
		for i := range out {
			if a.IsValid(i) {
				out[i] = a.Value(i).ToTime()
			}
		}
		return out
	case *array.Dictionary:
		if s, ok := a.Dictionary().(*array.String); ok {
			out := make([]string, a.Len())
			for i := range out {
				if a.IsValid(i) {
					out[i] = s.Value(a.GetValueIndex(i))
				}
			}
			return out
		}
	}
	out := make([]any, col.Len())
	for i := range out {
		if col.IsValid(i) {
			out[i] = col.GetOneForMarshal(i)
		}
	}
	return out
}
