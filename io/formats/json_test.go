package formats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

func TestJSONInference(t *testing.T) {
	in := `{"id": 1, "score": 1, "name": "a", "ok": true, "tags": ["x"], "pos": {"x": 1, "y": 2.5}, "none": null, "mixed": 1}

{"id": 2, "score": 2.5, "tags": [], "pos": {"x": 2, "z": "new"}, "none": null, "mixed": "two", "late": [1, 2.5]}
  {"score": -1e2, "name": "c", "ok": false, "tags": null, "pos": null, "mixed": {"a": 1}, "late": [[1]]}
`
	res := tfMustRead(t, JSON(JSONOptions{}), tfFile(t, "x.jsonl", in), tfAll)
	want := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "pos", Type: arrow.StructOf(
			arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			arrow.Field{Name: "z", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
		{Name: "none", Type: arrow.Null, Nullable: true},
		{Name: "mixed", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "late", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
	if !res.meta.Schema.Equal(want) {
		t.Fatalf("schema\n got  %s\n want %s", res.meta.Schema, want)
	}
	if res.meta.Rows != -1 {
		t.Errorf("rows %d", res.meta.Rows)
	}
	tfEqual(t, "rows", res.rows, []blocks.Item{
		{"id": int64(1), "score": 1.0, "name": "a", "ok": true, "tags": []any{"x"},
			"pos": blocks.Item{"x": int64(1), "y": 2.5, "z": nil}, "none": nil, "mixed": "1", "late": nil},
		{"id": int64(2), "score": 2.5, "name": nil, "ok": nil, "tags": []any{},
			"pos": blocks.Item{"x": int64(2), "y": nil, "z": "new"}, "none": nil, "mixed": "two", "late": []any{"1", "2.5"}},
		{"id": nil, "score": -100.0, "name": "c", "ok": false, "tags": nil,
			"pos": nil, "none": nil, "mixed": `{"a": 1}`, "late": []any{"[1]"}},
	})

	// Integers too big for int64 are floats.
	res = tfMustRead(t, JSON(JSONOptions{}), tfFile(t, "big.jsonl", `{"a": 1}`+"\n"+`{"a": 18446744073709551616}`), tfAll)
	tfEqual(t, "big", res.rows, []blocks.Item{{"a": 1.0}, {"a": 1.8446744073709552e19}})
}

// ISO 8601 strings infer as dates and timestamps, as CSV fields do, at any
// depth; a column that mixes them with other text, or other kinds, stays a
// string.
func TestJSONInfersTimes(t *testing.T) {
	in := `{"d": "2024-01-05", "ts": "2024-01-05T13:22:10Z", "naive": "2024-01-05 13:22:10", "mix": "2024-01-05", "kinds": "2024-01-05", "nested": {"at": ["2024-01-05T01:02:03.5+02:00"]}}
{"d": null, "ts": "2024-01-06T00:00:00.123456+01:00", "naive": "2024-01-06T01:00:00.25", "mix": "soon", "kinds": 5, "nested": {"at": []}}
{"d": "2024-02-29", "ts": "2024-01-07", "naive": null, "mix": null, "kinds": null, "nested": null}
`
	res := tfMustRead(t, JSON(JSONOptions{}), tfFile(t, "t.jsonl", in), tfAll)
	want := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: timestampUTCus, Nullable: true},
		{Name: "naive", Type: timestampNaiveUs, Nullable: true},
		{Name: "mix", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "kinds", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "nested", Type: arrow.StructOf(arrow.Field{Name: "at", Type: arrow.ListOf(timestampUTCus), Nullable: true}), Nullable: true},
	}, nil)
	if !res.meta.Schema.Equal(want) {
		t.Fatalf("schema\n got  %s\n want %s", res.meta.Schema, want)
	}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	r := res.rows
	for _, c := range []struct {
		got  any
		want time.Time
	}{
		{r[0]["d"], day(2024, 1, 5)},
		{r[2]["d"], day(2024, 2, 29)},
		{r[0]["ts"], time.Date(2024, 1, 5, 13, 22, 10, 0, time.UTC)},
		{r[1]["ts"], time.Date(2024, 1, 5, 23, 0, 0, 123456000, time.UTC)},
		{r[2]["ts"], day(2024, 1, 7)},
		{r[0]["naive"], time.Date(2024, 1, 5, 13, 22, 10, 0, time.UTC)},
		{r[1]["naive"], time.Date(2024, 1, 6, 1, 0, 0, 250000000, time.UTC)},
		{r[0]["nested"].(blocks.Item)["at"].([]any)[0], time.Date(2024, 1, 4, 23, 2, 3, 500000000, time.UTC)},
	} {
		if tm, ok := c.got.(time.Time); !ok || !tm.Equal(c.want) {
			t.Errorf("got %v (%T), want %s", c.got, c.got, c.want)
		}
	}
	if r[0]["mix"] != "2024-01-05" || r[1]["mix"] != "soon" || r[0]["kinds"] != "2024-01-05" || r[1]["kinds"] != "5" {
		t.Errorf("mixed columns: %v", r)
	}
}

