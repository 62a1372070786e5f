package blocks

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// mixedBlock builds a block of every kind of key column with some nulls.
func mixedBlock(t testing.TB, mem memory.Allocator, rows int, seed uint64) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
		{Name: "dur", Type: arrow.FixedWidthTypes.Duration_ms, Nullable: true},
	}, nil)
	rng := rand.New(rand.NewPCG(seed, 1))
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	for range rows {
		for c, f := range bld.Fields() {
			if rng.IntN(5) == 0 {
				f.AppendNull()
				continue
			}
			v := rng.Int64N(20) - 10
			switch c {
			case 0:
				f.(*array.Int64Builder).Append(v)
			case 1:
				f.(*array.Int32Builder).Append(int32(v))
			case 2:
				f.(*array.Uint16Builder).Append(uint16(v + 10))
			case 3:
				f.(*array.Float64Builder).Append(float64(v) / 4)
			case 4:
				f.(*array.Float32Builder).Append(float32(v) / 4)
			case 5:
				f.(*array.StringBuilder).Append(strings.Repeat("x", int(v+10)))
			case 6:
				f.(*array.LargeStringBuilder).Append(strings.Repeat("y", int(v+10)))
			case 7:
				f.(*array.BinaryBuilder).Append([]byte{byte(v), 0, byte(v)})
			case 8:
				f.(*array.BooleanBuilder).Append(v > 0)
			case 9:
				f.(*array.Date32Builder).Append(arrow.Date32(v))
			case 10:
				f.(*array.TimestampBuilder).Append(arrow.Timestamp(v * 1000))
			case 11:
				f.(*array.DurationBuilder).Append(arrow.Duration(v))
			}
		}
	}
	return bld.NewRecordBatch()
}

func allColumns(b arrow.RecordBatch) []string {
	names := make([]string, b.NumCols())
	for i, f := range b.Schema().Fields() {
		names[i] = f.Name
	}
	return names
}

func mustHash(t testing.TB, b arrow.RecordBatch, cols []string, seed uint64) []uint64 {
	t.Helper()
	h, err := HashColumns(b, cols, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashColumnsSlicesAndBlocks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBlock(t, mem, 500, 1)
	defer b.Release()
	cols := allColumns(b)
	full := mustHash(t, b, cols, 42)

	// Slices hash like the rows they share, whatever the offset.
	for _, r := range [][2]int64{{0, 500}, {3, 10}, {7, 8}, {131, 499}, {250, 250}} {
		s := b.NewSlice(r[0], r[1])
		got := mustHash(t, s, cols, 42)
		s.Release()
		if !slices.Equal(got, full[r[0]:r[1]]) {
			t.Fatalf("slice %v hashes differ from the full block", r)
		}
	}
	// A block holding the same rows in another order (fresh buffers, from
	// Take) hashes each row alike.
	idx := make([]int64, 500)
	for i := range idx {
		idx[i] = int64(499 - i)
	}
	rev, err := Take(mem, b, idx)
	if err != nil {
		t.Fatal(err)
	}
	defer rev.Release()
	got := mustHash(t, rev, cols, 42)
	for i, x := range got {
		if x != full[499-i] {
			t.Fatalf("row %d of the reversed block hashes differently", i)
		}
	}
	// Concatenated blocks too.
	s1, s2 := b.NewSlice(0, 100), b.NewSlice(100, 500)
	cat, err := Concat(mem, []Block{s1, s2})
	s1.Release()
	s2.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Release()
	if !slices.Equal(mustHash(t, cat, cols, 42), full) {
		t.Fatal("concatenated block hashes differ")
	}
	// Seeds matter, and so does the column order.
	if slices.Equal(mustHash(t, b, cols, 43), full) {
		t.Fatal("seed ignored")
	}
	if h1, h2 := mustHash(t, b, []string{"i64", "s"}, 1), mustHash(t, b, []string{"s", "i64"}, 1); slices.Equal(h1, h2) {
		t.Fatal("column order ignored")
	}
}

// TestHashColumnsMatchesGrouperViews checks that the fused typed loops of
// HashColumns and the canonical views the Grouper hashes agree.
func TestHashColumnsMatchesGrouperViews(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBlock(t, mem, 300, 2)
	defer b.Release()
	for _, s := range []arrow.RecordBatch{b, b.NewSlice(17, 290)} {
		for _, name := range allColumns(s) {
			want := mustHash(t, s, []string{name}, 9)
			got := make([]uint64, s.NumRows())
			for i := range got {
				got[i] = 9
			}
			var v keyView
			col, _ := Column(s, name)
			v.load(col)
			v.hash(got)
			if !slices.Equal(got, want) {
				t.Fatalf("column %s: view hash differs from HashColumns", name)
			}
		}
		if s != b {
			s.Release()
		}
	}
}

func float64Block(mem memory.Allocator, vals []float64, valid []bool) arrow.RecordBatch {
	bld := array.NewFloat64Builder(mem)
	defer bld.Release()
	bld.AppendValues(vals, valid)
	arr := bld.NewArray()
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arr.DataType(), Nullable: true}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
}

