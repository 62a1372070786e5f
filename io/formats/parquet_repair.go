package formats

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/apache/thrift/lib/go/thrift"
)

// Footers arrow-go (v18.8) cannot take as they are, which DuckDB and
// pyarrow read. Shoal parses the footer itself and, when a file needs it,
// rewrites the Thrift metadata before arrow-go builds its schema:
//
//   - A logical type newer than arrow-go knows: Thrift skips the union
//     member it does not know, and arrow-go's schema builder then panics
//     ("invalid logical type"). The spec says to read such a column as its
//     physical type, so the empty annotation is dropped.
//   - INT96 timestamps (Spark's and Impala's legacy encoding): arrow-go
//     converts them to timestamp[ns] and fails on dates outside 1677–2262,
//     which Spark writes, with no option for a coarser unit. A top-level
//     INT96 column is declared FIXED_LEN_BYTE_ARRAY(12) instead (INT96 is
//     stored as 12 plain bytes in either encoding, so pages decode
//     unchanged) and Shoal converts the bytes at ParquetOptions.Int96Unit.
//   - A MAP whose key field is optional (Presto wrote those): arrow-go
//     refuses it ("MAP keys must be required"). The group is re-annotated
//     LIST, which arrow-go reads as a list of key-value structs with the
//     same definition and repetition levels, and Shoal views that list as
//     the map (a null key is an error, as Arrow maps have none).
//
// The repaired columns are named in the footer's key-value metadata
// (pqRepairInt96Key, pqRepairMapKey), so the schema and every read of the
// footer find them; normalization removes the keys from read schemas.
const (
	pqRepairInt96Key = "shoal.parquet.repaired.int96"
	pqRepairMapKey   = "shoal.parquet.repaired.map"
)

// Parquet's Thrift enum values the repair writes.
const (
	pqThriftFLBA             = 7 // Type.FIXED_LEN_BYTE_ARRAY
	pqThriftConvertedMap     = 1 // ConvertedType.MAP
	pqThriftConvertedList    = 3 // ConvertedType.LIST
	pqThriftRepeated         = 2 // FieldRepetitionType.REPEATED
	pqThriftOptional         = 1 // FieldRepetitionType.OPTIONAL
	pqInt96Bytes             = 12
	pqJulianDayOfUnixEpoch   = 2440588
	pqFooterThriftMaxMessage = math.MaxInt32
)

// pqParseFooter decodes a footer's raw Thrift bytes into arrow-go's
// metadata, repairing what needs it.
func pqParseFooter(raw []byte) (*metadata.FileMetaData, error) {
	md, err := pqNewFileMetaData(raw)
	if err == nil && !pqNeedsRepair(md.Schema) {
		return md, nil
	}
	fixed, changed, rerr := pqRepairFooter(raw)
	switch {
	case rerr != nil && err != nil:
		return nil, err // arrow-go's own words: the footer is corrupt
	case rerr != nil:
		return nil, rerr
	case !changed:
		return md, err
	}
	return pqNewFileMetaData(fixed)
}

// pqNewFileMetaData is metadata.NewFileMetaData with its panics (on an
// unknown logical type, among others) returned as errors.
func pqNewFileMetaData(raw []byte) (md *metadata.FileMetaData, err error) {
	defer func() {
		if v := recover(); v != nil {
			md, err = nil, fmt.Errorf("decoding the footer: %v", v)
		}
	}()
	return metadata.NewFileMetaData(raw, nil)
}

// pqNeedsRepair reports a top-level INT96 column or MAP with optional keys.
func pqNeedsRepair(sc *schema.Schema) bool {
	if sc == nil {
		return false
	}
	root := sc.Root()
	for i := range root.NumFields() {
		switch n := root.Field(i).(type) {
		case *schema.PrimitiveNode:
			if n.PhysicalType() == parquet.Types.Int96 && n.RepetitionType() != parquet.Repetitions.Repeated {
				return true
			}
		case *schema.GroupNode:
			if pqIsOptionalKeyMap(n) {
				return true
			}
		}
	}
	return false
}

func pqIsOptionalKeyMap(n *schema.GroupNode) bool {
	isMap := n.ConvertedType() == schema.ConvertedTypes.Map
	if lt := n.LogicalType(); lt != nil && lt.Equals(schema.MapLogicalType{}) {
		isMap = true
	}
	if !isMap || n.RepetitionType() == parquet.Repetitions.Repeated || n.NumFields() != 1 {
		return false
	}
	kv, ok := n.Field(0).(*schema.GroupNode)
	return ok && kv.RepetitionType() == parquet.Repetitions.Repeated && kv.NumFields() == 2 &&
		kv.Field(0).RepetitionType() == parquet.Repetitions.Optional
}

func pqFooterThriftConf() *thrift.TConfiguration {
	return &thrift.TConfiguration{MaxMessageSize: pqFooterThriftMaxMessage}
}

// newLike returns a new zero T. The Thrift types live in an internal
// package of arrow-go, which Shoal cannot name; inference can.
func newLike[T any](*T) *T { return new(T) }

