package formats

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

const csvSpectrumDir = "../../../shared/testdata/csv-spectrum"

// csvSpectrumErrata lists values of csv-spectrum 2.0.0's expected JSON
// that contradict its own CSV files (upstream issue
// max-mapper/csv-spectrum#20: the phone number in
// location_coordinates.json is not the one in the CSV). Only these cells
// are corrected; every other expected value is used as it is.
var csvSpectrumErrata = map[string]map[string]string{
	"location_coordinates": {"Contact Phone Number": "2095257564"},
}

// csvSpectrumExpected reads json/<name>.json: an array of objects with
// string values, or (location_coordinates, upstream issue #22) one object.
func csvSpectrumExpected(t *testing.T, name string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(csvSpectrumDir, "json", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		var one map[string]string
		err = json.Unmarshal(b, &one)
		rows = []map[string]string{one}
	} else {
		err = json.Unmarshal(b, &rows)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		for k, v := range csvSpectrumErrata[name] {
			r[k] = v
		}
	}
	return rows
}

func csvStrings(t *testing.T, res tfResult) []map[string]string {
	t.Helper()
	out := []map[string]string{}
	for _, r := range res.rows {
		m := map[string]string{}
		for k, v := range r {
			s, ok := v.(string)
			if !ok {
				t.Fatalf("column %q: %#v is not a string", k, v)
			}
			m[k] = s
		}
		out = append(out, m)
	}
	return out
}

// TestCSVSpectrum reads every csv-spectrum case with AllStrings and
// compares the rows to the expected JSON.
//
// The checked-in *_crlf.csv files have LF line ends (the CRs were lost on
// the way into this repository, while their expected JSON keeps "\r\n"
// inside quoted values). So a *_crlf case is read twice: as it is, where
// the expected "\r\n" must read as the "\n" the file holds, and with
// every line end turned back into "\r\n", where the expected values must
// come out exactly (RFC 4180 keeps a CRLF inside a quoted field).
func TestCSVSpectrum(t *testing.T) {
	csvs, err := filepath.Glob(filepath.Join(csvSpectrumDir, "csvs", "*.csv"))
	if err != nil || len(csvs) == 0 {
		skipWithoutTestdata(t, fmt.Sprintf("csv-spectrum test data not found under %s", csvSpectrumDir))
	}
	c := CSV(CSVOptions{AllStrings: true})
	for _, path := range csvs {
		name := strings.TrimSuffix(filepath.Base(path), ".csv")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := csvSpectrumExpected(t, name)
			variants := map[string][]byte{"as-is": raw}
			if strings.HasSuffix(name, "_crlf") {
				variants["crlf"] = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
			}
			for variant, data := range variants {
				w := want
				if !bytes.Contains(data, []byte("\r")) {
					w = nil
					for _, r := range want {
						m := map[string]string{}
						for k, v := range r {
							m[k] = strings.ReplaceAll(v, "\r\n", "\n")
						}
						w = append(w, m)
					}
				}
				for _, bufSize := range []int{0, 16} {
					cc := *c
					cc.bufSize = bufSize
					res := tfMustRead(t, &cc, tfFile(t, name+".csv", string(data)), tfAll)
					got := csvStrings(t, res)
					tfEqual(t, variant+" rows", got, w)
					// Columns keep the header's order.
					header := strings.Split(strings.SplitN(string(raw), "\n", 2)[0], ",")
					tfEqual(t, variant+" columns", tfFieldNames(res.meta.Schema), header)
				}
			}
		})
	}
}

