package formats

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/pierrec/lz4/v4"
)

// TestParquetLegacyLZ4Files: the files written with the deprecated LZ4
// codec id, in Hadoop's framing and as a bare block, read to the values
// parquet-testing's README gives for them.
func TestParquetLegacyLZ4Files(t *testing.T) {
	dir := pqTestingPath(t, "data")
	for _, name := range []string{"hadoop_lz4_compressed.parquet", "non_hadoop_lz4_compressed.parquet"} {
		f := pqOpen(t, dir+"/"+name)
		mem := pqCheckedAlloc()
		_, recs, err := pqInspectRead(context.Background(), Parquet(ParquetOptions{}), f, mem, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, r := range recs {
			for i := range int(r.NumRows()) {
				got = append(got, fmt.Sprintf("%v|%s|%v", r.Column(0).(*array.Int64).Value(i), r.Column(1).(*array.Binary).Value(i), r.Column(2).(*array.Float64).Value(i)))
			}
		}
		pqRelease(recs)
		mem.AssertSize(t, 0)
		want := "[1593604800|abc|42 1593604800|def|7.7 1593604801|abc|42.125 1593604801|def|7.7]"
		if fmt.Sprint(got) != want {
			t.Errorf("%s: %v, want %s", name, got, want)
		}
	}
	f := pqOpen(t, dir+"/hadoop_lz4_compressed_larger.parquet")
	_, recs, err := pqInspectRead(context.Background(), Parquet(ParquetOptions{}), f, pqCheckedAlloc(), 0)
	defer pqRelease(recs)
	if err != nil || pqRows(recs) != 10000 {
		t.Fatalf("larger: %d rows, %v", pqRows(recs), err)
	}
	if first := recs[0].Column(0).(*array.String).Value(0); first != "c7ce6bef-d5b0-4863-b199-8ea8c7fb117b" {
		t.Errorf("larger: first value %q", first)
	}
}

// TestLZ4HadoopCodec: what the codec writes it reads back; several Hadoop
// frames concatenate; a bare block reads through the fallback; damaged
// input is an error, not a panic.
func TestLZ4HadoopCodec(t *testing.T) {
	codec, err := compress.GetCodec(compress.Codecs.Lz4)
	if err != nil {
		t.Fatal(err)
	}
	src := bytes.Repeat([]byte("shoal parquet lz4 "), 5000)
	enc := codec.Encode(nil, src)
	if len(enc) >= len(src) {
		t.Fatalf("encoded %d bytes from %d", len(enc), len(src))
	}
	dst := make([]byte, len(src))
	if out, err := compress.Decode(codec, dst, enc); err != nil || !bytes.Equal(out, src) {
		t.Fatalf("round trip: %v", err)
	}

	// Two frames, as Hadoop writes a page larger than its block size.
	half := len(src) / 2
	two := append(codec.Encode(nil, src[:half]), codec.Encode(nil, src[half:])...)
	if out, err := compress.Decode(codec, make([]byte, len(src)), two); err != nil || !bytes.Equal(out, src) {
		t.Fatalf("two frames: %v", err)
	}

	// A bare block.
	raw := make([]byte, lz4.CompressBlockBound(len(src)))
	var c lz4.Compressor
	n, err := c.CompressBlock(src, raw)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := compress.Decode(codec, make([]byte, len(src)), raw[:n]); err != nil || !bytes.Equal(out, src) {
		t.Fatalf("bare block: %v", err)
	}

	// A frame whose sizes lie, and garbage.
	bad := append([]byte(nil), enc...)
	binary.BigEndian.PutUint32(bad, uint32(len(src)+100))
	for _, in := range [][]byte{bad, []byte("not lz4 at all, not at all")} {
		if _, err := compress.Decode(codec, make([]byte, len(src)), in); err == nil {
			t.Errorf("damaged input %q... decoded without error", in[:8])
		}
	}
}

// TestSnappyEmptyPage: an empty snappy input (a DataPageV2 of nulls)
// decodes to nothing; other input decodes as before.
func TestSnappyEmptyPage(t *testing.T) {
	codec, err := compress.GetCodec(compress.Codecs.Snappy)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := compress.Decode(codec, make([]byte, 8), nil); err != nil || len(out) != 0 {
		t.Errorf("empty input: %d bytes, %v", len(out), err)
	}
	src := []byte("snappy still works")
	if out, err := compress.Decode(codec, make([]byte, len(src)), codec.Encode(nil, src)); err != nil || !bytes.Equal(out, src) {
		t.Errorf("round trip: %q, %v", out, err)
	}
	f := pqOpen(t, pqTestingPath(t, "data")+"/datapage_v2_empty_datapage.snappy.parquet")
	_, recs, err := pqInspectRead(context.Background(), Parquet(ParquetOptions{}), f, pqCheckedAlloc(), 0)
	defer pqRelease(recs)
	if err != nil || pqRows(recs) != 1 || recs[0].Column(0).IsValid(0) {
		t.Fatalf("empty data page file: %d rows, %v; want one null", pqRows(recs), err)
	}
}