func TestJSONMissingKeysAndProjection(t *testing.T) {
	in := `{"a": 1, "b": "x"}` + "\n" + `{"b": "y"}` + "\n" + `{}` + "\r\n" + `{"a": 3}`
	f := tfFile(t, "x.json", in)
	res := tfMustRead(t, JSON(JSONOptions{}), f, tfAll)
	tfEqual(t, "rows", res.rows, []blocks.Item{{"a": int64(1), "b": "x"}, {"a": nil, "b": "y"}, {"a": nil, "b": nil}, {"a": int64(3), "b": nil}})
	res = tfMustRead(t, JSON(JSONOptions{}), f, ReadRequest{Columns: []string{"b", "zz"}, BatchRows: 3, Limit: -1})
	tfEqual(t, "projected", tfFieldNames(res.schema), []string{"b"})
	tfEqual(t, "batches", res.batches, []int64{3, 1})
	res = tfMustRead(t, JSON(JSONOptions{}), f, ReadRequest{BatchRows: 3, Limit: 2})
	tfEqual(t, "limit", res.batches, []int64{2})
	res = tfMustRead(t, JSON(JSONOptions{}), f, ReadRequest{Columns: []string{}, Limit: -1})
	tfEqual(t, "count only", res.batches, []int64{4})
	tfEqual(t, "limit 0", tfMustRead(t, JSON(JSONOptions{}), f, ReadRequest{}).batches, []int64(nil))

	// The unified schema's types win.
	unified := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
	res = tfMustRead(t, JSON(JSONOptions{}), f, ReadRequest{Schema: unified, Columns: []string{"a"}, Limit: -1})
	tfEqual(t, "unified", res.rows, []blocks.Item{{"a": 1.0}, {"a": nil}, {"a": nil}, {"a": 3.0}})

	// Empty and blank files.
	res = tfMustRead(t, JSON(JSONOptions{}), tfFile(t, "e.jsonl", "\n \r\n"), tfAll)
	tfEqual(t, "blank file", res.meta.Schema.NumFields(), 0)
	tfEqual(t, "blank file rows", len(res.rows), 0)
}

