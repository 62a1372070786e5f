package dataset

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/ops"
)

// ColumnSet is a batch of rows as typed Go slices by column name, the batch
// MapColumns passes and takes back (Ray's "numpy" batch format). The input
// batch reads its Arrow columns on demand, converting as ColumnBatch does;
// Set adds or replaces a column with a Go slice and Drop removes one. What
// MapColumns makes of the ColumnSet a function returns is exactly its
// columns, in order: input columns not Set pass through without a copy,
// numeric slices become Arrow arrays without a copy (so do not change a
// slice after Set), other slices are copied.
//
// The typed getters (Int64, Float64, String, Bool, Time) return a slice the
// caller owns, nulls as the zero value (Valid tells them apart). A column
// the batch does not have, or of a type the getter cannot read, makes the
// getter panic with an *AccessError naming the column, its type and the
// batch's columns; MapColumns turns it into the task's error. A ColumnSet is
// a handle: copies of it share one batch.
type ColumnSet struct{ s *columnsState }

type columnsState struct {
	rows  int
	names []string               // in output order
	arrs  map[string]arrow.Array // input columns not Set since; borrowed
	vals  map[string]any         // Go slices given to Set
	valid map[string][]bool      // their validity; absent: no nulls
}

// NewColumnSet returns an empty batch of rows rows, for a MapColumns function
// that returns new columns only, or a different number of rows.
func NewColumnSet(rows int) ColumnSet {
	return ColumnSet{&columnsState{rows: rows, arrs: map[string]arrow.Array{}, vals: map[string]any{}, valid: map[string][]bool{}}}
}

// columnsOf views rec as a ColumnSet; it borrows rec's arrays.
func columnsOf(rec arrow.RecordBatch) ColumnSet {
	c := NewColumnSet(int(rec.NumRows()))
	for j, f := range rec.Schema().Fields() {
		if _, dup := c.s.arrs[f.Name]; dup {
			continue // the first column of a name, as Row reads it
		}
		c.s.names = append(c.s.names, f.Name)
		c.s.arrs[f.Name] = rec.Column(j)
	}
	return c
}

// Len is the number of rows.
func (c ColumnSet) Len() int { return c.s.rows }

// Names lists the columns in order.
func (c ColumnSet) Names() []string { return slices.Clone(c.s.names) }

// Has reports whether the batch has a column named name.
func (c ColumnSet) Has(name string) bool {
	_, a := c.s.arrs[name]
	_, v := c.s.vals[name]
	return a || v
}

// Set adds the column name (at the end), or replaces it (in its place),
// with values: a slice of the batch's length of int8..int64,
// uint8..uint64, float32, float64, bool, string, []byte, time.Time
// (timestamp[us, UTC]) or anything FromItems takes. It has no nulls; see
// SetNullable. A length or type the batch cannot take is MapColumns' error.
func (c ColumnSet) Set(name string, values any) { c.SetNullable(name, values, nil) }

// SetNullable is Set with validity: row i is null where valid[i] is false.
// A nil valid means no nulls.
func (c ColumnSet) SetNullable(name string, values any, valid []bool) {
	if !c.Has(name) {
		c.s.names = append(c.s.names, name)
	}
	delete(c.s.arrs, name)
	c.s.vals[name] = values
	if valid == nil {
		delete(c.s.valid, name)
	} else {
		c.s.valid[name] = valid
	}
}

// Drop removes the named columns; names it does not have are ignored.
func (c ColumnSet) Drop(names ...string) {
	for _, n := range names {
		delete(c.s.arrs, n)
		delete(c.s.vals, n)
		delete(c.s.valid, n)
	}
	c.s.names = slices.DeleteFunc(c.s.names, func(n string) bool { return slices.Contains(names, n) })
}

// Get returns the column as ColumnBatch holds it: a slice of the column's
// own Go type ([]int32, []string, []time.Time, []any, ...), or the slice
// given to Set. It panics with an *AccessError when there is no such column.
func (c ColumnSet) Get(name string) any { return c.get("Get", name) }

func (c ColumnSet) get(getter, name string) any {
	if a, ok := c.s.arrs[name]; ok {
		return columnSlice(a)
	}
	if v, ok := c.s.vals[name]; ok {
		return v
	}
	panic(c.accessError(getter, name, nil))
}

