package formats

import (
	"encoding/binary"

	"github.com/apache/arrow-go/v18/arrow"
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