func TestJSONBadLines(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		opts     JSONOptions
		line     int
		column   string
		msg      string
	}{
		{"syntax", `{"a": 1}` + "\n\n" + `{"a": 2,}`, JSONOptions{}, 3, "", "invalid JSON at byte 9: unexpected character '}'"},
		{"not an object", `{"a": 1}` + "\n" + `[1]`, JSONOptions{}, 2, "", "invalid JSON at byte 1: a line must hold one JSON object"},
		{"two objects", `{"a": 1} {"a": 2}`, JSONOptions{}, 1, "", "invalid JSON at byte 10: unexpected data after the object"},
		{"pretty printed", "{\n\"a\": 1}", JSONOptions{}, 1, "", "invalid JSON at byte 3: unexpected end of line"},
		{"value after sample", `{"a": 1}` + "\n" + `{"a": 2}` + "\n" + `{"a": "x"}`, JSONOptions{InferRows: 2}, 3, "a", `cannot parse "x" as int64`},
		{"float in int column", `{"a": 1}` + "\n" + `{"a": 2.5}`, JSONOptions{InferRows: 1}, 2, "a", `cannot parse 2.5 as int64`},
		{"nested value", `{"s": {"t": [1]}}` + "\n" + `{"s": {"t": [1, true]}}`, JSONOptions{InferRows: 1}, 2, "s.t[]", `cannot parse true as int64`},
		{"late key", `{"a": 1}` + "\n" + `{"a": 2, "b": 3}`, JSONOptions{InferRows: 1}, 2, "b", "key is not in the schema inferred from the first 1 lines (raise InferRows, or list it in Columns)"},
		{"late nested key", `{"s": {"x": 1}}` + "\n" + `{"s": {"y": 3}}`, JSONOptions{InferRows: 1}, 2, "s.y", "key is not in the schema inferred from the first 1 lines (raise InferRows, or list it in Columns)"},
		{"null column gets a value", `{"a": null}` + "\n" + `{"a": 1}`, JSONOptions{InferRows: 1}, 2, "a", "cannot parse 1 as null (the key held only nulls where the schema was inferred: raise InferRows, or list it in Columns)"},
		{"duplicate key", `{"a": 1, "a": 2}`, JSONOptions{}, 1, "a", "duplicate key"},
		{"duplicate escaped nested key", `{"k\u00e9": {"\u0061": 1, "\u0061": 2}}`, JSONOptions{}, 1, "ké.a", "duplicate key"},
		{"bad escape", `{"a": "\x"}`, JSONOptions{}, 1, "", `invalid JSON at byte 8: invalid escape "\\x"`},
		{"control character", "{\"a\": \"\t\"}", JSONOptions{}, 1, "", "invalid JSON at byte 8: control character in a string"},
		{"bad number", `{"a": 01}`, JSONOptions{}, 1, "", "invalid JSON at byte 8: unexpected character '1'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tfFile(t, "x.jsonl", tc.in)
			_, err := tfRead(t, JSON(tc.opts), f, tfAll)
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RowError", err)
			}
			tfEqual(t, "error", re, &RowError{File: f.Name(), Line: tc.line, Column: tc.column, Msg: tc.msg})
			if !strings.HasPrefix(err.Error(), f.Name()+" line ") {
				t.Errorf("message %q", err)
			}
			// SkipBadRows: the line is skipped and counted.
			var n atomic.Int64
			o := tc.opts
			o.SkipBadRows, o.BadRows = true, &n
			if _, err := tfRead(t, JSON(o), f, tfAll); err != nil {
				t.Fatal(err)
			}
		})
	}

	var n atomic.Int64
	in := `{"a": 1}` + "\n" + `{"a": "x"}` + "\n" + `nope` + "\n" + `{"a": 3, "b": 1}` + "\n" + `{"a": 4}`
	o := JSONOptions{InferRows: 1, SkipBadRows: true, BadRows: &n}
	f := tfFile(t, "x.jsonl", in)
	res := tfMustRead(t, JSON(o), f, tfAll)
	tfEqual(t, "kept", res.rows, []blocks.Item{{"a": int64(1)}, {"a": int64(4)}})
	tfEqual(t, "counted", n.Load(), int64(3))
	// Declaring the late key in Columns makes the line good.
	n.Store(0)
	o.Columns = map[string]arrow.DataType{"b": arrow.PrimitiveTypes.Int64}
	res = tfMustRead(t, JSON(o), f, ReadRequest{Columns: []string{"b"}, Limit: -1})
	tfEqual(t, "declared", res.rows, []blocks.Item{{"b": nil}, {"b": int64(1)}, {"b": nil}})
	tfEqual(t, "counted", n.Load(), int64(2))
}