// Valid returns the column's validity (false: null), or nil when it has
// no nulls. It panics with an *AccessError when there is no such column.
func (c ColumnSet) Valid(name string) []bool {
	if a, ok := c.s.arrs[name]; ok {
		if a.NullN() == 0 {
			return nil
		}
		v := make([]bool, a.Len())
		for i := range v {
			v[i] = a.IsValid(i)
		}
		return v
	}
	if _, ok := c.s.vals[name]; ok {
		return c.s.valid[name]
	}
	panic(c.accessError("Valid", name, nil))
}

// Int64 returns an integer column of any width as []int64 (uint64 values
// above math.MaxInt64 wrap).
func (c ColumnSet) Int64(name string) []int64 {
	if v, ok := asInt64s(c.get("Int64", name)); ok {
		return v
	}
	panic(c.accessError("Int64", name, c.typeOf(name)))
}

// Float64 returns a float or integer column as []float64.
func (c ColumnSet) Float64(name string) []float64 {
	switch v := c.get("Float64", name).(type) {
	case []float64:
		return v
	case []float32:
		return convertSlice[float64](v)
	case []uint64: // above math.MaxInt64, not through asInt64s' wrap
		return convertSlice[float64](v)
	default:
		if ints, ok := asInt64s(v); ok {
			return convertSlice[float64](ints)
		}
	}
	panic(c.accessError("Float64", name, c.typeOf(name)))
}

// asInt64s widens a slice of any integer type to []int64; false for other
// types.
func asInt64s(v any) ([]int64, bool) {
	switch v := v.(type) {
	case []int64:
		return v, true
	case []int32:
		return convertSlice[int64](v), true
	case []int16:
		return convertSlice[int64](v), true
	case []int8:
		return convertSlice[int64](v), true
	case []uint64:
		return convertSlice[int64](v), true
	case []uint32:
		return convertSlice[int64](v), true
	case []uint16:
		return convertSlice[int64](v), true
	case []uint8:
		return convertSlice[int64](v), true
	}
	return nil, false
}

// String returns a utf8 column (or a dictionary of utf8) as []string.
func (c ColumnSet) String(name string) []string {
	if v, ok := c.get("String", name).([]string); ok {
		return v
	}
	panic(c.accessError("String", name, c.typeOf(name)))
}

// Bool returns a boolean column as []bool.
func (c ColumnSet) Bool(name string) []bool {
	if v, ok := c.get("Bool", name).([]bool); ok {
		return v
	}
	panic(c.accessError("Bool", name, c.typeOf(name)))
}

// Time returns a timestamp or date column as []time.Time.
func (c ColumnSet) Time(name string) []time.Time {
	if v, ok := c.get("Time", name).([]time.Time); ok {
		return v
	}
	panic(c.accessError("Time", name, c.typeOf(name)))
}

func convertSlice[To, From int64 | float64 | int32 | int16 | int8 | uint64 | uint32 | uint16 | uint8 | float32](in []From) []To {
	out := make([]To, len(in))
	for i, v := range in {
		out[i] = To(v)
	}
	return out
}

// typeOf is the Arrow type of a column, as the batch builds it; null for a
// Set value that does not build.
func (c ColumnSet) typeOf(name string) arrow.DataType {
	if a, ok := c.s.arrs[name]; ok {
		return a.DataType()
	}
	v := c.s.vals[name]
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		if arr, err := buildColumn(memory.DefaultAllocator, name, v, nil, rv.Len()); err == nil {
			defer arr.Release()
			return arr.DataType()
		}
	}
	return arrow.Null
}

func (c ColumnSet) accessError(getter, name string, typ arrow.DataType) *AccessError {
	fields := make([]arrow.Field, 0, len(c.s.names))
	for _, n := range c.s.names {
		fields = append(fields, arrow.Field{Name: n, Type: c.typeOf(n), Nullable: true})
	}
	return &AccessError{Getter: "ColumnSet." + getter, Column: name, Type: typ, Schema: arrow.NewSchema(fields, nil)}
}

// record builds the batch's Arrow record with mem; the caller owns it.
func (c ColumnSet) record(mem memory.Allocator) (arrow.RecordBatch, error) {
	fields := make([]arrow.Field, 0, len(c.s.names))
	cols := make([]arrow.Array, 0, len(c.s.names))
	defer func() {
		for _, a := range cols {
			a.Release()
		}
	}()
	for _, n := range c.s.names {
		a, ok := c.s.arrs[n]
		if ok {
			a.Retain()
		} else {
			var err error
			if a, err = buildColumn(mem, n, c.s.vals[n], c.s.valid[n], c.s.rows); err != nil {
				return nil, err
			}
		}
		cols = append(cols, a)
		fields = append(fields, arrow.Field{Name: n, Type: a.DataType(), Nullable: true})
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(c.s.rows)), nil
}

