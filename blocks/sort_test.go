package blocks

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// refVal is one key value as plain Go, for the reference sort.
type refVal struct {
	null bool
	i    int64 // ints, timestamps, bools (0/1)
	u    uint64
	f    float64
	s    string
}

type refKind int

const (
	refInt refKind = iota
	refUint
	refFloat
	refString
)

// refCompare is the reference order: nulls last in both directions, NaN
// above every float, -0 == +0.
func refCompare(kind refKind, a, b refVal, desc bool) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null:
		return 1
	case b.null:
		return -1
	}
	var c int
	switch kind {
	case refInt:
		c = cmp.Compare(a.i, b.i)
	case refUint:
		c = cmp.Compare(a.u, b.u)
	case refFloat:
		an, bn := math.IsNaN(a.f), math.IsNaN(b.f)
		switch {
		case an && bn:
			c = 0
		case an:
			c = 1
		case bn:
			c = -1
		case a.f < b.f:
			c = -1
		case a.f > b.f:
			c = 1
		}
	case refString:
		c = strings.Compare(a.s, b.s)
	}
	if desc {
		c = -c
	}
	return c
}

type refColumn struct {
	kind refKind
	vals []refVal
}

// refSort is the reference permutation: sort.SliceStable with an explicit
// comparator.
func refSort(cols []refColumn, keys []SortKey) []int64 {
	n := len(cols[0].vals)
	perm := make([]int64, n)
	for i := range perm {
		perm[i] = int64(i)
	}
	sort.SliceStable(perm, func(x, y int) bool {
		for k, c := range cols {
			if r := refCompare(c.kind, c.vals[perm[x]], c.vals[perm[y]], keys[k].Descending); r != 0 {
				return r < 0
			}
		}
		return false
	})
	return perm
}

var randTypes = []arrow.DataType{
	arrow.PrimitiveTypes.Int64,
	arrow.PrimitiveTypes.Int32,
	arrow.PrimitiveTypes.Uint8,
	arrow.PrimitiveTypes.Float64,
	arrow.BinaryTypes.String,
	arrow.FixedWidthTypes.Boolean,
	arrow.FixedWidthTypes.Timestamp_us,
}

var specialFloats = []float64{
	math.NaN(), math.Float64frombits(0xfff8000000000001), // a negative NaN
	math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1), 1.5, -2, 3, math.MaxFloat64, -math.SmallestNonzeroFloat64,
}

var specialStrings = []string{
	"", "a", "ab", "abc", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghij", "abcdefgi",
	"b", "zz", "\xff", "shared-prefix-1", "shared-prefix-10", "shared-prefix-2",
}

// randColumn builds a random column of type dt and n rows, with its
// reference values.
func randColumn(r *rand.Rand, mem memory.Allocator, dt arrow.DataType, n int) (arrow.Array, refColumn) {
	nullRate := []float64{0, 0, 0.1, 0.5, 1}[r.IntN(5)]
	small := r.IntN(2) == 0 // few distinct values: many ties
	bld := array.NewBuilder(mem, dt)
	defer bld.Release()
	ref := refColumn{vals: make([]refVal, n)}
	for i := range n {
		if r.Float64() < nullRate {
			bld.AppendNull()
			ref.vals[i].null = true
			continue
		}
		v := &ref.vals[i]
		switch b := bld.(type) {
		case *array.Int64Builder:
			ref.kind = refInt
			v.i = r.Int64() - math.MaxInt64/2
			if small {
				v.i = r.Int64N(7) - 3
			}
			b.Append(v.i)
		case *array.Int32Builder:
			ref.kind = refInt
			x := int32(r.Uint32())
			if small {
				x = int32(r.IntN(7) - 3)
			}
			v.i = int64(x)
			b.Append(x)
		case *array.Uint8Builder:
			ref.kind = refUint
			x := uint8(r.Uint32())
			if small {
				x = []uint8{0, 1, 127, 128, 255}[r.IntN(5)]
			}
			v.u = uint64(x)
			b.Append(x)
		case *array.Float64Builder:
			ref.kind = refFloat
			if small || r.IntN(2) == 0 {
				v.f = specialFloats[r.IntN(len(specialFloats))]
			} else {
				v.f = r.NormFloat64() * 1e6
			}
			b.Append(v.f)
		case *array.StringBuilder:
			ref.kind = refString
			if small || r.IntN(2) == 0 {
				v.s = specialStrings[r.IntN(len(specialStrings))]
			} else {
				v.s = fmt.Sprintf("shared-prefix-%d", r.IntN(1000))
			}
			b.Append(v.s)
		case *array.BooleanBuilder:
			ref.kind = refInt
			x := r.IntN(2) == 0
			if x {
				v.i = 1
			}
			b.Append(x)
		case *array.TimestampBuilder:
			ref.kind = refInt
			v.i = r.Int64N(1<<50) - 1<<49
			if small {
				v.i = r.Int64N(5) - 2
			}
			b.Append(arrow.Timestamp(v.i))
		default:
			panic(fmt.Sprintf("no generator for %s", dt))
		}
	}
	return bld.NewArray(), ref
}

