package formats

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/io/storage"
)

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// Compressed CSV, JSON lines and text files read as their plain
// selves, each by one reader (not split), the compression named by the
// last extension.
func TestCompressedTextFiles(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // the decoders start no goroutine that outlives a read
	var csvText, jsonText, lines strings.Builder
	csvText.WriteString("id,name,at\n")
	for i := range 5000 {
		fmt.Fprintf(&csvText, "%d,%s,2024-01-%02d\n", i, strings.Repeat("x", i%7), 1+i%28)
		fmt.Fprintf(&jsonText, `{"id": %d, "name": "n%d"}`+"\n", i, i)
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	for _, c := range []struct {
		r     Reader
		name  string
		plain string
	}{
		{CSV(CSVOptions{}), "t.csv", csvText.String()},
		{JSON(JSONOptions{}), "t.jsonl", jsonText.String()},
		{Text(), "t.txt", lines.String()},
	} {
		want := tfMustRead(t, c.r, tfFile(t, c.name, c.plain), tfAll)
		for ext, data := range map[string][]byte{".gz": gzipBytes(t, []byte(c.plain)), ".zst": zstdBytes(t, []byte(c.plain))} {
			got := tfMustRead(t, c.r, tfFile(t, c.name+ext, string(data)), tfAll)
			if got.meta.Splittable {
				t.Errorf("%s%s: splittable", c.name, ext)
			}
			if !got.meta.Schema.Equal(want.meta.Schema) {
				t.Errorf("%s%s: schema %s, want %s", c.name, ext, got.meta.Schema, want.meta.Schema)
			}
			tfEqual(t, c.name+ext, got.rows, want.rows)
		}
	}

	// bzip2 (the standard library reads it, but cannot write it: the file
	// was made by the bzip2 program).
	f, err := storage.Local{}.Open(context.Background(), filepath.Join("testdata", "compressed", "small.csv.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := tfMustRead(t, CSV(CSVOptions{}), f, tfAll)
	tfEqual(t, "bzip2", res.rows, []blocks.Item{{"id": int64(1), "name": "ada"}, {"id": int64(2), "name": "grace, h"}, {"id": int64(3), "name": nil}})
}

// A truncated or corrupt compressed file fails naming the file and the
// compression; nothing panics.
func TestCompressedTextErrors(t *testing.T) {
	var plain strings.Builder
	plain.WriteString("a,b\n")
	for i := range 20000 {
		fmt.Fprintf(&plain, "%d,%d\n", i, i*i)
	}
	gz := gzipBytes(t, []byte(plain.String()))
	for _, c := range []struct {
		name, data, want string
	}{
		{"cut.csv.gz", string(gz[:len(gz)/2]), "the gzip data is truncated or corrupt"},
		{"plain.csv.gz", plain.String(), "not a gzip file"},
		{"bad.csv.zst", "not zstd at all, just text\n", "the zstd data is truncated or corrupt"},
		{"cut.jsonl.gz", string(gzipBytes(t, []byte(`{"a": 1}`+"\n"+`{"a": 2}`+"\n"))[:20]), "gzip"},
	} {
		var r Reader = CSV(CSVOptions{})
		if strings.Contains(c.name, "json") {
			r = JSON(JSONOptions{})
		}
		_, err := tfRead(t, r, tfFile(t, c.name, c.data), tfAll)
		if err == nil || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", c.name, err, c.want)
		}
	}
}

// Listing a directory keeps trips.csv.gz among the CSV files; the format
// of a compressed file is named by the extension before the compression's.
func TestCompressedExtensions(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"a.csv": "x\n1\n", "b.csv.gz": string(gzipBytes(t, []byte("x\n2\n"))), "README.md": "# notes"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	infos := []storage.FileInfo{{Path: dir + "/a.csv"}, {Path: dir + "/b.csv.gz"}, {Path: dir + "/README.md"}}
	kept, err := keepExtensions(CSV(CSVOptions{}), dir, dir, infos)
	if err != nil || len(kept) != 2 || kept[1].Path != dir+"/b.csv.gz" {
		t.Fatalf("kept %v, %v", kept, err)
	}
	for in, want := range map[string]string{"trips.csv.gz": ".csv", "E.JSONL.ZST": ".jsonl", "a.csv": ".csv", "dir/": "", "x.tar.bz2": ".tar", "log.txt.gzip": ".txt"} {
		if got := FormatExt(in); got != want {
			t.Errorf("FormatExt(%q) = %q, want %q", in, got, want)
		}
	}
}

// Writes compress when asked: the files are named .csv.gz / .jsonl.zst and
// read back (by name) as what was written; an unknown codec is refused.
func TestCompressedWrites(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // the encoders start no goroutine that outlives a write
	var plain strings.Builder
	plain.WriteString("id,name\n")
	for i := range 3000 {
		fmt.Fprintf(&plain, "%d,n%d\n", i, i%7)
	}
	want := tfMustRead(t, CSV(CSVOptions{}), tfFile(t, "w.csv", plain.String()), tfAll)
	for _, c := range []struct {
		enc Encoder
		r   Reader
		ext string
	}{
		{CSV(CSVOptions{Compression: "gzip"}), CSV(CSVOptions{}), ".csv.gz"},
		{CSV(CSVOptions{Compression: "zstd"}), CSV(CSVOptions{}), ".csv.zst"},
		{JSON(JSONOptions{Compression: "gzip"}), JSON(JSONOptions{}), ".jsonl.gz"},
		{JSON(JSONOptions{Compression: "zstd"}), JSON(JSONOptions{}), ".jsonl.zst"},
	} {
		if c.enc.Ext() != c.ext {
			t.Errorf("Ext %q, want %q", c.enc.Ext(), c.ext)
		}
		rec, err := blocks.FromItemsWithSchema(memory.NewGoAllocator(), want.meta.Schema, want.rows)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := c.enc.Encode(context.Background(), &buf, rec.Schema(), []arrow.RecordBatch{rec}); err != nil {
			t.Fatalf("%s: %v", c.ext, err)
		}
		rec.Release()
		if textCompression("x"+c.ext) == "gzip" && !bytes.HasPrefix(buf.Bytes(), []byte{0x1f, 0x8b}) {
			t.Errorf("%s: not gzip data", c.ext)
		}
		got := tfMustRead(t, c.r, tfFile(t, "w"+c.ext, buf.String()), tfAll)
		tfEqual(t, c.ext, got.rows, want.rows)
	}
	for _, err := range []error{CSV(CSVOptions{Compression: "lzma"}).err, JSON(JSONOptions{Compression: "rar"}).err} {
		if err == nil || !strings.Contains(err.Error(), "unknown compression") {
			t.Errorf("unknown codec: %v", err)
		}
	}
}
