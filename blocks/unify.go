package blocks

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// SchemaConflictError reports a column whose types cannot be unified.
type SchemaConflictError struct {
	Column string
	A, B   arrow.DataType
}

func (e *SchemaConflictError) Error() string {
	return fmt.Sprintf("blocks: column %q: incompatible types %s and %s", e.Column, e.A, e.B)
}

// UnifySchemas merges schemas by column name, columns in order of first
// appearance. Equal types stay; null unifies with anything; integers widen
// to the wider integer (signed and unsigned to int64); integers and floats
// to float64. A column missing from some schema becomes nullable. Anything
// else is a *SchemaConflictError naming the column and both types.
func UnifySchemas(schemas ...*arrow.Schema) (*arrow.Schema, error) {
	var fields []arrow.Field
	index := map[string]int{}
	for si, s := range schemas {
		for _, f := range s.Fields() {
			i, ok := index[f.Name]
			if !ok {
				index[f.Name] = len(fields)
				f.Nullable = f.Nullable || si > 0
				fields = append(fields, f)
				continue
			}
			t, err := unifyTypes(fields[i].Type, f.Type)
			if err != nil {
				return nil, &SchemaConflictError{Column: f.Name, A: fields[i].Type, B: f.Type}
			}
			fields[i].Type = t
			fields[i].Nullable = fields[i].Nullable || f.Nullable
		}
		// Columns earlier schemas had and this one lacks will hold nulls.
		for name, i := range index {
			if len(s.FieldIndices(name)) == 0 {
				fields[i].Nullable = true
			}
		}
	}
	return arrow.NewSchema(fields, nil), nil
}

func unifyTypes(a, b arrow.DataType) (arrow.DataType, error) {
	switch {
	case arrow.TypeEqual(a, b):
		return a, nil
	case a.ID() == arrow.NULL:
		return b, nil
	case b.ID() == arrow.NULL:
		return a, nil
	}
	ra, rb := numericRank(a), numericRank(b)
	if ra == 0 || rb == 0 {
		return nil, fmt.Errorf("incompatible")
	}
	switch {
	case ra == rankFloat || rb == rankFloat:
		return arrow.PrimitiveTypes.Float64, nil
	case isUnsigned(a) == isUnsigned(b) && isUnsigned(a):
		if a.(arrow.FixedWidthDataType).BitWidth() >= b.(arrow.FixedWidthDataType).BitWidth() {
			return a, nil
		}
		return b, nil
	case !isUnsigned(a) && !isUnsigned(b):
		if a.(arrow.FixedWidthDataType).BitWidth() >= b.(arrow.FixedWidthDataType).BitWidth() {
			return a, nil
		}
		return b, nil
	}
	return arrow.PrimitiveTypes.Int64, nil
}

const (
	rankInt   = 1
	rankFloat = 2
)

func numericRank(t arrow.DataType) int {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return rankInt
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return rankFloat
	}
	return 0
}

func isUnsigned(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// Conform returns b with exactly the columns of schema, matched by name:
// missing columns are all null, columns of another type are cast. A column
// of b that schema lacks is an error.
func Conform(mem memory.Allocator, b Block, schema *arrow.Schema) (Block, error) {
	if b.Schema().Equal(schema) {
		b.Retain()
		return b, nil
	}
	for _, f := range b.Schema().Fields() {
		if len(schema.FieldIndices(f.Name)) == 0 {
			return nil, fmt.Errorf("blocks: conform: column %q is not in the target schema", f.Name)
		}
	}
	ctx := compute.WithAllocator(context.Background(), mem)
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	n := int(b.NumRows())
	for i, f := range schema.Fields() {
		idx := b.Schema().FieldIndices(f.Name)
		switch {
		case len(idx) == 0 || b.Column(idx[0]).DataType().ID() == arrow.NULL:
			cols[i] = array.MakeArrayOfNull(mem, f.Type, n)
		case arrow.TypeEqual(b.Column(idx[0]).DataType(), f.Type):
			cols[i] = b.Column(idx[0])
			cols[i].Retain()
		case isDictionaryOf(f.Type, b.Column(idx[0]).DataType()):
			// arrow's cast cannot make a dictionary: encode the values.
			c, err := encodeDictionary(mem, b.Column(idx[0]), f.Type.(*arrow.DictionaryType))
			if err != nil {
				return nil, fmt.Errorf("blocks: conform column %q from %s to %s: %w", f.Name, b.Column(idx[0]).DataType(), f.Type, err)
			}
			cols[i] = c
		default:
			c, err := Cast(ctx, mem, b.Column(idx[0]), f.Type)
			if err != nil {
				return nil, fmt.Errorf("blocks: conform column %q from %s to %s: %w", f.Name, b.Column(idx[0]).DataType(), f.Type, err)
			}
			cols[i] = c
		}
	}
	return array.NewRecordBatch(schema, cols, b.NumRows()), nil
}

// isDictionaryOf reports whether t is a dictionary of values of type v.
func isDictionaryOf(t, v arrow.DataType) bool {
	d, ok := t.(*arrow.DictionaryType)
	return ok && arrow.TypeEqual(d.ValueType, v)
}

// encodeDictionary is col as a dictionary array of type t.
func encodeDictionary(mem memory.Allocator, col arrow.Array, t *arrow.DictionaryType) (arrow.Array, error) {
	bld := array.NewDictionaryBuilder(mem, t)
	defer bld.Release()
	if err := bld.AppendArray(col); err != nil {
		return nil, err
	}
	return bld.NewArray(), nil
}
