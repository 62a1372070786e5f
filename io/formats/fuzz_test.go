package formats

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/io/storage"
)

// The fuzz targets' seeds run in every `go test`; fuzz them with e.g.
//
//	go test -run XXX -fuzz FuzzCSVRead -fuzztime 3m ./io/formats/

// fuzzCSVSeeds are tricky CSV inputs; the csv-spectrum files are added too.
var fuzzCSVSeeds = []string{
	"a,b\n1,2\n",
	"a,b\n\"x\"\"y\",2\n",
	"a,b\n1,\"x\ny\"\n",
	"a,b\r\n1,\"x\r\ny\"\r\n",
	"a\n\"unterminated",
	"a,b\n\"x\"y,2\n",
	"a,b\nx\"y,2\n",
	"\xEF\xBB\xBFa,b\n1,2",
	"\xEF\xBB\xBF\xEF\xBB\xBFa\n1",
	"a\n\xff\xfe\n\"\xc3\"\n",
	"a,a,,b,a_1\n1,2,3,4,5\n",
	"#c\na;b\n1;2\n#x;y\n",
	"a\n1\n1.5\nNaN\n-Inf\n+Inf\n1e400\n",
	"a\n007\n-0\n+5\n0x1p3\n1_000\n",
	"d,t\n2024-01-01,2024-01-01T00:00:00Z\n2024-02-30,2024-01-01T00:00:00.123456789+05:30\n",
	"b\ntrue\nFALSE\n1\n",
	"a\n\"\"\n\n,\n",
	"a\nNULL\n\"NULL\"\n",
	"\r\n\r\n",
	"a\r",
	"a\n\"x\"\r",
	"a,b\n1\n1,2,3\n",
	"a\n\\.\n",
	"a;b\n\" x \";\"\t\"\n",
	"a\n" + strings.Repeat("x", 20_000) + "\n",
	"a\n\"" + strings.Repeat("y\"\"\r\n", 4_000) + "\"\n",
}

var fuzzJSONSeeds = []string{
	`{"a":1}` + "\n" + `{"a":2.5}`,
	`{"a":1,"b":"x","c":true,"d":null,"e":[1,2],"f":{"g":1}}`,
	`{"a":null}` + "\n" + `{"a":1}`,
	`{"a":1}` + "\n" + `{"a":"x"}` + "\n" + `{"a":{"b":1}}`,
	`{"a":"\u00e9\ud83d\ude00\ud800x\"\\\/\b\f\n\r\t"}`,
	`{"a":[{"b":[1,2]},{"c":null},null]}`,
	`{"":1,"a b":"x","\u0000":2}`,
	`{"a":1e400}`,
	`{"a":18446744073709551616}`,
	`{"a":-0,"b":0.0,"c":1E+2,"d":-1.5e-3}`,
	"\n  \r\n" + `{"a":1}` + "\r\n\n",
	`[1]`,
	`1`,
	`{`,
	`{"a":}`,
	`{"a":1,}`,
	`{"a":1}{"b":2}`,
	`{"a":1,"a":2}`,
	`{"a":"` + "\xff\xfe" + `"}`,
	`{"a":"` + "\x01" + `"}`,
	`{"a":` + strings.Repeat("[", 1200) + strings.Repeat("]", 1200) + `}`,
	`{"a":"` + strings.Repeat("z", 20_000) + `"}`,
	`{"a":[]}` + "\n" + `{"a":[[]]}` + "\n" + `{"a":[["x"]]}`,
	`{"a":{}}` + "\n" + `{"a":{"b":{}}}`,
	`{"a":true}` + "\n" + `{"a":1}`,
}

func fuzzSpectrumSeeds(f *testing.F, add func([]byte)) {
	paths, _ := filepath.Glob(filepath.Join(csvSpectrumDir, "csvs", "*.csv"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			add(b)
		}
	}
}

// fuzzNoInternalError fails on an error that came from a recovered panic.
func fuzzNoInternalError(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "internal error while reading") {
		t.Fatal(err)
	}
}

