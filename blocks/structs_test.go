package blocks

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type structsAddress struct {
	City string `arrow:"city"`
	Zip  *int32 `arrow:"zip"`
}

type structsPerson struct {
	Name    string         `arrow:"name"`
	Age     int            `arrow:"age"`
	Score   float64        `arrow:"score"`
	Born    time.Time      `arrow:"born"`
	Tags    []string       `arrow:"tags"`
	Home    structsAddress `arrow:"home"`
	Nick    *string        `arrow:"nick"`
	Ignored string         `arrow:"-"`
}

func TestStructsRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	zip := int32(12345)
	nick := "al"
	in := []structsPerson{
		{Name: "alice", Age: 30, Score: 1.5, Born: time.Date(1990, 1, 2, 3, 4, 5, 6, time.UTC),
			Tags: []string{"a", "b"}, Home: structsAddress{City: "x", Zip: &zip}, Nick: &nick, Ignored: "dropped"},
		{Name: "bob", Age: 40, Born: time.Date(1980, 6, 7, 0, 0, 0, 0, time.UTC), Home: structsAddress{City: "y"}},
	}
	rec, err := FromStructs(mem, in)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()

	want, err := SchemaOf[structsPerson]()
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Schema().Equal(want) {
		t.Fatalf("schema\n got %s\nwant %s", rec.Schema(), want)
	}
	if got := fieldsString(rec.Schema()); !strings.HasPrefix(got, "name: utf8, age: int64, score: float64, born: timestamp[ns, tz=UTC], tags: list<item: utf8, nullable>, home: struct<") {
		t.Fatalf("schema = %s", got)
	}
	if rec.Schema().HasField("Ignored") {
		t.Fatal("arrow:\"-\" field should be skipped")
	}

	// Rows are readable through the generic item API too.
	items := ToItems(rec)
	if items[0]["home"].(Item)["zip"] != int64(12345) || items[1]["nick"] != nil {
		t.Fatalf("items = %#v", items)
	}

	out, err := ToStructs[structsPerson](rec)
	if err != nil {
		t.Fatal(err)
	}
	in[0].Ignored = ""
	if len(out) != 2 {
		t.Fatalf("len = %d", len(out))
	}
	for i := range in {
		if !out[i].Born.Equal(in[i].Born) {
			t.Errorf("row %d born %v, want %v", i, out[i].Born, in[i].Born)
		}
		out[i].Born, in[i].Born = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip\n got %+v\nwant %+v", out, in)
	}
}

func TestFromStructsEmpty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, vals := range [][]structsPerson{nil, {}} {
		rec, err := FromStructs(mem, vals)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := SchemaOf[structsPerson]()
		if rec.NumRows() != 0 || !rec.Schema().Equal(want) {
			t.Fatalf("rows=%d schema=%s", rec.NumRows(), rec.Schema())
		}
		out, err := ToStructs[structsPerson](rec)
		if err != nil || len(out) != 0 {
			t.Fatalf("ToStructs = %v, %v", out, err)
		}
		rec.Release()
	}
}

func TestFromStructsErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	_, err := FromStructs(mem, []int{1, 2})
	if err == nil || !strings.HasPrefix(err.Error(), "blocks: FromStructs[int]: ") {
		t.Fatalf("non-struct: %v", err)
	}
	type withChan struct{ C chan int }
	_, err = FromStructs(mem, []withChan{{}})
	if err == nil || !strings.HasPrefix(err.Error(), "blocks: FromStructs[blocks.withChan]: ") {
		t.Fatalf("chan field: %v", err)
	}
	if _, err := SchemaOf[int](); err == nil || !strings.Contains(err.Error(), "SchemaOf[int]") {
		t.Fatalf("SchemaOf[int]: %v", err)
	}
}

func TestToStructsMismatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	type idOnly struct {
		ID int64 `arrow:"id"`
	}
	type idAndName struct {
		ID   int64  `arrow:"id"`
		Name string `arrow:"name"`
	}
	type idString struct {
		ID string `arrow:"id"`
	}
	type nested struct {
		ID  int64 `arrow:"id"`
		Obj struct {
			A int64 `arrow:"a"`
			B int64 `arrow:"b"`
		} `arrow:"obj"`
	}

	rec := mustFromItems(t, mem, []Item{{"id": 1, "extra": "x", "obj": Item{"a": 1}}})
	defer rec.Release()

	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"extra column", func() error { _, err := ToStructs[idOnly](rec); return err },
			`blocks: ToStructs[blocks.idOnly]: record column "extra" has no matching field in blocks.idOnly`},
		{"missing column", func() error {
			sel := selectColumns(t, rec, "id")
			defer sel.Release()
			_, err := ToStructs[idAndName](sel)
			return err
		}, `blocks: ToStructs[blocks.idAndName]: field "name" of blocks.idAndName has no matching record column`},
		{"type mismatch", func() error {
			sel := selectColumns(t, rec, "id")
			defer sel.Release()
			_, err := ToStructs[idString](sel)
			return err
		}, `blocks: ToStructs[blocks.idString]: index 0: arreflect: field "id": cannot set int64 into string: arreflect: type mismatch`},
		{"nested missing field", func() error {
			sel := selectColumns(t, rec, "id", "obj")
			defer sel.Release()
			_, err := ToStructs[nested](sel)
			return err
		}, `blocks: ToStructs[blocks.nested]: field "obj.b" of blocks.nested has no matching record column`},
		{"non-struct T", func() error { _, err := ToStructs[int](rec); return err },
			`blocks: ToStructs[int]: blocks: SchemaOf[int]: arreflect: InferSchema requires a struct type T, got int`},
		{"nil record", func() error { _, err := ToStructs[idOnly](nil); return err },
			`blocks: ToStructs[blocks.idOnly]: nil record`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil {
				t.Fatal("expected error")
			}
			if err.Error() != c.want {
				t.Fatalf("error\n got %s\nwant %s", err, c.want)
			}
		})
	}
}