func TestJSONForcedColumns(t *testing.T) {
	in := `{"when": "2024-01-02T03:04:05.5Z", "day": "2024-02-29", "blob": "AAH/", "n": 7, "id": 12, "s": {"a": 1}}` + "\n" +
		`{"when": "2024-01-02 03:04:05", "day": null, "blob": "", "n": -1.5, "id": 13, "s": "x"}`
	o := JSONOptions{Columns: map[string]arrow.DataType{
		"when": &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
		"day":  arrow.FixedWidthTypes.Date32,
		"blob": arrow.BinaryTypes.Binary,
		"n":    arrow.PrimitiveTypes.Float32,
		"id":   arrow.PrimitiveTypes.Uint16,
		"s":    arrow.BinaryTypes.String,
	}}
	res := tfMustRead(t, JSON(o), tfFile(t, "x.jsonl", in), tfAll)
	tfEqual(t, "rows", res.rows, []blocks.Item{
		{"when": time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC), "day": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "blob": []byte{0, 1, 0xff}, "n": 7.0, "id": uint64(12), "s": `{"a": 1}`},
		{"when": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "day": nil, "blob": []byte{}, "n": -1.5, "id": uint64(13), "s": "x"},
	})
	_, err := tfRead(t, JSON(o), tfFile(t, "y.jsonl", `{"day": "2024-02-30"}`), tfAll)
	if err == nil || !strings.Contains(err.Error(), `column "day": cannot parse "2024-02-30" as date32`) {
		t.Errorf("bad date: %v", err)
	}
	_, err = tfRead(t, JSON(o), tfFile(t, "y.jsonl", `{"id": 65536}`), tfAll)
	if err == nil || !strings.Contains(err.Error(), `column "id": cannot parse 65536 as uint16`) {
		t.Errorf("overflow: %v", err)
	}
	bad := JSONOptions{Columns: map[string]arrow.DataType{"m": arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)}}
	if _, err := JSON(bad).Inspect(context.Background(), tfMem("m.jsonl", []byte(`{"m": {}}`))); err == nil {
		t.Error("unsupported forced type accepted")
	}
}

