package formats

import (
	"encoding/binary"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
)

// Dictionary encoding pays for columns with few distinct values and costs
// dearly for the others: arrow-go builds a dictionary for every column
// until the dictionary page limit (1 MiB: 128K int64 values) is full and
// only then falls back to plain, and growing its hash table was a third
// of a CSV → Parquet conversion's CPU (ids and timestamps, all distinct).
// As DuckDB and Polars decide by cardinality, Encode samples the first
// values of each fixed-width column and writes it plain when most of the
// sample is distinct. Strings keep dictionaries: their fallback is cheap
// next to what a dictionary saves on repeated text.

// dictSample is how many leading values the choice looks at.
const dictSample = 4096

// plainColumns lists the writer properties that turn dictionaries off for
// the top-level fixed-width columns of recs whose sampled values are over
// half distinct.
func plainColumns(sc *arrow.Schema, recs []arrow.RecordBatch) []parquet.WriterProperty {
	var out []parquet.WriterProperty
	for i, f := range sc.Fields() {
		fw, ok := f.Type.(arrow.FixedWidthDataType)
		if !ok {
			continue
		}
		switch fw.BitWidth() {
		case 8, 16, 32, 64:
		default:
			continue // booleans, odd-width binaries, decimals and wider types: arrow-go's defaults
		}
		width := fw.BitWidth() / 8
		seen := make(map[uint64]struct{}, dictSample)
		sampled := 0
		for _, rec := range recs {
			if sampled >= dictSample {
				break
			}
			col := rec.Column(i)
			data := col.Data()
			if len(data.Buffers()) < 2 || data.Buffers()[1] == nil {
				continue
			}
			raw := data.Buffers()[1].Bytes()
			for j := 0; j < col.Len() && sampled < dictSample; j++ {
				if col.IsNull(j) {
					continue
				}
				off := (data.Offset() + j) * width
				seen[fixedBits(raw[off:off+width])] = struct{}{}
				sampled++
			}
		}
		if sampled >= 64 && 2*len(seen) > sampled {
			out = append(out, parquet.WithDictionaryFor(f.Name, false))
		}
	}
	return out
}

// fixedBits reads a 1, 2, 4 or 8 byte little-endian value.
func fixedBits(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

// Strings that repeat are dictionary-encoded by arrow-go one value at a
// time: a memo-table insert per value, 146 ns each, 12% of a CSV →
// Parquet conversion's CPU for one column of 4 distinct values. A column
// whose sampled values repeat a lot is instead handed to arrow-go as a
// dictionary array (indices found with a Go map, one dictionary per column
// per file), which it writes with its direct dictionary path: the indices
// are written as they are and statistics come from the dictionary. The
// file stores the schema as given (strings, not dictionaries), so readers
// see the same column types as before.

// dictStringRatio: a string column is handed over as a dictionary when at
// most one in this many of its sampled values is distinct.
const dictStringRatio = 8

// dictStringMax bounds the distinct values of a column handed over as a
// dictionary; past it (the sample misled) the column is written as it is.
//
// A column holding the empty string is written as it is too: arrow-go
// (v18.8) computes a dictionary column's statistics with
// ByteArrayStatistics.UpdateFromArrow, which skips zero-length values as
// if they were nulls, so min would miss "" and a filter on "" would skip
// row groups that hold it. Its dense path counts "" correctly.
const dictStringMax = 1 << 16

// dictStrings returns recs with their repetitive top-level string columns
// as dictionary arrays, and the schema they have; nil when no column is
// (or the schema is nested, where the stored schema would need arrow-go's
// normalization of list field names). The caller releases the records.
func dictStrings(mem memory.Allocator, sc *arrow.Schema, recs []arrow.RecordBatch) (*arrow.Schema, []arrow.RecordBatch) {
	var cols []int
	for i, f := range sc.Fields() {
		switch f.Type.ID() {
		case arrow.STRING:
			if repetitive(recs, i) {
				cols = append(cols, i)
			}
		case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.MAP, arrow.STRUCT, arrow.DICTIONARY,
			arrow.EXTENSION, arrow.SPARSE_UNION, arrow.DENSE_UNION, arrow.RUN_END_ENCODED, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW:
			return nil, nil
		}
	}
	if len(cols) == 0 {
		return nil, nil
	}
	fields := sc.Fields()
	out := make([][]arrow.Array, len(recs))
	for r, rec := range recs {
		out[r] = slices.Clone(rec.Columns())
	}
	converted := false
	for _, i := range cols {
		dicts, ok := dictColumn(mem, recs, i)
		if !ok {
			continue
		}
		converted = true
		fields[i].Type = dicts[0].DataType()
		for r := range recs {
			out[r][i] = dicts[r]
		}
	}
	if !converted {
		return nil, nil
	}
	md := sc.Metadata()
	ws := arrow.NewSchema(fields, &md)
	res := make([]arrow.RecordBatch, len(recs))
	for r, rec := range recs {
		res[r] = array.NewRecordBatch(ws, out[r], rec.NumRows())
		for _, i := range cols {
			if _, ok := out[r][i].(*array.Dictionary); ok {
				out[r][i].Release() // the record holds its own reference
			}
		}
	}
	return ws, res
}

// repetitive reports a string column whose first sampled values are at
// most one in dictStringRatio distinct.
func repetitive(recs []arrow.RecordBatch, i int) bool {
	seen := make(map[string]struct{}, 64)
	sampled := 0
	for _, rec := range recs {
		col, ok := rec.Column(i).(*array.String)
		if !ok {
			return false
		}
		for j := 0; j < col.Len() && sampled < dictSample; j++ {
			if col.IsValid(j) {
				seen[col.Value(j)] = struct{}{}
				sampled++
			}
		}
	}
	return sampled >= 64 && len(seen)*dictStringRatio <= sampled
}

// dictColumn builds column i of every record as a dictionary array, all
// sharing one dictionary; ok is false (nothing built) past dictStringMax
// distinct values.
func dictColumn(mem memory.Allocator, recs []arrow.RecordBatch, i int) (out []arrow.Array, ok bool) {
	index := make(map[string]int32, 64)
	db := array.NewStringBuilder(mem)
	defer db.Release()
	idx := make([]*array.Int32Builder, len(recs))
	defer func() {
		for _, b := range idx {
			if b != nil {
				b.Release()
			}
		}
	}()
	for r, rec := range recs {
		col := rec.Column(i).(*array.String)
		b := array.NewInt32Builder(mem)
		idx[r] = b
		b.Reserve(col.Len())
		for j := range col.Len() {
			if col.IsNull(j) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			v := col.Value(j)
			k, seen := index[v]
			if !seen {
				if len(index) == dictStringMax || v == "" {
					return nil, false // see dictStringMax
				}
				k = int32(len(index))
				index[v] = k // v views a block's buffer, alive as long as the map
				db.Append(v)
			}
			b.UnsafeAppend(k)
		}
	}
	dict := db.NewArray()
	defer dict.Release()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	out = make([]arrow.Array, len(recs))
	for r, b := range idx {
		ind := b.NewArray()
		out[r] = array.NewDictionaryArray(dt, ind, dict)
		ind.Release()
	}
	return out, true
}
