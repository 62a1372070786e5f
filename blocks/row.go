package blocks

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Row is a read-only view of one row of a record batch. It does not copy and
// does not retain the record: it is valid only while the record is (the
// engine holds a reference for the duration of a UDF call).
//
// The typed getters (Int64, Float64, String, Bool, Get, IsNull) read a
// column by name. A column the record does not have, or one whose type the
// getter cannot read, is a programming error, like an index out of range:
// the getter panics with a *AccessError naming the getter, the column,
// its type and the record's columns, and the engine turns that panic into
// the error of the task (naming the operator, block and row). The GetInt64,
// GetFloat64, GetString, GetBool and Lookup variants return that error
// instead, for column names that come from data; Has probes for a column.
// A null value reads as the type's zero value (0, "", false, nil): use
// IsNull to tell a null from a zero.
type Row struct {
	rec arrow.RecordBatch
	i   int
}

// NewRow returns a view of row i of rec. i should be in [0, rec.NumRows());
// for an out-of-range i every getter fails.
func NewRow(rec arrow.RecordBatch, i int) Row {
	return Row{rec: rec, i: i}
}

// Index returns the row index within the batch.
func (r Row) Index() int { return r.i }

// Schema returns the schema of the underlying record (nil for the zero Row).
func (r Row) Schema() *arrow.Schema {
	if r.rec == nil {
		return nil
	}
	return r.rec.Schema()
}

// NumFields returns the number of columns.
func (r Row) NumFields() int {
	if r.rec == nil {
		return 0
	}
	return int(r.rec.NumCols())
}

// linearLookupMax is the schema width up to which column lookup scans field
// names instead of calling Schema.FieldIndices (which allocates a copy).
const linearLookupMax = 16

// col returns the first column named name, or a *AccessError for getter
// when it is missing or the row index is out of range.
func (r Row) col(getter, name string) (arrow.Array, error) {
	if r.rec == nil || r.i < 0 || int64(r.i) >= r.rec.NumRows() {
		return nil, r.accessError(getter, name, nil)
	}
	s := r.rec.Schema()
	n := s.NumFields()
	if n <= linearLookupMax {
		for j := range n {
			if s.Field(j).Name == name {
				return r.rec.Column(j), nil
			}
		}
	} else if idx := s.FieldIndices(name); len(idx) > 0 {
		return r.rec.Column(idx[0]), nil
	}
	return nil, r.accessError(getter, name, nil)
}

func (r Row) accessError(getter, name string, typ arrow.DataType) *AccessError {
	e := &AccessError{Getter: "Row." + getter, Column: name, Type: typ}
	switch {
	case r.rec == nil:
		e.Reason = "the zero Row has no columns"
	case r.i < 0 || int64(r.i) >= r.rec.NumRows():
		e.Reason = fmt.Sprintf("row %d out of range [0, %d)", r.i, r.rec.NumRows())
	default:
		e.Schema = r.rec.Schema()
	}
	return e
}