func TestCSVInference(t *testing.T) {
	in := "" +
		"i,f,b,d,ts,s,zip,n,hex,big,mixts\n" +
		"1,1,true,2024-01-02,2024-01-02T03:04:05Z,x,08123,,0x10,99999999999999999999,2024-01-02\n" +
		",2.5,False,,2024-01-02T03:04:05.123456+02:00,,00501,NULL,0x11,1,2024-01-02T00:00:00Z\n" +
		"-3,-1e3,TRUE,2023-12-31,,y,12345,,12,2,\n"
	res := tfMustRead(t, CSV(CSVOptions{}), tfFile(t, "x.csv", in), tfAll)
	wantTypes := map[string]arrow.DataType{
		"i": arrow.PrimitiveTypes.Int64, "f": arrow.PrimitiveTypes.Float64,
		"b": arrow.FixedWidthTypes.Boolean, "d": arrow.FixedWidthTypes.Date32,
		"ts": timestampUTCus, "s": arrow.BinaryTypes.String, "zip": arrow.BinaryTypes.String,
		"n": arrow.BinaryTypes.String, "hex": arrow.BinaryTypes.String,
		"big": arrow.PrimitiveTypes.Float64, "mixts": timestampUTCus,
	}
	for _, fld := range res.meta.Schema.Fields() {
		if !arrow.TypeEqual(fld.Type, wantTypes[fld.Name]) || !fld.Nullable {
			t.Errorf("column %s: %s (nullable %v), want %s", fld.Name, fld.Type, fld.Nullable, wantTypes[fld.Name])
		}
	}
	if res.meta.Rows != -1 || len(res.meta.Units) != 0 {
		t.Errorf("meta rows %d units %d", res.meta.Rows, len(res.meta.Units))
	}
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	day := func(s string) time.Time { return ts(s + "T00:00:00Z") }
	want := []blocks.Item{
		{"i": int64(1), "f": 1.0, "b": true, "d": day("2024-01-02"), "ts": ts("2024-01-02T03:04:05Z"), "s": "x", "zip": "08123", "n": nil, "hex": "0x10", "big": 1e20, "mixts": day("2024-01-02")},
		{"i": nil, "f": 2.5, "b": false, "d": nil, "ts": ts("2024-01-02T01:04:05.123456Z"), "s": nil, "zip": "00501", "n": nil, "hex": "0x11", "big": 1.0, "mixts": ts("2024-01-02T00:00:00Z")},
		{"i": int64(-3), "f": -1000.0, "b": true, "d": day("2023-12-31"), "ts": nil, "s": "y", "zip": "12345", "n": nil, "hex": "12", "big": 2.0, "mixts": nil},
	}
	tfEqual(t, "rows", res.rows, want)

	// InferRows bounds the sample: a later value that does not fit is an error.
	in = "a\n1\n2\nx\n"
	_, err := tfRead(t, CSV(CSVOptions{InferRows: 2}), tfFile(t, "late.csv", in), tfAll)
	if err == nil || !strings.Contains(err.Error(), `line 4, column "a": cannot parse "x" as int64`) {
		t.Errorf("late bad value: %v", err)
	}
	res = tfMustRead(t, CSV(CSVOptions{InferRows: -1}), tfFile(t, "late.csv", in), tfAll)
	tfEqual(t, "all rows sampled", res.meta.Schema.Field(0).Type, arrow.DataType(arrow.BinaryTypes.String))

	// AllStrings: no inference.
	res = tfMustRead(t, CSV(CSVOptions{AllStrings: true}), tfFile(t, "s.csv", "a,b\n1,true\n"), tfAll)
	tfEqual(t, "all strings", res.rows, []blocks.Item{{"a": "1", "b": "true"}})
}

func TestCSVForcedColumns(t *testing.T) {
	in := "id,score,when,day,flag,small\n" +
		"007,1,2024-01-02 03:04:05.5,2024-02-03,1,200\n" +
		"008,,2024-01-02T03:04:05+01:00,,f,\n"
	tsNS := &arrow.TimestampType{Unit: arrow.Nanosecond}
	c := CSV(CSVOptions{Columns: map[string]arrow.DataType{
		"id":    arrow.PrimitiveTypes.Int32,
		"score": arrow.PrimitiveTypes.Float32,
		"when":  tsNS,
		"day":   arrow.FixedWidthTypes.Date64,
		"flag":  arrow.FixedWidthTypes.Boolean,
		"small": arrow.PrimitiveTypes.Uint8,
		"gone":  arrow.PrimitiveTypes.Int8, // not in the file: ignored
	}})
	f := tfFile(t, "x.csv", in)
	res := tfMustRead(t, c, f, tfAll)
	tfEqual(t, "columns", tfFieldNames(res.meta.Schema), []string{"id", "score", "when", "day", "flag", "small"})
	tfEqual(t, "id type", res.schema.Field(0).Type, arrow.DataType(arrow.PrimitiveTypes.Int32))
	want := []blocks.Item{
		{"id": int64(7), "score": 1.0, "when": time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC), "day": time.Date(2024, 2, 3, 0, 0, 0, 0, time.UTC), "flag": true, "small": uint64(200)},
		{"id": int64(8), "score": nil, "when": time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC), "day": nil, "flag": false, "small": nil},
	}
	tfEqual(t, "rows", res.rows, want)

	// A forced type that does not fit is a row error.
	_, err := tfRead(t, c, tfFile(t, "y.csv", "id,small\n1,256\n"), tfAll)
	if err == nil || !strings.Contains(err.Error(), `y.csv line 2, column "small": cannot parse "256" as uint8`) {
		t.Errorf("overflow: %v", err)
	}
	// Unsupported forced types are refused up front.
	bad := CSV(CSVOptions{Columns: map[string]arrow.DataType{"id": arrow.ListOf(arrow.PrimitiveTypes.Int64)}})
	if _, err := bad.Inspect(context.Background(), f); err == nil || !strings.Contains(err.Error(), "list") {
		t.Errorf("unsupported forced type: %v", err)
	}
}

