package formats

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// pqReadFile inspects and reads a file of parquet-testing's data/ with opts,
// returning its schema and each column concatenated.
func pqReadFile(t *testing.T, path string, opts ParquetOptions) (*arrow.Schema, []arrow.Array, error) {
	t.Helper()
	f := pqOpen(t, path)
	mem := pqCheckedAlloc()
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	meta, recs, err := pqInspectRead(context.Background(), Parquet(opts), f, mem, 0)
	defer pqRelease(recs)
	if err != nil {
		return nil, nil, err
	}
	cols := make([]arrow.Array, meta.Schema.NumFields())
	for i := range cols {
		cols[i] = pqConcat(t, recs, i)
		t.Cleanup(cols[i].Release)
	}
	return meta.Schema, cols, nil
}

// Spark's INT96 values, some outside the nanosecond range, read as
// microseconds by default, exactly as Spark wrote them (the file's README
// lists the instants; the zoneless first one was in the writer's zone).
func TestParquetInt96FromSpark(t *testing.T) {
	path := filepath.Join(pqTestingPath(t, "data"), "int96_from_spark.parquet")
	sc, cols, err := pqReadFile(t, path, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Field(0).Type; !arrow.TypeEqual(got, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}) {
		t.Fatalf("type %s, want timestamp[us, UTC]", got)
	}
	a := cols[0].(*array.Timestamp)
	want := map[int]time.Time{
		1: time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC),
		2: time.Date(9999, 12, 31, 3, 0, 0, 0, time.UTC),
		3: time.Date(2024, 12, 30, 23, 0, 0, 0, time.UTC),
		5: time.Date(290000, 12, 30, 23, 0, 0, 0, time.UTC),
	}
	if a.Len() != 6 || !a.IsNull(4) || a.NullN() != 1 {
		t.Fatalf("got %v: want 6 values, the fifth null", a)
	}
	for i, w := range want {
		if got := int64(a.Value(i)); got != w.UnixMicro() {
			t.Errorf("value %d: %d (%s), want %s", i, got, time.UnixMicro(got).UTC(), w)
		}
	}
	// The first is 12:34:56.123456 in the writer's zone: the fraction
	// survives to the microsecond.
	if got := int64(a.Value(0)) % 1_000_000; got != 123456 {
		t.Errorf("value 0: fraction %d µs, want 123456", got)
	}

	// Coarser units floor the same instants.
	for unit, div := range map[string]int64{"ms": 1000, "s": 1_000_000} {
		_, cols, err := pqReadFile(t, path, ParquetOptions{Int96Unit: unit})
		if err != nil {
			t.Fatalf("%s: %v", unit, err)
		}
		for i, w := range want {
			if got := int64(cols[0].(*array.Timestamp).Value(i)); got != w.UnixMicro()/div {
				t.Errorf("%s, value %d: %d, want %d", unit, i, got, w.UnixMicro()/div)
			}
		}
	}

	// Nanoseconds cannot hold year 9999: the error says which value and
	// what to ask for instead.
	_, _, err = pqReadFile(t, path, ParquetOptions{Int96Unit: "ns"})
	for _, frag := range []string{"int96_from_spark.parquet", "column a", "year 9999", "timestamp[ns]", `Int96Unit: "us"`} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Fatalf("read at ns: error %v, want one containing %q", err, frag)
		}
	}
	_, _, err = pqReadFile(t, path, ParquetOptions{Int96Unit: "minutes"})
	if err == nil || !strings.Contains(err.Error(), `Int96Unit "minutes"`) {
		t.Fatalf("unknown unit: error %v", err)
	}
}