func oneColumn(mem memory.Allocator, arr arrow.Array) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arr.DataType(), Nullable: true}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
}

func TestHashColumnsNormalization(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	nan1 := math.Float64frombits(0x7ff8000000000001)
	nan2 := math.Float64frombits(0xfff0000000000abc) // negative signalling NaN
	b := float64Block(mem, []float64{math.Copysign(0, -1), 0, math.NaN(), nan1, nan2, 1.5, 0}, []bool{true, true, true, true, true, true, false})
	defer b.Release()
	h := mustHash(t, b, []string{"k"}, 0)
	if h[0] != h[1] {
		t.Error("-0 and +0 hash differently")
	}
	if h[2] != h[3] || h[3] != h[4] {
		t.Error("NaNs hash differently")
	}
	if h[1] == h[2] || h[1] == h[5] || h[1] == h[6] || h[2] == h[6] {
		t.Error("distinct values collide")
	}

	// float32 values hash like the equal float64 values; narrow integer and
	// temporal types like int64.
	f32 := array.NewFloat32Builder(mem)
	f32.AppendValues([]float32{float32(math.Copysign(0, -1)), 0, float32(math.NaN()), float32(nan2), 1.5, 0}, []bool{true, true, true, true, true, false})
	fa := f32.NewArray()
	f32.Release()
	fb := oneColumn(mem, fa)
	fa.Release()
	defer fb.Release()
	h32 := mustHash(t, fb, []string{"k"}, 0)
	if !slices.Equal(h32, []uint64{h[0], h[0], h[2], h[2], h[5], h[6]}) {
		t.Error("float32 hashes differ from float64 ones")
	}

	i64 := array.NewInt64Builder(mem)
	i64.AppendValues([]int64{-5, 0, 7, 1 << 40}, nil)
	i8 := array.NewInt8Builder(mem)
	i8.AppendValues([]int8{-5, 0, 7}, nil)
	d32 := array.NewDate32Builder(mem)
	d32.AppendValues([]arrow.Date32{-5, 0, 7}, nil)
	var hs [][]uint64
	for _, bld := range []array.Builder{i64, i8, d32} {
		a := bld.NewArray()
		bld.Release()
		blk := oneColumn(mem, a)
		a.Release()
		hs = append(hs, mustHash(t, blk, []string{"k"}, 0))
		blk.Release()
	}
	if !slices.Equal(hs[0][:3], hs[1]) || !slices.Equal(hs[1], hs[2]) {
		t.Error("int64, int8 and date32 of equal values hash differently")
	}
}

func TestHashColumnsNulls(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBlock(t, mem, 400, 3)
	defer b.Release()
	for _, name := range allColumns(b) {
		col, _ := Column(b, name)
		h := mustHash(t, b, []string{name}, 5)
		var nullHash uint64
		seen := false
		for i := range h {
			if col.IsNull(i) {
				if seen && h[i] != nullHash {
					t.Fatalf("column %s: nulls hash differently", name)
				}
				nullHash, seen = h[i], true
			}
		}
		if !seen {
			t.Fatalf("column %s has no nulls", name)
		}
		for i := range h {
			if col.IsValid(i) && h[i] == nullHash {
				t.Fatalf("column %s: value at %d hashes like null", name, i)
			}
		}
	}
}

