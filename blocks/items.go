package blocks

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Item is one row as a Go map from column name to value: the shape per-row
// UDFs return and FromItems accepts.
type Item = map[string]any

// timestampUS is the Arrow type InferSchema assigns to time.Time values.
var timestampUS arrow.DataType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// pathError is the internal error produced while inferring or appending one
// cell. The path is assembled on the way out of the recursion so the success
// path allocates nothing; the item index is attached at the top level.
type pathError struct {
	path string
	msg  string
	item int
	// retype, when set, rebuilds msg for another Go value; conversion errors
	// use it to name the caller's original Go type after normalization.
	retype func(v any) string
}

func (e *pathError) Error() string {
	return fmt.Sprintf("blocks: field %q: %s (item %d)", e.path, e.msg, e.item)
}

// under prefixes the error path with seg: a struct field name (joined with
// ".") or "[]" for list elements.
func (e *pathError) under(seg string) *pathError {
	switch {
	case e.path == "":
		e.path = seg
	case strings.HasPrefix(e.path, "[]"):
		e.path = seg + e.path
	default:
		e.path = seg + "." + e.path
	}
	return e
}

// ---------------------------------------------------------------------------
// Schema inference
// ---------------------------------------------------------------------------

// inferKind is the inferred logical type of a node in the inference tree.
type inferKind uint8

const (
	kNull inferKind = iota
	kInt
	kUint
	kFloat
	kString
	kBool
	kBinary
	kTimestamp
	kDuration
	kList
	kStruct
)

// inferNode accumulates the unified type of every value observed at one position
// (a column, a struct field or a list element). Observing is done in place so
// inference of nested values does not allocate Arrow types per cell.
type inferNode struct {
	kind  inferKind
	elem  *inferNode     // kList
	names []string       // kStruct, in field order
	kids  []*inferNode   // kStruct, parallel to names
	index map[string]int // kStruct, name -> position
}

func newStructNode() *inferNode {
	return &inferNode{kind: kStruct, index: make(map[string]int)}
}

// arrowType renders the node as an Arrow data type. Every field and list
// element is marked nullable.
func (n *inferNode) arrowType() arrow.DataType {
	switch n.kind {
	case kInt:
		return arrow.PrimitiveTypes.Int64
	case kUint:
		return arrow.PrimitiveTypes.Uint64
	case kFloat:
		return arrow.PrimitiveTypes.Float64
	case kString:
		return arrow.BinaryTypes.String
	case kBool:
		return arrow.FixedWidthTypes.Boolean
	case kBinary:
		return arrow.BinaryTypes.Binary
	case kTimestamp:
		return timestampUS
	case kDuration:
		return arrow.FixedWidthTypes.Duration_ns
	case kList:
		return arrow.ListOf(n.elem.arrowType())
	case kStruct:
		return arrow.StructOf(n.fields()...)
	default:
		return arrow.Null
	}
}

func (n *inferNode) fields() []arrow.Field {
	fs := make([]arrow.Field, len(n.names))
	for i, name := range n.names {
		fs[i] = arrow.Field{Name: name, Type: n.kids[i].arrowType(), Nullable: true}
	}
	return fs
}

// describe names the Arrow type a value would be inferred as on its own, for
// conflict messages.
func describe(v any) string {
	tmp := &inferNode{}
	if err := tmp.observe(v); err != nil {
		return fmt.Sprintf("Go %T", v)
	}
	return tmp.arrowType().String()
}

func (n *inferNode) conflict(v any) *pathError {
	return &pathError{msg: fmt.Sprintf("conflicting types %s and %s", n.arrowType(), describe(v))}
}

// scalar unifies n with a scalar kind k.
func (n *inferNode) scalar(k inferKind, v any) *pathError {
	switch {
	case n.kind == k:
		return nil
	case n.kind == kNull:
		n.kind = k
		return nil
	case n.kind == kFloat && (k == kInt || k == kUint):
		return nil
	case k == kFloat && (n.kind == kInt || n.kind == kUint):
		n.kind = kFloat
		return nil
	}
	return n.conflict(v)
}

func (n *inferNode) asList(v any) *pathError {
	switch n.kind {
	case kList:
		return nil
	case kNull:
		n.kind = kList
		n.elem = &inferNode{}
		return nil
	}
	return n.conflict(v)
}