// INT96 written by arrow-go (Impala's nanosecond precision), before and
// after 1970, reads back exactly at "ns" and floored at the default "us".
func TestParquetInt96RoundTrip(t *testing.T) {
	ns := []int64{0, -1, 1, 1_700_000_000_123_456_789, -86_400_000_000_001, 9_000_000_000_000_000_000}
	mem := memory.NewGoAllocator()
	ts := &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
	b := array.NewTimestampBuilder(mem, ts)
	for _, v := range ns {
		b.Append(arrow.Timestamp(v))
	}
	b.AppendNull()
	col := b.NewArray()
	b.Release()
	defer col.Release()
	sc := arrow.NewSchema([]arrow.Field{{Name: "t", Type: ts, Nullable: true}}, nil)
	rec := array.NewRecordBatch(sc, []arrow.Array{col}, int64(col.Len()))
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "int96.parquet")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, out, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(pqarrow.WithDeprecatedInt96Timestamps(true)))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		unit string
		div  int64
	}{{"ns", 1}, {"", 1000}} {
		_, cols, err := pqReadFile(t, path, ParquetOptions{Int96Unit: c.unit})
		if err != nil {
			t.Fatalf("unit %q: %v", c.unit, err)
		}
		got := cols[0].(*array.Timestamp)
		if got.Len() != len(ns)+1 || !got.IsNull(len(ns)) {
			t.Fatalf("unit %q: %v", c.unit, got)
		}
		for i, v := range ns {
			if w := floorDiv(v, c.div); int64(got.Value(i)) != w {
				t.Errorf("unit %q, value %d: %d, want %d", c.unit, i, got.Value(i), w)
			}
		}
	}
}

// Presto's MAP with optional keys reads as a map.
func TestParquetMapWithOptionalKeys(t *testing.T) {
	sc, cols, err := pqReadFile(t, filepath.Join(pqTestingPath(t, "data"), "incorrect_map_schema.parquet"), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mt, ok := sc.Field(0).Type.(*arrow.MapType)
	if sc.Field(0).Name != "my_map" || !ok || mt.KeyType().ID() != arrow.STRING || mt.ItemType().ID() != arrow.STRING {
		t.Fatalf("schema %s: want my_map: map<utf8, utf8>", sc)
	}
	m := cols[0].(*array.Map)
	keys, items := m.Keys().(*array.String), m.Items().(*array.String)
	got := map[string]string{}
	for i := range keys.Len() {
		got[keys.Value(i)] = items.Value(i)
	}
	if m.Len() != 1 || len(got) != 2 || got["parent"] != "another" || got["name"] != "report" {
		t.Fatalf("got %v: want one map {parent: another, name: report}", m)
	}

	// A null key has no place in an Arrow map: the read says so.
	kb := array.NewStructBuilder(memory.DefaultAllocator, arrow.StructOf(
		arrow.Field{Name: "key", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "value", Type: arrow.BinaryTypes.String, Nullable: true}))
	lb := array.NewListBuilderWithField(memory.DefaultAllocator, arrow.Field{Name: "key_value", Type: kb.Type()})
	kb.Release()
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.StructBuilder)
	vb.Append(true)
	vb.FieldBuilder(0).AppendNull()
	vb.FieldBuilder(1).(*array.StringBuilder).Append("v")
	l := lb.NewListArray()
	lb.Release()
	defer l.Release()
	if _, err := pqMapFromList(l, arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)); err == nil || !strings.Contains(err.Error(), "map key is null") {
		t.Fatalf("null key: error %v", err)
	}
}

// A logical type newer than arrow-go knows reads as its physical type.
func TestParquetUnknownLogicalType(t *testing.T) {
	sc, cols, err := pqReadFile(t, filepath.Join(pqTestingPath(t, "data"), "unknown-logical-type.parquet"), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.NumFields() != 2 || sc.Field(0).Type.ID() != arrow.STRING || sc.Field(1).Type.ID() != arrow.BINARY {
		t.Fatalf("schema %s: want a string column and a binary one", sc)
	}
	for i := range 3 {
		if got, want := string(cols[1].(*array.Binary).Value(i)), "unknown string "+string(rune('1'+i)); got != want {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}
	if sc.HasMetadata() && sc.Metadata().FindKey(pqRepairInt96Key) >= 0 {
		t.Fatalf("repair keys leak into the schema: %v", sc.Metadata())
	}
}
