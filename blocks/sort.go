package blocks

// Vectorized sort kernels: the groundwork of Sort and of range-partitioned
// shuffles (sample boundaries, route rows to ranges, sort each range, merge).
//
// Every kernel switches on a key column's type once and then runs a typed
// loop or a typed comparator closure; no value is boxed and nothing is
// reflected per row.
//
// SortIndices sorts key by key, most significant first. For key k, each
// row's value is encoded as an order-preserving uint64 (a "normalized key":
// integers with their sign bit flipped, floats by the IEEE trick with -0
// and NaN canonicalized, strings and binaries by their first eight bytes,
// big endian), complemented for descending keys. The (key, row) pairs of
// the rows still tied on the keys before k are sorted, null rows placed
// after them in row order: a least-significant-digit radix sort, which is
// stable and skips the byte positions on which all keys agree, for long
// runs, pdqsort with the row as tie-breaker for short ones. Runs of tied
// keys are then refined by key k+1 the same way when the encoding is exact,
// or by the typed comparators of the remaining keys when it is only a
// prefix (strings); runs of at most refineMin rows go straight to the
// comparators. So a single numeric key costs one radix sort, and later keys
// only cost anything where earlier ones tie.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// SortKey names a column to sort by and its direction.
//
// The order is the natural one of the column's type: integers, dates,
// timestamps (their raw int64) and durations numerically; floats
// numerically with -0 equal to +0 and NaN greater than every other value
// (so NaN comes after +Inf ascending and before it descending, like DuckDB
// and Polars); strings and binaries bytewise; false before true. Nulls sort
// last in both directions.
type SortKey struct {
	Column     string
	Descending bool
}

// String is the column, with " desc" when descending: how plans show it.
func (k SortKey) String() string {
	if k.Descending {
		return k.Column + " desc"
	}
	return k.Column
}

// rowCmp compares row i of a left column with row j of a right column (the
// same column when sorting a block), with a key's direction and null
// placement applied: negative when row i sorts first.
type rowCmp func(i, j int) int

// keyCols resolves keys against b, returning the key columns.
func keyCols(b arrow.RecordBatch, keys []SortKey) ([]arrow.Array, error) {
	if len(keys) == 0 {
		return nil, errors.New("blocks: sort: no sort keys")
	}
	cols := make([]arrow.Array, len(keys))
	for k, key := range keys {
		col, err := Column(b, key.Column)
		if err != nil {
			return nil, err
		}
		if !sortable(col.DataType()) {
			return nil, fmt.Errorf("blocks: sort: column %q has unsupported type %s", key.Column, col.DataType())
		}
		cols[k] = col
	}
	return cols, nil
}

// sortable reports whether SortIndices supports a key of type dt.
func sortable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.BOOL, arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.DURATION:
		return true
	}
	return false
}

