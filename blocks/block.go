// Package blocks holds the unit of work of Shoal: a Block, an immutable Arrow
// record batch, and the helpers that build, slice, concatenate, take from and
// measure blocks.
//
// Blocks follow arrow-go's reference counting: a function that returns a Block
// hands the caller one reference, which the caller must Release. Functions that
// take a Block borrow it; they Retain it if they keep it.
package blocks

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Block is an immutable Arrow record batch: every task reads blocks and writes
// blocks. It is an alias so that any arrow-go record can be used as a block.
type Block = arrow.RecordBatch

// Meta describes a block without holding its data: what an object reference
// carries so that planners can count rows and bytes without fetching blocks.
type Meta struct {
	Rows   int64
	Bytes  int64
	Schema *arrow.Schema
}

// MetaOf returns the metadata of b.
func MetaOf(b Block) Meta {
	return Meta{Rows: b.NumRows(), Bytes: Size(b), Schema: b.Schema()}
}

// IsVoid reports whether b has neither rows nor columns: what a per-row
// function that produced nothing yields, since its schema is unknown.
// Operators pass void blocks through, and Concat ignores them.
func IsVoid(b Block) bool {
	return b.NumRows() == 0 && b.NumCols() == 0
}

// Size returns the bytes held by the buffers b references. A slice reports the
// size of the buffers it shares, which is what keeping it alive costs. It
// runs for every block a task stores, so it walks the buffers without
// allocating (arrow's util.TotalRecordSize builds a map to skip buffers seen
// twice, which a block rarely has and an estimate need not).
func Size(b Block) int64 {
	if b == nil {
		return 0
	}
	var n int64
	for _, c := range b.Columns() {
		n += dataSize(c.Data())
	}
	return n
}

