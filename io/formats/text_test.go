package formats

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/io/storage"
)

// Helpers shared by the CSV, JSON, text and binary tests (prefix tf).

// tfMemFile is a storage.File over bytes in memory.
type tfMemFile struct {
	*bytes.Reader
	name string
}

func (f tfMemFile) Close() error { return nil }
func (f tfMemFile) Name() string { return f.name }

func tfMem(name string, b []byte) storage.File { return tfMemFile{bytes.NewReader(b), name} }

// tfFile writes content to a temporary file and opens it.
func tfFile(t testing.TB, name, content string) storage.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := storage.Local{}.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tfResult is what one Inspect + Read gave.
type tfResult struct {
	meta    *FileMeta
	schema  *arrow.Schema // the blocks' schema (nil: no blocks)
	rows    []blocks.Item
	batches []int64
}

// tfRead inspects and reads f with a checked allocator and checks that
// every block is well formed, all blocks share a schema, and nothing
// leaks. req.Alloc is replaced.
func tfRead(t testing.TB, r Reader, f storage.File, req ReadRequest) (tfResult, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	req.Alloc = mem
	var res tfResult
	meta, err := r.Inspect(context.Background(), f)
	if err != nil {
		return res, err
	}
	res.meta = meta
	err = r.Read(context.Background(), f, meta, req, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		if res.schema == nil {
			res.schema = rec.Schema()
		} else if !res.schema.Equal(rec.Schema()) {
			t.Errorf("block schemas differ: %s and %s", res.schema, rec.Schema())
		}
		for i, c := range rec.Columns() {
			if int64(c.Len()) != rec.NumRows() {
				t.Errorf("column %d has %d values in a block of %d rows", i, c.Len(), rec.NumRows())
			}
		}
		res.batches = append(res.batches, rec.NumRows())
		res.rows = append(res.rows, blocks.ToItems(rec)...)
		return nil
	})
	return res, err
}

// tfMustRead is tfRead failing the test on error.
func tfMustRead(t testing.TB, r Reader, f storage.File, req ReadRequest) tfResult {
	t.Helper()
	res, err := tfRead(t, r, f, req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var tfAll = ReadRequest{Limit: -1}

func tfFieldNames(s *arrow.Schema) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name)
	}
	return out
}

func tfEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

func tfTexts(res tfResult) []string {
	out := []string{}
	for _, r := range res.rows {
		out = append(out, r["text"].(string))
	}
	return out
}

func TestTextLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty", "", []string{}},
		{"lf", "a\nb\n", []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"no trailing newline", "a\nb", []string{"a", "b"}},
		{"crlf no trailing newline", "a\r\nb", []string{"a", "b"}},
		{"blank lines are rows", "\n\na\n\n", []string{"", "", "a", ""}},
		{"lone cr kept", "a\rb\n", []string{"a\rb"}},
		{"only newline", "\n", []string{""}},
		{"long line", "s\n" + long + "\ne", []string{"s", long, "e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tfFile(t, "x.txt", tc.in)
			res := tfMustRead(t, Text(), f, tfAll)
			got := tfTexts(res)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %d lines %.80q, want %d %.80q", len(got), got, len(tc.want), tc.want)
			}
			if res.meta.Rows != -1 || !res.meta.Schema.Equal(textSchema) {
				t.Errorf("meta %+v", res.meta)
			}
		})
	}
}

