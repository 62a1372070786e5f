package blocks

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Row is a read-only view of one row of a record batch. It does not copy and
// does not retain the record: it is valid only while the record is (the
// engine holds a reference for the duration of a UDF call). The zero value is
// not usable; its getters return zero values.
type Row struct {
	rec arrow.RecordBatch
	i   int
}

// NewRow returns a view of row i of rec. i should be in [0, rec.NumRows());
// for an out-of-range i every column reads as missing.
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

// col returns the first column named name, or nil when it is missing or the
// row index is out of range.
func (r Row) col(name string) arrow.Array {
	if r.rec == nil || r.i < 0 || int64(r.i) >= r.rec.NumRows() {
		return nil
	}
	s := r.rec.Schema()
	n := s.NumFields()
	if n <= linearLookupMax {
		for j := range n {
			if s.Field(j).Name == name {
				return r.rec.Column(j)
			}
		}
		return nil
	}
	if idx := s.FieldIndices(name); len(idx) > 0 {
		return r.rec.Column(idx[0])
	}
	return nil
}

// Has reports whether the row's record has a column named name.
func (r Row) Has(name string) bool {
	return r.rec != nil && r.rec.Schema().HasField(name)
}

// Get returns ValueAt of column name at this row: a copy that does not
// reference the record's memory. It returns nil when the column is missing
// or the value is null.
func (r Row) Get(name string) any {
	c := r.col(name)
	if c == nil {
		return nil
	}
	return ValueAt(c, r.i)
}

// IsNull reports whether the value of column name is null; it is also true
// when the column is missing.
func (r Row) IsNull(name string) bool {
	c := r.col(name)
	return c == nil || c.IsNull(r.i)
}

// Int64 returns the value of an integer column (any signed or unsigned
// width; uint64 values above math.MaxInt64 wrap). It returns 0 when the
// column is missing, null or not an integer column. It does not allocate.
func (r Row) Int64(name string) int64 {
	c := r.col(name)
	if c == nil || c.IsNull(r.i) {
		return 0
	}
	switch a := c.(type) {
	case *array.Int64:
		return a.Value(r.i)
	case *array.Int32:
		return int64(a.Value(r.i))
	case *array.Int16:
		return int64(a.Value(r.i))
	case *array.Int8:
		return int64(a.Value(r.i))
	case *array.Uint64:
		return int64(a.Value(r.i))
	case *array.Uint32:
		return int64(a.Value(r.i))
	case *array.Uint16:
		return int64(a.Value(r.i))
	case *array.Uint8:
		return int64(a.Value(r.i))
	}
	return 0
}

// Float64 returns the value of a float or integer column as float64. It
// returns 0 when the column is missing, null or not numeric. It does not
// allocate.
func (r Row) Float64(name string) float64 {
	c := r.col(name)
	if c == nil || c.IsNull(r.i) {
		return 0
	}
	switch a := c.(type) {
	case *array.Float64:
		return a.Value(r.i)
	case *array.Float32:
		return float64(a.Value(r.i))
	case *array.Float16:
		return float64(a.Value(r.i).Float32())
	case *array.Int64:
		return float64(a.Value(r.i))
	case *array.Int32:
		return float64(a.Value(r.i))
	case *array.Int16:
		return float64(a.Value(r.i))
	case *array.Int8:
		return float64(a.Value(r.i))
	case *array.Uint64:
		return float64(a.Value(r.i))
	case *array.Uint32:
		return float64(a.Value(r.i))
	case *array.Uint16:
		return float64(a.Value(r.i))
	case *array.Uint8:
		return float64(a.Value(r.i))
	}
	return 0
}

// String returns the value of a utf8, large_utf8 or utf8_view column, or of a
// dictionary column with such values. It returns "" when the column is
// missing, null or of another type. It does not copy: the string shares the
// record's memory, so use strings.Clone to keep it beyond the record's
// lifetime (values placed in an Item returned from a UDF are copied when the
// engine builds the output block).
func (r Row) String(name string) string {
	c := r.col(name)
	if c == nil || c.IsNull(r.i) {
		return ""
	}
	return stringAt(c, r.i)
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

// Bool returns the value of a boolean column. It returns false when the
// column is missing, null or not boolean.
func (r Row) Bool(name string) bool {
	c := r.col(name)
	if c == nil || c.IsNull(r.i) {
		return false
	}
	if a, ok := c.(*array.Boolean); ok {
		return a.Value(r.i)
	}
	return false
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
