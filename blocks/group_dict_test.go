package blocks

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// dictColumn encodes vals (nil: null) as a dictionary<int32, utf8> column
// whose entries come in the order given by perm, with a null entry when
// nullEntry, so two blocks of the same values have different dictionaries.
func dictColumn(t *testing.T, mem memory.Allocator, vals []*string, entries []string, nullEntry bool) arrow.Array {
	t.Helper()
	eb := array.NewStringBuilder(mem)
	defer eb.Release()
	pos := map[string]int32{}
	for i, e := range entries {
		eb.Append(e)
		pos[e] = int32(i)
	}
	nullAt := int32(-1)
	if nullEntry {
		eb.AppendNull()
		nullAt = int32(len(entries))
	}
	dict := eb.NewArray()
	defer dict.Release()
	ib := array.NewInt32Builder(mem)
	defer ib.Release()
	for i, v := range vals {
		switch {
		case v != nil:
			ib.Append(pos[*v])
		case nullEntry && i%2 == 0:
			ib.Append(nullAt) // a null entry, not a null row
		default:
			ib.AppendNull()
		}
	}
	idx := ib.NewArray()
	defer idx.Release()
	return array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, idx, dict)
}

// TestGrouperDictionaryKeys: key columns given dictionary-encoded group
// exactly as the same values given plain, across blocks with different
// dictionaries, nulls (null rows and null entries) included, through the
// direct index (few entries) and the hash table (many, or mixed with a
// plain column); the keys come back plain.
func TestGrouperDictionaryKeys(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 9))
	for _, distinct := range []int{3, 40, 400} {
		t.Run(fmt.Sprint(distinct, " values"), func(t *testing.T) {
			values := make([]string, distinct)
			for i := range values {
				values[i] = fmt.Sprint("v", i*7%distinct, "-", i)
			}
			plainSchema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
			dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
			plain, err := NewGrouper(plainSchema)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Release()
			// Both columns encoded, then only the first (mixed with plain).
			for _, bothDict := range []bool{true, false} {
				dictSchema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: dictType, Nullable: true}, {Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
				if bothDict {
					dictSchema = arrow.NewSchema([]arrow.Field{{Name: "a", Type: dictType, Nullable: true}, {Name: "b", Type: dictType, Nullable: true}}, nil)
				}
				enc, err := NewGrouper(dictSchema)
				if err != nil {
					t.Fatal(err)
				}
				for blk := range 3 {
					n := 500
					cols := [2][]*string{make([]*string, n), make([]*string, n)}
					for c := range cols {
						for i := range n {
							if rng.IntN(15) != 0 {
								v := values[rng.IntN(len(values))]
								if c == 1 {
									v = values[rng.IntN(min(len(values), 3))]
								}
								cols[c][i] = &v
							}
						}
					}
					perm := rng.Perm(distinct)
					entries := make([]string, distinct)
					for i, p := range perm {
						entries[i] = values[p]
					}
					pb := array.NewStringBuilder(mem)
					var plainCols, dictCols []arrow.Array
					for c := range cols {
						for _, v := range cols[c] {
							if v == nil {
								pb.AppendNull()
							} else {
								pb.Append(*v)
							}
						}
						plainCols = append(plainCols, pb.NewArray())
						if c == 0 || bothDict {
							dictCols = append(dictCols, dictColumn(t, mem, cols[c], entries, blk == 1))
						} else {
							plainCols[c].Retain()
							dictCols = append(dictCols, plainCols[c])
						}
					}
					pb.Release()
					pr := array.NewRecordBatch(plainSchema, plainCols, int64(n))
					dr := array.NewRecordBatch(dictSchema, dictCols, int64(n))
					for _, a := range append(plainCols, dictCols...) {
						a.Release()
					}
					want, err := plain.Add(pr, []string{"a", "b"})
					if err != nil {
						t.Fatal(err)
					}
					got, err := enc.Add(dr, []string{"a", "b"})
					if err != nil {
						t.Fatal(err)
					}
					pr.Release()
					dr.Release()
					// Ids are dense in first-appearance order in both, so a
					// grouper fed the same sequence gives the same ids.
					if bothDict {
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("block %d row %d: id %d, want %d", blk, i, got[i], want[i])
							}
						}
					}
				}
				keys, err := enc.Keys(mem)
				if err != nil {
					t.Fatal(err)
				}
				if !keys.Schema().Equal(plainSchema) {
					t.Errorf("keys come back as %s, want plain strings", keys.Schema())
				}
				if bothDict {
					pk, _ := plain.Keys(mem)
					if !array.RecordEqual(keys, pk) {
						t.Errorf("keys differ from the plain grouper's")
					}
					pk.Release()
				}
				keys.Release()
				enc.Release()
			}
		})
	}
}

