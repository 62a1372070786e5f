package formats

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Read schemas of Parquet files follow the other formats: every field
// nullable (CSV and JSON reads give nullable fields; a Parquet REQUIRED
// column would otherwise make the same data a different schema, and
// union or compare unequal) unless ParquetOptions.KeepRequired asks for
// the file's word, and without the "PARQUET:field_id" metadata pqarrow
// puts on every field (-1 when the file has no field ids), which only
// clutters schemas. Map keys stay non-nullable, as Arrow requires.

const pqFieldIDKey = "PARQUET:field_id"

// pqNormalizeSchema is sc with its fields normalized and the repaired
// columns (see pqRepairs) typed as they are read.
func pqNormalizeSchema(sc *arrow.Schema, keepRequired bool, rep pqRepairs) *arrow.Schema {
	fields := make([]arrow.Field, sc.NumFields())
	for i, f := range sc.Fields() {
		fields[i] = pqNormalizeField(rep.field(f), keepRequired)
	}
	md := pqStripRepairKeys(sc.Metadata())
	return arrow.NewSchema(fields, &md)
}

func pqNormalizeField(f arrow.Field, keepRequired bool) arrow.Field {
	if i := f.Metadata.FindKey(pqFieldIDKey); i >= 0 {
		keys, vals := f.Metadata.Keys(), f.Metadata.Values()
		f.Metadata = arrow.NewMetadata(append(keys[:i:i], keys[i+1:]...), append(vals[:i:i], vals[i+1:]...))
	}
	if !keepRequired {
		f.Nullable = true
	}
	f.Type = pqNormalizeType(f.Type, keepRequired)
	return f
}

func pqNormalizeType(dt arrow.DataType, keepRequired bool) arrow.DataType {
	switch t := dt.(type) {
	case *arrow.StructType:
		fields := make([]arrow.Field, t.NumFields())
		for i, f := range t.Fields() {
			fields[i] = pqNormalizeField(f, keepRequired)
		}
		return arrow.StructOf(fields...)
	case *arrow.MapType:
		key, item := pqNormalizeField(t.KeyField(), keepRequired), pqNormalizeField(t.ItemField(), keepRequired)
		m := arrow.MapOfWithMetadata(key.Type, key.Metadata, item.Type, item.Metadata)
		m.KeysSorted = t.KeysSorted
		m.SetItemNullable(item.Nullable)
		return m
	case *arrow.ListType:
		return arrow.ListOfField(pqNormalizeField(t.ElemField(), keepRequired))
	case *arrow.LargeListType:
		return arrow.LargeListOfField(pqNormalizeField(t.ElemField(), keepRequired))
	case *arrow.FixedSizeListType:
		return arrow.FixedSizeListOfField(t.Len(), pqNormalizeField(t.ElemField(), keepRequired))
	}
	return dt
}

// pqRetype is data viewed as type dt, which differs from its own only in
// the names, nullability and metadata of nested fields: the same buffers,
// children retyped alike.
func pqRetype(data arrow.ArrayData, dt arrow.DataType) arrow.ArrayData {
	if _, ok := dt.(arrow.NestedType); !ok {
		data.Retain() // nothing nested to retype (dictionaries included)
		return data
	}
	children := data.Children()
	var childTypes []arrow.DataType
	switch t := dt.(type) {
	case *arrow.StructType:
		for _, f := range t.Fields() {
			childTypes = append(childTypes, f.Type)
		}
	case arrow.ListLikeType: // lists, large lists, fixed-size lists and maps
		childTypes = []arrow.DataType{t.Elem()}
	}
	retyped := make([]arrow.ArrayData, len(children))
	for i, c := range children {
		if i < len(childTypes) {
			retyped[i] = pqRetype(c, childTypes[i])
			defer retyped[i].Release()
		} else {
			retyped[i] = c
		}
	}
	return array.NewData(dt, data.Len(), data.Buffers(), retyped, data.NullN(), data.Offset())
}

// pqNormalizer turns the records a read emits into records of their
// normalized schema. pqarrow gives every record of one read the same
// schema, so the normalized one is computed once.
type pqNormalizer struct {
	keepRequired bool
	rep          pqRepairs
	mem          memory.Allocator // for converted INT96 columns
	from, to     *arrow.Schema
	retype       []bool // columns whose type changed
}

func (n *pqNormalizer) normalize(r arrow.RecordBatch) (arrow.RecordBatch, error) {
	if r.Schema() != n.from {
		n.from = r.Schema()
		n.to = pqNormalizeSchema(n.from, n.keepRequired, n.rep)
		n.retype = make([]bool, n.from.NumFields())
		for i, f := range n.from.Fields() {
			n.retype[i] = !arrow.TypeEqual(f.Type, n.to.Field(i).Type, arrow.CheckMetadata())
		}
	}
	cols := make([]arrow.Array, r.NumCols())
	for i, c := range r.Columns() {
		if !n.retype[i] {
			cols[i] = c
			continue
		}
		if conv, err := n.convert(n.from.Field(i).Name, c, n.to.Field(i).Type); conv != nil || err != nil {
			if err != nil {
				r.Release()
				return nil, fmt.Errorf("column %s: %w", n.from.Field(i).Name, err)
			}
			cols[i] = conv
			defer conv.Release()
			continue
		}
		d := pqRetype(c.Data(), n.to.Field(i).Type)
		cols[i] = array.MakeFromData(d)
		d.Release()
		defer cols[i].Release()
	}
	out := array.NewRecordBatch(n.to, cols, r.NumRows())
	r.Release()
	return out, nil
}

// convert converts a repaired column to its read type dt; nil when c is
// not one.
func (n *pqNormalizer) convert(name string, c arrow.Array, dt arrow.DataType) (arrow.Array, error) {
	switch {
	case n.rep.int96[name]:
		fsb, ok1 := c.(*array.FixedSizeBinary)
		ts, ok2 := dt.(*arrow.TimestampType)
		if ok1 && ok2 {
			return pqInt96Timestamps(n.mem, fsb, ts)
		}
	case n.rep.maps[name]:
		l, ok1 := c.(*array.List)
		m, ok2 := dt.(*arrow.MapType)
		if ok1 && ok2 {
			return pqMapFromList(l, m)
		}
	}
	return nil, nil
}
