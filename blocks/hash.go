package blocks

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/zeebo/xxh3"
)

// Hashing of key columns, one 64-bit hash per row, for shuffles (hash
// partitioning), group-by and joins.
//
// The function is part of the wire contract of cluster mode: rows hashed on
// different machines must land in the same partition, so it uses no
// per-process random seed and must never change silently (TestHashGolden
// pins it). Each column is folded into the running per-row hash with
//
//	h = fmix64(h*hashMul ^ v)
//
// where fmix64 is MurmurHash3's 64-bit finalizer (a bijection) and v is the
// value's canonical 64-bit form: integers (and dates, times, timestamps,
// durations) sign- or zero-extended to 64 bits, floats widened to float64
// with -0 turned into +0 and every NaN into one NaN, booleans 0 or 1, and
// strings and binaries their XXH3-64 hash. A null is folded in as nullValue.
// Since h*hashMul and fmix64 are bijections, distinct values of a single
// fixed-width key column never collide.
//
// Values of different types with the same canonical form hash alike (int32 5
// and int64 5, float32 1.5 and float64 1.5, a string and a binary with the
// same bytes), which lets joins match keys of different widths; integers and
// floats do not hash alike (int 1 and float 1.0 differ).

const (
	// hashMul is the 64-bit golden ratio, odd, so multiplying by it is a
	// bijection.
	hashMul = 0x9e3779b97f4a7c15
	// nullValue is what a null folds into the hash in place of a value.
	nullValue = 0x2545f4914f6cdd1d
	// canonicalNaN is the bit pattern all NaNs hash (and group) as.
	canonicalNaN = 0x7ff8000000000000

	// PartitionSeed is the seed HashPartition hashes keys with. It differs
	// from the seed Grouper uses, so that the rows of one partition still
	// spread over a group table's slots.
	PartitionSeed uint64 = 0x51ed27055a3c6b1f
	// groupSeed is the seed Grouper hashes keys with.
	groupSeed uint64 = 0x8cb92ba72f3d8dd7
)

// fmix64 is MurmurHash3's 64-bit finalizer: a bijection that mixes every
// input bit into every output bit.
func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// mix folds the canonical value v into the running hash h.
func mix(h, v uint64) uint64 {
	return fmix64(h*hashMul ^ v)
}

// canonFloat returns the canonical bits of f: +0 for ±0, one NaN for all NaNs.
func canonFloat(f float64) uint64 {
	if f == 0 {
		return 0
	}
	if f != f {
		return canonicalNaN
	}
	return math.Float64bits(f)
}

// keyKind is how a supported key type is read and compared.
type keyKind uint8

const (
	kindInt8 keyKind = iota + 1
	kindInt16
	kindInt32
	kindInt64
	kindUint8
	kindUint16
	kindUint32
	kindUint64
	kindFloat32
	kindFloat64
	kindBool
	kindBytes32 // string, binary: int32 offsets
	kindBytes64 // large_string, large_binary: int64 offsets
)

// fixed reports whether values of kind k have a canonical uint64 form.
func (k keyKind) fixed() bool { return k < kindBytes32 }

// kindOf classifies a key type, or returns 0 if it is not supported.
func kindOf(dt arrow.DataType) keyKind {
	switch dt.ID() {
	case arrow.INT8:
		return kindInt8
	case arrow.INT16:
		return kindInt16
	case arrow.INT32, arrow.DATE32, arrow.TIME32:
		return kindInt32
	case arrow.INT64, arrow.DATE64, arrow.TIME64, arrow.TIMESTAMP, arrow.DURATION:
		return kindInt64
	case arrow.UINT8:
		return kindUint8
	case arrow.UINT16:
		return kindUint16
	case arrow.UINT32:
		return kindUint32
	case arrow.UINT64:
		return kindUint64
	case arrow.FLOAT32:
		return kindFloat32
	case arrow.FLOAT64:
		return kindFloat64
	case arrow.BOOL:
		return kindBool
	case arrow.STRING, arrow.BINARY:
		return kindBytes32
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return kindBytes64
	}
	return 0
}

// validity reads an array's null bitmap; bits is nil when there are no nulls.
type validity struct {
	bits []byte
	off  int
}

func validityOf(arr arrow.Array) validity {
	if arr.NullN() == 0 {
		return validity{}
	}
	d := arr.Data()
	return validity{bits: d.Buffers()[0].Bytes(), off: d.Offset()}
}

func (v validity) valid(i int) bool {
	j := v.off + i
	return v.bits[j>>3]&(1<<(j&7)) != 0
}

// fixedValues views the values buffer of a fixed-width array as []T, with the
// array's offset applied, so that slices hash like the arrays they come from.
func fixedValues[T Numeric](arr arrow.Array) []T {
	n := arr.Len()
	if n == 0 {
		return nil
	}
	d := arr.Data()
	buf := d.Buffers()[1].Bytes()
	var zero T
	all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/int(unsafe.Sizeof(zero)))
	return all[d.Offset() : d.Offset()+n]
}

// bytesColumn is a view of a string or binary array: row i's bytes are
// data[offs[i]-offs[0] : offs[i+1]-offs[0]].
type bytesColumn[O int32 | int64] struct {
	offs []O
	data []byte
}

func (c bytesColumn[O]) at(i int) []byte {
	base := c.offs[0]
	return c.data[c.offs[i]-base : c.offs[i+1]-base]
}

type offsetsAndBytes[O int32 | int64] interface {
	ValueOffsets() []O
	ValueBytes() []byte
}

