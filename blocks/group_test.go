package blocks

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// canonKey renders row i of arr as the reference's notion of a key value:
// nulls alike, -0 as 0, every NaN alike.
func canonKey(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return "null"
	}
	switch a := arr.(type) {
	case *array.Int64:
		return fmt.Sprintf("i%d", a.Value(i))
	case *array.Int32:
		return fmt.Sprintf("i%d", a.Value(i))
	case *array.Float64:
		f := a.Value(i)
		switch {
		case f != f:
			return "NaN"
		case f == 0:
			return "f0"
		}
		return fmt.Sprintf("f%v", f)
	case *array.String:
		return fmt.Sprintf("s%q", a.Value(i))
	case *array.Boolean:
		return fmt.Sprintf("b%v", a.Value(i))
	}
	panic(arr.DataType().String())
}

func canonTuple(b arrow.RecordBatch, cols []int, i int) string {
	parts := make([]string, len(cols))
	for j, c := range cols {
		parts[j] = canonKey(b.Column(c), i)
	}
	return strings.Join(parts, "|")
}

var propTypes = []arrow.DataType{
	arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Float64,
	arrow.BinaryTypes.String, arrow.FixedWidthTypes.Boolean,
}

// randomKeyBlock builds rows of the given key types drawn from a domain of
// about domain values per column, with nulls at rate nullRate.
func randomKeyBlock(mem memory.Allocator, rng *rand.Rand, types []arrow.DataType, rows, domain int, nullRate float64) arrow.RecordBatch {
	fields := make([]arrow.Field, len(types))
	for i, dt := range types {
		fields[i] = arrow.Field{Name: fmt.Sprintf("k%d", i), Type: dt, Nullable: true}
	}
	bld := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer bld.Release()
	for range rows {
		for _, f := range bld.Fields() {
			if rng.Float64() < nullRate {
				f.AppendNull()
				continue
			}
			v := rng.IntN(domain)
			switch f := f.(type) {
			case *array.Int64Builder:
				f.Append(int64(v) - int64(domain/2))
			case *array.Int32Builder:
				f.Append(int32(v) - int32(domain/2))
			case *array.Float64Builder:
				switch v % 7 {
				case 0:
					f.Append(math.Copysign(0, -1))
				case 1:
					f.Append(0)
				case 2:
					f.Append(math.Float64frombits(0x7ff8000000000000 | uint64(rng.IntN(1000)+1)))
				case 3:
					f.Append(math.NaN())
				default:
					f.Append(float64(v) / 2)
				}
			case *array.StringBuilder:
				f.Append(strings.Repeat("ab", v%5) + fmt.Sprint(v))
			case *array.BooleanBuilder:
				f.Append(v%2 == 0)
			}
		}
	}
	return bld.NewRecordBatch()
}

func TestGrouperProperty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 99))
		ncols := 1 + rng.IntN(3)
		types := make([]arrow.DataType, ncols)
		for i := range types {
			types[i] = propTypes[rng.IntN(len(propTypes))]
		}
		domain := []int{1, 3, 20, 1000}[rng.IntN(4)]
		nullRate := []float64{0, 0.1, 0.5}[rng.IntN(3)]
		// Extra columns in the block that are not keys, and keys in a
		// shuffled order, check that Add picks columns by name.
		all := randomKeyBlock(mem, rng, append(slices.Clone(types), arrow.PrimitiveTypes.Int64), 1+rng.IntN(3000), domain, nullRate)
		keyIdx := rng.Perm(ncols)
		cols := make([]string, ncols)
		keyFields := make([]arrow.Field, ncols)
		for j, c := range keyIdx {
			cols[j] = all.Schema().Field(c).Name
			keyFields[j] = all.Schema().Field(c)
		}
		slotsStart := []int{1, 2, 16, minSlots}[rng.IntN(4)]
		g, err := newGrouper(arrow.NewSchema(keyFields, nil), slotsStart)
		if err != nil {
			t.Fatal(err)
		}
		if rng.IntN(3) == 0 {
			g.hashMask = 7 // only 8 distinct hashes: every lookup collides
		}

		ref := map[string]int32{}
		var order []string
		rows := int(all.NumRows())
		for lo := 0; lo < rows; {
			hi := min(rows, lo+1+rng.IntN(rows))
			part := all.NewSlice(int64(lo), int64(hi))
			ids, err := g.Add(part, cols)
			if err != nil {
				t.Fatal(err)
			}
			for i, id := range ids {
				k := canonTuple(part, keyIdx, i)
				want, ok := ref[k]
				if !ok {
					want = int32(len(order))
					ref[k] = want
					order = append(order, k)
				}
				if id != want {
					t.Fatalf("seed %d: row %d key %s: id %d, want %d", seed, lo+i, k, id, want)
				}
			}
			part.Release()
			lo = hi
		}
		if g.NumGroups() != len(order) {
			t.Fatalf("seed %d: %d groups, want %d", seed, g.NumGroups(), len(order))
		}
		keys, err := g.Keys(mem)
		if err != nil {
			t.Fatal(err)
		}
		if !keys.Schema().Equal(g.schema) || int(keys.NumRows()) != len(order) {
			t.Fatalf("seed %d: keys block %v with %d rows", seed, keys.Schema(), keys.NumRows())
		}
		idx := make([]int, ncols)
		for i := range idx {
			idx[i] = i
		}
		for i, want := range order {
			if got := canonTuple(keys, idx, i); got != want {
				t.Fatalf("seed %d: key %d is %s, want %s", seed, i, got, want)
			}
		}
		// Feeding the keys back finds every group in id order.
		names := make([]string, ncols)
		for i, f := range keyFields {
			names[i] = f.Name
		}
		ids, err := g.Add(keys, names)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if int(id) != i {
				t.Fatalf("seed %d: key %d found as group %d", seed, i, id)
			}
		}
		keys.Release()
		all.Release()
	}
}