// mustRead panics with err: the getters' failure (see Row).
func mustRead[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Has reports whether the row's record has a column named name.
func (r Row) Has(name string) bool {
	return r.rec != nil && r.rec.Schema().HasField(name)
}

// Get returns ValueAt of column name at this row: a copy that does not
// reference the record's memory, nil for a null. It panics with a
// *AccessError when there is no such column (see Row); Lookup returns
// the error instead.
func (r Row) Get(name string) any { return mustRead(r.lookup("Get", name)) }

// Lookup is Get returning a *AccessError instead of panicking.
func (r Row) Lookup(name string) (any, error) { return r.lookup("Get", name) }

func (r Row) lookup(getter, name string) (any, error) {
	c, err := r.col(getter, name)
	if err != nil {
		return nil, err
	}
	return ValueAt(c, r.i), nil
}

// IsNull reports whether the value of column name is null. It panics with
// a *AccessError when there is no such column (see Row).
func (r Row) IsNull(name string) bool {
	c, err := r.col("IsNull", name)
	if err != nil {
		panic(err)
	}
	return c.IsNull(r.i)
}

// Int64 returns the value of an integer column (any signed or unsigned
// width; uint64 values above math.MaxInt64 wrap), 0 for a null. It panics
// with a *AccessError for a missing or non-integer column (see Row). It
// does not allocate.
func (r Row) Int64(name string) int64 { return mustRead(r.GetInt64(name)) }

// GetInt64 is Int64 returning a *AccessError instead of panicking.
func (r Row) GetInt64(name string) (int64, error) {
	c, err := r.col("Int64", name)
	if err != nil {
		return 0, err
	}
	if c.IsNull(r.i) {
		return 0, nil
	}
	if v, ok := intAt(c, r.i); ok {
		return v, nil
	}
	return 0, r.accessError("Int64", name, c.DataType())
}

// intAt reads an integer column of any width at i; false for other types.
func intAt(c arrow.Array, i int) (int64, bool) {
	switch a := c.(type) {
	case *array.Int64:
		return a.Value(i), true
	case *array.Int32:
		return int64(a.Value(i)), true
	case *array.Int16:
		return int64(a.Value(i)), true
	case *array.Int8:
		return int64(a.Value(i)), true
	case *array.Uint64:
		return int64(a.Value(i)), true
	case *array.Uint32:
		return int64(a.Value(i)), true
	case *array.Uint16:
		return int64(a.Value(i)), true
	case *array.Uint8:
		return int64(a.Value(i)), true
	}
	return 0, false
}

// Float64 returns the value of a float or integer column as float64, 0 for
// a null. It panics with a *AccessError for a missing or non-numeric
// column (see Row). It does not allocate.
func (r Row) Float64(name string) float64 { return mustRead(r.GetFloat64(name)) }

// GetFloat64 is Float64 returning a *AccessError instead of panicking.
func (r Row) GetFloat64(name string) (float64, error) {
	c, err := r.col("Float64", name)
	if err != nil {
		return 0, err
	}
	if c.IsNull(r.i) {
		return 0, nil
	}
	switch a := c.(type) {
	case *array.Float64:
		return a.Value(r.i), nil
	case *array.Float32:
		return float64(a.Value(r.i)), nil
	case *array.Float16:
		return float64(a.Value(r.i).Float32()), nil
	case *array.Uint64: // above math.MaxInt64, not through intAt's wrap
		return float64(a.Value(r.i)), nil
	}
	if v, ok := intAt(c, r.i); ok {
		return float64(v), nil
	}
	return 0, r.accessError("Float64", name, c.DataType())
}

// String returns the value of a utf8, large_utf8 or utf8_view column, or of
// a dictionary column with such values, "" for a null. It panics with a
// *AccessError for a missing column or one of another type (see Row). It
// does not copy: the string shares the record's memory, so use
// strings.Clone to keep it beyond the record's lifetime (values placed in an
// Item returned from a UDF are copied when the engine builds the output
// block).
func (r Row) String(name string) string { return mustRead(r.GetString(name)) }

// GetString is String returning a *AccessError instead of panicking.
func (r Row) GetString(name string) (string, error) {
	c, err := r.col("String", name)
	if err != nil {
		return "", err
	}
	if !isString(c.DataType()) {
		return "", r.accessError("String", name, c.DataType())
	}
	if c.IsNull(r.i) {
		return "", nil
	}
	return stringAt(c, r.i), nil
}

func isString(t arrow.DataType) bool {
	switch t := t.(type) {
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return true
	case *arrow.DictionaryType:
		return isString(t.ValueType)
	}
	return false
}

// Bool returns the value of a boolean column, false for a null. It panics
// with a *AccessError for a missing or non-boolean column (see Row).
func (r Row) Bool(name string) bool { return mustRead(r.GetBool(name)) }

// GetBool is Bool returning a *AccessError instead of panicking.
func (r Row) GetBool(name string) (bool, error) {
	c, err := r.col("Bool", name)
	if err != nil {
		return false, err
	}
	a, ok := c.(*array.Boolean)
	if !ok {
		return false, r.accessError("Bool", name, c.DataType())
	}
	return a.IsValid(r.i) && a.Value(r.i), nil
}

func stringAt(c arrow.Array, i int) string {
	switch a := c.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.StringView:
		return a.Value(i)
	case *array.Dictionary:
		return stringAt(a.Dictionary(), a.GetValueIndex(i))
	}
	return ""
}

// Item returns a copy of the whole row as a map, converting each column with
// ValueAt. The result does not reference the record's memory. It returns nil
// for the zero Row or an out-of-range index.
func (r Row) Item() Item {
	if r.rec == nil || r.i < 0 || int64(r.i) >= r.rec.NumRows() {
		return nil
	}
	s := r.rec.Schema()
	out := make(Item, s.NumFields())
	for j, c := range r.rec.Columns() {
		out[s.Field(j).Name] = ValueAt(c, r.i)
	}
	return out
}