// fuzzRead reads f fully with a checked allocator and checks the blocks:
// at most batch rows each, one schema, columns as long as the block. The
// returned blocks are the caller's to release.
func fuzzRead(t *testing.T, r Reader, f storage.File, meta *FileMeta, mem memory.Allocator, req ReadRequest) ([]arrow.RecordBatch, int64, error) {
	t.Helper()
	req.Alloc = mem
	var recs []arrow.RecordBatch
	var rows int64
	err := r.Read(context.Background(), f, meta, req, func(rec arrow.RecordBatch) error {
		if rec.NumRows() <= 0 || req.BatchRows > 0 && rec.NumRows() > int64(req.BatchRows) {
			t.Errorf("block of %d rows (batch %d)", rec.NumRows(), req.BatchRows)
		}
		if len(recs) > 0 && !recs[0].Schema().Equal(rec.Schema()) {
			t.Errorf("schemas differ: %s, %s", recs[0].Schema(), rec.Schema())
		}
		for i, c := range rec.Columns() {
			if int64(c.Len()) != rec.NumRows() {
				t.Errorf("column of %d values in a block of %d rows", c.Len(), rec.NumRows())
			}
			if isArrowString(c.DataType()) {
				for k := range c.Len() {
					if c.IsValid(k) && !utf8.ValidString(c.ValueStr(k)) {
						t.Errorf("string column %q holds invalid UTF-8: %q", rec.ColumnName(i), c.ValueStr(k))
						break
					}
				}
			}
		}
		rows += rec.NumRows()
		recs = append(recs, rec)
		return nil
	})
	fuzzNoInternalError(t, err)
	if err != nil {
		for _, rec := range recs {
			rec.Release()
		}
		return nil, 0, err
	}
	return recs, rows, nil
}

func fuzzRelease(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// fuzzRoundTrip encodes recs, reads the result back with their schema and
// encodes again: both encodings must be the same bytes.
func fuzzRoundTrip(t *testing.T, r Reader, e Encoder, recs []arrow.RecordBatch, rows int64, mem memory.Allocator) {
	t.Helper()
	if len(recs) == 0 {
		return
	}
	schema := recs[0].Schema()
	var enc1 bytes.Buffer
	if err := e.Encode(context.Background(), &enc1, schema, recs); err != nil {
		t.Fatalf("encode: %v", err)
	}
	f := tfMem("roundtrip", enc1.Bytes())
	meta, err := r.Inspect(context.Background(), f)
	if err != nil {
		t.Fatalf("inspect of the encoding: %v\n%q", err, enc1.Bytes())
	}
	back, n, err := fuzzRead(t, r, f, meta, mem, ReadRequest{Schema: schema, Limit: -1, BatchRows: 7})
	if err != nil {
		t.Fatalf("read of the encoding: %v\n%q", err, enc1.Bytes())
	}
	defer fuzzRelease(back)
	if n != rows {
		t.Fatalf("read back %d rows of %d\n%q", n, rows, enc1.Bytes())
	}
	if !back[0].Schema().Equal(schema) {
		t.Fatalf("read back schema %s, want %s", back[0].Schema(), schema)
	}
	var enc2 bytes.Buffer
	if err := e.Encode(context.Background(), &enc2, schema, back); err != nil {
		t.Fatalf("encode again: %v", err)
	}
	if !bytes.Equal(enc1.Bytes(), enc2.Bytes()) {
		t.Fatalf("round trip differs:\n%q\n%q", enc1.Bytes(), enc2.Bytes())
	}
}

// fuzzReadChecks inspects and reads data with r, checks row counts against
// a count-only read and a limited read, and round-trips what it read
// through enc (which reads with rt).
func fuzzReadChecks(t *testing.T, r Reader, data []byte, skipBad bool, rt Reader, enc Encoder) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f := tfMem("fuzz", data)
	meta, err := r.Inspect(context.Background(), f)
	fuzzNoInternalError(t, err)
	if err != nil {
		return
	}
	if meta.Schema == nil {
		t.Fatal("nil schema")
	}
	recs, rows, err := fuzzRead(t, r, f, meta, mem, ReadRequest{BatchRows: 3, Limit: -1})
	counted, crows, cerr := fuzzRead(t, r, f, meta, mem, ReadRequest{Columns: []string{}, Limit: -1})
	fuzzRelease(counted)
	if err != nil {
		if skipBad && cerr == nil {
			t.Fatalf("full read failed (%v), count-only read did not", err)
		}
		return
	}
	defer fuzzRelease(recs)
	if cerr != nil || crows != rows {
		t.Fatalf("count-only read: %d rows (%v), full read %d", crows, cerr, rows)
	}
	if rows > 0 {
		lim := rows / 2
		limited, lrows, err := fuzzRead(t, r, f, meta, mem, ReadRequest{BatchRows: 2, Limit: lim})
		fuzzRelease(limited)
		if err != nil || lrows != lim {
			t.Fatalf("limit %d: %d rows, %v", lim, lrows, err)
		}
	}
	fuzzRoundTrip(t, rt, enc, recs, rows, mem)
}