func bytesView[O int32 | int64](arr arrow.Array) bytesColumn[O] {
	if arr.Len() == 0 {
		return bytesColumn[O]{}
	}
	a := arr.(offsetsAndBytes[O])
	return bytesColumn[O]{offs: a.ValueOffsets(), data: a.ValueBytes()}
}

// HashColumns computes one 64-bit hash per row of b over the key columns cols,
// in order, starting from seed, and returns it in out (reused when it has the
// capacity). Equal key tuples hash equal whatever block or slice they come
// from, and on every machine; nulls hash to a fixed value per column position,
// so they group together as in SQL's GROUP BY. Supported key types: integers,
// float32/64, bool, string, large_string, binary, large_binary, date32/64,
// time32/64, timestamp and duration. An unknown column gives an
// *UnknownColumnError.
func HashColumns(b arrow.RecordBatch, cols []string, seed uint64, out []uint64) ([]uint64, error) {
	n := int(b.NumRows())
	if cap(out) >= n {
		out = out[:n]
	} else {
		out = make([]uint64, n)
	}
	arrs, err := keyArrays(b, cols)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i] = seed
	}
	for _, arr := range arrs {
		hashArray(out, arr)
	}
	return out, nil
}

// keyArrays resolves the key columns of b and checks their types.
func keyArrays(b arrow.RecordBatch, cols []string) ([]arrow.Array, error) {
	arrs := make([]arrow.Array, len(cols))
	for i, name := range cols {
		arr, err := Column(b, name)
		if err != nil {
			return nil, err
		}
		kind := kindOf(valueTypeOf(arr.DataType()))
		if kind == 0 {
			return nil, fmt.Errorf("blocks: key column %q: unsupported type %s", name, arr.DataType())
		}
		if d, ok := arr.(*array.Dictionary); ok && kind.fixed() {
			// Numbers behind a dictionary: hashed and compared as plain
			// values (only strings are grouped by entry).
			// On Go's heap: the caller slices it for the rest of one Add
			// or hash, and the garbage collector frees it.
			if arr, err = decodeDictionary(memory.NewGoAllocator(), d); err != nil {
				return nil, fmt.Errorf("blocks: key column %q: %w", name, err)
			}
		}
		arrs[i] = arr
	}
	return arrs, nil
}

// hashArray folds the values of arr into h, one per row. arr's type has been
// checked by kindOf.
func hashArray(h []uint64, arr arrow.Array) {
	if d, ok := arr.(*array.Dictionary); ok {
		// As its values would hash (Grouper keys hash alike).
		var k keyView
		k.load(d)
		k.hash(h)
		return
	}
	v := validityOf(arr)
	switch kindOf(arr.DataType()) {
	case kindInt8:
		hashSigned(h, fixedValues[int8](arr), v)
	case kindInt16:
		hashSigned(h, fixedValues[int16](arr), v)
	case kindInt32:
		hashSigned(h, fixedValues[int32](arr), v)
	case kindInt64:
		hashSigned(h, fixedValues[int64](arr), v)
	case kindUint8:
		hashUnsigned(h, fixedValues[uint8](arr), v)
	case kindUint16:
		hashUnsigned(h, fixedValues[uint16](arr), v)
	case kindUint32:
		hashUnsigned(h, fixedValues[uint32](arr), v)
	case kindUint64:
		hashUnsigned(h, fixedValues[uint64](arr), v)
	case kindFloat32:
		hashFloat(h, fixedValues[float32](arr), v)
	case kindFloat64:
		hashFloat(h, fixedValues[float64](arr), v)
	case kindBool:
		d := arr.Data()
		hashBool(h, validity{bits: d.Buffers()[1].Bytes(), off: d.Offset()}, v)
	case kindBytes32:
		hashBytes(h, bytesView[int32](arr), v)
	case kindBytes64:
		hashBytes(h, bytesView[int64](arr), v)
	}
}

func hashSigned[T int8 | int16 | int32 | int64](h []uint64, vals []T, v validity) {
	h = h[:len(vals)]
	if v.bits == nil {
		for i, x := range vals {
			h[i] = mix(h[i], uint64(int64(x)))
		}
		return
	}
	for i, x := range vals {
		c := uint64(nullValue)
		if v.valid(i) {
			c = uint64(int64(x))
		}
		h[i] = mix(h[i], c)
	}
}

func hashUnsigned[T uint8 | uint16 | uint32 | uint64](h []uint64, vals []T, v validity) {
	h = h[:len(vals)]
	if v.bits == nil {
		for i, x := range vals {
			h[i] = mix(h[i], uint64(x))
		}
		return
	}
	for i, x := range vals {
		c := uint64(nullValue)
		if v.valid(i) {
			c = uint64(x)
		}
		h[i] = mix(h[i], c)
	}
}

func hashFloat[T float32 | float64](h []uint64, vals []T, v validity) {
	h = h[:len(vals)]
	for i, x := range vals {
		c := uint64(nullValue)
		if v.bits == nil || v.valid(i) {
			c = canonFloat(float64(x))
		}
		h[i] = mix(h[i], c)
	}
}

// hashBool hashes a boolean column whose values bitmap is bits.
func hashBool(h []uint64, bits validity, v validity) {
	for i := range h {
		c := uint64(nullValue)
		if v.bits == nil || v.valid(i) {
			c = 0
			if bits.valid(i) {
				c = 1
			}
		}
		h[i] = mix(h[i], c)
	}
}

func hashBytes[O int32 | int64](h []uint64, col bytesColumn[O], v validity) {
	for i := range h {
		c := uint64(nullValue)
		if v.bits == nil || v.valid(i) {
			c = xxh3.Hash(col.at(i))
		}
		h[i] = mix(h[i], c)
	}
}