// TestCSVUnifiedSchema: the request schema's types win over the file's.
func TestCSVUnifiedSchema(t *testing.T) {
	f := tfFile(t, "x.csv", "a,b,c\n1,007,x\n2,8,y\n")
	res := tfMustRead(t, CSV(CSVOptions{}), f, tfAll)
	tfEqual(t, "file types", []arrow.DataType{res.meta.Schema.Field(0).Type, res.meta.Schema.Field(1).Type},
		[]arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String})
	unified := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "other", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "c", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	res = tfMustRead(t, CSV(CSVOptions{}), f, ReadRequest{Schema: unified, Limit: -1})
	tfEqual(t, "rows", res.rows, []blocks.Item{{"a": 1.0, "b": int64(7), "c": "x"}, {"a": 2.0, "b": int64(8), "c": "y"}})
	if !res.schema.Field(0).Equal(unified.Field(0)) {
		t.Errorf("field %v", res.schema.Field(0))
	}
	// A unified string type keeps the raw text.
	str := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	f = tfFile(t, "y.csv", "a\n1.50\n-0\n")
	res = tfMustRead(t, CSV(CSVOptions{}), f, ReadRequest{Schema: str, Limit: -1})
	tfEqual(t, "raw text", res.rows, []blocks.Item{{"a": "1.50"}, {"a": "-0"}})
}

func TestCSVNoHeaderAndNames(t *testing.T) {
	res := tfMustRead(t, CSV(CSVOptions{NoHeader: true}), tfFile(t, "x.csv", "1,a\n2,b\n"), tfAll)
	tfEqual(t, "names", tfFieldNames(res.meta.Schema), []string{"column0", "column1"})
	tfEqual(t, "rows", res.rows, []blocks.Item{{"column0": int64(1), "column1": "a"}, {"column0": int64(2), "column1": "b"}})

	// Empty and repeated header names.
	res = tfMustRead(t, CSV(CSVOptions{}), tfFile(t, "y.csv", "a,,a,a_1,a\n1,2,3,4,5\n"), tfAll)
	tfEqual(t, "mangled", tfFieldNames(res.meta.Schema), []string{"a", "column1", "a_2", "a_1", "a_3"})

	// Empty file and header only.
	res = tfMustRead(t, CSV(CSVOptions{}), tfFile(t, "e.csv", ""), tfAll)
	tfEqual(t, "empty file", res.meta.Schema.NumFields(), 0)
	tfEqual(t, "empty file rows", len(res.rows), 0)
	res = tfMustRead(t, CSV(CSVOptions{}), tfFile(t, "h.csv", "a,b\r\n"), tfAll)
	tfEqual(t, "header only", tfFieldNames(res.meta.Schema), []string{"a", "b"})
	tfEqual(t, "header only types", res.meta.Schema.Field(0).Type, arrow.DataType(arrow.BinaryTypes.String))
	tfEqual(t, "header only rows", len(res.rows), 0)
}

func TestCSVDelimiters(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delim rune
		in    string
	}{
		{"tab", '\t', "a\tb\n1\t\"x\ty\"\n"},
		{"semicolon", ';', "a;b\n1;\"x;y\"\n"},
		{"multibyte", '¦', "a¦b\n1¦\"x¦y\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := CSV(CSVOptions{Delimiter: tc.delim})
			res := tfMustRead(t, c, tfFile(t, "x.csv", tc.in), tfAll)
			want := "x" + string(tc.delim) + "y"
			tfEqual(t, "rows", res.rows, []blocks.Item{{"a": int64(1), "b": want}})
			// And back.
			var buf bytes.Buffer
			if err := c.Encode(context.Background(), &buf, res.schema, tfRecords(t, res.schema, res.rows)); err != nil {
				t.Fatal(err)
			}
			tfEqual(t, "encoded", buf.String(), tc.in)
		})
	}
	for _, d := range []rune{'"', '\n', '\r', utf8RuneError} {
		if _, err := CSV(CSVOptions{Delimiter: d}).Inspect(context.Background(), tfMem("x", nil)); err == nil {
			t.Errorf("delimiter %q accepted", d)
		}
	}
	if _, err := CSV(CSVOptions{Comment: ',', Delimiter: ','}).Inspect(context.Background(), tfMem("x", nil)); err == nil {
		t.Error("comment == delimiter accepted")
	}
}

const utf8RuneError = '\uFFFD'

// tfRecords builds one record of schema from items (for encoding tests).
func tfRecords(t testing.TB, schema *arrow.Schema, items []blocks.Item) []arrow.RecordBatch {
	t.Helper()
	rec, err := blocks.FromItemsWithSchema(memory.DefaultAllocator, schema, items)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Release)
	return []arrow.RecordBatch{rec}
}