// randBlock builds a random block of key columns k0.. plus a "row" column
// numbering the rows, sliced at a random offset so that kernels see array
// offsets. It returns the block, the key columns' references and random keys.
func randBlock(r *rand.Rand, mem memory.Allocator) (arrow.RecordBatch, []refColumn, []SortKey) {
	n := r.IntN(301)
	if r.IntN(4) == 0 {
		n = r.IntN(5)
	}
	pad := r.IntN(3)
	total := n + 2*pad
	ncols := 1 + r.IntN(3)
	var fields []arrow.Field
	var cols []arrow.Array
	var refs []refColumn
	var keys []SortKey
	for c := range ncols {
		name := fmt.Sprintf("k%d", c)
		col, ref := randColumn(r, mem, randTypes[r.IntN(len(randTypes))], total)
		fields = append(fields, arrow.Field{Name: name, Type: col.DataType(), Nullable: true})
		cols = append(cols, col)
		ref.vals = ref.vals[pad : pad+n]
		refs = append(refs, ref)
		keys = append(keys, SortKey{Column: name, Descending: r.IntN(2) == 0})
	}
	rb := array.NewInt64Builder(mem)
	for i := range total {
		rb.Append(int64(i - pad))
	}
	fields = append(fields, arrow.Field{Name: "row", Type: arrow.PrimitiveTypes.Int64})
	cols = append(cols, rb.NewArray())
	rb.Release()
	full := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(total))
	for _, c := range cols {
		c.Release()
	}
	defer full.Release()
	return full.NewSlice(int64(pad), int64(pad+n)), refs, keys
}

func rowIDs(t *testing.T, b arrow.RecordBatch) []int64 {
	t.Helper()
	col, err := Column(b, "row")
	if err != nil {
		t.Fatal(err)
	}
	return append([]int64{}, col.(*array.Int64).Int64Values()...)
}

func describeKeys(b arrow.RecordBatch, keys []SortKey) string {
	var sb strings.Builder
	for _, k := range keys {
		col, _ := Column(b, k.Column)
		fmt.Fprintf(&sb, "%s %s desc=%v: %v\n", k.Column, col.DataType(), k.Descending, col)
	}
	return sb.String()
}

// TestSortProperties checks SortIndices against the reference sort, and
// MergeSorted and RangePartition against Sort, on random blocks.
func TestSortProperties(t *testing.T) {
	t.Run("default", testSortProperties)
	t.Run("radix", func(t *testing.T) {
		// Radix-sort every block, however small.
		defer func(m int) { radixMin = m }(radixMin)
		radixMin = 1
		testSortProperties(t)
	})
}

