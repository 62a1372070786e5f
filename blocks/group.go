package blocks

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Grouper assigns dense group ids to key tuples: the first distinct tuple it
// sees gets id 0, the next 1, and so on, across any number of blocks. It is
// the hash table under group-by aggregation, Unique and hash joins.
//
// The table is open addressing with linear probing over the 64-bit key
// hashes; each slot holds a hash and a group id, and a hash match is
// confirmed by comparing the key values exactly (nulls equal nulls, NaN
// equals NaN, -0 equals +0). The distinct keys are stored column by column:
// fixed-width values in their canonical 64-bit form, strings and binaries as
// one byte slice with offsets. A Grouper is not safe for concurrent use.
type Grouper struct {
	schema *arrow.Schema
	cols   []keyCol
	hashes []uint64 // hash of each group's key, to grow without rehashing keys
	slots  []slot
	mask   uint64
	groups int

	// hashMask is ANDed into every hash: all ones, except in tests that
	// force full-hash collisions.
	hashMask uint64

	// Scratch reused across Add calls.
	h       []uint64
	views   []keyView
	byCombo []int32 // addByEntries' direct index

	// hint is NewGrouperFor's group count, applied at the first Add once a
	// sample of hashes shows whether the keys repeat (0: applied or none).
	hint int
}

// slot is one entry of the table: id is the group id plus one, 0 when empty.
type slot struct {
	hash uint64
	id   uint32
}

// keyCol holds one key column of the distinct keys, one entry per group.
type keyCol struct {
	typ  arrow.DataType
	kind keyKind
	u64  []uint64 // canonical values of fixed-width kinds (0 for nulls)
	offs []int    // bytes kinds: group g is data[offs[g]:offs[g+1]]
	data []byte
	null []bool // nil until the first null key
}

// keyView is one key column of the block being added, read once into a form
// that comparisons and hashing share.
type keyView struct {
	kind keyKind
	v    validity
	u64  []uint64 // canonical values of fixed-width kinds
	b32  bytesColumn[int32]
	b64  bytesColumn[int64]
	// dict, for a dictionary-encoded bytes column, maps each row to its
	// entry of the dictionary that b32 or b64 then hold (v is the rows'
	// validity, a null entry included); entries is the number of entries.
	dict    []int32
	entries int
	// Scratch reused across loads.
	dictBuf   []int32
	entryHash []uint64
}

func (k *keyView) at(i int) []byte {
	if k.dict != nil {
		i = int(k.dict[i])
	}
	if k.kind == kindBytes32 {
		return k.b32.at(i)
	}
	return k.b64.at(i)
}

const minSlots = 1024

// NewGrouper returns an empty Grouper for key tuples of the types of
// keySchema's fields; Keys names its columns after them. Every field must
// have a type HashColumns supports.
func NewGrouper(keySchema *arrow.Schema) (*Grouper, error) {
	return newGrouper(keySchema, minSlots)
}

// NewGrouperFor is NewGrouper with a table sized for about groups distinct
// keys, so that a caller who knows (an upper bound of) the count saves the
// table's doublings. The hint is capped at 1<<20 groups.
//
// The table is sized at the first Add, not here: a sample of that block's
// key hashes that repeats a lot (few distinct keys) keeps the table small,
// since zeroing a table sized for a block's rows costs more than the
// grouping of a hundred keys.
func NewGrouperFor(keySchema *arrow.Schema, groups int) (*Grouper, error) {
	g, err := newGrouper(keySchema, minSlots)
	if err != nil {
		return nil, err
	}
	g.hint = min(groups, 1<<20)
	return g, nil
}

// sizeFor applies the hint given the first block's hashes.
func (g *Grouper) sizeFor(h []uint64) {
	groups := g.hint
	g.hint = 0
	const sample = 512
	if len(h) >= 2*sample {
		// Count distinct hashes among the first rows with a small table.
		var seen [2 * sample]uint64
		distinct := 0
		for _, x := range h[:sample] {
			x |= 1 // 0 marks an empty entry
			pos := x & (2*sample - 1)
			for seen[pos] != 0 && seen[pos] != x {
				pos = (pos + 1) & (2*sample - 1)
			}
			if seen[pos] == 0 {
				seen[pos] = x
				distinct++
			}
		}
		if distinct <= sample/2 {
			groups = min(groups, 4*distinct) // keys repeat: grow if more come
		}
	}
	slots := len(g.slots)
	for slots < 2*groups {
		slots *= 2
	}
	if slots > len(g.slots) {
		g.slots = make([]slot, slots)
		g.mask = uint64(slots - 1)
	}
}