func TestCSVNullValues(t *testing.T) {
	in := "s,i\n,\n\"\",\"\"\nNULL,NULL\n\"NULL\",\"NULL\"\nNA,NA\nx,1\n"
	res := tfMustRead(t, CSV(CSVOptions{AllStrings: true, Columns: map[string]arrow.DataType{"i": arrow.PrimitiveTypes.Int64}}),
		tfFile(t, "x.csv", strings.ReplaceAll(in, "NA,NA", "z,")), tfAll)
	tfEqual(t, "default nulls", res.rows, []blocks.Item{
		{"s": nil, "i": nil},
		{"s": "", "i": nil},
		{"s": nil, "i": nil},
		{"s": "NULL", "i": nil},
		{"s": "z", "i": nil},
		{"s": "x", "i": int64(1)},
	})
	c := CSV(CSVOptions{NullValues: []string{"NA"}, Columns: map[string]arrow.DataType{"s": arrow.BinaryTypes.String}})
	res = tfMustRead(t, c, tfFile(t, "x.csv", strings.ReplaceAll(in, "NULL", "7")), tfAll)
	tfEqual(t, "custom nulls", res.rows, []blocks.Item{
		{"s": "", "i": nil},
		{"s": "", "i": nil},
		{"s": "7", "i": int64(7)},
		{"s": "7", "i": int64(7)},
		{"s": nil, "i": nil},
		{"s": "x", "i": int64(1)},
	})
	c = CSV(CSVOptions{NullValues: []string{}, AllStrings: true})
	res = tfMustRead(t, c, tfFile(t, "x.csv", "s\n\"\"\nNULL\n"), tfAll)
	tfEqual(t, "no nulls", res.rows, []blocks.Item{{"s": ""}, {"s": "NULL"}})
}

func TestCSVProjection(t *testing.T) {
	f := tfFile(t, "x.csv", "a,b,c\n1,x,2.5\n2,y,3.5\n")
	res := tfMustRead(t, CSV(CSVOptions{}), f, ReadRequest{Columns: []string{"c", "missing", "a", "c"}, Limit: -1})
	tfEqual(t, "schema", tfFieldNames(res.schema), []string{"c", "a"})
	tfEqual(t, "rows", res.rows, []blocks.Item{{"c": 2.5, "a": int64(1)}, {"c": 3.5, "a": int64(2)}})
	res = tfMustRead(t, CSV(CSVOptions{}), f, ReadRequest{Columns: []string{}, Limit: -1})
	tfEqual(t, "count only", res.batches, []int64{2})
	tfEqual(t, "count only schema", res.schema.NumFields(), 0)
	// A value that does not parse in an unread column is not looked at.
	f = tfFile(t, "y.csv", "a,b\n1,2\nx,3\n")
	res = tfMustRead(t, CSV(CSVOptions{InferRows: 1}), f, ReadRequest{Columns: []string{"b"}, Limit: -1})
	tfEqual(t, "unread bad column", res.rows, []blocks.Item{{"b": int64(2)}, {"b": int64(3)}})
}

func TestCSVLimitAndBatchRows(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("n\n")
	for i := range 10 {
		sb.WriteString(string(rune('0'+i)) + "\n")
	}
	f := tfFile(t, "x.csv", sb.String())
	c := CSV(CSVOptions{})
	tfEqual(t, "batches", tfMustRead(t, c, f, ReadRequest{BatchRows: 3, Limit: -1}).batches, []int64{3, 3, 3, 1})
	tfEqual(t, "default batch", tfMustRead(t, c, f, tfAll).batches, []int64{10})
	res := tfMustRead(t, c, f, ReadRequest{BatchRows: 3, Limit: 5})
	tfEqual(t, "limit", res.batches, []int64{3, 2})
	tfEqual(t, "limit rows", res.rows[4], blocks.Item{"n": int64(4)})
	tfEqual(t, "limit 0", tfMustRead(t, c, f, ReadRequest{Limit: 0}).batches, []int64(nil))
	tfEqual(t, "limit 3 of 3", tfMustRead(t, c, f, ReadRequest{BatchRows: 3, Limit: 3}).batches, []int64{3})
}

func TestCSVBadRows(t *testing.T) {
	// Line numbers count physical lines: the quoted field on lines 3-4
	// spans two.
	head := "name,fare,n\n" +
		"a,1.5,1\n" +
		"\"multi\nline\",2,2\n" +
		"\n" + // blank: skipped, still a line
		"# not a comment by default,3,3\n"
	for _, tc := range []struct {
		name, bad string
		line      int
		column    string
		msg       string
	}{
		{"value", "b,abc,4\n", 7, "fare", `cannot parse "abc" as float64`},
		{"too few fields", "b,4\n", 7, "", "2 fields, the header has 3"},
		{"too many fields", "b,4,4,4\n", 7, "", "4 fields, the header has 3"},
		{"bad closing quote", "\"b\"x,4,4\n", 7, "", `extraneous or missing " in a quoted field`},
		{"unclosed quote", "b,4,\"4\nmore\n", 7, "", "quoted field not closed before the end of the file"},
		{"value on a later line of the row", "\"x\ny\",4,\n\"z\nw\",5,\"q\"\n", 10, "n", `cannot parse "q" as int64`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := CSV(CSVOptions{Columns: map[string]arrow.DataType{"fare": arrow.PrimitiveTypes.Float64, "n": arrow.PrimitiveTypes.Int64}})
			f := tfFile(t, "x.csv", head+tc.bad+"ok,5,5\n")
			_, err := tfRead(t, c, f, tfAll)
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RowError", err)
			}
			want := &RowError{File: f.Name(), Line: tc.line, Column: tc.column, Msg: tc.msg}
			tfEqual(t, "error", re, want)
			if tc.column != "" {
				tfEqual(t, "message", err.Error(), f.Name()+" line "+strconv.Itoa(tc.line)+`, column "`+tc.column+`": `+tc.msg)
			}

			// Skipped and counted instead.
			var n atomic.Int64
			c = CSV(CSVOptions{SkipBadRows: true, BadRows: &n, Columns: c.o.Columns})
			res := tfMustRead(t, c, f, tfAll)
			var names []string
			for _, r := range res.rows {
				names = append(names, r["name"].(string))
			}
			wantNames := []string{"a", "multi\nline", "# not a comment by default", "ok"}
			switch tc.name {
			case "unclosed quote":
				wantNames = wantNames[:3] // the open quote swallows the rest
			case "value on a later line of the row":
				wantNames = []string{"a", "multi\nline", "# not a comment by default", "x\ny", "ok"}
			}
			tfEqual(t, "kept rows", names, wantNames)
			if got := n.Load(); got < 1 {
				t.Errorf("bad rows counted %d", got)
			}
		})
	}
}