func FuzzCSVRead(f *testing.F) {
	for _, s := range fuzzCSVSeeds {
		for _, flags := range []uint8{0, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff} {
			f.Add([]byte(s), flags)
		}
	}
	fuzzSpectrumSeeds(f, func(b []byte) { f.Add(b, uint8(0)); f.Add(b, uint8(0x44)) })
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		o := CSVOptions{
			NoHeader:    flags&0x01 != 0,
			LazyQuotes:  flags&0x02 != 0,
			SkipBadRows: flags&0x04 != 0,
			AllStrings:  flags&0x08 != 0,
		}
		if flags&0x10 != 0 {
			o.Delimiter = ';'
		}
		if flags&0x20 != 0 {
			o.Comment = '#'
		}
		if flags&0x80 != 0 {
			o.InferRows = 2
		}
		// Small read buffers keep runs fast and exercise lines longer
		// than the buffer.
		c := CSV(o)
		c.bufSize = 4096
		if flags&0x40 != 0 {
			c.bufSize = 16
		}
		w := CSV(CSVOptions{Delimiter: o.Delimiter, Comment: o.Comment})
		w.bufSize = 4096
		fuzzReadChecks(t, c, data, o.SkipBadRows, w, w)
		fuzzCSVAgainstStd(t, data, flags&0x40 != 0)
	})
}

// fuzzCSVAgainstStd reads data as text (every column a string, or binary
// where it is not UTF-8; no null values) and, when encoding/csv reads it
// too, requires the same header and rows, each of the header's width. The
// known differences: encoding/csv turns a CRLF inside a quoted field into
// LF, and refuses a quote inside an unquoted field, which Shoal reads as a
// literal.
func fuzzCSVAgainstStd(t *testing.T, data []byte, tinyBuf bool) {
	c := CSV(CSVOptions{AllStrings: true, NullValues: []string{}, InvalidUTF8: InvalidUTF8Binary, InferRows: -1})
	c.bufSize = 4096
	if tinyBuf {
		c.bufSize = 16
	}
	res, err := tfRead(t, c, tfMem("std.csv", data), tfAll)
	fuzzNoInternalError(t, err)
	std := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, utf8BOM)))
	recs, stdErr := std.ReadAll()
	if err != nil || stdErr != nil {
		return
	}
	if len(recs) == 0 {
		if res.meta.Schema.NumFields() != 0 || len(res.rows) != 0 {
			t.Fatalf("encoding/csv finds no records; Shoal reads %s with %d rows", res.meta.Schema, len(res.rows))
		}
		return
	}
	lf := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	header := make([]string, len(recs[0]))
	for i, h := range recs[0] {
		header[i] = string(appendValidUTF8(nil, []byte(h)))
	}
	names := csvColumnNames(header)
	got := tfFieldNames(res.meta.Schema)
	if len(got) != len(names) {
		t.Fatalf("header %q, encoding/csv %q", got, names)
	}
	for i := range got {
		// Names with a line break in them may be suffixed differently:
		// encoding/csv made "a\r\n" and "a\n" the same name.
		if lf(got[i]) != names[i] && !strings.Contains(names[i], "\n") {
			t.Fatalf("header %q, encoding/csv %q", got, names)
		}
	}
	if len(res.rows) != len(recs)-1 {
		t.Fatalf("%d rows, encoding/csv %d", len(res.rows), len(recs)-1)
	}
	for r, rec := range recs[1:] {
		if len(res.rows[r]) != len(names) {
			t.Fatalf("row %d: %d fields, the header %d", r, len(res.rows[r]), len(names))
		}
		for i, want := range rec {
			var got string
			switch v := res.rows[r][tfFieldNames(res.meta.Schema)[i]].(type) {
			case string:
				got = v
			case []byte:
				got = string(v)
			default:
				t.Fatalf("row %d column %q: %T %v", r, names[i], v, v)
			}
			if got = lf(got); got != want {
				t.Fatalf("row %d column %q: %q, encoding/csv %q", r, names[i], got, want)
			}
		}
	}
}