// newGrouper starts the table at slots slots, a power of two (tests use tiny
// tables to force probing).
func newGrouper(keySchema *arrow.Schema, slots int) (*Grouper, error) {
	g := &Grouper{
		schema:   keySchema,
		cols:     make([]keyCol, keySchema.NumFields()),
		slots:    make([]slot, slots),
		mask:     uint64(slots - 1),
		hashMask: ^uint64(0),
		views:    make([]keyView, keySchema.NumFields()),
	}
	g.schema = plainKeySchema(keySchema)
	for i, f := range g.schema.Fields() {
		k := kindOf(f.Type)
		if k == 0 {
			return nil, fmt.Errorf("blocks: grouper key column %q: unsupported type %s", f.Name, f.Type)
		}
		g.cols[i] = keyCol{typ: f.Type, kind: k}
		if !k.fixed() {
			g.cols[i].offs = []int{0}
		}
	}
	return g, nil
}

// NumGroups returns the number of distinct key tuples seen so far.
func (g *Grouper) NumGroups() int { return g.groups }

// Add assigns each row of b the group id of its key tuple, the values of the
// columns cols (matched by position to the key schema's fields, whose types
// they must have). Tuples not seen before get new ids in order of first
// appearance. The returned slice is the caller's.
func (g *Grouper) Add(b arrow.RecordBatch, cols []string) ([]int32, error) {
	h, err := g.load(b, cols)
	if err != nil {
		return nil, err
	}
	ids := make([]int32, len(h))
	if g.addByEntries(ids) {
		return ids, nil
	}
	for c := range g.views {
		g.views[c].hash(h)
	}
	if g.hint > 0 && g.groups == 0 {
		g.sizeFor(h)
	}
	if len(g.cols) == 1 && g.cols[0].kind.fixed() && g.cols[0].null == nil && g.views[0].v.bits == nil {
		g.findFixed(h, ids)
		return ids, nil
	}
	for i, x := range h {
		ids[i] = g.find(x&g.hashMask, i)
	}
	return ids, nil
}

// load checks b's key columns cols against the key schema, reads them into
// the views and returns the hash scratch for its rows, set to the seed.
func (g *Grouper) load(b arrow.RecordBatch, cols []string) ([]uint64, error) {
	if len(cols) != len(g.cols) {
		return nil, fmt.Errorf("blocks: grouper: %d key columns given, key schema has %d", len(cols), len(g.cols))
	}
	arrs, err := keyArrays(b, cols)
	if err != nil {
		return nil, err
	}
	for i, arr := range arrs {
		if !arrow.TypeEqual(valueTypeOf(arr.DataType()), g.cols[i].typ) {
			return nil, fmt.Errorf("blocks: grouper: key column %q has type %s, key schema wants %s",
				cols[i], arr.DataType(), g.cols[i].typ)
		}
	}
	n := int(b.NumRows())
	if cap(g.h) < n {
		putScratch(g.h)
		g.h = getScratch(n)
	}
	h := g.h[:n]
	for i := range h {
		h[i] = groupSeed
	}
	for c, arr := range arrs {
		g.views[c].load(arr)
	}
	return h, nil
}