func TestHashColumnsFewCollisions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n = 1 << 20
	rng := rand.New(rand.NewPCG(7, 7))
	seen := make(map[int64]bool, n)
	a, c := make([]int64, 0, n), make([]int64, 0, n)
	for len(a) < n {
		v := rng.Int64()
		if !seen[v] {
			seen[v] = true
			a = append(a, v)
			c = append(c, int64(len(a)%1000))
		}
	}
	ab, cb := array.NewInt64Builder(mem), array.NewInt64Builder(mem)
	ab.AppendValues(a, nil)
	cb.AppendValues(c, nil)
	aa, ca := ab.NewArray(), cb.NewArray()
	ab.Release()
	cb.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}, {Name: "c", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBatch(schema, []arrow.Array{aa, ca}, n)
	aa.Release()
	ca.Release()
	defer b.Release()

	collisions := func(h []uint64) int {
		s := slices.Clone(h)
		slices.Sort(s)
		k := 0
		for i := 1; i < len(s); i++ {
			if s[i] == s[i-1] {
				k++
			}
		}
		return k
	}
	// One fixed-width column: the hash is a bijection of the value.
	if k := collisions(mustHash(t, b, []string{"a"}, 0)); k != 0 {
		t.Errorf("%d collisions among %d distinct int64", k, n)
	}
	// Sequential small integers and tuples: expect about n²/2⁶⁵ ≈ 0.
	if k := collisions(mustHash(t, b, []string{"c", "a"}, 0)); k > 1 {
		t.Errorf("%d collisions among %d distinct (int64, int64)", k, n)
	}
	sb := array.NewStringBuilder(mem)
	for i := range 200_000 {
		sb.Append("key-" + strings.Repeat("k", i%7) + string(rune('a'+i%26)) + itoa(i))
	}
	sa := sb.NewArray()
	sb.Release()
	strBlock := oneColumn(mem, sa)
	sa.Release()
	defer strBlock.Release()
	if k := collisions(mustHash(t, strBlock, []string{"k"}, 0)); k != 0 {
		t.Errorf("%d collisions among 200000 distinct strings", k)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append(b, byte('0'+i%10))
	}
	slices.Reverse(b)
	return string(b)
}

// TestHashGolden pins the hash function: cluster shuffles rely on every
// machine hashing a key alike, so a change must be deliberate (and update
// these values).
func TestHashGolden(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	bld.Field(0).(*array.Int64Builder).AppendValues([]int64{0, 1, -1, math.MaxInt64}, []bool{true, true, true, false})
	bld.Field(1).(*array.Float64Builder).AppendValues([]float64{0, 1.5, math.NaN(), -2}, []bool{true, true, false, true})
	bld.Field(2).(*array.StringBuilder).AppendValues([]string{"", "a", "shoal", "x"}, []bool{true, true, true, false})
	bld.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false, true, false}, []bool{true, true, true, false})
	b := bld.NewRecordBatch()
	defer b.Release()

	got := mustHash(t, b, []string{"i", "f", "s", "b"}, 0)
	want := []uint64{goldenHashes[0], goldenHashes[1], goldenHashes[2], goldenHashes[3]}
	if !slices.Equal(got, want) {
		t.Errorf("HashColumns(seed 0) = %#x, want %#x", got, want)
	}
	parts, err := HashPartition(b, []string{"i", "s"}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(parts, goldenParts) {
		t.Errorf("HashPartition = %v, want %v", parts, goldenParts)
	}
}

var (
	goldenHashes = []uint64{0xd9fce3fd6903556e, 0x339fbc5fa01c4520, 0xffd8618928bbc3e6, 0xde60f22c0e763a58}
	goldenParts  = []int32{441, 802, 564, 383}
)

func TestHashColumnsErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBlock(t, mem, 10, 4)
	defer b.Release()
	_, err := HashColumns(b, []string{"i64", "nope"}, 0, nil)
	var uce *UnknownColumnError
	if !errors.As(err, &uce) || uce.Column != "nope" {
		t.Fatalf("unknown column: got %v", err)
	}
	lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int64)
	lb.AppendNull()
	la := lb.NewArray()
	lb.Release()
	lblk := oneColumn(mem, la)
	la.Release()
	defer lblk.Release()
	_, err = HashColumns(lblk, []string{"k"}, 0, nil)
	if err == nil || !strings.Contains(err.Error(), `"k"`) || !strings.Contains(err.Error(), "list") {
		t.Fatalf("unsupported type: got %v", err)
	}
	if _, err := HashPartition(b, []string{"i64"}, 0); err == nil {
		t.Fatal("HashPartition into 0 parts succeeded")
	}
}

