package formats

import (
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
)

// utf8Rows reads a CSV, JSON lines or text file and returns its rows, or
// the error.
func utf8Rows(t *testing.T, r Reader, name, content string, req ReadRequest) ([]blocks.Item, *arrow.Schema, error) {
	t.Helper()
	res, err := tfRead(t, r, tfFile(t, name, content), req)
	if err != nil {
		return nil, nil, err
	}
	return res.rows, res.meta.Schema, nil
}

func wantRowError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}

func TestCSVInvalidUTF8(t *testing.T) {
	// Row 3 starts on line 4 (line 3 holds a quoted field across two lines).
	in := "id,name,note\n1,ok,\"two\nlines\"\n2,b\xffd,x\n3,fine,y\n"

	// By default: an error naming the file, line and column.
	_, _, err := utf8Rows(t, CSV(CSVOptions{}), "bad.csv", in, tfAll)
	wantRowError(t, err, `bad.csv line 4, column "name": invalid UTF-8 at byte 2 of "b\xffd"`)
	var re *RowError
	if !errors.As(err, &re) || re.Line != 4 || re.Column != "name" {
		t.Fatalf("error %#v, want a RowError at line 4, column name", err)
	}
	// A projection without the column does not look at it.
	rows, _, err := utf8Rows(t, CSV(CSVOptions{}), "bad.csv", in, ReadRequest{Columns: []string{"id"}, Limit: -1})
	if err != nil || len(rows) != 3 {
		t.Fatalf("projected away: %v rows, %v", rows, err)
	}

	// Replace: each bad byte becomes U+FFFD.
	rows, sc, err := utf8Rows(t, CSV(CSVOptions{InvalidUTF8: InvalidUTF8Replace}), "bad.csv", in, tfAll)
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[1]["name"]; got != "b\uFFFDd" || sc.Field(1).Type.ID() != arrow.STRING {
		t.Fatalf("replaced: %q in a %s column", got, sc.Field(1).Type)
	}

	// Binary: inference makes the column binary, bytes as they are.
	rows, sc, err = utf8Rows(t, CSV(CSVOptions{InvalidUTF8: InvalidUTF8Binary}), "bad.csv", in, tfAll)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Field(1).Type.ID() != arrow.BINARY || sc.Field(2).Type.ID() != arrow.STRING || string(rows[1]["name"].([]byte)) != "b\xffd" {
		t.Fatalf("binary: schema %s, value %q", sc, rows[1]["name"])
	}
	// ... AllStrings too; but a bad value after the sample is an error.
	if _, sc, err = utf8Rows(t, CSV(CSVOptions{InvalidUTF8: InvalidUTF8Binary, AllStrings: true}), "bad.csv", in, tfAll); err != nil || sc.Field(1).Type.ID() != arrow.BINARY {
		t.Fatalf("binary, all strings: %v, %v", sc, err)
	}
	_, _, err = utf8Rows(t, CSV(CSVOptions{InvalidUTF8: InvalidUTF8Binary, InferRows: 1}), "bad.csv", in, tfAll)
	wantRowError(t, err, `line 4, column "name": invalid UTF-8 at byte 2 of "b\xffd": the column holds only valid UTF-8 in the rows sampled for inference (1): raise InferRows`)

	// SkipBadRows: the row is skipped and counted.
	var n atomic.Int64
	rows, _, err = utf8Rows(t, CSV(CSVOptions{SkipBadRows: true, BadRows: &n}), "bad.csv", in, tfAll)
	if err != nil || len(rows) != 2 || n.Load() != 1 || rows[1]["id"] != int64(3) {
		t.Fatalf("skip bad rows: %v (%d skipped), %v", rows, n.Load(), err)
	}

	// Values that are invalid alone though their bytes end to end are
	// valid ("\xc3" then "\xa9" make "é"): the bulk check must not miss them.
	_, _, err = utf8Rows(t, CSV(CSVOptions{}), "split.csv", "a\n\xc3\n\xa9\n", tfAll)
	wantRowError(t, err, `split.csv line 2, column "a": invalid UTF-8 at byte 1 of "\xc3"`)
	rows, _, err = utf8Rows(t, CSV(CSVOptions{}), "ok.csv", "a,b\né,ü𝄞\n", tfAll)
	if err != nil || rows[0]["a"] != "é" || rows[0]["b"] != "ü𝄞" {
		t.Fatalf("valid UTF-8: %v, %v", rows, err)
	}

	// A header name is checked too.
	_, _, err = utf8Rows(t, CSV(CSVOptions{}), "head.csv", "a,b\xff\n1,2\n", tfAll)
	wantRowError(t, err, `head.csv line 1, column "column1": header name "b\xff" is not valid UTF-8`)
	_, sc, err = utf8Rows(t, CSV(CSVOptions{InvalidUTF8: InvalidUTF8Replace}), "head.csv", "a,b\xff\n1,2\n", tfAll)
	if err != nil || sc.Field(1).Name != "b\uFFFD" {
		t.Fatalf("replaced header: %v, %v", sc, err)
	}
}