func TestCSVSkipBadRowsCounts(t *testing.T) {
	in := "a,b\n1,x\n2\nq,y\n3,z\n4,w,extra\n\"5\"x,v\n6,u\n"
	var n atomic.Int64
	c := CSV(CSVOptions{SkipBadRows: true, BadRows: &n, InferRows: 1})
	f := tfFile(t, "x.csv", in)
	res := tfMustRead(t, c, f, tfAll)
	tfEqual(t, "rows", res.rows, []blocks.Item{{"a": int64(1), "b": "x"}, {"a": int64(3), "b": "z"}, {"a": int64(6), "b": "u"}})
	tfEqual(t, "counted", n.Load(), int64(4))
	// The same rows survive whatever the projection.
	n.Store(0)
	res = tfMustRead(t, c, f, ReadRequest{Columns: []string{"b"}, Limit: -1})
	tfEqual(t, "projected rows", res.rows, []blocks.Item{{"b": "x"}, {"b": "z"}, {"b": "u"}})
	tfEqual(t, "projected counted", n.Load(), int64(4))
	// Limit counts kept rows.
	res = tfMustRead(t, c, f, ReadRequest{Limit: 2})
	tfEqual(t, "limited", len(res.rows), 2)

	// Without a header, bad records before the first good one are skipped
	// and counted too.
	n.Store(0)
	c = CSV(CSVOptions{NoHeader: true, SkipBadRows: true, BadRows: &n})
	res = tfMustRead(t, c, tfFile(t, "y.csv", "\"a\"x,1\n1,2\n3\n"), tfAll)
	tfEqual(t, "no header", res.rows, []blocks.Item{{"column0": int64(1), "column1": int64(2)}})
	tfEqual(t, "no header counted", n.Load(), int64(2))
}

func TestCSVCommentLazyQuotesBOM(t *testing.T) {
	in := "\xEF\xBB\xBFa,b\n# comment,with,fields\n1,x\n#2,y\n"
	res := tfMustRead(t, CSV(CSVOptions{Comment: '#'}), tfFile(t, "x.csv", in), tfAll)
	tfEqual(t, "bom and comments", tfFieldNames(res.meta.Schema), []string{"a", "b"})
	tfEqual(t, "rows", res.rows, []blocks.Item{{"a": int64(1), "b": "x"}})

	// A quote inside an unquoted field is always literal.
	res = tfMustRead(t, CSV(CSVOptions{}), tfFile(t, "q.csv", "a,b\nx\"y,12'3\"\n"), tfAll)
	tfEqual(t, "bare quotes", res.rows, []blocks.Item{{"a": `x"y`, "b": `12'3"`}})
	// A lone quote inside a quoted field needs LazyQuotes.
	in = "a,b\nx,\"q\"r\"\n"
	res = tfMustRead(t, CSV(CSVOptions{LazyQuotes: true}), tfFile(t, "y.csv", in), tfAll)
	tfEqual(t, "lazy quotes", res.rows, []blocks.Item{{"a": "x", "b": `q"r`}})
	if _, err := tfRead(t, CSV(CSVOptions{}), tfFile(t, "y.csv", in), tfAll); err == nil {
		t.Error("lone quote in a quoted field accepted without LazyQuotes")
	}
}

func TestCSVLongFields(t *testing.T) {
	long := strings.Repeat("abc,\"\r\n", 400_000) // 2.8 MB, over the read buffer
	quoted := `"` + strings.ReplaceAll(long, `"`, `""`) + `"`
	in := "a,b\n" + quoted + ",1\nx," + strings.Repeat("9", 10) + "\n"
	for _, bufSize := range []int{0, 16, 4096} {
		c := CSV(CSVOptions{})
		c.bufSize = bufSize
		res := tfMustRead(t, c, tfFile(t, "x.csv", in), tfAll)
		if len(res.rows) != 2 || res.rows[0]["a"] != long || res.rows[1]["b"] != int64(9999999999) {
			t.Fatalf("buffer %d: %d rows", bufSize, len(res.rows))
		}
	}
}