func (n *inferNode) asStruct(v any) *pathError {
	switch n.kind {
	case kStruct:
		return nil
	case kNull:
		n.kind = kStruct
		n.index = make(map[string]int)
		return nil
	}
	return n.conflict(v)
}

// observe unifies the node with the type of v.
func (n *inferNode) observe(v any) *pathError {
	switch x := v.(type) {
	case nil:
		return nil
	case int, int64, int32, int16, int8:
		return n.scalar(kInt, v)
	case uint, uint64, uint32, uint16, uint8:
		return n.scalar(kUint, v)
	case float64, float32:
		return n.scalar(kFloat, v)
	case string:
		return n.scalar(kString, v)
	case bool:
		return n.scalar(kBool, v)
	case []byte:
		if x == nil {
			return nil
		}
		return n.scalar(kBinary, v)
	case time.Time:
		return n.scalar(kTimestamp, v)
	case time.Duration:
		return n.scalar(kDuration, v)
	case []any:
		if x == nil {
			return nil
		}
		if err := n.asList(v); err != nil {
			return err
		}
		for _, e := range x {
			if err := n.elem.observe(e); err != nil {
				return err.under("[]")
			}
		}
		return nil
	case map[string]any:
		if x == nil {
			return nil
		}
		if err := n.asStruct(v); err != nil {
			return err
		}
		return n.observeMap(x)
	default:
		return n.observeReflect(v)
	}
}

// observeReflect handles the less common Go types: pointers, named types,
// typed slices and arrays, and maps with string keys.
func (n *inferNode) observeReflect(v any) *pathError {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		return n.observe(rv.Elem().Interface())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return n.scalar(kInt, v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return n.scalar(kUint, v)
	case reflect.Float32, reflect.Float64:
		return n.scalar(kFloat, v)
	case reflect.String:
		return n.scalar(kString, v)
	case reflect.Bool:
		return n.scalar(kBool, v)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return n.scalar(kBinary, v)
		}
		if err := n.asList(v); err != nil {
			return err
		}
		for j := range rv.Len() {
			if err := n.elem.observe(rv.Index(j).Interface()); err != nil {
				return err.under("[]")
			}
		}
		return nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			return nil
		}
		if err := n.asStruct(v); err != nil {
			return err
		}
		return n.observeMap(reflectMapToItem(rv))
	}
	return &pathError{msg: fmt.Sprintf("unsupported Go type %T", v)}
}

// reflectMapToItem copies a map with a string-kinded key into an Item.
func reflectMapToItem(rv reflect.Value) Item {
	m := make(Item, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		m[it.Key().String()] = it.Value().Interface()
	}
	return m
}