func int64Block(mem memory.Allocator, vals []int64) arrow.RecordBatch {
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(vals, nil)
	a := ib.NewArray()
	ib.Release()
	defer a.Release()
	return oneColumn(mem, a)
}

func int64KeySchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
}

func TestGrouperSkewAndDistinct(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n = 200_000
	same := make([]int64, n)
	for i := range same {
		same[i] = 42
	}
	g, err := NewGrouper(int64KeySchema())
	if err != nil {
		t.Fatal(err)
	}
	b := int64Block(mem, same)
	ids, err := g.Add(b, []string{"k"})
	b.Release()
	if err != nil {
		t.Fatal(err)
	}
	if g.NumGroups() != 1 || slices.ContainsFunc(ids, func(id int32) bool { return id != 0 }) {
		t.Fatalf("one key: %d groups", g.NumGroups())
	}

	// All distinct, over several blocks, through many table growths.
	g, _ = NewGrouper(int64KeySchema())
	rng := rand.New(rand.NewPCG(3, 3))
	perm := rng.Perm(n)
	distinct := make([]int64, n)
	for i, p := range perm {
		distinct[i] = int64(p) * 1_000_003
	}
	for lo := 0; lo < n; lo += 30_000 {
		hi := min(n, lo+30_000)
		b := int64Block(mem, distinct[lo:hi])
		ids, err := g.Add(b, []string{"k"})
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if int(id) != lo+i {
				t.Fatalf("row %d: id %d", lo+i, id)
			}
		}
	}
	keys, err := g.Keys(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Release()
	got, _ := Values[int64](keys.Column(0))
	if !slices.Equal(got, distinct) {
		t.Fatal("keys differ from the distinct input")
	}
}