func testSortProperties(t *testing.T) {
	mem := checkedMem(t)
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 42))
		b, refs, keys := randBlock(r, mem)
		n := int(b.NumRows())
		want := refSort(refs, keys)

		got, err := SortIndices(b, keys)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: SortIndices\n got %v\nwant %v\n%s", seed, got, want, describeKeys(b, keys))
		}

		sorted, err := Sort(mem, b, keys)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if ids := rowIDs(t, sorted); !slices.Equal(ids, want) {
			t.Fatalf("seed %d: Sort rows %v, want %v", seed, ids, want)
		}

		// MergeSorted of the sorted consecutive pieces is Sort of the whole.
		cuts := []int64{0, int64(n)}
		for range r.IntN(5) {
			cuts = append(cuts, r.Int64N(int64(n)+1))
		}
		slices.Sort(cuts)
		var pieces []arrow.RecordBatch
		for i := 1; i < len(cuts); i++ {
			s := b.NewSlice(cuts[i-1], cuts[i])
			p, err := Sort(mem, s, keys)
			s.Release()
			if err != nil {
				t.Fatal(err)
			}
			pieces = append(pieces, p)
		}
		merged, err := MergeSorted(mem, pieces, keys)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if ids := rowIDs(t, merged); !slices.Equal(ids, want) {
			t.Fatalf("seed %d: MergeSorted of %v rows %v, want %v", seed, cuts, ids, want)
		}
		merged.Release()
		for _, p := range pieces {
			p.Release()
		}

		// Range partitioning, then sorting each range, is the global sort.
		var sampleIdx []int64
		for i := range int64(n) {
			if r.IntN(3) == 0 {
				sampleIdx = append(sampleIdx, i)
			}
		}
		samples, err := Take(mem, b, sampleIdx)
		if err != nil {
			t.Fatal(err)
		}
		parts := 1 + r.IntN(8)
		bounds, err := SampleBoundaries(samples, keys, parts)
		samples.Release()
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(sampleIdx) > 0 && int(bounds.NumRows()) != parts-1 {
			t.Fatalf("seed %d: %d boundaries, want %d", seed, bounds.NumRows(), parts-1)
		}
		if bounds.NumCols() != int64(len(keys)) {
			t.Fatalf("seed %d: boundaries have columns %v", seed, bounds.Schema())
		}
		if bidx, err := SortIndices(bounds, keys); err != nil || !slices.IsSorted(bidx) {
			t.Fatalf("seed %d: boundaries not sorted: %v %v", seed, bidx, err)
		}
		route, err := RangePartition(b, keys, bounds)
		bounds.Release()
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(route) != n {
			t.Fatalf("seed %d: %d routes for %d rows", seed, len(route), n)
		}
		groups := make([][]int64, parts)
		for i, p := range route {
			if p < 0 || int(p) >= parts {
				t.Fatalf("seed %d: row %d routed to %d of %d", seed, i, p, parts)
			}
			groups[p] = append(groups[p], int64(i))
		}
		var ids []int64
		for _, g := range groups {
			part, err := Take(mem, b, g)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := Sort(mem, part, keys)
			part.Release()
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, rowIDs(t, ps)...)
			ps.Release()
		}
		if !slices.Equal(ids, want) && !(len(ids) == 0 && len(want) == 0) {
			t.Fatalf("seed %d: range partitions %v sorted give %v, want %v", seed, route, ids, want)
		}
		sorted.Release()
		b.Release()
	}
}