// observeMap unifies a struct node with the fields of m. New keys are
// appended in alphabetical order. On error the map is re-observed in sorted
// key order (observation is idempotent) so the reported error does not depend
// on Go's map iteration order.
func (n *inferNode) observeMap(m map[string]any) *pathError {
	var fresh []string
	for k, val := range m {
		i, ok := n.index[k]
		if !ok {
			fresh = append(fresh, k)
			continue
		}
		if err := n.kids[i].observe(val); err != nil {
			return n.observeMapSorted(m)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	slices.Sort(fresh)
	for _, k := range fresh {
		n.addField(k)
	}
	for _, k := range fresh {
		if err := n.kids[n.index[k]].observe(m[k]); err != nil {
			return err.under(k)
		}
	}
	return nil
}

func (n *inferNode) addField(name string) {
	n.index[name] = len(n.names)
	n.names = append(n.names, name)
	n.kids = append(n.kids, &inferNode{})
}

func (n *inferNode) observeMapSorted(m map[string]any) *pathError {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, ok := n.index[k]; !ok {
			n.addField(k)
		}
	}
	for _, k := range keys {
		if err := n.kids[n.index[k]].observe(m[k]); err != nil {
			return err.under(k)
		}
	}
	return nil
}

// InferSchema infers an Arrow schema across all items.
//
// Field order is the order of first appearance; keys that first appear in the
// same item are ordered alphabetically so the result is deterministic. Go
// values map to Arrow types as follows:
//
//   - int, int8, int16, int32, int64 -> int64
//   - uint, uint8, uint16, uint32, uint64 -> uint64
//   - float32, float64 -> float64
//   - string -> utf8, bool -> bool, []byte -> binary
//   - time.Time -> timestamp[us, tz=UTC], time.Duration -> duration[ns]
//   - any other slice or array (including []any) -> list of the unified
//     element type
//   - map[string]any (and other maps with string keys) -> struct whose fields
//     are unified across items, recursively
//   - nil, nil pointers, nil slices and nil maps -> null, which unifies with
//     any type; a column that is null everywhere has Arrow type null
//
// Non-nil pointers are dereferenced and named types are treated like their
// underlying kind. Unification accepts identical types, null with anything,
// integer with float64 (promoting to float64), struct with struct (merging
// fields) and list with list (unifying element types). Any other combination
// is an error naming the field (a dotted path for nested fields, "[]" marking
// list elements), both types and the item index, for example:
//
//	blocks: field "value": conflicting types int64 and utf8 (item 7)
//
// Unsupported Go types (channels, functions, complex numbers, Go structs
// other than time.Time, ...) are reported the same way. Every inferred field
// and list element is nullable, so schemas inferred from different batches of
// the same data compare equal.
func InferSchema(items []Item) (*arrow.Schema, error) {
	root, err := inferRoot(items)
	if err != nil {
		return nil, err
	}
	return arrow.NewSchema(root.fields(), nil), nil
}

func inferRoot(items []Item) (*inferNode, error) {
	root := newStructNode()
	for i, it := range items {
		if err := root.observeMap(it); err != nil {
			err.item = i
			return nil, err
		}
	}
	return root, nil
}

// FromItems infers the schema of items with InferSchema and builds one record
// batch from them. Zero items yield an empty record with an empty schema
// (0 fields, 0 rows). The caller owns the returned record and must Release it.
func FromItems(mem memory.Allocator, items []Item) (arrow.RecordBatch, error) {
	schema, err := InferSchema(items)
	if err != nil {
		return nil, err
	}
	return buildRecord(mem, schema, items)
}

// FromItemsWithSchema builds a record batch with the given schema from items.
//
// Values are converted to the field types where the conversion is exact:
// any Go integer converts to any Arrow integer type it fits in, integers and
// floats convert to float types, but a float never converts to an integer
// type, even when its value is integral. Strings and []byte are accepted by
// binary columns; time.Time by timestamp and date columns (truncated to the
// column's unit); time.Duration by duration columns (truncated likewise).
// Missing keys become null (nullability is not enforced); a key that is not
// in the schema is an error naming the key and the item index. Conversion
// errors name the field, the Go type, the Arrow type and the item index.
//
// Supported Arrow types: null, bool, all integer and float types, utf8,
// large_utf8, utf8_view, binary, large_binary, binary_view,
// fixed_size_binary, timestamp, date32, date64, duration, list, large_list,
// fixed_size_list, struct, and dictionaries of utf8 or binary values.
// The caller owns the returned record and must Release it.
func FromItemsWithSchema(mem memory.Allocator, schema *arrow.Schema, items []Item) (arrow.RecordBatch, error) {
	if schema == nil {
		return nil, fmt.Errorf("blocks: FromItemsWithSchema: nil schema")
	}
	return buildRecord(mem, schema, items)
}

func buildRecord(mem memory.Allocator, schema *arrow.Schema, items []Item) (rec arrow.RecordBatch, err error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	defer func() {
		if r := recover(); r != nil {
			rec = nil
			err = fmt.Errorf("blocks: building record with schema %s: unexpected panic: %v", schemaSummary(schema), r)
		}
	}()

	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()

	nf := schema.NumFields()
	names := make([]string, nf)
	counted := make([]bool, nf)
	apps := make([]appendFn, nf)
	seen := make(map[string]bool, nf)
	for j := range nf {
		f := schema.Field(j)
		names[j] = f.Name
		counted[j] = !seen[f.Name]
		seen[f.Name] = true
		app, err := newAppender(rb.Field(j), f.Type, f.Name)
		if err != nil {
			return nil, err
		}
		apps[j] = app
	}
	rb.Reserve(len(items))

	for idx, it := range items {
		matched := 0
		for j, app := range apps {
			v, ok := it[names[j]]
			if !ok {
				rb.Field(j).AppendNull()
				continue
			}
			if counted[j] {
				matched++
			}
			if perr := app(v); perr != nil {
				perr.under(names[j])
				perr.item = idx
				return nil, perr
			}
		}
		if matched != len(it) {
			perr := extraKey(it, seen)
			perr.item = idx
			return nil, perr
		}
	}
	if nf == 0 {
		// Keep the row count of items that carry no keys at all.
		return array.NewRecordBatch(schema, nil, int64(len(items))), nil
	}
	return rb.NewRecordBatch(), nil
}

// schemaSummary renders a schema as "name: type, ..." for error messages.
func schemaSummary(s *arrow.Schema) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, f := range s.Fields() {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s: %s", f.Name, f.Type)
	}
	sb.WriteByte('}')
	return sb.String()
}