// TestGrouperTypes round-trips every supported key type through Keys.
func TestGrouperTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBlock(t, mem, 1000, 11)
	defer b.Release()
	cols := allColumns(b)
	for _, name := range cols {
		col, _ := Column(b, name)
		schema := arrow.NewSchema([]arrow.Field{{Name: name, Type: col.DataType(), Nullable: true}}, nil)
		g, err := NewGrouper(schema)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := g.Add(b, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		keys, err := g.Keys(mem)
		if err != nil {
			t.Fatal(err)
		}
		kc := keys.Column(0)
		// Row i's value equals the value of its group's key (the mixed
		// block has no -0 or NaN, so values come back exactly).
		for i, id := range ids {
			if !array.SliceEqual(col, int64(i), int64(i+1), kc, int64(id), int64(id+1)) {
				t.Fatalf("%s row %d: %s, key %s", name, i, col.ValueStr(i), kc.ValueStr(int(id)))
			}
		}
		for i := range kc.Len() {
			for j := range i {
				if array.SliceEqual(kc, int64(i), int64(i+1), kc, int64(j), int64(j+1)) {
					t.Fatalf("%s: keys %d and %d equal", name, i, j)
				}
			}
		}
		keys.Release()
	}
	// All key columns at once: each group's key tuple matches its rows'.
	g, err := NewGrouper(b.Schema())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := g.Add(b, cols)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := g.Keys(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Release()
	hb := mustHash(t, b, cols, 0)
	hk := mustHash(t, keys, cols, 0)
	for i, id := range ids {
		if hb[i] != hk[id] {
			t.Fatalf("row %d's tuple differs from group %d's key", i, id)
		}
	}
}

func TestGrouperNoKeys(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	g, err := NewGrouper(arrow.NewSchema(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	b := int64Block(mem, []int64{1, 2, 3})
	defer b.Release()
	ids, err := g.Add(b, nil)
	if err != nil || !slices.Equal(ids, []int32{0, 0, 0}) {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	keys, err := g.Keys(mem)
	if err != nil {
		t.Fatal(err)
	}
	if keys.NumRows() != 1 || keys.NumCols() != 0 {
		t.Fatalf("keys: %d rows, %d columns", keys.NumRows(), keys.NumCols())
	}
	keys.Release()
}

func TestGrouperErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	if _, err := NewGrouper(arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}}, nil)); err == nil {
		t.Error("list key accepted")
	}
	g, _ := NewGrouper(int64KeySchema())
	b := mixedBlock(t, mem, 10, 1)
	defer b.Release()
	if _, err := g.Add(b, []string{"i32"}); err == nil || !strings.Contains(err.Error(), "int32") {
		t.Errorf("type mismatch: %v", err)
	}
	if _, err := g.Add(b, []string{"i64", "i32"}); err == nil {
		t.Error("two key columns for one accepted")
	}
	var uce *UnknownColumnError
	if _, err := g.Add(b, []string{"zz"}); !errors.As(err, &uce) {
		t.Errorf("unknown column: %v", err)
	}
	empty, err := g.Keys(mem)
	if err != nil || empty.NumRows() != 0 {
		t.Fatalf("keys of an empty grouper: %v", err)
	}
	empty.Release()
}

func benchGrouper(b *testing.B, blk arrow.RecordBatch, blocks int) {
	iters := 0
	for b.Loop() {
		g, err := NewGrouper(arrow.NewSchema([]arrow.Field{blk.Schema().Field(0)}, nil))
		if err != nil {
			b.Fatal(err)
		}
		for range blocks {
			if _, err := g.Add(blk, []string{"k"}); err != nil {
				b.Fatal(err)
			}
		}
		iters++
	}
	b.ReportMetric(float64(blk.NumRows())*float64(blocks*iters)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkGrouperInt64 groups 10M rows (ten blocks of 1M) into 100K keys.
func BenchmarkGrouperInt64(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	vals := make([]int64, 1<<20)
	for i := range vals {
		vals[i] = rng.Int64N(100_000) * 7919
	}
	blk := int64Block(memory.DefaultAllocator, vals)
	defer blk.Release()
	benchGrouper(b, blk, 10)
}

// BenchmarkGrouperString groups 1M string rows into 100K keys.
func BenchmarkGrouperString(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	for range 1 << 20 {
		sb.Append(fmt.Sprintf("user-%08d", rng.IntN(100_000)))
	}
	a := sb.NewArray()
	sb.Release()
	blk := oneColumn(memory.DefaultAllocator, a)
	a.Release()
	defer blk.Release()
	benchGrouper(b, blk, 1)
}

// TestGrouperLookup: Lookup gives the group of every key tuple the table
// holds (nulls, NaN and -0 matched as Add matches them, strings and two
// columns) and -1 for the others, without adding any.
func TestGrouperLookup(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	build, err := FromItems(mem, []Item{
		{"s": "a", "f": 1.0}, {"s": "b", "f": math.NaN()}, {"s": nil, "f": 0.0}, {"s": "a", "f": 2.0},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer build.Release()
	g, err := NewGrouper(build.Schema())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	cols := []string{build.Schema().Field(0).Name, build.Schema().Field(1).Name}
	if _, err := g.Add(build, cols); err != nil {
		t.Fatal(err)
	}
	probe, err := FromItems(mem, []Item{
		{"s": "a", "f": 2.0}, {"s": "a", "f": 3.0}, {"s": nil, "f": math.Copysign(0, -1)}, {"s": "b", "f": math.NaN()}, {"s": "c", "f": 1.0},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Release()
	got, err := g.Lookup(probe, cols)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{3, -1, 2, 1, -1}; !slices.Equal(got, want) {
		t.Errorf("Lookup = %v, want %v", got, want)
	}
	if g.NumGroups() != 4 {
		t.Errorf("%d groups after Lookup, want the 4 Add made", g.NumGroups())
	}
}