// appendOrdinal appends a value of the builder's type whose order is the
// order of v (v in [-500, 500)); it panics for a type it does not know.
func appendOrdinal(bld array.Builder, v int64) {
	switch b := bld.(type) {
	case *array.Int8Builder:
		b.Append(int8(v / 8))
	case *array.Int16Builder:
		b.Append(int16(v))
	case *array.Int32Builder:
		b.Append(int32(v * 1000))
	case *array.Int64Builder:
		b.Append(v << 40)
	case *array.Uint8Builder:
		b.Append(uint8((v + 500) / 4))
	case *array.Uint16Builder:
		b.Append(uint16(v + 500))
	case *array.Uint32Builder:
		b.Append(uint32(v + 500))
	case *array.Uint64Builder:
		b.Append(uint64(v+500) << 50)
	case *array.Float32Builder:
		b.Append(float32(v) / 3)
	case *array.Float64Builder:
		b.Append(float64(v) * 1e300)
	case *array.Date32Builder:
		b.Append(arrow.Date32(v))
	case *array.Date64Builder:
		b.Append(arrow.Date64(v * 86400000))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v))
	case *array.DurationBuilder:
		b.Append(arrow.Duration(v))
	case *array.StringBuilder:
		b.Append(fmt.Sprintf("%04d", v+500))
	case *array.LargeStringBuilder:
		b.Append(fmt.Sprintf("long shared prefix %04d", v+500))
	case *array.BinaryBuilder:
		if b.Type().ID() == arrow.LARGE_BINARY {
			b.Append([]byte(fmt.Sprintf("\x00\x00\x00\x00\x00\x00\x00%04d", v+500)))
		} else {
			b.Append([]byte(fmt.Sprintf("%d", v+1500)))
		}
	case *array.BooleanBuilder:
		b.Append(v > 0)
	default:
		panic(fmt.Sprintf("no ordinal for %s", bld.Type()))
	}
}

// ordinalKey is the reference key of appendOrdinal's value for v.
func ordinalKey(id arrow.Type, v int64) int64 {
	switch id {
	case arrow.INT8:
		return v / 8
	case arrow.UINT8:
		return (v + 500) / 4
	case arrow.BOOL:
		if v > 0 {
			return 1
		}
		return 0
	}
	return v
}

// TestSortIndicesAllTypes sorts every supported type, below and above the
// radix threshold, with nulls, in both directions, against ordinal values.
func TestSortIndicesAllTypes(t *testing.T) {
	mem := checkedMem(t)
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
		arrow.PrimitiveTypes.Date32, arrow.PrimitiveTypes.Date64,
		arrow.FixedWidthTypes.Timestamp_ns, &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"},
		arrow.FixedWidthTypes.Duration_ms,
		arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary,
		arrow.FixedWidthTypes.Boolean,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, dt := range types {
		for _, n := range []int{50, 1000} {
			for _, desc := range []bool{false, true} {
				bld := array.NewBuilder(mem, dt)
				ref := refColumn{kind: refInt, vals: make([]refVal, n)}
				for i := range n {
					if r.IntN(10) == 0 {
						bld.AppendNull()
						ref.vals[i].null = true
						continue
					}
					v := r.Int64N(1000) - 500
					appendOrdinal(bld, v)
					ref.vals[i].i = ordinalKey(dt.ID(), v)
				}
				col := bld.NewArray()
				bld.Release()
				b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: dt, Nullable: true}}, nil),
					[]arrow.Array{col}, int64(n))
				col.Release()
				keys := []SortKey{{Column: "x", Descending: desc}}
				got, err := SortIndices(b, keys)
				if err != nil {
					t.Fatalf("%s: %v", dt, err)
				}
				if want := refSort([]refColumn{ref}, keys); !slices.Equal(got, want) {
					t.Errorf("%s n=%d desc=%v:\n got %v\nwant %v", dt, n, desc, got, want)
				}
				b.Release()
			}
		}
	}
}

func floatBlock(mem memory.Allocator, vals []float64, valid []bool) arrow.RecordBatch {
	bld := array.NewFloat64Builder(mem)
	defer bld.Release()
	bld.AppendValues(vals, valid)
	col := bld.NewArray()
	defer col.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "f", Type: col.DataType(), Nullable: true}}, nil),
		[]arrow.Array{col}, int64(col.Len()))
}

