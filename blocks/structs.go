package blocks

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/array/arreflect"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// typeName names T for error messages.
func typeName[T any]() string {
	return reflect.TypeFor[T]().String()
}

// SchemaOf returns the Arrow schema FromStructs produces for T, following
// arreflect's rules: field names from `arrow:"name"` tags or the Go field
// names, `arrow:"-"` skips a field, pointer fields are nullable and other
// fields are not. time.Time maps to timestamp[ns, tz=UTC] (unlike
// InferSchema, which uses microseconds), or to the type its date32, date64,
// time32 or time64 tag option asks for; time.Time struct fields are always
// nullable because a zero time.Time is stored as null (see FromStructs).
// T must be a struct type.
func SchemaOf[T any]() (schema *arrow.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			schema, err = nil, fmt.Errorf("blocks: SchemaOf[%s]: panic in arreflect: %v", typeName[T](), r)
		}
	}()
	s, err := arreflect.InferSchema[T]()
	if err != nil {
		return nil, fmt.Errorf("blocks: SchemaOf[%s]: %w", typeName[T](), err)
	}
	if fixed, changed := fixTimeType(arrow.StructOf(s.Fields()...), reflect.TypeFor[T]()); changed {
		md := s.Metadata()
		s = arrow.NewSchema(fixed.(*arrow.StructType).Fields(), &md)
	}
	return s, nil
}

// FromStructs builds a record batch from a slice of Go structs with arrow-go's
// arreflect package (see SchemaOf for the mapping). An empty slice yields an
// empty record with T's schema. The caller owns the returned record and must
// Release it.
//
// arreflect v18.8.0 encodes time.Time struct fields without a temporal tag
// option as an empty struct, silently dropping the value. FromStructs repairs
// such fields (directly in T or in nested structs, through pointers) by
// building timestamp[ns, tz=UTC] columns itself; a zero time.Time becomes null
// (it is outside the nanosecond range), which ToStructs turns back into the
// zero time. time.Time inside slices, arrays or maps is reported as an error
// instead of being lost.
func FromStructs[T any](mem memory.Allocator, vals []T) (rec arrow.RecordBatch, err error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	defer func() {
		if r := recover(); r != nil {
			rec, err = nil, fmt.Errorf("blocks: FromStructs[%s]: panic in arreflect: %v", typeName[T](), r)
		}
	}()
	rec, err = arreflect.RecordFromSlice(vals, mem)
	if err != nil {
		return nil, fmt.Errorf("blocks: FromStructs[%s]: %w", typeName[T](), err)
	}
	fixed, err := fixTimeColumns(mem, rec, reflect.ValueOf(vals))
	rec.Release()
	if err != nil {
		return nil, fmt.Errorf("blocks: FromStructs[%s]: %w", typeName[T](), err)
	}
	return fixed, nil
}

// ToStructs converts every row of rec to a T with arreflect. Before
// converting, it checks that the record's columns and T's fields correspond
// by name (recursively through nested structs and lists of structs) and
// reports the first column or field without a counterpart. Type mismatches
// are reported by arreflect and name the column; any panic inside arreflect
// is recovered into an error.
func ToStructs[T any](rec arrow.RecordBatch) (out []T, err error) {
	name := typeName[T]()
	if rec == nil {
		return nil, fmt.Errorf("blocks: ToStructs[%s]: nil record", name)
	}
	want, err := SchemaOf[T]()
	if err != nil {
		return nil, fmt.Errorf("blocks: ToStructs[%s]: %w", name, err)
	}
	if err := matchFields(name, "", want.Fields(), rec.Schema().Fields()); err != nil {
		return nil, fmt.Errorf("blocks: ToStructs[%s]: %w", name, err)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("blocks: ToStructs[%s]: panic in arreflect: %v", name, r)
		}
	}()
	out, err = arreflect.RecordToSlice[T](rec)
	if err != nil {
		return nil, fmt.Errorf("blocks: ToStructs[%s]: %w", name, err)
	}
	return out, nil
}

// matchFields checks that the names of want (T's fields) and have (the
// record's columns) correspond one to one, recursing into struct types and
// list element types.
func matchFields(tname, prefix string, want, have []arrow.Field) error {
	wantIdx := make(map[string]int, len(want))
	for i, f := range want {
		wantIdx[f.Name] = i
	}
	haveSet := make(map[string]bool, len(have))
	for _, h := range have {
		haveSet[h.Name] = true
		i, ok := wantIdx[h.Name]
		if !ok {
			return fmt.Errorf("record column %q has no matching field in %s", prefix+h.Name, tname)
		}
		if err := matchTypes(tname, prefix+h.Name, want[i].Type, h.Type); err != nil {
			return err
		}
	}
	for _, w := range want {
		if !haveSet[w.Name] {
			return fmt.Errorf("field %q of %s has no matching record column", prefix+w.Name, tname)
		}
	}
	return nil
}

