package formats

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/s2"
	"github.com/pierrec/lz4/v4"
)

// Two codec gaps of arrow-go v18.8.0, carried here by registering codecs
// with compress.RegisterCodec (process-wide: any arrow-go Parquet reader
// in the program gains them, which only turns errors into reads).
//
//   - The deprecated LZ4 codec id (not LZ4_RAW) has no codec, so files
//     written with it by Hadoop-based writers and by old parquet-cpp fail
//     with "compression for LZ4 unimplemented". Two layouts exist under
//     that id: Hadoop's, a sequence of frames each prefixed by its
//     decompressed and compressed sizes (4 bytes big-endian each), and a
//     bare LZ4 block. As Arrow C++ does, a page is tried as Hadoop frames
//     first and read as a bare block when the frames do not add up.
//     Writing with the LZ4 id uses Hadoop's layout, which every reader
//     accepts.
//   - A DataPageV2 whose values are all null has a zero-byte compressed
//     body; arrow-go hands it to the codec, and snappy rejects an empty
//     input ("s2: corrupt input"). Pages carry their own is-compressed
//     flag in V2, but the writers that produce these set it anyway. An
//     empty input now decodes to an empty output for snappy.
//
// And one choice: arrow-go's snappy encoder is klauspost's "better" mode,
// which took 10% of a CSV → Parquet conversion's CPU; Shoal writes
// snappy with the standard mode (s2.EncodeSnappy), as Google's snappy,
// DuckDB and Polars do: about twice as fast, files a few percent larger.

func init() {
	compress.RegisterCodec(compress.Codecs.Lz4, lz4HadoopCodec{})
	if base, err := compress.GetCodec(compress.Codecs.Snappy); err == nil {
		compress.RegisterCodec(compress.Codecs.Snappy, snappyCodec{base})
	}
}

// lz4HadoopCodec reads and writes the deprecated LZ4 codec id.
type lz4HadoopCodec struct{}

const lz4HadoopHeader = 8 // decompressed size, compressed size: uint32 big-endian each

func (c lz4HadoopCodec) Encode(dst, src []byte) []byte {
	bound := c.CompressBound(int64(len(src)))
	if int64(cap(dst)) < bound {
		dst = make([]byte, bound)
	}
	dst = dst[:bound]
	var comp lz4.Compressor
	n, err := comp.CompressBlock(src, dst[lz4HadoopHeader:])
	if err != nil {
		panic(fmt.Errorf("parquet: lz4 (hadoop) encode: %w", err)) // the bound makes this unreachable
	}
	if n == 0 && len(src) > 0 { // incompressible: lz4 says so with 0
		panic(errors.New("parquet: lz4 (hadoop) encode: incompressible input over the bound"))
	}
	binary.BigEndian.PutUint32(dst, uint32(len(src)))
	binary.BigEndian.PutUint32(dst[4:], uint32(n))
	return dst[:lz4HadoopHeader+n]
}

func (c lz4HadoopCodec) EncodeLevel(dst, src []byte, _ int) []byte { return c.Encode(dst, src) }

func (lz4HadoopCodec) CompressBound(n int64) int64 {
	return int64(lz4.CompressBlockBound(int(n))) + lz4HadoopHeader
}

func (c lz4HadoopCodec) Decode(dst, src []byte) []byte {
	out, err := c.DecodeWithError(dst, src)
	if err != nil {
		panic(err)
	}
	return out
}

// DecodeWithError decodes src into dst, which the page reader sizes to the
// page's decompressed length.
func (lz4HadoopCodec) DecodeWithError(dst, src []byte) ([]byte, error) {
	if out, ok := decodeLZ4Hadoop(dst, src); ok {
		return out, nil
	}
	n, err := lz4.UncompressBlock(src, dst)
	if err != nil {
		return nil, fmt.Errorf("lz4: neither Hadoop frames nor a raw block: %w", err)
	}
	return dst[:n], nil
}

// decodeLZ4Hadoop decodes Hadoop's frames, or says they do not fit: a
// frame running past the input or the output, or decompressing to other
// than its stated size.
func decodeLZ4Hadoop(dst, src []byte) ([]byte, bool) {
	out := 0
	for len(src) > 0 {
		if len(src) < lz4HadoopHeader {
			return nil, false
		}
		want := int(binary.BigEndian.Uint32(src))
		size := int(binary.BigEndian.Uint32(src[4:]))
		src = src[lz4HadoopHeader:]
		if size > len(src) || want > len(dst)-out {
			return nil, false
		}
		n, err := lz4.UncompressBlock(src[:size], dst[out:out+want])
		if err != nil || n != want {
			return nil, false
		}
		out += n
		src = src[size:]
	}
	return dst[:out], true
}

// snappyCodec is arrow-go's snappy codec with an empty input decoding to
// an empty output and the standard (faster) encoder. It need not stream:
// arrow-go streams pages only for codecs with spec-compliant streams, and
// snappy's block framing is not one.
type snappyCodec struct{ compress.Codec }

func (c snappyCodec) Encode(dst, src []byte) []byte { return s2.EncodeSnappy(dst, src) }

func (c snappyCodec) EncodeLevel(dst, src []byte, _ int) []byte { return s2.EncodeSnappy(dst, src) }

func (c snappyCodec) Decode(dst, src []byte) []byte {
	if len(src) == 0 {
		return dst[:0]
	}
	return c.Codec.Decode(dst, src)
}

func (c snappyCodec) DecodeWithError(dst, src []byte) ([]byte, error) {
	if len(src) == 0 {
		return dst[:0], nil
	}
	return compress.Decode(c.Codec, dst, src)
}