// TestSortFloatOrder pins the float order: -0 == +0 (stable), NaN above
// +Inf, nulls last in both directions.
func TestSortFloatOrder(t *testing.T) {
	mem := checkedMem(t)
	nan := math.NaN()
	vals := []float64{nan, 1, math.Copysign(0, -1), 0, math.Inf(-1), math.Inf(1), 0, -1}
	valid := []bool{true, true, true, true, true, true, false, true}
	b := floatBlock(mem, vals, valid)
	defer b.Release()
	for _, tc := range []struct {
		desc bool
		want []int64
	}{
		{false, []int64{4, 7, 2, 3, 1, 5, 0, 6}},
		{true, []int64{0, 5, 1, 2, 3, 7, 4, 6}},
	} {
		got, err := SortIndices(b, []SortKey{{Column: "f", Descending: tc.desc}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("desc=%v: got %v, want %v", tc.desc, got, tc.want)
		}
	}
}

func intStringBlock(mem memory.Allocator, ints []int64, intValid []bool, strs []string) arrow.RecordBatch {
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(ints, intValid)
	ic := ib.NewArray()
	ib.Release()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues(strs, nil)
	sc := sb.NewArray()
	sb.Release()
	b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: ic.DataType(), Nullable: true},
		{Name: "s", Type: sc.DataType(), Nullable: true},
	}, nil), []arrow.Array{ic, sc}, int64(len(ints)))
	ic.Release()
	sc.Release()
	return b
}