// extraKey reports the alphabetically first key of m that is not in known.
func extraKey(m map[string]any, known map[string]bool) *pathError {
	var extra []string
	for k := range m {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	if len(extra) == 0 {
		// Cannot happen when the caller's count is right; stay defensive.
		return &pathError{msg: "unexpected key count mismatch"}
	}
	return &pathError{path: extra[0], msg: "key is not in the schema"}
}

// ---------------------------------------------------------------------------
// Appenders
// ---------------------------------------------------------------------------

// appendFn appends one Go value (possibly nil) to the builder it was created
// for. It is chosen once per column from the Arrow type; per cell it only
// type-switches on the Go value.
type appendFn func(v any) *pathError

func convErr(v any, dt arrow.DataType) *pathError {
	retype := func(v any) string { return fmt.Sprintf("cannot convert Go %T to %s", v, dt) }
	return &pathError{msg: retype(v), retype: retype}
}

func rangeErr(v any, dt arrow.DataType) *pathError {
	retype := func(v any) string { return fmt.Sprintf("Go %T value %v out of range for %s", v, v, dt) }
	return &pathError{msg: retype(v), retype: retype}
}

// normalizeGo converts values of unusual Go types to the basic types the
// appenders switch on: pointers are dereferenced (nil -> null), named kinds
// become their basic type, and nil slices and maps are null. ok reports
// whether anything changed; appenders retry with nv only then.
func normalizeGo(v any) (nv any, isNull, ok bool) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, true, true
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rv.Type() == reflect.TypeFor[time.Duration]() {
			nv = rv.Interface()
		} else {
			nv = rv.Int()
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		nv = rv.Uint()
	case reflect.Float32, reflect.Float64:
		nv = rv.Float()
	case reflect.String:
		nv = rv.String()
	case reflect.Bool:
		nv = rv.Bool()
	case reflect.Slice, reflect.Map:
		if rv.IsNil() {
			return nil, true, true
		}
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			nv = rv.Bytes()
		} else {
			nv = rv.Interface()
		}
	case reflect.Invalid:
		return nil, true, true
	default:
		nv = rv.Interface()
	}
	if reflect.TypeOf(nv) == reflect.TypeOf(v) {
		return nil, false, false
	}
	return nv, false, true
}

// retryNormalized is the shared fallback of every appender: normalize v and call fn
// again, append null, or report a conversion error.
func retryNormalized(fn appendFn, null func(), v any, dt arrow.DataType) *pathError {
	nv, isNull, ok := normalizeGo(v)
	if !ok {
		return convErr(v, dt)
	}
	if isNull {
		null()
		return nil
	}
	err := fn(nv)
	if err != nil && err.path == "" && err.retype != nil {
		// Report the value as the caller wrote it, not its normalized form.
		err.msg = err.retype(v)
	}
	return err
}

// toInt64 converts any Go integer. isInt is false for non-integers; inRange is
// false for a uint64 above math.MaxInt64.
func toInt64(v any) (x int64, isInt, inRange bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true, true
	case int64:
		return t, true, true
	case int32:
		return int64(t), true, true
	case int16:
		return int64(t), true, true
	case int8:
		return int64(t), true, true
	case uint:
		return int64(t), true, uint64(t) <= math.MaxInt64
	case uint64:
		return int64(t), true, t <= math.MaxInt64
	case uint32:
		return int64(t), true, true
	case uint16:
		return int64(t), true, true
	case uint8:
		return int64(t), true, true
	}
	return 0, false, false
}

// toUint64 converts any Go integer; inRange is false for negative values.
func toUint64(v any) (x uint64, isInt, inRange bool) {
	switch t := v.(type) {
	case uint:
		return uint64(t), true, true
	case uint64:
		return t, true, true
	case uint32:
		return uint64(t), true, true
	case uint16:
		return uint64(t), true, true
	case uint8:
		return uint64(t), true, true
	}
	if s, ok, _ := toInt64(v); ok {
		return uint64(s), true, s >= 0
	}
	return 0, false, false
}