// buildColumn makes an Arrow array of rows values with validity valid (nil:
// no nulls): numeric slices without a copy, bool, string and []byte with
// a builder, other slices through FromItems' inference.
func buildColumn(mem memory.Allocator, name string, values any, valid []bool, rows int) (arrow.Array, error) {
	rv := reflect.ValueOf(values)
	if rv.Kind() != reflect.Slice {
		return nil, fmt.Errorf("column %q: %T is not a slice", name, values)
	}
	if rv.Len() != rows {
		return nil, fmt.Errorf("column %q: %d values, the batch has %d rows", name, rv.Len(), rows)
	}
	if valid != nil && len(valid) != rows {
		return nil, fmt.Errorf("column %q: %d validity flags, the batch has %d rows", name, len(valid), rows)
	}
	switch v := values.(type) {
	case []int8:
		return numericColumn(v, valid), nil
	case []int16:
		return numericColumn(v, valid), nil
	case []int32:
		return numericColumn(v, valid), nil
	case []int64:
		return numericColumn(v, valid), nil
	case []uint8:
		return numericColumn(v, valid), nil
	case []uint16:
		return numericColumn(v, valid), nil
	case []uint32:
		return numericColumn(v, valid), nil
	case []uint64:
		return numericColumn(v, valid), nil
	case []float32:
		return numericColumn(v, valid), nil
	case []float64:
		return numericColumn(v, valid), nil
	case []bool:
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		b.AppendValues(v, valid)
		return b.NewArray(), nil
	case []string:
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues(v, valid)
		return b.NewArray(), nil
	case [][]byte:
		b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
		defer b.Release()
		b.AppendValues(v, valid)
		return b.NewArray(), nil
	}
	items := make([]Item, rows)
	for i := range items {
		if valid == nil || valid[i] {
			items[i] = Item{name: rv.Index(i).Interface()}
		} else {
			items[i] = Item{name: nil}
		}
	}
	rec, err := blocks.FromItems(mem, items)
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", name, err)
	}
	defer rec.Release()
	col := rec.Column(0)
	col.Retain()
	return col, nil
}

// numericColumn wraps vals without a copy (blocks.NumericArray), with a
// validity bitmap when valid is not nil.
func numericColumn[T blocks.Numeric](vals []T, valid []bool) arrow.Array {
	arr := blocks.NumericArray(vals)
	if valid == nil {
		return arr
	}
	defer arr.Release()
	bitmap := make([]byte, bitutil.BytesForBits(int64(len(vals))))
	nulls := 0
	for i, ok := range valid {
		if ok {
			bitutil.SetBit(bitmap, i)
		} else {
			nulls++
		}
	}
	data := array.NewData(arr.DataType(), len(vals),
		[]*memory.Buffer{memory.NewBufferBytes(bitmap), arr.Data().Buffers()[1]}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// ColumnSetFunc is MapColumns' function: it reads the batch in and returns
// the batch to emit, often in itself after Set and Drop.
type ColumnSetFunc = func(in ColumnSet) (ColumnSet, error)

// MapColumns calls fn on whole batches as typed Go slices (see ColumnSet):
// the vectorized transform without Arrow code. Options are MapBatches'.
func (d *Dataset) MapColumns(fn ColumnSetFunc, opts ...MapBatchesOption) *Dataset {
	if d.err != nil {
		return d
	}
	if fn == nil {
		return d.withErr(nilFunc("MapColumns"))
	}
	return d.batchStage("MapColumns", mapColumnsKind, fn, columnsBatch(fn), opts)
}

// columnsBatch is MapColumns' function as a BatchFunc over Arrow records.
func columnsBatch(fn ColumnSetFunc) BatchFunc {
	return func(in arrow.RecordBatch) (rec arrow.RecordBatch, err error) {
		out, err := callColumns(fn, columnsOf(in))
		if err != nil {
			return nil, err
		}
		if out.s == nil {
			return nil, fmt.Errorf("MapColumns function returned the zero ColumnSet; return in, or NewColumnSet(rows)")
		}
		return out.record(memory.DefaultAllocator)
	}
}

func callColumns(fn ColumnSetFunc, in ColumnSet) (out ColumnSet, err error) {
	defer recoverAccess(&err)
	return fn(in)
}

// columnsStage is MapColumns' stage function, as a worker builds it.
func columnsStage(fn ColumnSetFunc, a fnArgs) ops.BlockFn {
	return batchesFn(columnsBatch(fn), a.BatchSize)
}