// newElem returns a new zero element for a slice of pointers to T.
func newElem[T any]([]*T) *T { return new(T) }

// setEnum points *p at a new enum value v.
func setEnum[T ~int64](p **T, v int64) { x := T(v); *p = &x }

// pqRepairFooter rewrites raw as the package comment says; changed is false
// when nothing needed it.
func pqRepairFooter(raw []byte) (fixed []byte, changed bool, err error) {
	var holder metadata.FileMetaData
	t := newLike(holder.FileMetaData)
	ctx := context.Background()
	in := thrift.NewTCompactProtocolConf(&thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(raw)}, pqFooterThriftConf())
	if err := t.Read(ctx, in); err != nil {
		return nil, false, fmt.Errorf("decoding the footer: %w", err)
	}
	elems := t.Schema
	for _, el := range elems {
		if el.LogicalType != nil && el.LogicalType.CountSetFieldsLogicalType() == 0 {
			el.LogicalType, changed = nil, true
		}
	}
	isRepeated := func(i int) bool {
		return elems[i].RepetitionType != nil && *elems[i].RepetitionType == pqThriftRepeated
	}
	// optionalKeyMap reports whether elems[i] is a MAP group whose one
	// repeated key-value child has an optional key.
	optionalKeyMap := func(i int) bool {
		el := elems[i]
		isMap := el.ConvertedType != nil && *el.ConvertedType == pqThriftConvertedMap ||
			el.LogicalType != nil && el.LogicalType.IsSetMAP()
		if !isMap || el.GetNumChildren() != 1 || i+2 >= len(elems) {
			return false
		}
		kv, key := elems[i+1], elems[i+2]
		return kv.GetNumChildren() == 2 && isRepeated(i+1) &&
			key.RepetitionType != nil && *key.RepetitionType == pqThriftOptional
	}
	// subtreeEnd is the index just past elems[i]'s subtree.
	subtreeEnd := func(i int) (int, error) {
		for pending := 1; pending > 0; i++ {
			if i >= len(elems) {
				return 0, fmt.Errorf("decoding the footer: the schema ends inside a group")
			}
			pending += int(elems[i].GetNumChildren()) - 1
		}
		return i, nil
	}
	var int96, maps []string
	if len(elems) > 0 {
		// The root's children are the top-level fields; each is followed
		// by its subtree, flattened depth first.
		next := 1
		for range elems[0].GetNumChildren() {
			if next >= len(elems) {
				return nil, false, fmt.Errorf("decoding the footer: the schema ends inside its root")
			}
			el := elems[next]
			repeated := isRepeated(next)
			switch {
			case el.GetNumChildren() == 0 && el.Type != nil && parquet.Type(*el.Type) == parquet.Types.Int96 && !repeated:
				setEnum(&el.Type, pqThriftFLBA)
				n := int32(pqInt96Bytes)
				el.TypeLength = &n
				int96 = append(int96, el.Name)
			case optionalKeyMap(next) && !repeated:
				setEnum(&el.ConvertedType, pqThriftConvertedList)
				el.LogicalType = nil
				maps = append(maps, el.Name)
			}
			end, err := subtreeEnd(next)
			if err != nil {
				return nil, false, err
			}
			next = end
		}
	}
	for _, r := range []struct {
		key  string
		cols []string
	}{{pqRepairInt96Key, int96}, {pqRepairMapKey, maps}} {
		if len(r.cols) == 0 {
			continue
		}
		kv := newElem(t.KeyValueMetadata)
		kv.Key = r.key
		v := strings.Join(r.cols, "\x00")
		kv.Value = &v
		t.KeyValueMetadata = append(t.KeyValueMetadata, kv)
		changed = true
	}
	if !changed {
		return nil, false, nil
	}
	buf := thrift.NewTMemoryBufferLen(len(raw) + 256)
	out := thrift.NewTCompactProtocolConf(buf, pqFooterThriftConf())
	if err := t.Write(ctx, out); err != nil {
		return nil, false, fmt.Errorf("re-encoding the repaired footer: %w", err)
	}
	if err := out.Flush(ctx); err != nil {
		return nil, false, fmt.Errorf("re-encoding the repaired footer: %w", err)
	}
	return buf.Bytes(), true, nil
}

// pqRepairs says which top-level columns of a file were repaired, and how
// the reads convert them.
type pqRepairs struct {
	int96 map[string]bool // FIXED_LEN_BYTE_ARRAY(12) columns that are INT96
	maps  map[string]bool // lists of key-value structs that are maps
	unit  arrow.TimeUnit  // INT96 columns are read as timestamps of this unit
}

// pqRepairsOf reads the repair keys of a footer; unit is
// ParquetOptions.Int96Unit, checked.
func pqRepairsOf(md *metadata.FileMetaData, unit string) (pqRepairs, error) {
	r := pqRepairs{}
	var err error
	if r.unit, err = pqInt96Unit(unit); err != nil {
		return r, err
	}
	kv := md.KeyValueMetadata()
	for _, k := range []struct {
		key string
		set *map[string]bool
	}{{pqRepairInt96Key, &r.int96}, {pqRepairMapKey, &r.maps}} {
		if v := kv.FindValue(k.key); v != nil {
			*k.set = make(map[string]bool)
			for _, c := range strings.Split(*v, "\x00") {
				(*k.set)[c] = true
			}
		}
	}
	return r, nil
}