func TestTextBatchesLimitProjection(t *testing.T) {
	f := tfFile(t, "x.txt", "1\n2\n3\n4\n5\n6\n7")
	res := tfMustRead(t, Text(), f, ReadRequest{BatchRows: 3, Limit: -1})
	tfEqual(t, "batches", res.batches, []int64{3, 3, 1})
	res = tfMustRead(t, Text(), f, ReadRequest{BatchRows: 3, Limit: 4})
	tfEqual(t, "limited batches", res.batches, []int64{3, 1})
	tfEqual(t, "limited rows", tfTexts(res), []string{"1", "2", "3", "4"})
	res = tfMustRead(t, Text(), f, ReadRequest{Limit: 0})
	tfEqual(t, "limit 0", res.batches, []int64(nil))
	// No columns: blocks carry only row counts.
	res = tfMustRead(t, Text(), f, ReadRequest{Columns: []string{}, Limit: -1})
	tfEqual(t, "count only", res.batches, []int64{7})
	tfEqual(t, "count only schema", res.schema.NumFields(), 0)
	// Tiny buffers exercise lines longer than the buffer.
	tiny := &TextFormat{bufSize: 16}
	lines := []string{strings.Repeat("a", 40), "", strings.Repeat("b", 17)}
	f = tfFile(t, "y.txt", strings.Join(lines, "\r\n"))
	tfEqual(t, "tiny buffer", tfTexts(tfMustRead(t, tiny, f, tfAll)), lines)
}

func TestTextEmitError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f := tfFile(t, "x.txt", "a\nb\nc\n")
	boom := errors.New("boom")
	n := 0
	err := Text().Read(context.Background(), f, nil, ReadRequest{Alloc: mem, BatchRows: 1, Limit: -1}, func(rec arrow.RecordBatch) error {
		rec.Release()
		n++
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err %v after %d blocks", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Text().Read(ctx, f, nil, ReadRequest{Alloc: mem, Limit: -1}, func(rec arrow.RecordBatch) error {
		rec.Release()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled read: %v", err)
	}
}

// ---------------------------------------------------------------------------
// Binary
// ---------------------------------------------------------------------------

func TestBinaryFile(t *testing.T) {
	content := "\x00\x01binary\r\n\xff"
	f := tfFile(t, "blob.bin", content)
	res := tfMustRead(t, Binary(), f, tfAll)
	if res.meta.Rows != 1 || !res.meta.Schema.Equal(binarySchema) {
		t.Errorf("meta %+v", res.meta)
	}
	tfEqual(t, "rows", res.rows, []blocks.Item{{"path": f.Name(), "bytes": []byte(content)}})
	tfEqual(t, "schema", tfFieldNames(res.schema), []string{"path", "bytes"})

	// Only the path: the content is not read.
	res = tfMustRead(t, Binary(), &tfNoReadFile{f}, ReadRequest{Columns: []string{"path"}, Limit: -1})
	tfEqual(t, "path only", res.rows, []blocks.Item{{"path": f.Name()}})
	// Projection order follows the request.
	res = tfMustRead(t, Binary(), f, ReadRequest{Columns: []string{"bytes", "path", "nope"}, Limit: -1})
	tfEqual(t, "reordered", tfFieldNames(res.schema), []string{"bytes", "path"})
	res = tfMustRead(t, Binary(), f, ReadRequest{Limit: 0})
	tfEqual(t, "limit 0", res.batches, []int64(nil))

	empty := tfFile(t, "empty.bin", "")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	err := Binary().Read(context.Background(), empty, nil, ReadRequest{Alloc: mem, Limit: -1}, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		if rec.NumRows() != 1 || rec.Column(1).IsNull(0) || rec.Column(1).(*array.Binary).ValueLen(0) != 0 {
			t.Errorf("empty file: %v", rec)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mem.AssertSize(t, 0)

	// A file shorter than it says is an error naming it.
	short := tfMemFile{bytes.NewReader([]byte("abc")), "short.bin"}
	_, err = tfRead(t, Binary(), &tfLyingFile{short}, tfAll)
	if err == nil || !strings.Contains(err.Error(), "short.bin") {
		t.Errorf("short file: %v", err)
	}
}

// tfNoReadFile fails every read.
type tfNoReadFile struct{ storage.File }

func (f *tfNoReadFile) ReadAt(p []byte, off int64) (int, error) {
	return 0, errors.New("read not expected")
}

// tfLyingFile claims more bytes than it has.
type tfLyingFile struct{ tfMemFile }

func (f *tfLyingFile) Size() int64 { return f.tfMemFile.Size() + 10 }