func dataSize(d arrow.ArrayData) int64 {
	var n int64
	for _, buf := range d.Buffers() {
		if buf != nil {
			n += int64(buf.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataSize(c)
	}
	// Dictionary() is a non-nil interface around a nil pointer for other types.
	if d.DataType().ID() == arrow.DICTIONARY {
		n += dataSize(d.Dictionary())
	}
	return n
}

// Empty returns a block with the given schema and no rows.
func Empty(mem memory.Allocator, schema *arrow.Schema) Block {
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	return bld.NewRecordBatch()
}

// Slice returns rows [i, j) of b as a new reference sharing b's buffers.
func Slice(b Block, i, j int64) Block {
	return b.NewSlice(i, j)
}

// Split cuts b into consecutive blocks of at most maxRows rows each, sharing
// b's buffers. A block already small enough is returned retained, as is.
func Split(b Block, maxRows int64) []Block {
	n := b.NumRows()
	if maxRows <= 0 || n <= maxRows {
		b.Retain()
		return []Block{b}
	}
	out := make([]Block, 0, (n+maxRows-1)/maxRows)
	for i := int64(0); i < n; i += maxRows {
		out = append(out, b.NewSlice(i, min(i+maxRows, n)))
	}
	return out
}

// ConcatParts is one block of the rows of parts, in order, for a task that
// made several parts of one output: parts without rows are left out, and
// when none has rows the first part stands for them all (it keeps the
// schema). The result is the caller's; parts are borrowed.
func ConcatParts(mem memory.Allocator, parts []Block) (Block, error) {
	var rows []Block
	for _, p := range parts {
		if p.NumRows() > 0 {
			rows = append(rows, p)
		}
	}
	switch len(rows) {
	case 0:
		parts[0].Retain()
		return parts[0], nil
	case 1:
		rows[0].Retain()
		return rows[0], nil
	}
	return Concat(mem, rows)
}

// Concat appends the rows of bs into one block. Blocks whose schemas differ
// are first conformed to their unified schema (see UnifySchemas), so blocks
// that per-row functions built with different inferred types still combine.
// A single non-empty block is returned retained rather than copied, and
// empty blocks are skipped. At least one block is required.
func Concat(mem memory.Allocator, bs []Block) (Block, error) {
	if len(bs) == 0 {
		return nil, fmt.Errorf("blocks: concat of no blocks")
	}
	schema := bs[0].Schema()
	same := true
	for _, b := range bs[1:] {
		same = same && b.Schema().Equal(schema)
	}
	if !same {
		return concatUnified(mem, bs)
	}
	nonEmpty := make([]Block, 0, len(bs))
	var rows int64
	for _, b := range bs {
		if b.NumRows() > 0 {
			nonEmpty = append(nonEmpty, b)
			rows += b.NumRows()
		}
	}
	switch len(nonEmpty) {
	case 0:
		return Empty(mem, schema), nil
	case 1:
		nonEmpty[0].Retain()
		return nonEmpty[0], nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(nonEmpty))
	for c := range cols {
		for i, b := range nonEmpty {
			parts[i] = b.Column(c)
		}
		col, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, fmt.Errorf("blocks: concat column %q: %w", schema.Field(c).Name, err)
		}
		cols[c] = col
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// concatUnified conforms blocks to their unified schema, then concatenates.
// Empty blocks without columns (from a function that produced nothing) do
// not take part in unification.
func concatUnified(mem memory.Allocator, bs []Block) (Block, error) {
	var schemas []*arrow.Schema
	var use []Block
	for _, b := range bs {
		if IsVoid(b) {
			continue
		}
		schemas = append(schemas, b.Schema())
		use = append(use, b)
	}
	if len(use) == 0 {
		bs[0].Retain()
		return bs[0], nil
	}
	schema, err := UnifySchemas(schemas...)
	if err != nil {
		return nil, fmt.Errorf("blocks: concat: %w", err)
	}
	conformed := make([]Block, 0, len(use))
	defer func() {
		for _, b := range conformed {
			b.Release()
		}
	}()
	for _, b := range use {
		c, err := Conform(mem, b, schema)
		if err != nil {
			return nil, err
		}
		conformed = append(conformed, c)
	}
	return Concat(mem, conformed)
}

// Take returns the rows of b at the given indices, in that order.
func Take(mem memory.Allocator, b Block, indices []int64) (Block, error) {
	for _, ix := range indices {
		if ix < 0 || ix >= b.NumRows() {
			return nil, fmt.Errorf("blocks: take: index %d out of range [0, %d)", ix, b.NumRows())
		}
	}
	cols := make([]arrow.Array, b.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for c := range cols {
		col, err := TakeColumn(mem, b.Column(c), indices)
		if err != nil {
			return nil, fmt.Errorf("blocks: take column %q: %w", b.Schema().Field(c).Name, err)
		}
		cols[c] = col
	}
	return array.NewRecordBatch(b.Schema(), cols, int64(len(indices))), nil
}

// TakeColumn gathers the rows idx of one column (every index in range),
// with the typed kernels Take uses, or arrow compute for other types.
func TakeColumn(mem memory.Allocator, col arrow.Array, idx []int64) (arrow.Array, error) {
	if g, ok := gather(mem, col, idx); ok {
		return g, nil
	}
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(idx, nil)
	ix := ib.NewInt64Array()
	ib.Release()
	defer ix.Release()
	return compute.TakeArray(compute.WithAllocator(context.Background(), mem), col, ix)
}

// Column returns the column called name, or an error naming the column and
// the columns that exist.
func Column(b Block, name string) (arrow.Array, error) {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, &UnknownColumnError{Column: name, Schema: b.Schema()}
	}
	return b.Column(idx[0]), nil
}

// UnknownColumnError reports a column name that is not in a schema.
type UnknownColumnError struct {
	Column string
	Schema *arrow.Schema
}

func (e *UnknownColumnError) Error() string {
	names := make([]string, e.Schema.NumFields())
	for i, f := range e.Schema.Fields() {
		names[i] = f.Name
	}
	return fmt.Sprintf("unknown column %q (have %v)", e.Column, names)
}

// WithColumn returns b with the column name set to col: replaced where it
// exists, appended otherwise. col must have b's row count.
func WithColumn(b Block, name string, col arrow.Array) (Block, error) {
	if int64(col.Len()) != b.NumRows() {
		return nil, fmt.Errorf("blocks: column %q has %d rows, block has %d", name, col.Len(), b.NumRows())
	}
	fields := append([]arrow.Field(nil), b.Schema().Fields()...)
	cols := append([]arrow.Array(nil), b.Columns()...)
	field := arrow.Field{Name: name, Type: col.DataType(), Nullable: true}
	if idx := b.Schema().FieldIndices(name); len(idx) > 0 {
		fields[idx[0]] = field
		cols[idx[0]] = col
	} else {
		fields = append(fields, field)
		cols = append(cols, col)
	}
	md := b.Schema().Metadata()
	return array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, b.NumRows()), nil
}

// Select returns the named columns of b, in the given order.
func Select(b Block, names []string) (Block, error) {
	fields := make([]arrow.Field, len(names))
	cols := make([]arrow.Array, len(names))
	for i, name := range names {
		idx := b.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, &UnknownColumnError{Column: name, Schema: b.Schema()}
		}
		fields[i] = b.Schema().Field(idx[0])
		cols[i] = b.Column(idx[0])
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
}

// Numeric is the set of Go element types that map one to one onto Arrow
// fixed-width numeric arrays.
type Numeric interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// NumericArray wraps vals as an Arrow array without copying: the array reads
// vals' memory, so vals must not be changed afterwards. It is the cheap way
// for a vectorized UDF to return a computed column.
func NumericArray[T Numeric](vals []T) arrow.Array {
	var zero T
	dt := numericType(zero)
	buf := memory.NewBufferBytes(unsafeBytes(vals))
	data := array.NewData(dt, len(vals), []*memory.Buffer{nil, buf}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// Values returns the values of a numeric array as a Go slice sharing the
// array's memory (null slots hold unspecified values; check arr.IsNull). The
// array's type must match T exactly.
func Values[T Numeric](arr arrow.Array) ([]T, error) {
	var zero T
	if want := numericType(zero); !arrow.TypeEqual(arr.DataType(), want) {
		return nil, fmt.Errorf("blocks: column of type %s read as %s", arr.DataType(), want)
	}
	switch a := arr.(type) {
	case *array.Int8:
		return castSlice[int8, T](a.Int8Values()), nil
	case *array.Int16:
		return castSlice[int16, T](a.Int16Values()), nil
	case *array.Int32:
		return castSlice[int32, T](a.Int32Values()), nil
	case *array.Int64:
		return castSlice[int64, T](a.Int64Values()), nil
	case *array.Uint8:
		return castSlice[uint8, T](a.Uint8Values()), nil
	case *array.Uint16:
		return castSlice[uint16, T](a.Uint16Values()), nil
	case *array.Uint32:
		return castSlice[uint32, T](a.Uint32Values()), nil
	case *array.Uint64:
		return castSlice[uint64, T](a.Uint64Values()), nil
	case *array.Float32:
		return castSlice[float32, T](a.Float32Values()), nil
	case *array.Float64:
		return castSlice[float64, T](a.Float64Values()), nil
	}
	return nil, fmt.Errorf("blocks: unsupported numeric array %T", arr)
}

func numericType(v any) arrow.DataType {
	switch v.(type) {
	case int8:
		return arrow.PrimitiveTypes.Int8
	case int16:
		return arrow.PrimitiveTypes.Int16
	case int32:
		return arrow.PrimitiveTypes.Int32
	case int64:
		return arrow.PrimitiveTypes.Int64
	case uint8:
		return arrow.PrimitiveTypes.Uint8
	case uint16:
		return arrow.PrimitiveTypes.Uint16
	case uint32:
		return arrow.PrimitiveTypes.Uint32
	case uint64:
		return arrow.PrimitiveTypes.Uint64
	case float32:
		return arrow.PrimitiveTypes.Float32
	case float64:
		return arrow.PrimitiveTypes.Float64
	}
	// Named types (~int64 and friends) land here: fall back on the kind.
	return numericTypeOfKind(v)
}

// Share readies b to be read by several goroutines at once: arrow-go builds
// some child arrays lazily, without a lock, on first access (a dictionary
// array's dictionary), so the object store touches them once when it takes
// a block in, before any task can see it.
func Share(b Block) {
	for _, c := range b.Columns() {
		shareArray(c)
	}
}

func shareArray(a arrow.Array) {
	switch a := a.(type) {
	case *array.Dictionary:
		shareArray(a.Dictionary())
	case *array.Struct:
		for i := range a.NumField() {
			shareArray(a.Field(i))
		}
	case array.ListLike:
		shareArray(a.ListValues())
	}
}