// TestHashDictionaryLikeValues: a dictionary-encoded column hashes (for
// partitioning) exactly as its plain values do, fixed-width values too.
func TestHashDictionaryLikeValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	x, y := "x", "yy"
	vals := []*string{&x, nil, &y, &x, nil, &y}
	d := dictColumn(t, mem, vals, []string{"yy", "x"}, true)
	defer d.Release()
	pb := array.NewStringBuilder(mem)
	for _, v := range vals {
		if v == nil {
			pb.AppendNull()
		} else {
			pb.Append(*v)
		}
	}
	p := pb.NewArray()
	pb.Release()
	defer p.Release()
	hd, hp := hashOne(t, d), hashOne(t, p)
	for i := range hd {
		if hd[i] != hp[i] {
			t.Errorf("row %d: dictionary hash %x, plain %x", i, hd[i], hp[i])
		}
	}
	// Fixed-width values behind a dictionary.
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{7, -3}, nil)
	dict := ib.NewArray()
	ib.AppendValues([]int64{1, 0, 1, 1}, nil)
	idx := ib.NewInt64Array()
	ib.AppendValues([]int64{-3, 7, -3, -3}, nil)
	plain := ib.NewArray()
	ib.Release()
	di := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int64, ValueType: arrow.PrimitiveTypes.Int64}, idx, dict)
	hd, hp = hashOne(t, di), hashOne(t, plain)
	for i := range hd {
		if hd[i] != hp[i] {
			t.Errorf("int row %d: dictionary hash %x, plain %x", i, hd[i], hp[i])
		}
	}
	for _, a := range []arrow.Array{dict, idx, plain, di} {
		a.Release()
	}
}

// hashOne hashes a one-column block of a with HashColumns.
func hashOne(t *testing.T, a arrow.Array) []uint64 {
	t.Helper()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: a.DataType(), Nullable: true}}, nil), []arrow.Array{a}, int64(a.Len()))
	defer rec.Release()
	h, err := HashColumns(rec, []string{"k"}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestGrouperDictionaryNumbers: numbers behind a dictionary group as the
// plain numbers (decoded for the grouper), and come back plain.
func TestGrouperDictionaryNumbers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	vb := array.NewInt64Builder(mem)
	vb.AppendValues([]int64{40, 10}, nil)
	dict := vb.NewArray()
	vb.AppendValues([]int64{1, 0, 1, 1, 0}, nil)
	idx := vb.NewArray()
	vb.Release()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int64, ValueType: arrow.PrimitiveTypes.Int64}
	d := array.NewDictionaryArray(dt, idx, dict)
	idx.Release()
	dict.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: dt}}, nil), []arrow.Array{d}, 5)
	d.Release()
	defer rec.Release()
	g, err := NewGrouper(rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	ids, err := g.Add(rec, []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[0 1 0 0 1]" {
		t.Errorf("ids %v, want [0 1 0 0 1]", ids)
	}
	keys, err := g.Keys(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Release()
	if got := fmt.Sprint(keys.Column(0)); got != "[10 40]" || keys.Schema().Field(0).Type.ID() != arrow.INT64 {
		t.Errorf("keys %s of %s, want [10 40] of int64", got, keys.Schema().Field(0).Type)
	}
}