// matchTypes recurses into nested structs (directly or as list elements).
// Other type differences are left to arreflect, which reports them.
func matchTypes(tname, path string, want, have arrow.DataType) error {
	switch w := want.(type) {
	case *arrow.StructType:
		if h, ok := have.(*arrow.StructType); ok {
			return matchFields(tname, path+".", w.Fields(), h.Fields())
		}
	case arrow.ListLikeType:
		if h, ok := have.(arrow.ListLikeType); ok {
			return matchTypes(tname, path+"[]", w.Elem(), h.Elem())
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// time.Time workaround for arreflect v18.8.0
// ---------------------------------------------------------------------------

var (
	typeOfTime = reflect.TypeFor[time.Time]()
	// tsNanoUTC is the type arreflect intends for time.Time.
	tsNanoUTC = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
)

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// isBrokenTime reports whether arreflect encoded Go type gt (a time.Time) as
// the empty struct dt.
func isBrokenTime(dt arrow.DataType, gt reflect.Type) bool {
	st, ok := dt.(*arrow.StructType)
	return ok && st.NumFields() == 0 && derefType(gt) == typeOfTime
}

// goFieldIndex finds the Go field of struct type t that arreflect maps to the
// Arrow field name, following its rules: `arrow:"-"` skips a field, the tag
// name (or else the Go name) names it, untagged embedded structs are
// flattened, and the shallowest match wins (a tagged one among equals).
func goFieldIndex(t reflect.Type, name string) ([]int, bool) {
	var best []int
	bestTagged, ambiguous := false, false
	for _, sf := range reflect.VisibleFields(t) {
		tag, hasTag := sf.Tag.Lookup("arrow")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		if sf.Anonymous && !hasTag && derefType(sf.Type).Kind() == reflect.Struct {
			continue // flattened: its fields are visited on their own
		}
		if !promotedByArreflect(t, sf.Index) {
			continue
		}
		tagName, _, _ := strings.Cut(tag, ",")
		fieldName := tagName
		if fieldName == "" {
			fieldName = sf.Name
		}
		if fieldName != name {
			continue
		}
		tagged := hasTag && tagName != ""
		switch {
		case best == nil || len(sf.Index) < len(best):
			best, bestTagged, ambiguous = sf.Index, tagged, false
		case len(sf.Index) == len(best):
			switch {
			case tagged && !bestTagged:
				best, bestTagged, ambiguous = sf.Index, true, false
			case tagged == bestTagged:
				ambiguous = true
			}
		}
	}
	return best, best != nil && !ambiguous
}

// promotedByArreflect reports whether every embedded field on the path to a
// promoted field is one arreflect flattens (untagged, struct or *struct).
func promotedByArreflect(t reflect.Type, index []int) bool {
	cur := t
	for _, i := range index[:len(index)-1] {
		sf := derefType(cur).Field(i)
		if _, hasTag := sf.Tag.Lookup("arrow"); hasTag || !sf.Anonymous {
			return false
		}
		cur = sf.Type
	}
	return true
}

// fixTimeType replaces the empty structs arreflect infers for time.Time with
// tsNanoUTC, walking dt and the Go type gt together. Repaired struct fields
// become nullable. changed reports whether anything was replaced.
func fixTimeType(dt arrow.DataType, gt reflect.Type) (fixed arrow.DataType, changed bool) {
	gt = derefType(gt)
	if isBrokenTime(dt, gt) {
		return tsNanoUTC, true
	}
	switch d := dt.(type) {
	case *arrow.StructType:
		if gt.Kind() != reflect.Struct {
			return dt, false
		}
		fields := d.Fields()
		for i, f := range fields {
			idx, ok := goFieldIndex(gt, f.Name)
			if !ok {
				continue
			}
			if nt, ch := fixTimeType(f.Type, gt.FieldByIndex(idx).Type); ch {
				fields[i].Type = nt
				if nt == tsNanoUTC {
					fields[i].Nullable = true
				}
				changed = true
			}
		}
		if changed {
			return arrow.StructOf(fields...), true
		}
	case *arrow.MapType:
		if gt.Kind() != reflect.Map {
			return dt, false
		}
		kt, kch := fixTimeType(d.KeyType(), gt.Key())
		it, ich := fixTimeType(d.ItemType(), gt.Elem())
		if kch || ich {
			m := arrow.MapOf(kt, it)
			m.KeysSorted = d.KeysSorted
			return m, true
		}
	case arrow.ListLikeType:
		if gt.Kind() != reflect.Slice && gt.Kind() != reflect.Array {
			return dt, false
		}
		ef := d.ElemField()
		nt, ch := fixTimeType(ef.Type, gt.Elem())
		if !ch {
			return dt, false
		}
		ef.Type = nt
		switch d := d.(type) {
		case *arrow.ListType:
			return arrow.ListOfField(ef), true
		case *arrow.LargeListType:
			return arrow.LargeListOfField(ef), true
		case *arrow.FixedSizeListType:
			return arrow.FixedSizeListOfField(d.Len(), ef), true
		case *arrow.ListViewType:
			return arrow.ListViewOfField(ef), true
		case *arrow.LargeListViewType:
			return arrow.LargeListViewOfField(ef), true
		}
	}
	return dt, false
}

// fixTimeColumns returns rec (retained) or, when T has time.Time fields that
// arreflect encoded as empty structs, a new record with those columns rebuilt
// from the Go values in vals (a slice of T).
func fixTimeColumns(mem memory.Allocator, rec arrow.RecordBatch, vals reflect.Value) (arrow.RecordBatch, error) {
	gt := derefType(vals.Type().Elem())
	if _, changed := fixTimeType(arrow.StructOf(rec.Schema().Fields()...), gt); !changed {
		rec.Retain()
		return rec, nil
	}
	rows := make([]reflect.Value, vals.Len())
	for k := range rows {
		rows[k] = derefValue(vals.Index(k))
	}
	sa := array.RecordToStructArray(rec)
	defer sa.Release()
	fixed, err := rebuildStruct(mem, sa, gt, rows, "")
	if err != nil {
		return nil, err
	}
	defer fixed.Release()
	return array.RecordFromStructArray(fixed, nil), nil
}

// derefValue follows pointers; a nil pointer yields the invalid Value.
func derefValue(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// rebuildStruct returns sa with its broken time.Time children rebuilt from
// rows (the Go struct value of each row; invalid for null rows).
func rebuildStruct(mem memory.Allocator, sa *array.Struct, gt reflect.Type, rows []reflect.Value, path string) (*array.Struct, error) {
	if sa.Data().Offset() != 0 {
		return nil, fmt.Errorf("field %q: unexpected sliced struct array", strings.TrimSuffix(path, "."))
	}
	fields := sa.DataType().(*arrow.StructType).Fields()
	children := slices.Clone(sa.Data().Children())
	var owned []arrow.Array
	defer func() {
		for _, a := range owned {
			a.Release()
		}
	}()
	changed := false
	for j, f := range fields {
		idx, ok := goFieldIndex(gt, f.Name)
		if !ok {
			continue
		}
		ft := gt.FieldByIndex(idx).Type
		nt, ch := fixTimeType(f.Type, ft)
		if !ch {
			continue
		}
		sub := make([]reflect.Value, len(rows))
		for k, r := range rows {
			if r.IsValid() {
				sub[k] = derefValue(fieldByIndexSafe(r, idx))
			}
		}
		var arr arrow.Array
		switch {
		case isBrokenTime(f.Type, ft):
			a, err := buildTimestamps(mem, sub, path+f.Name)
			if err != nil {
				return nil, err
			}
			arr = a
		case derefType(ft).Kind() == reflect.Struct:
			child, ok := sa.Field(j).(*array.Struct)
			if !ok {
				return nil, fmt.Errorf("field %q: expected a struct array, got %s", path+f.Name, sa.Field(j).DataType())
			}
			a, err := rebuildStruct(mem, child, derefType(ft), sub, path+f.Name+".")
			if err != nil {
				return nil, err
			}
			arr = a
		default:
			return nil, fmt.Errorf("field %q: time.Time inside %s is not supported "+
				"(arreflect v18.8.0 encodes it as an empty struct and loses the value)", path+f.Name, ft)
		}
		owned = append(owned, arr)
		children[j] = arr.Data()
		fields[j].Type = nt
		if nt == tsNanoUTC {
			fields[j].Nullable = true
		}
		changed = true
	}
	if !changed {
		sa.Retain()
		return sa, nil
	}
	data := array.NewData(arrow.StructOf(fields...), sa.Len(), sa.Data().Buffers(), children, sa.NullN(), 0)
	defer data.Release()
	return array.NewStructData(data), nil
}

// fieldByIndexSafe is reflect.Value.FieldByIndex that yields the invalid
// Value instead of panicking on a nil embedded pointer.
func fieldByIndexSafe(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 {
			v = derefValue(v)
			if !v.IsValid() {
				return v
			}
		}
		v = v.Field(x)
	}
	return v
}

// buildTimestamps builds a timestamp[ns, UTC] array; invalid values and zero
// times are null.
func buildTimestamps(mem memory.Allocator, vals []reflect.Value, path string) (arrow.Array, error) {
	b := array.NewTimestampBuilder(mem, tsNanoUTC)
	defer b.Release()
	b.Reserve(len(vals))
	for _, v := range vals {
		if !v.IsValid() {
			b.AppendNull()
			continue
		}
		if !v.CanInterface() {
			return nil, fmt.Errorf("field %q: cannot read time.Time through an unexported field", path)
		}
		t, ok := v.Interface().(time.Time)
		if !ok {
			return nil, fmt.Errorf("field %q: expected time.Time, got %s", path, v.Type())
		}
		if t.IsZero() {
			b.AppendNull()
			continue
		}
		ts, err := arrow.TimestampFromTime(t, arrow.Nanosecond)
		if err != nil {
			return nil, fmt.Errorf("field %q: time %s: %w", path, t, err)
		}
		b.Append(ts)
	}
	return b.NewArray(), nil
}