// Lookup is Add without adding: each row gets the group id of its key
// tuple, or -1 where the tuple has no group. A hash join probes its build
// side's table so, leaving the table as the build made it.
func (g *Grouper) Lookup(b arrow.RecordBatch, cols []string) ([]int32, error) {
	h, err := g.load(b, cols)
	if err != nil {
		return nil, err
	}
	for c := range g.views {
		g.views[c].hash(h)
	}
	ids := make([]int32, len(h))
	if len(g.cols) == 1 && g.cols[0].kind.fixed() && g.views[0].v.bits == nil {
		// One fixed-width key column without nulls in the rows: compare
		// the canonical values inline. A null key in the table matches no
		// row here; its u64 is 0, so the hash decides.
		vals, keys, nulls := g.views[0].u64, g.cols[0].u64, g.cols[0].null
		for i, x := range h {
			x &= g.hashMask
			pos := x & g.mask
			ids[i] = -1
			for {
				s := &g.slots[pos]
				if s.id == 0 {
					break
				}
				if id := s.id - 1; s.hash == x && keys[id] == vals[i] && (nulls == nil || !nulls[id]) {
					ids[i] = int32(id)
					break
				}
				pos = (pos + 1) & g.mask
			}
		}
		return ids, nil
	}
	for i, x := range h {
		x &= g.hashMask
		pos := x & g.mask
		ids[i] = -1
		for {
			s := &g.slots[pos]
			if s.id == 0 {
				break
			}
			if s.hash == x && g.equal(int(s.id-1), i) {
				ids[i] = int32(s.id - 1)
				break
			}
			pos = (pos + 1) & g.mask
		}
	}
	return ids, nil
}

// findFixed is find for the common case of one fixed-width key column
// without nulls: the probe compares the canonical 64-bit values inline.
func (g *Grouper) findFixed(h []uint64, ids []int32) {
	vals := g.views[0].u64
	for i, x := range h {
		x &= g.hashMask
		pos := x & g.mask
		for {
			s := &g.slots[pos]
			if s.id == 0 {
				id := g.insert(x, i)
				s.hash, s.id = x, uint32(id)+1
				if 2*g.groups > len(g.slots) {
					g.grow()
				}
				ids[i] = id
				break
			}
			if s.hash == x && g.cols[0].u64[s.id-1] == vals[i] {
				ids[i] = int32(s.id - 1)
				break
			}
			pos = (pos + 1) & g.mask
		}
	}
}

// find returns the group id of row i of the current views, whose hash is x,
// inserting a new group if the tuple is new.
func (g *Grouper) find(x uint64, i int) int32 {
	pos := x & g.mask
	for {
		s := &g.slots[pos]
		if s.id == 0 {
			id := g.insert(x, i)
			s.hash, s.id = x, uint32(id)+1
			if 2*g.groups > len(g.slots) {
				g.grow()
			}
			return id
		}
		if s.hash == x && g.equal(int(s.id-1), i) {
			return int32(s.id - 1)
		}
		pos = (pos + 1) & g.mask
	}
}

// equal reports whether group id's key equals row i of the current views.
func (g *Grouper) equal(id, i int) bool {
	for c := range g.views {
		v, k := &g.views[c], &g.cols[c]
		rowNull := v.v.bits != nil && !v.v.valid(i)
		keyNull := k.null != nil && k.null[id]
		if rowNull || keyNull {
			if rowNull != keyNull {
				return false
			}
			continue
		}
		if v.kind.fixed() {
			if k.u64[id] != v.u64[i] {
				return false
			}
		} else if !bytes.Equal(k.data[k.offs[id]:k.offs[id+1]], v.at(i)) {
			return false
		}
	}
	return true
}

// insert appends row i of the current views as a new group and returns its id.
func (g *Grouper) insert(x uint64, i int) int32 {
	id := g.groups
	if id == math.MaxInt32 {
		panic("blocks: grouper: too many groups")
	}
	for c := range g.views {
		v, k := &g.views[c], &g.cols[c]
		null := v.v.bits != nil && !v.v.valid(i)
		if null && k.null == nil {
			k.null = make([]bool, id, max(id+1, 2*id))
		}
		if k.null != nil {
			k.null = append(k.null, null)
		}
		if v.kind.fixed() {
			var u uint64
			if !null {
				u = v.u64[i]
			}
			k.u64 = append(k.u64, u)
		} else {
			if !null {
				k.data = append(k.data, v.at(i)...)
			}
			k.offs = append(k.offs, len(k.data))
		}
	}
	g.hashes = append(g.hashes, x)
	g.groups++
	return int32(id)
}

// grow doubles the table and reinserts every group by its stored hash.
func (g *Grouper) grow() {
	g.slots = make([]slot, 2*len(g.slots))
	g.mask = uint64(len(g.slots) - 1)
	for id, x := range g.hashes {
		pos := x & g.mask
		for g.slots[pos].id != 0 {
			pos = (pos + 1) & g.mask
		}
		g.slots[pos] = slot{hash: x, id: uint32(id) + 1}
	}
}

