package formats

import (
	"context"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
)

// pqAppendPage appends a page header (Thrift compact, as the Parquet spec
// has it) and body to b; crc nil leaves the header without one. Fields the
// check skips (uncompressed_page_size and a data_page_header) are written
// too, so the skipping is exercised.
func pqAppendPage(t testing.TB, b []byte, pageType int32, body []byte, crc *uint32) []byte {
	t.Helper()
	buf := thrift.NewTMemoryBuffer()
	p := thrift.NewTCompactProtocolConf(buf, &thrift.TConfiguration{})
	ctx := context.Background()
	i32 := func(id int16, v int32) {
		_ = p.WriteFieldBegin(ctx, "", thrift.I32, id)
		_ = p.WriteI32(ctx, v)
		_ = p.WriteFieldEnd(ctx)
	}
	_ = p.WriteStructBegin(ctx, "PageHeader")
	i32(1, pageType)
	i32(2, int32(len(body)))
	i32(3, int32(len(body)))
	if crc != nil {
		i32(4, int32(*crc))
	}
	_ = p.WriteFieldBegin(ctx, "", thrift.STRUCT, 5)
	_ = p.WriteStructBegin(ctx, "DataPageHeader")
	i32(1, 10) // num_values
	i32(2, 0)  // encoding
	_ = p.WriteFieldStop(ctx)
	_ = p.WriteStructEnd(ctx)
	_ = p.WriteFieldEnd(ctx)
	_ = p.WriteFieldStop(ctx)
	_ = p.WriteStructEnd(ctx)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return append(append(b, buf.Bytes()...), body...)
}

func pqCRC(b []byte) *uint32 {
	c := crc32.ChecksumIEEE(b)
	return &c
}

// pqCheckChunk runs the page walk over an in-memory chunk at file offset 4.
func pqCheckChunk(chunk []byte) *ParquetChecksumError {
	src := func(at, size int64, _ []byte) ([]byte, error) { return chunk[at : at+size], nil }
	return pqCheckPages(src, pqChunk{rowGroup: 2, column: "a.b", length: int64(len(chunk))}, 4)
}

func TestParquetPageChecksums(t *testing.T) {
	dict, data := []byte("dictionary page"), []byte("data page bytes")
	var good []byte
	good = pqAppendPage(t, good, 2, dict, pqCRC(dict))
	good = pqAppendPage(t, good, 0, data, nil) // no CRC: not checked
	good = pqAppendPage(t, good, 3, data, pqCRC(data))
	if err := pqCheckChunk(good); err != nil {
		t.Fatalf("good chunk: %v", err)
	}

	// A flipped bit in the third page's body.
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0x10
	err := pqCheckChunk(bad)
	if err == nil {
		t.Fatal("corrupt page passed")
	}
	hdr1 := len(pqAppendPage(t, nil, 2, dict, pqCRC(dict)))
	hdr2 := len(pqAppendPage(t, nil, 0, data, nil))
	want := ParquetChecksumError{RowGroup: 2, Column: "a.b", Page: 2, PageType: "data page v2",
		Offset: int64(4 + hdr1 + hdr2), Want: *pqCRC(data)}
	want.Got = err.Got
	if *err != want || err.Got == err.Want {
		t.Fatalf("got %+v, want %+v", *err, want)
	}
	const msg = "row group 2, column a.b, page 2 (data page v2 at offset "
	if s := err.Error(); len(s) < len(msg) || s[:len(msg)] != msg {
		t.Fatalf("message %q", s)
	}

	// A page without a CRC may change without the walk noticing: the
	// check reports only mismatches.
	noCRC := append([]byte(nil), good...)
	noCRC[hdr1+hdr2-1] ^= 0x01
	if err := pqCheckChunk(noCRC); err != nil {
		t.Fatalf("page without crc: %v", err)
	}

	// Headers it cannot parse, and bodies past the chunk, end the walk
	// quietly: arrow-go reports those in its own words.
	for _, chunk := range [][]byte{good[:hdr1-3], good[:len(good)-2], {0xff, 0xff, 0xff}, nil} {
		if err := pqCheckChunk(chunk); err != nil {
			t.Errorf("%q: %v", chunk, err)
		}
	}
}

// BenchmarkParquetPageChecksums is the cost of the check on a chunk whose
// pages all carry a CRC: 1 MiB pages, as arrow-go and parquet-mr write.
func BenchmarkParquetPageChecksums(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var chunk []byte
	for range 16 {
		body := make([]byte, 1<<20)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		chunk = pqAppendPage(b, chunk, 0, body, pqCRC(body))
	}
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if err := pqCheckChunk(chunk); err != nil {
			b.Fatal(err)
		}
	}
}