// toFloat64 converts any Go integer or float.
func toFloat64(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case float32:
		return float64(t), true
	case uint:
		return float64(t), true
	case uint64:
		return float64(t), true
	}
	if s, ok, _ := toInt64(v); ok {
		return float64(s), true
	}
	return 0, false
}

type signedInt interface {
	~int8 | ~int16 | ~int32 | ~int64
}
type unsignedInt interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

func intAppender[T signedInt](b interface {
	Append(T)
	AppendNull()
}, dt arrow.DataType, lo, hi int64) appendFn {
	var fn appendFn
	fn = func(v any) *pathError {
		if v == nil {
			b.AppendNull()
			return nil
		}
		x, isInt, inRange := toInt64(v)
		if isInt {
			if !inRange || x < lo || x > hi {
				return rangeErr(v, dt)
			}
			b.Append(T(x))
			return nil
		}
		return retryNormalized(fn, b.AppendNull, v, dt)
	}
	return fn
}

func uintAppender[T unsignedInt](b interface {
	Append(T)
	AppendNull()
}, dt arrow.DataType, hi uint64) appendFn {
	var fn appendFn
	fn = func(v any) *pathError {
		if v == nil {
			b.AppendNull()
			return nil
		}
		x, isInt, inRange := toUint64(v)
		if isInt {
			if !inRange || x > hi {
				return rangeErr(v, dt)
			}
			b.Append(T(x))
			return nil
		}
		return retryNormalized(fn, b.AppendNull, v, dt)
	}
	return fn
}

func floatAppender[T any](b interface {
	Append(T)
	AppendNull()
}, dt arrow.DataType, conv func(float64) T) appendFn {
	var fn appendFn
	fn = func(v any) *pathError {
		if v == nil {
			b.AppendNull()
			return nil
		}
		if x, ok := toFloat64(v); ok {
			b.Append(conv(x))
			return nil
		}
		return retryNormalized(fn, b.AppendNull, v, dt)
	}
	return fn
}

func stringAppender(b interface {
	Append(string)
	AppendNull()
}, dt arrow.DataType) appendFn {
	var fn appendFn
	fn = func(v any) *pathError {
		switch x := v.(type) {
		case nil:
			b.AppendNull()
			return nil
		case string:
			b.Append(x)
			return nil
		}
		return retryNormalized(fn, b.AppendNull, v, dt)
	}
	return fn
}

func binaryAppender(b interface {
	Append([]byte)
	AppendString(string)
	AppendNull()
}, dt arrow.DataType) appendFn {
	var fn appendFn
	fn = func(v any) *pathError {
		switch x := v.(type) {
		case nil:
			b.AppendNull()
			return nil
		case []byte:
			if x == nil {
				b.AppendNull()
				return nil
			}
			b.Append(x)
			return nil
		case string:
			b.AppendString(x)
			return nil
		}
		return retryNormalized(fn, b.AppendNull, v, dt)
	}
	return fn
}

func timeAppender(null func(), dt arrow.DataType, put func(time.Time) error) appendFn {
	var fn appendFn
	fn = func(v any) *pathError {
		switch x := v.(type) {
		case nil:
			null()
			return nil
		case time.Time:
			if err := put(x); err != nil {
				return &pathError{msg: fmt.Sprintf("time %s does not fit %s: %v", x, dt, err)}
			}
			return nil
		}
		return retryNormalized(fn, null, v, dt)
	}
	return fn
}

// appendSlice appends the elements of a typed slice through elem.
func appendSlice[T any](xs []T, elem appendFn) *pathError {
	for _, e := range xs {
		if err := elem(e); err != nil {
			return err.under("[]")
		}
	}
	return nil
}

// appendList appends one typed slice as a list value.
func appendList[T any](lb array.ListLikeBuilder, xs []T, elem appendFn, checkLen func(int) *pathError) *pathError {
	if xs == nil {
		lb.AppendNull()
		return nil
	}
	if err := checkLen(len(xs)); err != nil {
		return err
	}
	lb.Append(true)
	return appendSlice(xs, elem)
}

