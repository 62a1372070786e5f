package blocks

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/zeebo/xxh3"
)

// Group keys that arrive dictionary-encoded (a Parquet string column read
// as its dictionary) are grouped by their values, as the plain column
// would be, without decoding them: each entry is hashed once, a row's key
// is its entry, and when every key column is such a column with few
// entries, each combination of entries is looked up in the table once per
// block and the rows take its id from a small array (a direct index, as
// DuckDB groups small dictionary domains).

// maxEntryCombos caps the direct index: the product over the key columns
// of their entries (plus one for null).
const maxEntryCombos = 1 << 16

// valueTypeOf is a dictionary type's value type, or t.
func valueTypeOf(t arrow.DataType) arrow.DataType {
	if d, ok := t.(*arrow.DictionaryType); ok {
		return d.ValueType
	}
	return t
}

// plainKeySchema is s with dictionary-encoded fields given their value
// types: the grouper stores and returns keys as plain values.
func plainKeySchema(s *arrow.Schema) *arrow.Schema {
	var fields []arrow.Field
	for i, f := range s.Fields() {
		if vt := valueTypeOf(f.Type); vt != f.Type {
			if fields == nil {
				fields = append([]arrow.Field(nil), s.Fields()...)
			}
			fields[i].Type = vt
		}
	}
	if fields == nil {
		return s
	}
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}

// decodeDictionary is d's values row by row, allocated by mem.
func decodeDictionary(mem memory.Allocator, d *array.Dictionary) (arrow.Array, error) {
	return compute.TakeArray(compute.WithAllocator(context.Background(), mem), d.Dictionary(), d.Indices())
}

// loadDict reads a dictionary-encoded bytes column into the view: the
// dictionary's values, each row's entry (-1 for a null row or entry) and
// the rows' validity.
func (k *keyView) loadDict(d *array.Dictionary) {
	vals := d.Dictionary()
	k.kind = kindOf(vals.DataType())
	switch k.kind {
	case kindBytes32:
		k.b32 = bytesView[int32](vals)
	case kindBytes64:
		k.b64 = bytesView[int64](vals)
	}
	k.entries = vals.Len()
	n := d.Len()
	if cap(k.dictBuf) < n {
		k.dictBuf = make([]int32, n)
	}
	k.dict = k.dictBuf[:n]
	if idx, ok := d.Indices().(*array.Int32); ok {
		copy(k.dict, idx.Int32Values())
	} else {
		for i := range k.dict {
			k.dict[i] = int32(d.GetValueIndex(i))
		}
	}
	k.v = validity{}
	if d.NullN() == 0 && vals.NullN() == 0 {
		return
	}
	bits := make([]byte, (n+7)/8)
	for i := range k.dict {
		if d.IsNull(i) || vals.IsNull(int(k.dict[i])) {
			k.dict[i] = -1
			continue
		}
		bits[i>>3] |= 1 << (i & 7)
	}
	k.v = validity{bits: bits}
}

// entryHashes hashes each dictionary entry as hashBytes hashes a value.
func (k *keyView) entryHashes() []uint64 {
	if cap(k.entryHash) < k.entries {
		k.entryHash = make([]uint64, k.entries)
	}
	eh := k.entryHash[:k.entries]
	for e := range eh {
		if k.kind == kindBytes32 {
			eh[e] = xxh3.Hash(k.b32.at(e))
		} else {
			eh[e] = xxh3.Hash(k.b64.at(e))
		}
	}
	return eh
}

// addByEntries assigns ids through the direct index when every key column
// of the block is dictionary-encoded with few enough entries; false when
// it does not apply (ids untouched).
func (g *Grouper) addByEntries(ids []int32) bool {
	combos := 1
	for c := range g.views {
		v := &g.views[c]
		if v.dict == nil {
			return false
		}
		combos *= v.entries + 1
		if combos > maxEntryCombos {
			return false
		}
	}
	hashes := make([][]uint64, len(g.views))
	for c := range g.views {
		hashes[c] = g.views[c].entryHashes()
	}
	if cap(g.byCombo) < combos {
		g.byCombo = make([]int32, combos)
	}
	byCombo := g.byCombo[:combos]
	for i := range byCombo {
		byCombo[i] = -1
	}
	for i := range ids {
		code := 0
		for c := range g.views {
			v := &g.views[c]
			code = code*(v.entries+1) + int(v.dict[i]) + 1
		}
		id := byCombo[code]
		if id < 0 {
			x := uint64(groupSeed)
			for c := range g.views {
				e, ch := g.views[c].dict[i], uint64(nullValue)
				if e >= 0 {
					ch = hashes[c][e]
				}
				x = mix(x, ch)
			}
			id = g.find(x&g.hashMask, i)
			byCombo[code] = id
		}
		ids[i] = id
	}
	return true
}

// DecodeDictionaries is b with its dictionary-encoded columns decoded to
// their value types (b itself, retained, when it has none).
func DecodeDictionaries(mem memory.Allocator, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	var fields []arrow.Field
	var cols []arrow.Array
	for i, f := range b.Schema().Fields() {
		d, ok := b.Column(i).(*array.Dictionary)
		if !ok {
			continue
		}
		if fields == nil {
			fields = append([]arrow.Field(nil), b.Schema().Fields()...)
			cols = append([]arrow.Array(nil), b.Columns()...)
			for _, c := range cols {
				c.Retain()
			}
		}
		plain, err := decodeDictionary(mem, d)
		if err != nil {
			for _, c := range cols {
				c.Release()
			}
			return nil, fmt.Errorf("decoding column %q: %w", f.Name, err)
		}
		cols[i].Release()
		cols[i] = plain
		fields[i].Type = plain.DataType()
	}
	if fields == nil {
		b.Retain()
		return b, nil
	}
	md := b.Schema().Metadata()
	out := array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, b.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}