func FuzzJSONRead(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		for _, flags := range []uint8{0, 1, 2, 4, 7, 8, 15} {
			f.Add([]byte(s), flags)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		o := JSONOptions{SkipBadRows: flags&1 != 0}
		if flags&4 != 0 {
			o.InferRows = 1
		}
		if flags&8 != 0 {
			o.InvalidUTF8 = InvalidUTF8Replace
		}
		j := JSON(o)
		j.bufSize = 4096
		if flags&2 != 0 {
			j.bufSize = 16
		}
		// The scanner accepts exactly what encoding/json accepts (up to
		// its nesting limit).
		for _, line := range bytes.Split(data, []byte("\n")) {
			p := &jsonParser{lossy: true}
			p.reset(line)
			p.ws()
			err := p.skip()
			if err == nil {
				p.ws()
				if p.pos != len(line) {
					err = p.fail("trailing data")
				}
			}
			valid := json.Valid(line)
			if err == nil && !valid {
				t.Fatalf("scanner accepts invalid JSON %q", line)
			}
			if err != nil && valid && !strings.Contains(err.Error(), "nested too deeply") {
				t.Fatalf("scanner rejects valid JSON %q: %v", line, err)
			}
			// Strings decode as encoding/json decodes them.
			if err == nil && valid && len(line) > 0 {
				p.reset(line)
				p.ws()
				if p.peek() == '"' {
					s, _ := p.str()
					var want string
					if json.Unmarshal(line, &want) == nil && string(s) != want {
						t.Fatalf("string %q decodes as %q, encoding/json says %q", line, s, want)
					}
				}
			}
		}
		w := JSON(JSONOptions{})
		w.bufSize = 4096
		fuzzReadChecks(t, j, data, o.SkipBadRows, w, w)
	})
}

// FuzzCSVParser checks the CSV parser against encoding/csv: the same
// records and field line numbers, except that a CRLF inside a quoted field
// stays (encoding/csv makes it LF) and a quote inside an unquoted field is
// literal (encoding/csv's ErrBareQuote).
func FuzzCSVParser(f *testing.F) {
	for _, s := range fuzzCSVSeeds {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(7))
	}
	fuzzSpectrumSeeds(f, func(b []byte) { f.Add(b, uint8(0)) })
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		o := CSVOptions{LazyQuotes: flags&1 != 0}
		if flags&2 != 0 {
			o.Delimiter = ';'
		}
		if flags&4 != 0 {
			o.Comment = '#'
		}
		if flags&8 != 0 {
			o.Delimiter = '¦'
		}
		c := CSV(o)
		c.bufSize = 4096
		if flags&16 != 0 {
			c.bufSize = 16
		}
		p, _ := c.newParser(tfMem("x", data), 0, 0)
		std := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))))
		std.Comma = c.o.Delimiter
		std.Comment = o.Comment
		std.LazyQuotes = o.LazyQuotes
		std.FieldsPerRecord = -1
		for n := 0; ; n++ {
			err := p.next()
			rec, stdErr := std.Read()
			if errors.Is(stdErr, csv.ErrBareQuote) {
				return
			}
			if err == io.EOF || stdErr == io.EOF {
				if err != stdErr {
					t.Fatalf("record %d: end of input: ours %v, encoding/csv %v (%q)", n, err, stdErr, rec)
				}
				return
			}
			if (err != nil) != (stdErr != nil) {
				t.Fatalf("record %d: ours %v, encoding/csv %v", n, err, stdErr)
			}
			if err != nil {
				return
			}
			if p.nfields() != len(rec) {
				t.Fatalf("record %d: %d fields, encoding/csv %d: %q", n, p.nfields(), len(rec), rec)
			}
			for i := range rec {
				got := string(p.field(i))
				if p.quoted[i] {
					got = strings.ReplaceAll(got, "\r\n", "\n")
				}
				if got != rec[i] {
					t.Fatalf("record %d field %d: %q, encoding/csv %q", n, i, got, rec[i])
				}
				if line, _ := std.FieldPos(i); line != p.lines[i] {
					t.Fatalf("record %d field %d: line %d, encoding/csv %d", n, i, p.lines[i], line)
				}
			}
		}
	})
}