// listAppender handles list, large_list and (with fixed >= 0) fixed_size_list.
func listAppender(lb array.ListLikeBuilder, dt arrow.DataType, elem appendFn, fixed int) appendFn {
	checkLen := func(n int) *pathError {
		if fixed >= 0 && n != fixed {
			return &pathError{msg: fmt.Sprintf("list of length %d does not fit %s", n, dt)}
		}
		return nil
	}
	return func(v any) *pathError {
		switch x := v.(type) {
		case nil:
			lb.AppendNull()
			return nil
		case []any:
			return appendList(lb, x, elem, checkLen)
		case []string:
			return appendList(lb, x, elem, checkLen)
		case []int:
			return appendList(lb, x, elem, checkLen)
		case []int64:
			return appendList(lb, x, elem, checkLen)
		case []float64:
			return appendList(lb, x, elem, checkLen)
		}
		rv := reflect.ValueOf(v)
		for rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				lb.AppendNull()
				return nil
			}
			rv = rv.Elem()
		}
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return convErr(v, dt)
		}
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			lb.AppendNull()
			return nil
		}
		if err := checkLen(rv.Len()); err != nil {
			return err
		}
		lb.Append(true)
		for j := range rv.Len() {
			if err := elem(rv.Index(j).Interface()); err != nil {
				return err.under("[]")
			}
		}
		return nil
	}
}

func structAppender(sb *array.StructBuilder, st *arrow.StructType, path string) (appendFn, error) {
	n := st.NumFields()
	names := make([]string, n)
	counted := make([]bool, n)
	kids := make([]appendFn, n)
	known := make(map[string]bool, n)
	for j := range n {
		f := st.Field(j)
		names[j] = f.Name
		counted[j] = !known[f.Name]
		known[f.Name] = true
		app, err := newAppender(sb.FieldBuilder(j), f.Type, path+"."+f.Name)
		if err != nil {
			return nil, err
		}
		kids[j] = app
	}
	appendMap := func(m map[string]any) *pathError {
		sb.Append(true)
		matched := 0
		for j, app := range kids {
			val, ok := m[names[j]]
			if !ok {
				sb.FieldBuilder(j).AppendNull()
				continue
			}
			if counted[j] {
				matched++
			}
			if err := app(val); err != nil {
				return err.under(names[j])
			}
		}
		if matched != len(m) {
			return extraKey(m, known)
		}
		return nil
	}
	fn := func(v any) *pathError {
		switch x := v.(type) {
		case nil:
			sb.AppendNull()
			return nil
		case map[string]any:
			if x == nil {
				sb.AppendNull()
				return nil
			}
			return appendMap(x)
		}
		rv := reflect.ValueOf(v)
		for rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				sb.AppendNull()
				return nil
			}
			rv = rv.Elem()
		}
		if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
			if rv.IsNil() {
				sb.AppendNull()
				return nil
			}
			return appendMap(reflectMapToItem(rv))
		}
		return convErr(v, st)
	}
	return fn, nil
}

