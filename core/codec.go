package core

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"math"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

// Values travel as blocks, so that the object store, its spilling and the
// cluster's transport carry them like any other block: one large-binary
// column holding the encoded value in rows of at most valueChunk bytes.
// []byte and string are stored as they are, bools and numbers as 8 bytes;
// every other type is encoded with encoding/gob, which takes any Go value
// built of exported fields, maps, slices and pointers without a schema to
// declare, and checks on decode that the type fits.

// Codec names, kept in the block's schema metadata.
const (
	codecRaw = "raw"
	codecGob = "gob"
	// codecNum is a bool or number (of any named type) as 8 bytes little
	// endian: a gob decoder costs microseconds to set up, which a call
	// taking and returning an int would mostly spend there.
	codecNum = "num"
)

var valueSchemas = map[string]*arrow.Schema{
	codecRaw: valueSchema(codecRaw),
	codecGob: valueSchema(codecGob),
	codecNum: valueSchema(codecNum),
}

func valueSchema(codec string) *arrow.Schema {
	md := arrow.NewMetadata([]string{"shoal.core.codec"}, []string{codec})
	return arrow.NewSchema([]arrow.Field{{Name: "value", Type: arrow.BinaryTypes.LargeBinary}}, &md)
}

var (
	bytesType  = reflect.TypeFor[[]byte]()
	stringType = reflect.TypeFor[string]()
)

// encodeValue encodes v, whose static type is t, into a block.
func encodeValue(v reflect.Value, t reflect.Type) (blocks.Block, error) {
	codec, data, err := encodeBytes(v, t)
	if err != nil {
		return nil, err
	}
	return valueBlock(codec, data), nil
}

// encodeBytes encodes v, whose static type is t, and names the codec.
func encodeBytes(v reflect.Value, t reflect.Type) (codec string, data []byte, err error) {
	codec = codecRaw
	switch t {
	case bytesType:
		data = bytes.Clone(v.Bytes()) // the caller may change its slice after
		if data == nil {
			data = []byte{}
		}
	case stringType:
		data = []byte(v.String())
	default:
		if num, ok := numBits(v); ok {
			return codecNum, binary.LittleEndian.AppendUint64(nil, num), nil
		}
		codec = codecGob
		data, err = gobEncode(v)
	}
	return codec, data, err
}

func gobEncode(v reflect.Value) ([]byte, error) {
	if v.Kind() == reflect.Struct && v.NumField() == 0 {
		return []byte{}, nil // gob refuses struct{}, which says nothing
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).EncodeValue(v); err != nil {
		return nil, fmt.Errorf("encoding a %v with encoding/gob: %w", v.Type(), err)
	}
	return buf.Bytes(), nil
}

// valueChunk is the most bytes of a value one row holds: a large value is
// cut into rows, so that the cluster's transport, which sends a block in
// slices of rows under its message bound, can carry it.
const valueChunk = 8 << 20

// valueBlock wraps data, without copying it, as a block of one row per
// valueChunk bytes (one row at least).
func valueBlock(codec string, data []byte) blocks.Block {
	rows := max((len(data)+valueChunk-1)/valueChunk, 1)
	offs := make([]int64, rows+1)
	for i := 1; i <= rows; i++ {
		offs[i] = int64(min(i*valueChunk, len(data)))
	}
	offsets := memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(offs))
	values := memory.NewBufferBytes(data)
	arr := array.NewLargeBinaryData(array.NewData(arrow.BinaryTypes.LargeBinary, rows, []*memory.Buffer{nil, offsets, values}, nil, 0, 0))
	defer arr.Release()
	return array.NewRecordBatch(valueSchemas[codec], []arrow.Array{arr}, int64(rows))
}

// decodeValue decodes b into a new value of type t. The value shares no
// memory with b.
func decodeValue(b blocks.Block, t reflect.Type) (reflect.Value, error) {
	col, ok := b.Column(0).(*array.LargeBinary)
	if b.NumCols() != 1 || b.NumRows() < 1 || !ok {
		return reflect.Value{}, fmt.Errorf("the object is a block of %d rows (%v), not a value", b.NumRows(), b.Schema())
	}
	codec, _ := b.Schema().Metadata().GetValue("shoal.core.codec")
	data := col.Value(0)
	if col.Len() > 1 {
		// The rows may come from several buffers (a block sent in slices
		// is put back together): join them.
		size := 0
		for i := range col.Len() {
			size += len(col.Value(i))
		}
		joined := make([]byte, 0, size)
		for i := range col.Len() {
			joined = append(joined, col.Value(i)...)
		}
		data = joined
		if codec == codecRaw {
			// The join is a copy already: hand it over as it is.
			return rawValue(data, t, false)
		}
	}
	return decodeBytes(codec, data, t)
}

// rawValue makes data, stored as it is, a value of type t, copying it
// unless owned.
func rawValue(data []byte, t reflect.Type, copyData bool) (reflect.Value, error) {
	out := reflect.New(t).Elem()
	switch t {
	case bytesType:
		if copyData {
			data = bytes.Clone(data)
		}
		out.SetBytes(data)
	case stringType:
		out.SetString(string(data))
	default:
		return reflect.Value{}, fmt.Errorf("the object holds raw bytes, which do not decode as a %v", t)
	}
	return out, nil
}

// decodeBytes decodes data, encoded with codec, into a new value of type
// t, sharing no memory with data.
func decodeBytes(codec string, data []byte, t reflect.Type) (reflect.Value, error) {
	out := reflect.New(t).Elem()
	switch {
	case codec == codecRaw && (t == bytesType || t == stringType):
		return rawValue(data, t, true)
	case codec == codecNum && len(data) == 8:
		if !setNumBits(out, binary.LittleEndian.Uint64(data)) {
			return reflect.Value{}, fmt.Errorf("the object holds a number, which does not decode as a %v", t)
		}
	case codec == codecGob && len(data) == 0 && t.Kind() == reflect.Struct && t.NumField() == 0:
	case codec == codecGob:
		if err := gob.NewDecoder(bytes.NewReader(data)).DecodeValue(out); err != nil {
			return reflect.Value{}, fmt.Errorf("decoding a %v with encoding/gob: %w", t, err)
		}
	default:
		return reflect.Value{}, fmt.Errorf("the object holds %s-encoded data, which does not decode as a %v", codec, t)
	}
	return out, nil
}

// numBits is v's bits when v is a bool or a number.
func numBits(v reflect.Value) (uint64, bool) {
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return 1, true
		}
		return 0, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return uint64(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint(), true
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(v.Float()), true
	}
	return 0, false
}

// setNumBits sets v, a bool or a number, from numBits' bits.
func setNumBits(v reflect.Value, bits uint64) bool {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(bits != 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(bits))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(bits)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(math.Float64frombits(bits))
	default:
		return false
	}
	return true
}