func TestTextInvalidUTF8(t *testing.T) {
	in := "one\ntwo \xfe\xff\nthree\n"
	_, _, err := utf8Rows(t, Text(), "t.txt", in, tfAll)
	wantRowError(t, err, `t.txt line 2, column "text": invalid UTF-8 at byte 5 of "two \xfe\xff"`)

	rows, _, err := utf8Rows(t, TextWith(TextOptions{InvalidUTF8: InvalidUTF8Replace}), "t.txt", in, tfAll)
	if err != nil || rows[1]["text"] != "two \uFFFD\uFFFD" {
		t.Fatalf("replace: %v, %v", rows, err)
	}
	rows, sc, err := utf8Rows(t, TextWith(TextOptions{InvalidUTF8: InvalidUTF8Binary}), "t.txt", in, tfAll)
	if err != nil || sc.Field(0).Type.ID() != arrow.BINARY || string(rows[1]["text"].([]byte)) != "two \xfe\xff" {
		t.Fatalf("binary: %s %v, %v", sc, rows, err)
	}
}

func TestJSONInvalidUTF8(t *testing.T) {
	in := `{"a": 1, "s": "x"}` + "\n" + `{"a": 2, "s": {"k": "\u00e9 ` + "\xff" + `"}}` + "\n"
	// Inspect samples the line and fails there; with InferRows 1 Read
	// meets it, in a utf8 column that keeps the object as its JSON text.
	for _, o := range []JSONOptions{{}, {InferRows: 1}} {
		_, _, err := utf8Rows(t, JSON(o), "j.jsonl", in, tfAll)
		wantRowError(t, err, `j.jsonl line 2, column "s": invalid UTF-8 at byte 29 of the line`)
	}
	rows, _, err := utf8Rows(t, JSON(JSONOptions{InferRows: 1, InvalidUTF8: InvalidUTF8Replace}), "j.jsonl", in, tfAll)
	if err != nil || rows[1]["s"] != `{"k": "\u00e9 `+"\uFFFD"+`"}` {
		t.Fatalf("replace: %v, %v", rows, err)
	}

	var n atomic.Int64
	rows, _, err = utf8Rows(t, JSON(JSONOptions{InferRows: 1, SkipBadRows: true, BadRows: &n}), "j.jsonl", in, tfAll)
	if err != nil || len(rows) != 1 || n.Load() != 1 {
		t.Fatalf("skip bad rows: %v (%d skipped), %v", rows, n.Load(), err)
	}

	_, _, err = utf8Rows(t, JSON(JSONOptions{InvalidUTF8: InvalidUTF8Binary}), "j.jsonl", in, tfAll)
	wantRowError(t, err, "json: InvalidUTF8 binary is not supported")
}

func TestInvalidUTF8Text(t *testing.T) {
	for _, m := range []InvalidUTF8{InvalidUTF8Error, InvalidUTF8Replace, InvalidUTF8Binary} {
		b, err := json.Marshal(CSVOptions{InvalidUTF8: m})
		if err != nil {
			t.Fatal(err)
		}
		var back CSVOptions
		if err := json.Unmarshal(b, &back); err != nil || back.InvalidUTF8 != m {
			t.Fatalf("%s: %s read back as %v, %v", m, b, back.InvalidUTF8, err)
		}
		if !strings.Contains(string(b), `"InvalidUTF8":"`+m.String()+`"`) {
			t.Errorf("%s marshals as %s", m, b)
		}
	}
	var m InvalidUTF8
	if err := m.UnmarshalText([]byte("lossy")); err == nil {
		t.Error("unknown mode accepted")
	}
}