func TestCSVEmitErrorAndCancel(t *testing.T) {
	f := tfFile(t, "x.csv", "a,b\n1,x\n2,y\n3,z\n")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	boom := errors.New("boom")
	c := CSV(CSVOptions{})
	meta, err := c.Inspect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = c.Read(context.Background(), f, meta, ReadRequest{Alloc: mem, BatchRows: 1, Limit: -1}, func(rec arrow.RecordBatch) error {
		rec.Release()
		n++
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("emit error: %v after %d", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = c.Read(ctx, f, nil, ReadRequest{Alloc: mem, Limit: -1}, func(rec arrow.RecordBatch) error {
		rec.Release()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	// An error mid-file releases the open batch.
	f = tfFile(t, "y.csv", "a\n1\n2\nx\n")
	err = CSV(CSVOptions{InferRows: 1}).Read(context.Background(), f, nil, ReadRequest{Alloc: mem, Limit: -1}, func(rec arrow.RecordBatch) error {
		rec.Release()
		return nil
	})
	if err == nil {
		t.Fatal("bad value accepted")
	}
}

// csvAllTypes is a record of every type CSV writes and reads back, with
// nulls and awkward strings.
func csvAllTypesSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
		{Name: "ts_us_utc", Type: timestampUTCus, Nullable: true},
		{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
		{Name: "ts_s_tz", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "America/New_York"}, Nullable: true},
		{Name: "with, comma", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
}

func csvAllTypesItems() []blocks.Item {
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC)
	return []blocks.Item{
		{"i64": int64(math.MinInt64), "i8": int8(-128), "u32": uint32(math.MaxUint32), "u64": uint64(math.MaxUint64),
			"f64": 0.1, "f32": float32(1.5), "b": true, "s": `say "hi", then
go`, "ls": "tab\there", "bin": []byte("\x00\xff,\""), "d32": time.Date(1969, 7, 20, 0, 0, 0, 0, time.UTC),
			"d64": time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), "ts_us_utc": ts, "ts_ns": time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			"ts_s_tz": time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC), "with, comma": "crlf\r\nkept"},
		{"i64": nil, "i8": nil, "u32": nil, "u64": nil, "f64": nil, "f32": nil, "b": nil, "s": nil, "ls": nil, "bin": nil,
			"d32": nil, "d64": nil, "ts_us_utc": nil, "ts_ns": nil, "ts_s_tz": nil, "with, comma": nil},
		{"i64": int64(math.MaxInt64), "i8": int8(127), "u32": uint32(0), "u64": uint64(0),
			"f64": 3.0, "f32": float32(-0.1), "b": false, "s": "", "ls": "NULL", "bin": []byte{}, "d32": time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
			"d64": time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC), "ts_us_utc": time.Unix(0, 0).UTC(), "ts_ns": time.Unix(0, 1).UTC(),
			"ts_s_tz": time.Unix(-1, 0).UTC(), "with, comma": " leading space"},
		{"i64": int64(0), "i8": int8(0), "u32": uint32(1), "u64": uint64(1), "f64": math.Inf(-1), "f32": float32(math.Inf(1)),
			"b": true, "s": `\.`, "ls": "#not a comment", "bin": []byte("x"), "d32": nil, "d64": nil, "ts_us_utc": nil, "ts_ns": nil,
			"ts_s_tz": nil, "with, comma": "\"quoted\""},
		{"i64": int64(-1), "f64": 1e300, "f32": float32(3.4e38), "s": "ünïcödé 𝄞", "ls": "\r", "with, comma": "a\rb"},
	}
}

func TestCSVRoundTrip(t *testing.T) {
	schema := csvAllTypesSchema()
	items := csvAllTypesItems()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in, err := blocks.FromItemsWithSchema(mem, schema, items)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	// Two blocks, one sliced, to check offsets are honored.
	recs := []arrow.RecordBatch{in.NewSlice(0, 2), in.NewSlice(2, in.NumRows())}
	defer recs[0].Release()
	defer recs[1].Release()
	c := CSV(CSVOptions{Comment: '#'})
	var buf bytes.Buffer
	if err := c.Encode(context.Background(), &buf, schema, recs); err != nil {
		t.Fatal(err)
	}
	f := tfFile(t, "rt"+c.Ext(), buf.String())
	res := tfMustRead(t, c, f, ReadRequest{Schema: schema, Limit: -1})
	want := blocks.ToItems(in)
	if !res.schema.Equal(schema) {
		t.Errorf("schema\n got  %s\n want %s", res.schema, schema)
	}
	for i := range want {
		if i >= len(res.rows) {
			t.Fatalf("%d rows, want %d\n%s", len(res.rows), len(want), buf.String())
		}
		for k, v := range want[i] {
			if !tfSame(res.rows[i][k], v) {
				t.Errorf("row %d column %q: got %#v, want %#v", i, k, res.rows[i][k], v)
			}
		}
	}
	if len(res.rows) != len(want) {
		t.Errorf("%d rows, want %d", len(res.rows), len(want))
	}

	// Without the schema, inference gets the natural types back; the
	// binary column (invalid UTF-8) only with InvalidUTF8Binary.
	if _, err := tfRead(t, c, f, tfAll); err == nil || !strings.Contains(err.Error(), `column "bin": invalid UTF-8`) {
		t.Errorf("binary column read as utf8: %v", err)
	}
	res = tfMustRead(t, CSV(CSVOptions{Comment: '#', InvalidUTF8: InvalidUTF8Binary}), f, tfAll)
	for name, typ := range map[string]arrow.DataType{
		"i64": arrow.PrimitiveTypes.Int64, "f64": arrow.PrimitiveTypes.Float64, "b": arrow.FixedWidthTypes.Boolean,
		"d32": arrow.FixedWidthTypes.Date32, "ts_us_utc": timestampUTCus, "s": arrow.BinaryTypes.String,
		"bin": arrow.BinaryTypes.Binary,
	} {
		fld, _ := res.meta.Schema.FieldsByName(name)
		if len(fld) != 1 || !arrow.TypeEqual(fld[0].Type, typ) {
			t.Errorf("inferred %s: %v, want %s", name, fld, typ)
		}
	}

	// One column: a null must not become a blank (skipped) line.
	one := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	for _, opts := range []CSVOptions{{}, {NullValues: []string{""}}, {NullValues: []string{"NA"}}} {
		c := CSV(opts)
		buf.Reset()
		items := []blocks.Item{{"s": nil}, {"s": ""}, {"s": "NA"}, {"s": "NULL"}}
		if err := c.Encode(context.Background(), &buf, one, tfRecords(t, one, items)); err != nil {
			t.Fatal(err)
		}
		res := tfMustRead(t, c, tfFile(t, "one.csv", buf.String()), ReadRequest{Schema: one, Limit: -1})
		want := items
		if len(opts.NullValues) == 1 && opts.NullValues[0] == "" {
			want = []blocks.Item{{"s": ""}, {"s": ""}, {"s": "NA"}, {"s": "NULL"}} // no other way to write a lone null
		}
		tfEqual(t, "one column "+buf.String(), res.rows, want)
	}

	// Float16 and dictionaries are written as their values; nested types are refused.
	f16 := array.NewFloat16Builder(mem)
	f16.Append(float16.New(1.5))
	arr := f16.NewArray()
	f16.Release()
	s16 := arrow.NewSchema([]arrow.Field{{Name: "h", Type: arrow.FixedWidthTypes.Float16}}, nil)
	rec := array.NewRecordBatch(s16, []arrow.Array{arr}, 1)
	arr.Release()
	buf.Reset()
	if err := c.Encode(context.Background(), &buf, s16, []arrow.RecordBatch{rec}); err != nil || buf.String() != "h\n1.5\n" {
		t.Errorf("float16: %q %v", buf.String(), err)
	}
	rec.Release()
	nested := arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}}, nil)
	if err := c.Encode(context.Background(), &buf, nested, tfRecords(t, nested, []blocks.Item{{"l": []any{int64(1)}}})); err == nil {
		t.Error("list column written")
	}
}