// newRowCmp builds the comparator of one key between columns l and r, which
// must have equal types. It switches on the type once; the closure it
// returns reads typed slices.
func newRowCmp(l, r arrow.Array, desc bool) rowCmp {
	sign := 1
	if desc {
		sign = -1
	}
	var c rowCmp
	switch l := l.(type) {
	case *array.Int8:
		c = orderedCmp(l.Int8Values(), r.(*array.Int8).Int8Values(), sign)
	case *array.Int16:
		c = orderedCmp(l.Int16Values(), r.(*array.Int16).Int16Values(), sign)
	case *array.Int32:
		c = orderedCmp(l.Int32Values(), r.(*array.Int32).Int32Values(), sign)
	case *array.Int64:
		c = orderedCmp(l.Int64Values(), r.(*array.Int64).Int64Values(), sign)
	case *array.Uint8:
		c = orderedCmp(l.Uint8Values(), r.(*array.Uint8).Uint8Values(), sign)
	case *array.Uint16:
		c = orderedCmp(l.Uint16Values(), r.(*array.Uint16).Uint16Values(), sign)
	case *array.Uint32:
		c = orderedCmp(l.Uint32Values(), r.(*array.Uint32).Uint32Values(), sign)
	case *array.Uint64:
		c = orderedCmp(l.Uint64Values(), r.(*array.Uint64).Uint64Values(), sign)
	case *array.Date32:
		c = orderedCmp(l.Date32Values(), r.(*array.Date32).Date32Values(), sign)
	case *array.Date64:
		c = orderedCmp(l.Date64Values(), r.(*array.Date64).Date64Values(), sign)
	case *array.Timestamp:
		c = orderedCmp(l.TimestampValues(), r.(*array.Timestamp).TimestampValues(), sign)
	case *array.Duration:
		c = orderedCmp(l.DurationValues(), r.(*array.Duration).DurationValues(), sign)
	case *array.Float32:
		c = floatCmp(l.Float32Values(), r.(*array.Float32).Float32Values(), sign)
	case *array.Float64:
		c = floatCmp(l.Float64Values(), r.(*array.Float64).Float64Values(), sign)
	case *array.Boolean:
		rb := r.(*array.Boolean)
		c = func(i, j int) int {
			a, b := l.Value(i), rb.Value(j)
			switch {
			case a == b:
				return 0
			case b:
				return -sign
			}
			return sign
		}
	case *array.String:
		rs := r.(*array.String)
		c = func(i, j int) int { return sign * strings.Compare(l.Value(i), rs.Value(j)) }
	case *array.LargeString:
		rs := r.(*array.LargeString)
		c = func(i, j int) int { return sign * strings.Compare(l.Value(i), rs.Value(j)) }
	case *array.Binary:
		rs := r.(*array.Binary)
		c = func(i, j int) int { return sign * bytes.Compare(l.Value(i), rs.Value(j)) }
	case *array.LargeBinary:
		rs := r.(*array.LargeBinary)
		c = func(i, j int) int { return sign * bytes.Compare(l.Value(i), rs.Value(j)) }
	default:
		panic(fmt.Sprintf("blocks: sort: no comparator for %s", l.DataType()))
	}
	if l.NullN() == 0 && r.NullN() == 0 {
		return c
	}
	lbits, loff := l.NullBitmapBytes(), l.Data().Offset()
	rbits, roff := r.NullBitmapBytes(), r.Data().Offset()
	return func(i, j int) int {
		ln := lbits != nil && !bitutil.BitIsSet(lbits, loff+i)
		rn := rbits != nil && !bitutil.BitIsSet(rbits, roff+j)
		switch {
		case ln && rn:
			return 0
		case ln:
			return 1
		case rn:
			return -1
		}
		return c(i, j)
	}
}

func orderedCmp[T ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64](l, r []T, sign int) rowCmp {
	return func(i, j int) int {
		a, b := l[i], r[j]
		switch {
		case a < b:
			return -sign
		case a > b:
			return sign
		}
		return 0
	}
}

func floatCmp[T float32 | float64](l, r []T, sign int) rowCmp {
	return func(i, j int) int { return sign * compareFloat(l[i], r[j]) }
}

// MinFloat is the smaller of a and b in the order Sort uses, NaN above
// every other value (+Inf included) as in DuckDB, Spark and PostgreSQL: a
// minimum skips NaN unless every value is NaN. NaN is its identity.
func MinFloat(a, b float64) float64 {
	if b < a || a != a {
		return b
	}
	return a
}

// MaxFloat is the larger of a and b in the order Sort uses: a maximum is
// NaN as soon as one value is. -Inf is its identity.
func MaxFloat(a, b float64) float64 {
	if b > a || b != b {
		return b
	}
	return a
}

// compareFloat orders floats with -0 == +0 and NaN above everything else.
func compareFloat[T float32 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	// At least one is NaN.
	an, bn := a != a, b != b
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	}
	return -1
}

// lexCmp combines per-key comparators lexicographically.
func lexCmp(cmps []rowCmp) rowCmp {
	switch len(cmps) {
	case 0:
		return func(int, int) int { return 0 }
	case 1:
		return cmps[0]
	case 2:
		c0, c1 := cmps[0], cmps[1]
		return func(i, j int) int {
			if c := c0(i, j); c != 0 {
				return c
			}
			return c1(i, j)
		}
	}
	return func(i, j int) int {
		for _, c := range cmps {
			if r := c(i, j); r != 0 {
				return r
			}
		}
		return 0
	}
}