func TestJSONStrings(t *testing.T) {
	in := `{"s": "plain"}
{"s": "esc \" \\ \/ \b \f \n \r \t \u00e9 \ud834\udd1e"}
{"s": "lone \ud800 surrogate \udc00 x"}
{"s": "bad utf8 ` + "\xff\xfe" + ` end"}
{"s": "utf8 ü 𝄞"}
`
	// Invalid UTF-8 is an error naming the line and key, unless replaced.
	_, err := tfRead(t, JSON(JSONOptions{}), tfFile(t, "x.jsonl", in), tfAll)
	if err == nil || !strings.Contains(err.Error(), `x.jsonl line 4, column "s": invalid UTF-8 at byte 17 of the line`) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	replace := JSONOptions{InvalidUTF8: InvalidUTF8Replace}
	res := tfMustRead(t, JSON(replace), tfFile(t, "x.jsonl", in), tfAll)
	tfEqual(t, "rows", res.rows, []blocks.Item{
		{"s": "plain"},
		{"s": "esc \" \\ / \b \f \n \r \t é 𝄞"},
		{"s": "lone \uFFFD surrogate \uFFFD x"},
		{"s": "bad utf8 \uFFFD\uFFFD end"},
		{"s": "utf8 ü 𝄞"},
	})
	// A string column keeps other values as their JSON text, with invalid
	// UTF-8 in it replaced too.
	res3 := tfMustRead(t, JSON(replace), tfFile(t, "raw.jsonl", `{"s": "x"}`+"\n"+`{"s": {"k`+"\xff"+`": [1, "\u00e9"]}}`), tfAll)
	tfEqual(t, "raw text", res3.rows, []blocks.Item{{"s": "x"}, {"s": `{"k` + "\uFFFD" + `": [1, "\u00e9"]}`}})
	// Tiny buffers: lines longer than the buffer.
	j := JSON(replace)
	j.bufSize = 16
	res2 := tfMustRead(t, j, tfFile(t, "x.jsonl", in), tfAll)
	tfEqual(t, "tiny buffer", res2.rows, res.rows)
	// Deep nesting is refused, not a stack overflow.
	deep := `{"a": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}"
	if _, err := tfRead(t, JSON(JSONOptions{}), tfFile(t, "deep.jsonl", deep), tfAll); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep nesting: %v", err)
	}
}

func jsonAllTypesSchema() *arrow.Schema {
	fields := csvAllTypesSchema().Fields()
	fields = append(fields,
		arrow.Field{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		arrow.Field{Name: "large_list", Type: arrow.LargeListOf(arrow.BinaryTypes.String), Nullable: true},
		arrow.Field{Name: "fixed", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64), Nullable: true},
		arrow.Field{Name: "struct", Type: arrow.StructOf(
			arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "inner", Type: arrow.StructOf(arrow.Field{Name: "q\"uote", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
			arrow.Field{Name: "l", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "v", Type: arrow.FixedWidthTypes.Boolean, Nullable: true})), Nullable: true},
		), Nullable: true},
		arrow.Field{Name: "null", Type: arrow.Null, Nullable: true},
	)
	return arrow.NewSchema(fields, nil)
}

func TestJSONRoundTrip(t *testing.T) {
	schema := jsonAllTypesSchema()
	items := csvAllTypesItems()
	nested := []blocks.Item{
		{"list": []any{int64(1), nil, int64(-3)}, "large_list": []any{"a", ""}, "fixed": []any{1.5, nil},
			"struct": blocks.Item{"x": int32(1), "inner": blocks.Item{"q\"uote": "v"}, "l": []any{blocks.Item{"v": true}, nil}}},
		{},
		{"list": []any{}, "large_list": nil, "fixed": []any{0.0, -2.0}, "struct": blocks.Item{"x": nil, "inner": nil, "l": []any{}}},
		{"struct": blocks.Item{}},
		{"list": []any{int64(math.MaxInt64)}},
	}
	for i := range items {
		for k, v := range nested[i] {
			items[i][k] = v
		}
	}
	// JSON has no NaN or infinities: they are written as null.
	items[3]["f64"], items[3]["f32"] = nil, nil
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in, err := blocks.FromItemsWithSchema(mem, schema, items)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	recs := []arrow.RecordBatch{in.NewSlice(0, 3), in.NewSlice(3, in.NumRows())}
	defer recs[0].Release()
	defer recs[1].Release()
	j := JSON(JSONOptions{})
	var buf bytes.Buffer
	if err := j.Encode(context.Background(), &buf, schema, recs); err != nil {
		t.Fatal(err)
	}
	if j.Ext() != ".jsonl" || j.Format() != "json" {
		t.Errorf("names %s %s", j.Ext(), j.Format())
	}
	f := tfFile(t, "rt.jsonl", buf.String())
	res := tfMustRead(t, j, f, ReadRequest{Schema: schema, Limit: -1})
	if !res.schema.Equal(schema) {
		t.Errorf("schema\n got  %s\n want %s", res.schema, schema)
	}
	want := blocks.ToItems(in)
	if len(res.rows) != len(want) {
		t.Fatalf("%d rows, want %d\n%s", len(res.rows), len(want), buf.String())
	}
	for i := range want {
		for k, v := range want[i] {
			if !tfSame(res.rows[i][k], v) {
				t.Errorf("row %d column %q: got %#v, want %#v", i, k, res.rows[i][k], v)
			}
		}
	}
	// Every line is valid JSON (checked against encoding/json).
	for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("line %d is not valid JSON: %s", i+1, line)
		}
	}
	// Without the schema, inference gets the natural types back.
	res = tfMustRead(t, j, f, tfAll)
	for name, typ := range map[string]arrow.DataType{
		"i64": arrow.PrimitiveTypes.Int64, "f64": arrow.PrimitiveTypes.Float64, "b": arrow.FixedWidthTypes.Boolean,
		"s": arrow.BinaryTypes.String, "list": arrow.ListOf(arrow.PrimitiveTypes.Int64),
		"fixed": arrow.ListOf(arrow.PrimitiveTypes.Float64), "null": arrow.Null,
	} {
		fld, _ := res.meta.Schema.FieldsByName(name)
		if len(fld) != 1 || !arrow.TypeEqual(fld[0].Type, typ) {
			t.Errorf("inferred %s: %v, want %s", name, fld, typ)
		}
	}

	// Maps with string keys are objects; dictionaries are their values.
	mb := array.NewMapBuilder(mem, arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, false)
	mb.Append(true)
	mb.KeyBuilder().(*array.StringBuilder).Append("k")
	mb.ItemBuilder().(*array.Int64Builder).Append(1)
	mb.AppendNull()
	marr := mb.NewArray()
	mb.Release()
	db := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String})
	db.(*array.BinaryDictionaryBuilder).AppendString("cat")
	db.AppendNull()
	darr := db.NewArray()
	db.Release()
	ms := arrow.NewSchema([]arrow.Field{{Name: "m", Type: marr.DataType(), Nullable: true}, {Name: "d", Type: darr.DataType(), Nullable: true}}, nil)
	rec := array.NewRecordBatch(ms, []arrow.Array{marr, darr}, 2)
	marr.Release()
	darr.Release()
	buf.Reset()
	err = j.Encode(context.Background(), &buf, ms, []arrow.RecordBatch{rec})
	rec.Release()
	tfEqual(t, "map and dictionary", buf.String(), `{"m":{"k":1},"d":"cat"}`+"\n"+`{"m":null,"d":null}`+"\n")
	if err != nil {
		t.Fatal(err)
	}
}

func TestJSONEmitErrorAndCancel(t *testing.T) {
	f := tfFile(t, "x.jsonl", `{"a": [1]}`+"\n"+`{"a": [2]}`+"\n"+`{"a": [3]}`)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	boom := errors.New("boom")
	n := 0
	err := JSON(JSONOptions{}).Read(context.Background(), f, nil, ReadRequest{Alloc: mem, BatchRows: 1, Limit: -1}, func(rec arrow.RecordBatch) error {
		rec.Release()
		n++
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("emit error: %v after %d", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = JSON(JSONOptions{}).Read(ctx, f, nil, ReadRequest{Alloc: mem, Limit: -1}, func(rec arrow.RecordBatch) error {
		rec.Release()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	// An error mid-file releases the open batch, nested builders included.
	f = tfFile(t, "y.jsonl", `{"a": [{"b": 1}]}`+"\n"+`{"a": [{"b": "x"}]}`)
	err = JSON(JSONOptions{InferRows: 1}).Read(context.Background(), f, nil, ReadRequest{Alloc: mem, Limit: -1}, func(rec arrow.RecordBatch) error {
		rec.Release()
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), `column "a[].b"`) {
		t.Fatalf("bad value: %v", err)
	}
}

// TestJSONTopLevelArray: a file holding one array of objects (pretty
// printed or on one line, with a BOM, nested values holding brackets and
// commas inside strings) reads like the same objects as JSON lines; a
// malformed array is an error naming the file and the line.
func TestJSONTopLevelArray(t *testing.T) {
	lines := `{"id": 1, "s": "a,]}[", "pos": {"x": [1, 2]}}` + "\n" + `{"id": 2, "s": "q\"]", "pos": null}` + "\n" + `{"id": 3}` + "\n"
	want := tfMustRead(t, JSON(JSONOptions{}), tfFile(t, "lines.jsonl", lines), tfAll)
	for name, in := range map[string]string{
		"pretty": "\n  [\n  {\"id\": 1,\n   \"s\": \"a,]}[\",\n   \"pos\": {\"x\": [1, 2]}},\n  {\"id\": 2, \"s\": \"q\\\"]\", \"pos\": null} ,\n{\"id\":3}\n]\n",
		"one":    `[{"id": 1, "s": "a,]}[", "pos": {"x": [1, 2]}},{"id": 2, "s": "q\"]", "pos": null},{"id": 3}]`,
		"bom":    "\xEF\xBB\xBF[{\"id\": 1, \"s\": \"a,]}[\", \"pos\": {\"x\": [1, 2]}}, {\"id\": 2, \"s\": \"q\\\"]\", \"pos\": null}, {\"id\": 3}]",
	} {
		for _, buf := range []int{0, 16} {
			j := JSON(JSONOptions{})
			j.bufSize = buf
			got := tfMustRead(t, j, tfFile(t, name+".json", in), tfAll)
			if !got.meta.Schema.Equal(want.meta.Schema) {
				t.Fatalf("%s: schema %s, want %s", name, got.meta.Schema, want.meta.Schema)
			}
			tfEqual(t, name, got.rows, want.rows)
		}
	}
	empty := tfMustRead(t, JSON(JSONOptions{}), tfFile(t, "empty.json", " [ ] \n"), tfAll)
	if len(empty.rows) != 0 {
		t.Errorf("empty array: %d rows", len(empty.rows))
	}
	for _, tc := range []struct{ in, want string }{
		{"[\n{\"a\": 1},\n{\"a\": 2}\n", "bad.json line 4: top-level JSON array: the file ends before the array's closing ']'"},
		{"[\n{\"a\": 1}\n{\"a\": 2}]", "bad.json line 3: top-level JSON array: want ',' or ']' after an element"},
		{"[{\"a\": 1}] x", "bad.json line 1: top-level JSON array: unexpected 'x' after the array"},
		{"[{\"a\": 1},\n 7]", "bad.json line 2: invalid JSON at byte 1: a line must hold one JSON object"},
		{"[{\"a\": 1},\n{\"a\": \"x\"}]", `bad.json line 2, column "a"`},
	} {
		_, err := tfRead(t, JSON(JSONOptions{InferRows: 1}), tfFile(t, "bad.json", tc.in), tfAll)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}