// tfSame compares values, NaN equal to NaN.
func tfSame(a, b any) bool {
	if x, ok := a.(float64); ok {
		if y, ok := b.(float64); ok && math.IsNaN(x) && math.IsNaN(y) {
			return true
		}
	}
	return reflect.DeepEqual(a, b)
}

// benchRows makes n rows of mixed columns as CSV and as JSON lines.
func benchRows(n int) (csvData, jsonData []byte) {
	var c, j bytes.Buffer
	c.WriteString("id,price,name,ok,when\n")
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ts := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		price := strconv.FormatFloat(float64(i)*0.25, 'g', -1, 64)
		name := "name " + strconv.Itoa(i%1000)
		ok := strconv.FormatBool(i%3 == 0)
		c.WriteString(strconv.Itoa(i) + "," + price + ",\"" + name + "\"," + ok + "," + ts + "\n")
		j.WriteString(`{"id":` + strconv.Itoa(i) + `,"price":` + price + `,"name":"` + name + `","ok":` + ok + `,"when":"` + ts + `"}` + "\n")
	}
	return c.Bytes(), j.Bytes()
}

func benchRead(b *testing.B, r Reader, data []byte) {
	f := tfMem("bench", data)
	meta, err := r.Inspect(context.Background(), f)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		err := r.Read(context.Background(), f, meta, ReadRequest{Limit: -1}, func(rec arrow.RecordBatch) error {
			rec.Release()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCSVRead(b *testing.B) {
	data, _ := benchRows(200_000)
	benchRead(b, CSV(CSVOptions{}), data)
}

// BenchmarkCSVReadUnquoted is BenchmarkCSVRead without quotes in the
// file, the common case of numeric exports.
func BenchmarkCSVReadUnquoted(b *testing.B) {
	data, _ := benchRows(200_000)
	benchRead(b, CSV(CSVOptions{}), bytes.ReplaceAll(data, []byte(`"`), nil))
}

func BenchmarkJSONRead(b *testing.B) {
	_, data := benchRows(200_000)
	benchRead(b, JSON(JSONOptions{}), data)
}

// BenchmarkCSVEncodingCSV is a baseline: encoding/csv alone, no decoding.
func BenchmarkCSVEncodingCSV(b *testing.B) {
	data, _ := benchRows(200_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		r.ReuseRecord = true
		for {
			if _, err := r.Read(); err != nil {
				break
			}
		}
	}
}

func TestCSVTimestampText(t *testing.T) {
	for _, tc := range []struct {
		in            string
		strict, loose bool
		want          string // RFC 3339 in UTC when accepted
	}{
		{"2024-01-02T03:04:05Z", true, true, "2024-01-02T03:04:05Z"},
		{"2024-01-02T03:04:05.123456789+05:30", true, true, "2024-01-01T21:34:05.123456789Z"},
		{"2024-01-02T03:04:05.5-00:00", true, true, "2024-01-02T03:04:05.5Z"},
		{"2024-01-02 03:04:05", false, true, "2024-01-02T03:04:05Z"},
		{"2024-01-02t03:04:05z", false, true, "2024-01-02T03:04:05Z"},
		{"2024-01-02 03:04:05+01:00", false, true, "2024-01-02T02:04:05Z"},
		{"2024-01-02", false, true, "2024-01-02T00:00:00Z"},
		{"2024-01-02T3:04:05Z", false, false, ""},
		{"0000-01-01T0:00:00+00:10", false, false, ""},
		{"0000-01-01T00:00:00+00:10", false, false, ""}, // year -1 in UTC
		{"9999-12-31T23:59:59-01:00", false, false, ""}, // year 10000 in UTC
		{"2024-01-02T03:04:05.1234567890Z", false, false, ""},
		{"2024-01-02T03:04:05.Z", false, false, ""},
		{"2024-02-30T00:00:00Z", false, false, ""},
		{"2024-01-02T24:00:00Z", false, false, ""},
		{"2024-01-02T03:04:05+0100", false, false, ""},
		{"2024-01-02T03:04:05 Z", false, false, ""},
	} {
		for _, strict := range []bool{true, false} {
			got, ok := parseTimestampText(tc.in, strict)
			want := tc.loose
			if strict {
				want = tc.strict
			}
			if ok != want || ok && got.UTC().Format(time.RFC3339Nano) != tc.want {
				t.Errorf("%q strict=%v: %v %v, want %v %s", tc.in, strict, got, ok, want, tc.want)
			}
		}
	}
}

// TestCSVInfersISOTimestamps: ISO 8601 timestamps with 'T' or a space,
// with or without fractional seconds, infer as timestamp[us] without a
// zone (wall-clock time, as DuckDB's TIMESTAMP) when no value has a zone,
// as timestamp[us, UTC] when every value has one, and as strings when
// the two mix.
func TestCSVInfersISOTimestamps(t *testing.T) {
	in := "" +
		"space,tfrac,zoned,mixed,datets,nots\n" +
		"2024-01-05 13:22:10,2024-01-05T13:22:10.5,2024-01-05 13:22:10Z,2024-01-05 13:22:10,2024-01-05,2024-01-05 13:22\n" +
		"2023-12-31 23:59:59,2023-12-31T23:59:59.123456,2023-12-31T23:59:59+01:00,2023-12-31 23:59:59Z,2023-12-31 01:02:03.25,x\n" +
		",,,,,\n"
	res := tfMustRead(t, CSV(CSVOptions{}), tfFile(t, "ts.csv", in), tfAll)
	wantTypes := map[string]arrow.DataType{
		"space": timestampNaiveUs, "tfrac": timestampNaiveUs, "zoned": timestampUTCus,
		"mixed": arrow.BinaryTypes.String, "datets": timestampNaiveUs, "nots": arrow.BinaryTypes.String,
	}
	for _, fld := range res.meta.Schema.Fields() {
		if !arrow.TypeEqual(fld.Type, wantTypes[fld.Name]) {
			t.Errorf("column %s: %s, want %s", fld.Name, fld.Type, wantTypes[fld.Name])
		}
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	want := []blocks.Item{
		{"space": at("2024-01-05T13:22:10Z"), "tfrac": at("2024-01-05T13:22:10.5Z"), "zoned": at("2024-01-05T13:22:10Z"),
			"mixed": "2024-01-05 13:22:10", "datets": at("2024-01-05T00:00:00Z"), "nots": "2024-01-05 13:22"},
		{"space": at("2023-12-31T23:59:59Z"), "tfrac": at("2023-12-31T23:59:59.123456Z"), "zoned": at("2023-12-31T22:59:59Z"),
			"mixed": "2023-12-31 23:59:59Z", "datets": at("2023-12-31T01:02:03.25Z"), "nots": "x"},
		{"space": nil, "tfrac": nil, "zoned": nil, "mixed": nil, "datets": nil, "nots": nil},
	}
	tfEqual(t, "rows", res.rows, want)
}