func TestSortEdgeCases(t *testing.T) {
	mem := checkedMem(t)
	keys := []SortKey{{Column: "i"}, {Column: "s", Descending: true}}

	t.Run("empty", func(t *testing.T) {
		b := intStringBlock(mem, nil, nil, nil)
		defer b.Release()
		idx, err := SortIndices(b, keys)
		if err != nil || len(idx) != 0 {
			t.Fatalf("got %v, %v", idx, err)
		}
		s, err := Sort(mem, b, keys)
		if err != nil || s.NumRows() != 0 || !s.Schema().Equal(b.Schema()) {
			t.Fatalf("got %v, %v", s, err)
		}
		s.Release()
		m, err := MergeSorted(mem, []arrow.RecordBatch{b, b}, keys)
		if err != nil || m.NumRows() != 0 {
			t.Fatalf("got %v, %v", m, err)
		}
		m.Release()
		bounds, err := SampleBoundaries(b, keys, 4)
		if err != nil || bounds.NumRows() != 0 || bounds.NumCols() != 2 {
			t.Fatalf("got %v, %v", bounds, err)
		}
		route, err := RangePartition(b, keys, bounds)
		if err != nil || len(route) != 0 {
			t.Fatalf("got %v, %v", route, err)
		}
		bounds.Release()
	})

	t.Run("one row", func(t *testing.T) {
		b := intStringBlock(mem, []int64{7}, nil, []string{"x"})
		defer b.Release()
		idx, err := SortIndices(b, keys)
		if err != nil || !slices.Equal(idx, []int64{0}) {
			t.Fatalf("got %v, %v", idx, err)
		}
		bounds, err := SampleBoundaries(b, keys, 3)
		if err != nil || bounds.NumRows() != 2 {
			t.Fatalf("got %v, %v", bounds, err)
		}
		route, err := RangePartition(b, keys, bounds)
		bounds.Release()
		if err != nil || !slices.Equal(route, []int32{0}) {
			t.Fatalf("got %v, %v", route, err)
		}
	})

	t.Run("all nulls", func(t *testing.T) {
		n := 600 // above the radix threshold
		ints := make([]int64, n)
		valid := make([]bool, n)
		strs := make([]string, n)
		for i := range strs {
			strs[i] = fmt.Sprint(i % 3)
		}
		b := intStringBlock(mem, ints, valid, strs)
		defer b.Release()
		idx, err := SortIndices(b, keys)
		if err != nil {
			t.Fatal(err)
		}
		// Ordered by s descending, stable within.
		var want []int64
		for _, s := range []int64{2, 1, 0} {
			for i := s; i < int64(n); i += 3 {
				want = append(want, i)
			}
		}
		if !slices.Equal(idx, want) {
			t.Fatalf("got %v, want %v", idx, want)
		}
		idx, err = SortIndices(b, keys[:1])
		if err != nil || !slices.IsSorted(idx) || len(idx) != n {
			t.Fatalf("single null key not identity: %v, %v", idx, err)
		}
		// Nulls sort last: with a boundary of 0, they go to range 1.
		bb := intStringBlock(mem, []int64{0}, nil, []string{"0"})
		defer bb.Release()
		route, err := RangePartition(b, keys, bb)
		if err != nil || slices.ContainsFunc(route, func(p int32) bool { return p != 1 }) {
			t.Fatalf("nulls routed to %v, %v", route, err)
		}
	})

	t.Run("all equal", func(t *testing.T) {
		n := 1000
		ints := make([]int64, n)
		strs := make([]string, n)
		for i := range ints {
			ints[i] = -5
			strs[i] = "same string, longer than eight bytes"
		}
		b := intStringBlock(mem, ints, nil, strs)
		defer b.Release()
		for _, k := range [][]SortKey{keys, {{Column: "s"}}, {{Column: "i", Descending: true}}} {
			idx, err := SortIndices(b, k)
			if err != nil || len(idx) != n || !slices.IsSorted(idx) {
				t.Fatalf("%v: not identity: %v, %v", k, idx, err)
			}
		}
	})

	t.Run("unknown column", func(t *testing.T) {
		b := intStringBlock(mem, []int64{1}, nil, []string{"a"})
		defer b.Release()
		bad := []SortKey{{Column: "i"}, {Column: "nope"}}
		var uce *UnknownColumnError
		_, err := SortIndices(b, bad)
		if !errors.As(err, &uce) || uce.Column != "nope" {
			t.Fatalf("SortIndices: %v", err)
		}
		if _, err := Sort(mem, b, bad); !errors.As(err, &uce) {
			t.Fatalf("Sort: %v", err)
		}
		if _, err := MergeSorted(mem, []arrow.RecordBatch{b, b}, bad); !errors.As(err, &uce) {
			t.Fatalf("MergeSorted: %v", err)
		}
		if _, err := SampleBoundaries(b, bad, 2); !errors.As(err, &uce) {
			t.Fatalf("SampleBoundaries: %v", err)
		}
		if _, err := RangePartition(b, bad, b); !errors.As(err, &uce) {
			t.Fatalf("RangePartition: %v", err)
		}
		bounds, err := Select(b, []string{"s"})
		if err != nil {
			t.Fatal(err)
		}
		defer bounds.Release()
		if _, err := RangePartition(b, keys, bounds); !errors.As(err, &uce) || uce.Column != "i" {
			t.Fatalf("RangePartition with boundaries lacking a key: %v", err)
		}
	})

	t.Run("unsupported type", func(t *testing.T) {
		lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int64)
		lb.Append(true)
		lb.ValueBuilder().(*array.Int64Builder).Append(1)
		col := lb.NewArray()
		lb.Release()
		b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "tags", Type: col.DataType()}}, nil),
			[]arrow.Array{col}, 1)
		col.Release()
		defer b.Release()
		_, err := SortIndices(b, []SortKey{{Column: "tags"}})
		if err == nil || !strings.Contains(err.Error(), `"tags"`) || !strings.Contains(err.Error(), "list") {
			t.Fatalf("got %v, want an error naming the column and its type", err)
		}
	})

	t.Run("no keys", func(t *testing.T) {
		b := intStringBlock(mem, []int64{1}, nil, []string{"a"})
		defer b.Release()
		if _, err := SortIndices(b, nil); err == nil {
			t.Fatal("no error for no keys")
		}
	})

	t.Run("boundary type mismatch", func(t *testing.T) {
		b := intStringBlock(mem, []int64{1}, nil, []string{"a"})
		defer b.Release()
		bounds := floatBlock(mem, []float64{1}, nil)
		defer bounds.Release()
		_, err := RangePartition(b, []SortKey{{Column: "i"}}, bounds)
		if err == nil {
			t.Fatal("no error")
		}
		renamed := []SortKey{{Column: "f"}}
		_, err = RangePartition(bounds, renamed, b)
		var uce *UnknownColumnError
		if !errors.As(err, &uce) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("merge schema mismatch", func(t *testing.T) {
		a := intStringBlock(mem, []int64{1}, nil, []string{"a"})
		defer a.Release()
		f := floatBlock(mem, []float64{1}, nil)
		defer f.Release()
		if _, err := MergeSorted(mem, []arrow.RecordBatch{a, f}, keys); err == nil {
			t.Fatal("no error")
		}
		if _, err := MergeSorted(mem, nil, keys); err == nil {
			t.Fatal("no error for no blocks")
		}
	})

	t.Run("range partition order", func(t *testing.T) {
		// Rows equal to a boundary go to the lower range; descending keys
		// reverse the ranges.
		b := intStringBlock(mem, []int64{1, 2, 3, 4, 5, 0}, []bool{true, true, true, true, true, false},
			[]string{"", "", "", "", "", ""})
		defer b.Release()
		bounds := intStringBlock(mem, []int64{2, 4}, nil, []string{"", ""})
		defer bounds.Release()
		route, err := RangePartition(b, []SortKey{{Column: "i"}}, bounds)
		if err != nil || !slices.Equal(route, []int32{0, 0, 1, 1, 2, 2}) {
			t.Fatalf("ascending: %v, %v", route, err)
		}
		descBounds := intStringBlock(mem, []int64{4, 2}, nil, []string{"", ""})
		defer descBounds.Release()
		route, err = RangePartition(b, []SortKey{{Column: "i", Descending: true}}, descBounds)
		if err != nil || !slices.Equal(route, []int32{2, 1, 1, 0, 0, 2}) {
			t.Fatalf("descending: %v, %v", route, err)
		}
	})
}

func benchInt64Block(n int, distinct int64) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(7, 7))
	vals := make([]int64, n)
	for i := range vals {
		if distinct > 0 {
			vals[i] = r.Int64N(distinct)
		} else {
			vals[i] = int64(r.Uint64())
		}
	}
	col := NumericArray(vals)
	defer col.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "i", Type: col.DataType()}}, nil),
		[]arrow.Array{col}, int64(n))
}