func TestHashColumnsReusesOut(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBlock(t, mem, 50, 5)
	defer b.Release()
	buf := make([]uint64, 10, 100)
	h, err := HashColumns(b, []string{"s"}, 0, buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 50 || &h[0] != &buf[:1][0] {
		t.Fatal("out not reused")
	}
}

func TestHashPartitionUniform(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n, parts = 1 << 20, 64
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = int64(i) // sequential keys: the hard case for weak hashes
	}
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(vals, nil)
	ia := ib.NewArray()
	ib.Release()
	b := oneColumn(mem, ia)
	ia.Release()
	defer b.Release()
	p, err := HashPartition(b, []string{"k"}, parts)
	if err != nil {
		t.Fatal(err)
	}
	// Chi-square with 63 degrees of freedom: mean 63, sd ~11.2; 150 is
	// far out in the tail.
	if chi := chiSquare(p, parts); chi > 150 {
		t.Errorf("chi-square %.1f over %d parts", chi, parts)
	}
	// Equal keys land in the same part, from another block and slice.
	s := b.NewSlice(1000, 3000)
	defer s.Release()
	ps, err := HashPartition(s, []string{"k"}, parts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ps, p[1000:3000]) {
		t.Error("a slice partitions differently")
	}
	// Partition and group seeds differ: the partition does not decide the
	// group table's slot.
	hp := mustHash(t, b, []string{"k"}, PartitionSeed)
	hg := mustHash(t, b, []string{"k"}, groupSeed)
	if hp[0] == hg[0] {
		t.Error("partition and group hashes coincide")
	}

	r := RandomPartition(n, parts, rand.New(rand.NewPCG(1, 2)))
	if chi := chiSquare(r, parts); chi > 150 {
		t.Errorf("random partition chi-square %.1f", chi)
	}
}

func chiSquare(p []int32, parts int) float64 {
	counts := make([]float64, parts)
	for _, x := range p {
		counts[x]++
	}
	exp := float64(len(p)) / float64(parts)
	var chi float64
	for _, c := range counts {
		chi += (c - exp) * (c - exp) / exp
	}
	return chi
}

func TestScatter(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBlock(t, mem, 2000, 6)
	defer b.Release()
	const n = 13
	parts, err := HashPartition(b, []string{"i64", "s"}, n)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Scatter(mem, b, parts, n)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, o := range out {
			o.Release()
		}
	}()
	// Rebuild each part's expected rows (row order kept) and compare the
	// hashes of all columns, which identify rows up to hash collisions.
	all := mustHash(t, b, allColumns(b), 1)
	var total int64
	for p, o := range out {
		if !o.Schema().Equal(b.Schema()) {
			t.Fatalf("part %d schema differs", p)
		}
		var want []uint64
		for i, x := range parts {
			if int(x) == p {
				want = append(want, all[i])
			}
		}
		got := mustHash(t, o, allColumns(o), 1)
		if !slices.Equal(got, want) {
			t.Fatalf("part %d holds the wrong rows or order", p)
		}
		// Equal keys in the same part: re-partitioning a part keeps it.
		pp, _ := HashPartition(o, []string{"i64", "s"}, n)
		for _, x := range pp {
			if int(x) != p {
				t.Fatalf("row of part %d rehashes to %d", p, x)
			}
		}
		total += o.NumRows()
	}
	if total != b.NumRows() {
		t.Fatalf("parts hold %d rows, want %d", total, b.NumRows())
	}
}

func TestScatterEdgeCases(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBlock(t, mem, 20, 7)
	defer b.Release()
	parts := make([]int32, 20)
	for i := range parts {
		parts[i] = 2
	}
	out, err := Scatter(mem, b, parts, 4)
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range out {
		switch {
		case p == 2 && o != b:
			t.Error("a part with every row is not the block itself")
		case p != 2 && (o.NumRows() != 0 || !o.Schema().Equal(b.Schema())):
			t.Errorf("part %d: %d rows", p, o.NumRows())
		}
		o.Release()
	}
	parts[5] = 4
	if _, err := Scatter(mem, b, parts, 4); err == nil {
		t.Error("out-of-range partition accepted")
	}
	if _, err := Scatter(mem, b, parts[:3], 4); err == nil {
		t.Error("short partition indices accepted")
	}
	empty := b.NewSlice(0, 0)
	defer empty.Release()
	out, err = Scatter(mem, empty, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.NumRows() != 0 {
			t.Error("rows from nowhere")
		}
		o.Release()
	}
}

func BenchmarkHashInt64(b *testing.B) {
	const n = 1 << 20
	vals := make([]int64, n)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range vals {
		vals[i] = rng.Int64()
	}
	arr := NumericArray(vals)
	blk := oneColumn(memory.DefaultAllocator, arr)
	arr.Release()
	defer blk.Release()
	out := make([]uint64, n)
	b.SetBytes(8 * n)
	iters := 0
	for b.Loop() {
		if _, err := HashColumns(blk, []string{"k"}, 0, out); err != nil {
			b.Fatal(err)
		}
		iters++
	}
	b.ReportMetric(float64(n)*float64(iters)/b.Elapsed().Seconds(), "rows/s")
}