// newAppender picks the appender for one Arrow type. path names the field in
// setup errors.
func newAppender(b array.Builder, dt arrow.DataType, path string) (fn appendFn, err error) {
	unsupported := func() error {
		return fmt.Errorf("blocks: field %q: unsupported Arrow type %s", path, dt)
	}
	// A builder of an unexpected concrete type must not panic.
	defer func() {
		if r := recover(); r != nil {
			fn, err = nil, unsupported()
		}
	}()
	switch dt.ID() {
	case arrow.NULL:
		nb := b.(*array.NullBuilder)
		var f appendFn
		f = func(v any) *pathError {
			if v == nil {
				nb.AppendNull()
				return nil
			}
			return retryNormalized(f, nb.AppendNull, v, dt)
		}
		return f, nil
	case arrow.BOOL:
		bb := b.(*array.BooleanBuilder)
		var f appendFn
		f = func(v any) *pathError {
			switch x := v.(type) {
			case nil:
				bb.AppendNull()
				return nil
			case bool:
				bb.Append(x)
				return nil
			}
			return retryNormalized(f, bb.AppendNull, v, dt)
		}
		return f, nil
	case arrow.INT8:
		return intAppender[int8](b.(*array.Int8Builder), dt, math.MinInt8, math.MaxInt8), nil
	case arrow.INT16:
		return intAppender[int16](b.(*array.Int16Builder), dt, math.MinInt16, math.MaxInt16), nil
	case arrow.INT32:
		return intAppender[int32](b.(*array.Int32Builder), dt, math.MinInt32, math.MaxInt32), nil
	case arrow.INT64:
		return intAppender[int64](b.(*array.Int64Builder), dt, math.MinInt64, math.MaxInt64), nil
	case arrow.UINT8:
		return uintAppender[uint8](b.(*array.Uint8Builder), dt, math.MaxUint8), nil
	case arrow.UINT16:
		return uintAppender[uint16](b.(*array.Uint16Builder), dt, math.MaxUint16), nil
	case arrow.UINT32:
		return uintAppender[uint32](b.(*array.Uint32Builder), dt, math.MaxUint32), nil
	case arrow.UINT64:
		return uintAppender[uint64](b.(*array.Uint64Builder), dt, math.MaxUint64), nil
	case arrow.FLOAT16:
		return floatAppender(b.(*array.Float16Builder), dt, func(x float64) float16.Num { return float16.New(float32(x)) }), nil
	case arrow.FLOAT32:
		return floatAppender(b.(*array.Float32Builder), dt, func(x float64) float32 { return float32(x) }), nil
	case arrow.FLOAT64:
		return floatAppender(b.(*array.Float64Builder), dt, func(x float64) float64 { return x }), nil
	case arrow.STRING:
		return stringAppender(b.(*array.StringBuilder), dt), nil
	case arrow.LARGE_STRING:
		return stringAppender(b.(*array.LargeStringBuilder), dt), nil
	case arrow.STRING_VIEW:
		return stringAppender(b.(*array.StringViewBuilder), dt), nil
	case arrow.BINARY, arrow.LARGE_BINARY:
		return binaryAppender(b.(*array.BinaryBuilder), dt), nil
	case arrow.BINARY_VIEW:
		return binaryAppender(b.(*array.BinaryViewBuilder), dt), nil
	case arrow.FIXED_SIZE_BINARY:
		fb := b.(*array.FixedSizeBinaryBuilder)
		width := dt.(*arrow.FixedSizeBinaryType).ByteWidth
		var f appendFn
		f = func(v any) *pathError {
			var bs []byte
			switch x := v.(type) {
			case nil:
				fb.AppendNull()
				return nil
			case []byte:
				if x == nil {
					fb.AppendNull()
					return nil
				}
				bs = x
			case string:
				bs = []byte(x)
			default:
				return retryNormalized(f, fb.AppendNull, v, dt)
			}
			if len(bs) != width {
				return &pathError{msg: fmt.Sprintf("%d bytes do not fit %s", len(bs), dt)}
			}
			fb.Append(bs)
			return nil
		}
		return f, nil
	case arrow.TIMESTAMP:
		tb := b.(*array.TimestampBuilder)
		unit := dt.(*arrow.TimestampType).Unit
		return timeAppender(tb.AppendNull, dt, func(t time.Time) error {
			ts, err := arrow.TimestampFromTime(t, unit)
			if err != nil {
				return err
			}
			tb.Append(ts)
			return nil
		}), nil
	case arrow.DATE32:
		db := b.(*array.Date32Builder)
		return timeAppender(db.AppendNull, dt, func(t time.Time) error {
			db.Append(arrow.Date32FromTime(t))
			return nil
		}), nil
	case arrow.DATE64:
		db := b.(*array.Date64Builder)
		return timeAppender(db.AppendNull, dt, func(t time.Time) error {
			db.Append(arrow.Date64FromTime(t))
			return nil
		}), nil
	case arrow.DURATION:
		db := b.(*array.DurationBuilder)
		mult := int64(dt.(*arrow.DurationType).Unit.Multiplier())
		var f appendFn
		f = func(v any) *pathError {
			switch x := v.(type) {
			case nil:
				db.AppendNull()
				return nil
			case time.Duration:
				db.Append(arrow.Duration(int64(x) / mult))
				return nil
			}
			return retryNormalized(f, db.AppendNull, v, dt)
		}
		return f, nil
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST:
		lb := b.(array.ListLikeBuilder)
		elemType := dt.(arrow.ListLikeType).Elem()
		elem, err := newAppender(lb.ValueBuilder(), elemType, path+"[]")
		if err != nil {
			return nil, err
		}
		fixed := -1
		if fl, ok := dt.(*arrow.FixedSizeListType); ok {
			fixed = int(fl.Len())
		}
		return listAppender(lb, dt, elem, fixed), nil
	case arrow.STRUCT:
		return structAppender(b.(*array.StructBuilder), dt.(*arrow.StructType), path)
	case arrow.DICTIONARY:
		db, ok := b.(*array.BinaryDictionaryBuilder)
		if !ok {
			return nil, unsupported()
		}
		valueType := dt.(*arrow.DictionaryType).ValueType
		var f appendFn
		f = func(v any) *pathError {
			var err error
			switch x := v.(type) {
			case nil:
				db.AppendNull()
				return nil
			case string:
				err = db.AppendString(x)
			case []byte:
				if x == nil {
					db.AppendNull()
					return nil
				}
				err = db.Append(x)
			default:
				return retryNormalized(f, db.AppendNull, v, dt)
			}
			if err != nil {
				return &pathError{msg: fmt.Sprintf("appending to dictionary of %s: %v", valueType, err)}
			}
			return nil
		}
		return f, nil
	}
	return nil, unsupported()
}