// BenchmarkSortInt64 sorts 1M random int64s (a single key without nulls).
func BenchmarkSortInt64(b *testing.B) {
	const n = 1 << 20
	blk := benchInt64Block(n, 0)
	defer blk.Release()
	keys := []SortKey{{Column: "i"}}
	b.Run("SortIndices", func(b *testing.B) {
		for b.Loop() {
			if _, err := SortIndices(blk, keys); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("Sort", func(b *testing.B) {
		for b.Loop() {
			s, err := Sort(memory.DefaultAllocator, blk, keys)
			if err != nil {
				b.Fatal(err)
			}
			s.Release()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	// The baseline the radix sort replaces: a stable comparison sort of
	// the index slice over the typed values.
	b.Run("baseline-SortStableFunc", func(b *testing.B) {
		vals := blk.Column(0).(*array.Int64).Int64Values()
		for b.Loop() {
			idx := make([]int64, n)
			for i := range idx {
				idx[i] = int64(i)
			}
			slices.SortStableFunc(idx, func(x, y int64) int { return cmp.Compare(vals[x], vals[y]) })
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// BenchmarkSortMultiKey sorts 1M rows by an int64 with 1000 distinct values
// (so that ties are common) and then a random 8 to 16-byte string.
func BenchmarkSortMultiKey(b *testing.B) {
	const n = 1 << 20
	blk := benchInt64Block(n, 1000)
	defer blk.Release()
	r := rand.New(rand.NewPCG(8, 8))
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	const letters = "abcdefghijklmnopqrstuvwxyz"
	buf := make([]byte, 16)
	for range n {
		l := 8 + r.IntN(9)
		for i := range l {
			buf[i] = letters[r.IntN(len(letters))]
		}
		sb.Append(string(buf[:l]))
	}
	sc := sb.NewArray()
	sb.Release()
	both, err := WithColumn(blk, "s", sc)
	sc.Release()
	if err != nil {
		b.Fatal(err)
	}
	defer both.Release()
	for _, tc := range []struct {
		name string
		keys []SortKey
	}{
		{"int64+string", []SortKey{{Column: "i"}, {Column: "s", Descending: true}}},
		{"string", []SortKey{{Column: "s"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := SortIndices(both, tc.keys); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