// load reads arr into the view: canonical 64-bit values for fixed-width
// kinds (reusing the view's buffer), offsets and bytes for the others.
func (k *keyView) load(arr arrow.Array) {
	k.dict = nil
	if d, ok := arr.(*array.Dictionary); ok {
		k.loadDict(d) // strings: keyArrays decoded any other values
		return
	}
	k.kind = kindOf(arr.DataType())
	k.v = validityOf(arr)
	n := arr.Len()
	if k.kind.fixed() {
		if cap(k.u64) < n {
			putScratch(k.u64)
			k.u64 = getScratch(n)
		}
		k.u64 = k.u64[:n]
	}
	u := k.u64
	switch k.kind {
	case kindInt8:
		canonSigned(u, fixedValues[int8](arr))
	case kindInt16:
		canonSigned(u, fixedValues[int16](arr))
	case kindInt32:
		canonSigned(u, fixedValues[int32](arr))
	case kindInt64:
		canonSigned(u, fixedValues[int64](arr))
	case kindUint8:
		canonUnsigned(u, fixedValues[uint8](arr))
	case kindUint16:
		canonUnsigned(u, fixedValues[uint16](arr))
	case kindUint32:
		canonUnsigned(u, fixedValues[uint32](arr))
	case kindUint64:
		canonUnsigned(u, fixedValues[uint64](arr))
	case kindFloat32:
		canonFloats(u, fixedValues[float32](arr))
	case kindFloat64:
		canonFloats(u, fixedValues[float64](arr))
	case kindBool:
		d := arr.Data()
		bits := validity{bits: d.Buffers()[1].Bytes(), off: d.Offset()}
		for i := range u {
			u[i] = 0
			if bits.valid(i) {
				u[i] = 1
			}
		}
	case kindBytes32:
		k.b32 = bytesView[int32](arr)
	case kindBytes64:
		k.b64 = bytesView[int64](arr)
	}
	if k.kind.fixed() && k.v.bits != nil {
		for i := range u {
			if !k.v.valid(i) {
				u[i] = 0
			}
		}
	}
}

// hash folds the view's values into h exactly as hashArray does.
func (k *keyView) hash(h []uint64) {
	if k.dict != nil {
		eh := k.entryHashes()
		for i, e := range k.dict {
			c := uint64(nullValue)
			if e >= 0 {
				c = eh[e]
			}
			h[i] = mix(h[i], c)
		}
		return
	}
	switch k.kind {
	case kindBytes32:
		hashBytes(h, k.b32, k.v)
	case kindBytes64:
		hashBytes(h, k.b64, k.v)
	default:
		hashUnsigned(h, k.u64, k.v)
	}
}

func canonSigned[T int8 | int16 | int32 | int64](u []uint64, vals []T) {
	u = u[:len(vals)]
	for i, x := range vals {
		u[i] = uint64(int64(x))
	}
}

func canonUnsigned[T uint8 | uint16 | uint32 | uint64](u []uint64, vals []T) {
	u = u[:len(vals)]
	for i, x := range vals {
		u[i] = uint64(x)
	}
}

func canonFloats[T float32 | float64](u []uint64, vals []T) {
	u = u[:len(vals)]
	for i, x := range vals {
		u[i] = canonFloat(float64(x))
	}
}

// Keys returns the distinct key tuples as a block of the key schema, one row
// per group in id order. Floats come back canonical: +0 for a group of -0
// and +0, and the one quiet NaN for any NaN.
func (g *Grouper) Keys(mem memory.Allocator) (arrow.RecordBatch, error) {
	arrs := make([]arrow.Array, len(g.cols))
	defer func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}()
	for c := range g.cols {
		a, err := g.cols[c].array(mem, g.groups)
		if err != nil {
			return nil, fmt.Errorf("blocks: grouper keys column %q: %w", g.schema.Field(c).Name, err)
		}
		arrs[c] = a
	}
	return array.NewRecordBatch(g.schema, arrs, int64(g.groups)), nil
}