// selectColumns returns a new record with the named columns of rec.
func selectColumns(t *testing.T, rec arrow.RecordBatch, names ...string) arrow.RecordBatch {
	t.Helper()
	fields := make([]arrow.Field, len(names))
	cols := make([]arrow.Array, len(names))
	for i, n := range names {
		idx := rec.Schema().FieldIndices(n)
		if len(idx) == 0 {
			t.Fatalf("no column %q", n)
		}
		fields[i] = rec.Schema().Field(idx[0])
		cols[i] = rec.Column(idx[0])
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}

type structsStamps struct {
	Created time.Time `arrow:"created"`
}

type structsEvent struct {
	structsStamps            // untagged embedded struct: flattened by arreflect
	ID            int64      `arrow:"id"`
	When          *time.Time `arrow:"when"`
	Day           time.Time  `arrow:"day,date32"`
	Meta          *struct {
		Seen time.Time `arrow:"seen"`
		Note string    `arrow:"note"`
	} `arrow:"meta"`
}

// arreflect v18.8.0 infers time.Time struct fields as struct<>; FromStructs,
// SchemaOf and ToStructs must repair that at any struct depth.
func TestStructsTimeFields(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	t1 := time.Date(2024, 2, 3, 4, 5, 6, 789, time.UTC)
	t2 := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	day := time.Date(2024, 2, 3, 0, 0, 0, 0, time.UTC)
	in := []structsEvent{
		{structsStamps: structsStamps{Created: t1}, ID: 1, When: &t2, Day: day},
		{ID: 2, Meta: &struct {
			Seen time.Time `arrow:"seen"`
			Note string    `arrow:"note"`
		}{Seen: t2, Note: "n"}},
	}
	schema, err := SchemaOf[structsEvent]()
	if err != nil {
		t.Fatal(err)
	}
	// arreflect puts flattened embedded fields after the direct ones.
	want := "id: int64, when: timestamp[ns, tz=UTC], day: date32, " +
		"meta: struct<seen: timestamp[ns, tz=UTC] nullable, note: utf8>, created: timestamp[ns, tz=UTC]"
	if got := fieldsString(schema); got != want {
		t.Fatalf("schema\n got %s\nwant %s", got, want)
	}
	if f, _ := schema.FieldsByName("created"); !f[0].Nullable {
		t.Error("repaired time.Time field should be nullable (zero time is stored as null)")
	}

	rec, err := FromStructs(mem, in)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if !rec.Schema().Equal(schema) {
		t.Fatalf("record schema %s differs from SchemaOf %s", rec.Schema(), schema)
	}
	if err := array.ValidateRecordFull(rec); err != nil {
		t.Fatal(err)
	}
	items := ToItems(rec)
	if got := items[0]["created"]; got != t1 {
		t.Errorf("created = %v, want %v", got, t1)
	}
	if items[1]["created"] != nil {
		t.Errorf("zero time should be null, got %v", items[1]["created"])
	}
	if got := items[1]["meta"].(Item)["seen"]; got != t2 {
		t.Errorf("meta.seen = %v", got)
	}

	out, err := ToStructs[structsEvent](rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip\n got %+v\nwant %+v", out, in)
	}
}

func TestFromStructsTimeInSliceIsAnError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	type withTimes struct {
		Times []time.Time `arrow:"times"`
	}
	schema, err := SchemaOf[withTimes]()
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldsString(schema); got != "times: list<item: timestamp[ns, tz=UTC], nullable>" {
		t.Fatalf("schema = %s", got)
	}
	_, err = FromStructs(mem, []withTimes{{Times: []time.Time{time.Now()}}})
	if err == nil || !strings.Contains(err.Error(), `field "times": time.Time inside []time.Time is not supported`) {
		t.Fatalf("err = %v", err)
	}
}