// normalize writes the order-preserving uint64 encoding of col's values to
// dst (null slots get unspecified keys). exact reports whether equal keys
// mean equal values; it is false for strings and binaries, encoded by their
// first eight bytes.
func normalize(col arrow.Array, dst []uint64) (exact bool) {
	switch a := col.(type) {
	case *array.Int8:
		normSigned(a.Int8Values(), 8, dst)
	case *array.Int16:
		normSigned(a.Int16Values(), 16, dst)
	case *array.Int32:
		normSigned(a.Int32Values(), 32, dst)
	case *array.Int64:
		normSigned(a.Int64Values(), 64, dst)
	case *array.Date32:
		normSigned(a.Date32Values(), 32, dst)
	case *array.Date64:
		normSigned(a.Date64Values(), 64, dst)
	case *array.Timestamp:
		normSigned(a.TimestampValues(), 64, dst)
	case *array.Duration:
		normSigned(a.DurationValues(), 64, dst)
	case *array.Uint8:
		normUnsigned(a.Uint8Values(), dst)
	case *array.Uint16:
		normUnsigned(a.Uint16Values(), dst)
	case *array.Uint32:
		normUnsigned(a.Uint32Values(), dst)
	case *array.Uint64:
		normUnsigned(a.Uint64Values(), dst)
	case *array.Float32:
		for i, v := range a.Float32Values()[:len(dst)] {
			dst[i] = uint64(normFloat32(v))
		}
	case *array.Float64:
		for i, v := range a.Float64Values()[:len(dst)] {
			dst[i] = normFloat64(v)
		}
	case *array.Boolean:
		for i := range dst {
			if a.Value(i) {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	case *array.String:
		normPrefix(a.ValueOffsets(), a.Data().Buffers()[2], dst)
		return false
	case *array.LargeString:
		normPrefix(a.ValueOffsets(), a.Data().Buffers()[2], dst)
		return false
	case *array.Binary:
		normPrefix(a.ValueOffsets(), a.Data().Buffers()[2], dst)
		return false
	case *array.LargeBinary:
		normPrefix(a.ValueOffsets(), a.Data().Buffers()[2], dst)
		return false
	default:
		panic(fmt.Sprintf("blocks: sort: no normalized key for %s", col.DataType()))
	}
	return true
}

func normSigned[T ~int8 | ~int16 | ~int32 | ~int64](vals []T, width uint, dst []uint64) {
	mask := ^uint64(0) >> (64 - width)
	flip := uint64(1) << (width - 1)
	for i, v := range vals[:len(dst)] {
		dst[i] = (uint64(v) ^ flip) & mask
	}
}

func normUnsigned[T ~uint8 | ~uint16 | ~uint32 | ~uint64](vals []T, dst []uint64) {
	for i, v := range vals[:len(dst)] {
		dst[i] = uint64(v)
	}
}

func normFloat64(v float64) uint64 {
	switch {
	case v == 0:
		v = 0 // -0 -> +0
	case v != v:
		return 0xfff8000000000000 // every NaN above +Inf
	}
	b := math.Float64bits(v)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

func normFloat32(v float32) uint32 {
	switch {
	case v == 0:
		v = 0
	case v != v:
		return 0xffc00000
	}
	b := math.Float32bits(v)
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

// normPrefix encodes each value by its first eight bytes, big endian,
// zero-padded: a non-strict order-preserving key.
func normPrefix[O int32 | int64](offsets []O, data *memory.Buffer, dst []uint64) {
	var buf []byte
	if data != nil {
		buf = data.Bytes()
	}
	for i := range dst {
		v := buf[offsets[i]:offsets[i+1]]
		if len(v) >= 8 {
			dst[i] = binary.BigEndian.Uint64(v)
			continue
		}
		var k uint64
		for _, c := range v {
			k = k<<8 | uint64(c)
		}
		dst[i] = k << (8 * (8 - len(v)))
	}
}

// keyRow is a normalized key and the row it belongs to.
type keyRow struct {
	key uint64
	row int64
}

// radixMin is the size under which pairs are sorted by comparison (a
// variable so that tests can force the radix sort on small blocks).
var radixMin = 256

// SortIndices returns the stable permutation that orders b's rows by keys,
// compared lexicographically (see SortKey for the order of each type): row
// SortIndices(b, keys)[k] of b comes k-th, and rows that tie on every key
// keep their order. A key naming no column of b gives an
// *UnknownColumnError; a key of an unsupported type (lists, structs, ...)
// an error naming the column and its type.
func SortIndices(b arrow.RecordBatch, keys []SortKey) ([]int64, error) {
	cols, err := keyCols(b, keys)
	if err != nil {
		return nil, err
	}
	return sortIndices(cols, keys), nil
}

func sortIndices(cols []arrow.Array, keys []SortKey) []int64 {
	n := cols[0].Len()
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	if n < 2 {
		return out
	}
	s := &sorter{
		cols:    cols,
		keys:    keys,
		norms:   make([][]uint64, len(keys)),
		exact:   make([]bool, len(keys)),
		cmpFrom: make([]rowCmp, len(keys)),
		pairs:   make([]keyRow, n),
	}
	s.sortRows(out, 0)
	return out
}

// sorter holds what sorting one block by its keys computes lazily: the
// normalized keys of each key column, and the comparators of the keys
// from k on.
type sorter struct {
	cols    []arrow.Array
	keys    []SortKey
	norms   [][]uint64
	exact   []bool
	cmpFrom []rowCmp
	pairs   []keyRow // scratch, reused by every call
	scratch []keyRow // radix sort scratch, allocated on first use
}

func (s *sorter) norm(k int) ([]uint64, bool) {
	if s.norms[k] == nil {
		s.norms[k] = make([]uint64, s.cols[k].Len())
		s.exact[k] = normalize(s.cols[k], s.norms[k])
	}
	return s.norms[k], s.exact[k]
}

func (s *sorter) cmp(k int) rowCmp {
	if s.cmpFrom[k] == nil {
		s.cmpFrom[k] = lexCmp(buildCmps(s.cols[k:], s.keys[k:]))
	}
	return s.cmpFrom[k]
}

// refineMin is the run length under which ties are sorted by comparators
// rather than by normalized keys.
const refineMin = 8

// sortRows sorts rows, which tie on the keys before k, by the keys from k
// on, stably: rows that tie on every key end in increasing row order.
//
// It sorts (normalized key, row) pairs of the non-null rows (a radix sort
// for long runs, pdqsort with the row as tie-breaker otherwise), puts the
// null rows after them in row order, and then refines each run of tied
// keys: by the next key when the normalized key is exact, by the
// comparators of every remaining key when it is only a prefix.
func (s *sorter) sortRows(rows []int64, k int) {
	if len(rows) < 2 || k == len(s.keys) {
		return
	}
	if len(rows) <= refineMin {
		sortRun(rows, s.cmp(k))
		return
	}
	col := s.cols[k]
	norm, exact := s.norm(k)
	var flip uint64
	if s.keys[k].Descending {
		flip = ^uint64(0)
	}
	pairs := s.pairs[:0]
	nn := 0 // null rows, compacted at the front of rows as they are met
	if col.NullN() == 0 {
		for _, r := range rows {
			pairs = append(pairs, keyRow{norm[r] ^ flip, r})
		}
	} else {
		bits, off := col.NullBitmapBytes(), col.Data().Offset()
		for _, r := range rows {
			if bitutil.BitIsSet(bits, off+int(r)) {
				pairs = append(pairs, keyRow{norm[r] ^ flip, r})
			} else {
				rows[nn] = r
				nn++
			}
		}
	}
	nulls := rows[len(rows)-nn:]
	copy(nulls, rows[:nn])
	sorted := s.sortKeyRows(pairs)
	valid := rows[:len(sorted)]
	for i, p := range sorted {
		valid[i] = p.row
	}

	if exact && k+1 == len(s.keys) {
		return // the keys decide every row (null rows tie, in row order)
	}
	// Find the runs of tied keys first, reading the sorted pairs in order,
	// then refine them (which reuses pairs and scratch).
	var runs []int
	for lo := 0; lo < len(sorted); {
		hi := lo + 1
		for hi < len(sorted) && sorted[hi].key == sorted[lo].key {
			hi++
		}
		if hi-lo > 1 {
			runs = append(runs, lo, hi)
		}
		lo = hi
	}
	s.sortRows(nulls, k+1)
	for i := 0; i < len(runs); i += 2 {
		run := valid[runs[i]:runs[i+1]]
		if exact {
			s.sortRows(run, k+1)
		} else {
			sortRun(run, s.cmp(k))
		}
	}
}

// sortKeyRows sorts pairs by key, stably, and returns the sorted slice
// (pairs itself or s.scratch).
func (s *sorter) sortKeyRows(pairs []keyRow) []keyRow {
	n := len(pairs)
	if n < radixMin {
		slices.SortFunc(pairs, func(a, b keyRow) int {
			if c := cmp.Compare(a.key, b.key); c != 0 {
				return c
			}
			return cmp.Compare(a.row, b.row)
		})
		return pairs
	}
	var counts [8][256]int
	for _, p := range pairs {
		k := p.key
		counts[0][byte(k)]++
		counts[1][byte(k>>8)]++
		counts[2][byte(k>>16)]++
		counts[3][byte(k>>24)]++
		counts[4][byte(k>>32)]++
		counts[5][byte(k>>40)]++
		counts[6][byte(k>>48)]++
		counts[7][byte(k>>56)]++
	}
	src, dst := pairs, []keyRow(nil)
	for d := range 8 {
		shift := uint(8 * d)
		c := &counts[d]
		if c[byte(src[0].key>>shift)] == n {
			continue // every key has the same digit here
		}
		if dst == nil {
			if s.scratch == nil {
				s.scratch = make([]keyRow, len(s.pairs))
			}
			dst = s.scratch[:n]
		}
		sum := 0
		for v := range c {
			cnt := c[v]
			c[v] = sum
			sum += cnt
		}
		for _, p := range src {
			v := byte(p.key >> shift)
			dst[c[v]] = p
			c[v]++
		}
		src, dst = dst, src
	}
	return src
}

// buildCmps builds the comparators of keys over their columns, each column
// compared with itself.
func buildCmps(cols []arrow.Array, keys []SortKey) []rowCmp {
	cmps := make([]rowCmp, len(cols))
	for k, col := range cols {
		cmps[k] = newRowCmp(col, col, keys[k].Descending)
	}
	return cmps
}

// sortRun sorts rows, given in increasing order, by c and then by row, so
// that ties keep their order.
func sortRun(rows []int64, c rowCmp) {
	if len(rows) <= 12 {
		// Insertion sort: stable, and the common case for tied runs.
		for i := 1; i < len(rows); i++ {
			for j := i; j > 0 && c(int(rows[j-1]), int(rows[j])) > 0; j-- {
				rows[j-1], rows[j] = rows[j], rows[j-1]
			}
		}
		return
	}
	slices.SortFunc(rows, func(a, b int64) int {
		if r := c(int(a), int(b)); r != 0 {
			return r
		}
		return cmp.Compare(a, b)
	})
}

// Sort returns b's rows ordered by keys: Take of b by SortIndices.
func Sort(mem memory.Allocator, b arrow.RecordBatch, keys []SortKey) (arrow.RecordBatch, error) {
	idx, err := SortIndices(b, keys)
	if err != nil {
		return nil, err
	}
	return Take(mem, b, idx)
}

// MergeSorted merges blocks that are each sorted by keys, and share a
// schema, into one block sorted by keys. Rows that tie keep the order of
// their blocks in the list, so merging the sorted consecutive pieces of a
// block gives Sort of the whole block. At least one block is required.
func MergeSorted(mem memory.Allocator, bs []arrow.RecordBatch, keys []SortKey) (arrow.RecordBatch, error) {
	if len(bs) == 0 {
		return nil, errors.New("blocks: merge sorted: no blocks")
	}
	for _, b := range bs[1:] {
		if !IsVoid(b) && !b.Schema().Equal(bs[0].Schema()) {
			return nil, fmt.Errorf("blocks: merge sorted: schemas differ: %s and %s", bs[0].Schema(), b.Schema())
		}
	}
	all, err := Concat(mem, bs)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	cols, err := keyCols(all, keys)
	if err != nil {
		return nil, err
	}
	c := lexCmp(buildCmps(cols, keys))

	// One cursor per non-empty block over its rows' range in all.
	type cursor struct{ pos, end int }
	var cur []cursor
	start := 0
	for _, b := range bs {
		if n := int(b.NumRows()); n > 0 {
			cur = append(cur, cursor{start, start + n})
			start += n
		}
	}
	n := int(all.NumRows())
	if len(cur) <= 1 {
		all.Retain()
		return all, nil
	}
	// A min-heap of cursor ids, ordered by their current rows and then by
	// id (block order), which keeps ties in block order.
	less := func(a, b int) bool {
		if r := c(cur[a].pos, cur[b].pos); r != 0 {
			return r < 0
		}
		return a < b
	}
	heap := make([]int, len(cur))
	for i := range heap {
		heap[i] = i
	}
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(heap) {
				return
			}
			m := l
			if r := l + 1; r < len(heap) && less(heap[r], heap[l]) {
				m = r
			}
			if !less(heap[m], heap[i]) {
				return
			}
			heap[i], heap[m] = heap[m], heap[i]
			i = m
		}
	}
	for i := len(heap)/2 - 1; i >= 0; i-- {
		down(i)
	}
	idx := make([]int64, 0, n)
	for len(heap) > 1 {
		top := heap[0]
		idx = append(idx, int64(cur[top].pos))
		cur[top].pos++
		if cur[top].pos == cur[top].end {
			heap[0] = heap[len(heap)-1]
			heap = heap[:len(heap)-1]
		}
		down(0)
	}
	for p := cur[heap[0]].pos; p < cur[heap[0]].end; p++ {
		idx = append(idx, int64(p))
	}
	return Take(mem, all, idx)
}

// SampleBoundaries picks the boundaries of n ranges from sampled key rows
// (typically samples of many blocks, concatenated): it sorts samples by keys
// and returns the n-1 rows at its quantiles 1/n, 2/n, ..., (n-1)/n, with
// only the key columns, for RangePartition. Boundaries may repeat. When
// samples has no rows the result has none either, and RangePartition sends
// every row to range 0. The result is allocated with memory.DefaultAllocator.
func SampleBoundaries(samples arrow.RecordBatch, keys []SortKey, n int) (arrow.RecordBatch, error) {
	if n < 1 {
		return nil, fmt.Errorf("blocks: sample boundaries: %d ranges, want at least 1", n)
	}
	var names []string
	for _, k := range keys {
		if !slices.Contains(names, k.Column) {
			names = append(names, k.Column)
		}
	}
	if _, err := keyCols(samples, keys); err != nil {
		return nil, err
	}
	sel, err := Select(samples, names)
	if err != nil {
		return nil, err
	}
	defer sel.Release()
	m := int(sel.NumRows())
	if m == 0 {
		return Take(memory.DefaultAllocator, sel, nil)
	}
	idx, err := SortIndices(sel, keys)
	if err != nil {
		return nil, err
	}
	picks := make([]int64, n-1)
	for i := range picks {
		picks[i] = idx[(i+1)*m/n]
	}
	return Take(memory.DefaultAllocator, sel, picks)
}

// RangePartition routes each row of b to one of n = boundaries.NumRows()+1
// ranges, where boundaries holds the key columns of sorted boundary rows
// (as from SampleBoundaries): range p receives the rows that sort after
// boundary p-1 and not after boundary p, so rows equal to a boundary go to
// the lower range, and rows after the last boundary go to range n-1 (among
// them rows with null keys, which sort last, unless the boundaries hold
// nulls too). Sorting each range and concatenating them in order gives b
// sorted. Each key column of boundaries must have the type of b's.
func RangePartition(b arrow.RecordBatch, keys []SortKey, boundaries arrow.RecordBatch) ([]int32, error) {
	cols, err := keyCols(b, keys)
	if err != nil {
		return nil, err
	}
	bcols, err := keyCols(boundaries, keys)
	if err != nil {
		return nil, err
	}
	cmps := make([]rowCmp, len(keys))
	for k, key := range keys {
		if !arrow.TypeEqual(cols[k].DataType(), bcols[k].DataType()) {
			return nil, fmt.Errorf("blocks: range partition: column %q is %s, boundaries have %s",
				key.Column, cols[k].DataType(), bcols[k].DataType())
		}
		cmps[k] = newRowCmp(cols[k], bcols[k], key.Descending)
	}
	c := lexCmp(cmps)
	nb := int(boundaries.NumRows())
	out := make([]int32, b.NumRows())
	for i := range out {
		// Binary search for the first boundary the row does not sort after.
		lo, hi := 0, nb
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if c(i, m) > 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		out[i] = int32(lo)
	}
	return out, nil
}