// array builds the column's n keys as an Arrow array of its type.
func (k *keyCol) array(mem memory.Allocator, n int) (arrow.Array, error) {
	var nulls int
	var validBuf *memory.Buffer
	if k.null != nil {
		validBuf = memory.NewResizableBuffer(mem)
		validBuf.Resize(int(bitutil.BytesForBits(int64(n))))
		vb := validBuf.Bytes()
		clear(vb)
		for i, isNull := range k.null {
			if isNull {
				nulls++
			} else {
				bitutil.SetBit(vb, i)
			}
		}
	}
	buffers := []*memory.Buffer{validBuf}
	defer func() {
		for _, b := range buffers {
			if b != nil {
				b.Release()
			}
		}
	}()
	newBuf := func(size int) []byte {
		b := memory.NewResizableBuffer(mem)
		b.Resize(size)
		buffers = append(buffers, b)
		return b.Bytes()
	}
	switch k.kind {
	case kindInt8:
		fromCanon(castBytes[int8](newBuf(n)), k.u64)
	case kindInt16:
		fromCanon(castBytes[int16](newBuf(2*n)), k.u64)
	case kindInt32:
		fromCanon(castBytes[int32](newBuf(4*n)), k.u64)
	case kindInt64:
		fromCanon(castBytes[int64](newBuf(8*n)), k.u64)
	case kindUint8:
		fromCanon(castBytes[uint8](newBuf(n)), k.u64)
	case kindUint16:
		fromCanon(castBytes[uint16](newBuf(2*n)), k.u64)
	case kindUint32:
		fromCanon(castBytes[uint32](newBuf(4*n)), k.u64)
	case kindUint64:
		fromCanon(castBytes[uint64](newBuf(8*n)), k.u64)
	case kindFloat32:
		dst := castBytes[float32](newBuf(4 * n))
		for i, u := range k.u64 {
			dst[i] = float32(math.Float64frombits(u))
		}
	case kindFloat64:
		dst := castBytes[float64](newBuf(8 * n))
		for i, u := range k.u64 {
			dst[i] = math.Float64frombits(u)
		}
	case kindBool:
		dst := newBuf(int(bitutil.BytesForBits(int64(n))))
		clear(dst)
		for i, u := range k.u64 {
			if u != 0 {
				bitutil.SetBit(dst, i)
			}
		}
	case kindBytes32:
		if len(k.data) > math.MaxInt32 {
			return nil, fmt.Errorf("%d bytes of keys overflow 32-bit offsets", len(k.data))
		}
		fromCanonInts(castBytes[int32](newBuf(4*(n+1))), k.offs)
		copy(newBuf(len(k.data)), k.data)
	case kindBytes64:
		fromCanonInts(castBytes[int64](newBuf(8*(n+1))), k.offs)
		copy(newBuf(len(k.data)), k.data)
	}
	data := array.NewData(k.typ, n, buffers, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}

func fromCanon[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](dst []T, u []uint64) {
	dst = dst[:len(u)]
	for i, x := range u {
		dst[i] = T(x)
	}
}

func fromCanonInts[T int32 | int64](dst []T, offs []int) {
	dst = dst[:len(offs)]
	for i, x := range offs {
		dst[i] = T(x)
	}
}

// castBytes views a buffer's bytes as []T.
func castBytes[T Numeric](b []byte) []T {
	var zero T
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(zero)))
}

// scratch recycles the per-block hash and key buffers of groupers, which
// every aggregation allocates per block and drops right after: reusing them
// saves zeroing and collecting tens of bytes per row (groupby into 100 keys
// of 10M rows: about 12% faster). A cache, like fmt's buffers: nothing in it
// changes what any call returns.
var scratch sync.Pool

func getScratch(n int) []uint64 {
	if p, ok := scratch.Get().(*[]uint64); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]uint64, n)
}

func putScratch(s []uint64) {
	if cap(s) > 0 {
		s = s[:0]
		scratch.Put(&s)
	}
}

// Release returns the grouper's scratch buffers for reuse; the grouper must
// not be used afterwards. Optional: a grouper that is dropped is collected.
func (g *Grouper) Release() {
	putScratch(g.h)
	g.h = nil
	for i := range g.views {
		putScratch(g.views[i].u64)
		g.views[i].u64 = nil
	}
}