// ---------------------------------------------------------------------------
// Reading values back
// ---------------------------------------------------------------------------

// ValueAt returns the Go value of arr at row i (i is relative to the array,
// so sliced arrays are handled). It returns nil for nulls; int64 for every
// signedInt integer type, uint64 for unsignedInt ones; float64 for float16, float32
// and float64; string for utf8, large_utf8 and utf8_view (a copy, so it
// outlives the array); []byte for the binary kinds (a copy); bool;
// time.Time in UTC for timestamp, date32 and date64; time.Duration for
// duration; []any for list kinds; Item for struct; and the decoded value for
// dictionary and run-end encoded arrays. Other types (decimals, time of day,
// maps, ...) yield the string arr.ValueStr(i). A nil array or an index out
// of range yields nil.
func ValueAt(arr arrow.Array, i int) any {
	if arr == nil || i < 0 || i >= arr.Len() || arr.DataType().ID() == arrow.NULL || arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Uint64:
		return a.Value(i)
	case *array.Uint32:
		return uint64(a.Value(i))
	case *array.Uint16:
		return uint64(a.Value(i))
	case *array.Uint8:
		return uint64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Float16:
		return float64(a.Value(i).Float32())
	case *array.String:
		return strings.Clone(a.Value(i))
	case *array.LargeString:
		return strings.Clone(a.Value(i))
	case *array.StringView:
		return strings.Clone(a.Value(i))
	case *array.Binary:
		return slices.Clone(a.Value(i))
	case *array.LargeBinary:
		return slices.Clone(a.Value(i))
	case *array.BinaryView:
		return slices.Clone(a.Value(i))
	case *array.FixedSizeBinary:
		return slices.Clone(a.Value(i))
	case *array.Boolean:
		return a.Value(i)
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit)
	case *array.Date32:
		return a.Value(i).ToTime()
	case *array.Date64:
		return a.Value(i).ToTime()
	case *array.Duration:
		return time.Duration(a.Value(i)) * a.DataType().(*arrow.DurationType).Unit.Multiplier()
	case *array.Map:
		return a.ValueStr(i)
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		child := a.ListValues()
		out := make([]any, 0, end-start)
		for k := start; k < end; k++ {
			out = append(out, ValueAt(child, int(k)))
		}
		return out
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		out := make(Item, a.NumField())
		for j := range a.NumField() {
			out[st.Field(j).Name] = ValueAt(a.Field(j), i)
		}
		return out
	case *array.Dictionary:
		return ValueAt(a.Dictionary(), a.GetValueIndex(i))
	case *array.RunEndEncoded:
		return ValueAt(a.Values(), a.GetPhysicalIndex(i))
	}
	return arr.ValueStr(i)
}

// ToItems converts every row of rec to an Item using ValueAt. The result does
// not reference rec's memory. A nil record yields nil.
func ToItems(rec arrow.RecordBatch) []Item {
	if rec == nil {
		return nil
	}
	n := int(rec.NumRows())
	cols := rec.Columns()
	schema := rec.Schema()
	items := make([]Item, n)
	for i := range items {
		items[i] = make(Item, len(cols))
	}
	for j, col := range cols {
		name := schema.Field(j).Name
		for i := range items {
			items[i][name] = ValueAt(col, i)
		}
	}
	return items
}