// pqInt96Unit parses ParquetOptions.Int96Unit.
func pqInt96Unit(s string) (arrow.TimeUnit, error) {
	switch s {
	case "", "us":
		return arrow.Microsecond, nil
	case "ns":
		return arrow.Nanosecond, nil
	case "ms":
		return arrow.Millisecond, nil
	case "s":
		return arrow.Second, nil
	}
	return 0, fmt.Errorf("parquet: ParquetOptions.Int96Unit %q: want \"us\" (the default), \"ns\", \"ms\" or \"s\"", s)
}

// field is f as the repairs read it.
func (r pqRepairs) field(f arrow.Field) arrow.Field {
	switch {
	case r.int96[f.Name]:
		f.Type = &arrow.TimestampType{Unit: r.unit, TimeZone: "UTC"}
	case r.maps[f.Name]:
		if l, ok := f.Type.(*arrow.ListType); ok {
			if st, ok := l.Elem().(*arrow.StructType); ok && st.NumFields() == 2 {
				m := arrow.MapOf(st.Field(0).Type, st.Field(1).Type)
				m.SetItemNullable(st.Field(1).Nullable)
				f.Type = m
			}
		}
	}
	return f
}

// stripMetadata drops the repair keys from a read schema's metadata.
func pqStripRepairKeys(md arrow.Metadata) arrow.Metadata {
	if md.FindKey(pqRepairInt96Key) < 0 && md.FindKey(pqRepairMapKey) < 0 {
		return md
	}
	var keys, vals []string
	for i, k := range md.Keys() {
		if k != pqRepairInt96Key && k != pqRepairMapKey {
			keys, vals = append(keys, k), append(vals, md.Values()[i])
		}
	}
	return arrow.NewMetadata(keys, vals)
}

// pqInt96Timestamps converts an INT96 column read as 12-byte values
// (nanoseconds of the day, then the Julian day, little-endian) into
// timestamps of unit.
func pqInt96Timestamps(mem memory.Allocator, a *array.FixedSizeBinary, dt *arrow.TimestampType) (arrow.Array, error) {
	b := array.NewTimestampBuilder(mem, dt)
	defer b.Release()
	b.Reserve(a.Len())
	for i := range a.Len() {
		if a.IsNull(i) {
			b.UnsafeAppendBoolToBitmap(false)
			continue
		}
		v := a.Value(i)
		if len(v) != pqInt96Bytes {
			return nil, fmt.Errorf("INT96 value of %d bytes", len(v))
		}
		// The day is a signed 32-bit Julian day and the nanoseconds a
		// signed offset from it (negative ones included). Spark computes
		// both from its microseconds in wrapping 64-bit arithmetic, which
		// overflows for years past about 290000; the same arithmetic here
		// undoes it, so the microseconds come back exactly, as DuckDB and
		// Spark read them.
		nanos := int64(binary.LittleEndian.Uint64(v[:8]))
		day := int64(int32(binary.LittleEndian.Uint32(v[8:])))
		us := (day-pqJulianDayOfUnixEpoch)*86400_000_000 + floorDiv(nanos, 1000)
		switch dt.Unit {
		case arrow.Microsecond:
			b.UnsafeAppend(arrow.Timestamp(us))
		case arrow.Millisecond:
			b.UnsafeAppend(arrow.Timestamp(floorDiv(us, 1000)))
		case arrow.Second:
			b.UnsafeAppend(arrow.Timestamp(floorDiv(us, 1_000_000)))
		default:
			rem := nanos - floorDiv(nanos, 1000)*1000
			if us > (math.MaxInt64-rem)/1000 || us < math.MinInt64/1000 {
				year := time.UnixMicro(us).UTC().Year()
				return nil, fmt.Errorf("INT96 value %d: year %d is outside the range of timestamp[ns] (1677-2262); read it with ParquetOptions{Int96Unit: \"us\"}", i, year)
			}
			b.UnsafeAppend(arrow.Timestamp(us*1000 + rem))
		}
	}
	return b.NewArray(), nil
}

// floorDiv is a/b rounded toward negative infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// pqMapFromList views a list of key-value structs as a map of type dt,
// refusing a null key.
func pqMapFromList(l *array.List, dt *arrow.MapType) (arrow.Array, error) {
	entries, ok := l.ListValues().(*array.Struct)
	if !ok || entries.NumField() != 2 {
		return nil, fmt.Errorf("repaired map column is %s, not a list of key-value structs", l.DataType())
	}
	if entries.Field(0).NullN() > 0 {
		return nil, fmt.Errorf("a map key is null (the file declares its keys optional; Arrow maps have no null keys)")
	}
	d := pqRetype(l.Data(), dt)
	defer d.Release()
	return array.MakeFromData(d), nil
}
