package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// exprJSON is the JSON form of an Expr node: Op says which fields apply.
//
//	{"op":"col","col":"fare"}   {"op":"lit","value":{"type":"int","v":"1"}} (no value: NULL)
//	{"op":"cmp","col":"fare","cmp":">","value":{"type":"float64","v":"10"}}
//	{"op":"compare","cmp":">","args":[l,r]}   {"op":"arith","arith":"*","args":[l,r]}
//	{"op":"neg","args":[x]}   {"op":"not","args":[x]}   {"op":"null","null":true,"args":[x]}
//	{"op":"and","terms":[...]}   {"op":"or","terms":[...]}
//	{"op":"cast","type":"<Arrow IPC schema, base64>","args":[x]}
//	{"op":"alias","name":"revenue","args":[x]}   {"op":"call","fn":"year","args":[x]}
//
// {"op":"null","col":"tip"} (IS NULL of a column, as earlier versions
// wrote it) still decodes.
type exprJSON struct {
	Op    string            `json:"op"`
	Col   string            `json:"col,omitempty"`
	Cmp   string            `json:"cmp,omitempty"`
	Arith string            `json:"arith,omitempty"`
	Value *literalJSON      `json:"value,omitempty"`
	Null  bool              `json:"null,omitempty"`
	Terms []json.RawMessage `json:"terms,omitempty"`
	Args  []json.RawMessage `json:"args,omitempty"`
	Type  []byte            `json:"type,omitempty"`
	Name  string            `json:"name,omitempty"`
	Fn    string            `json:"fn,omitempty"`
}

// literalJSON is a constant with its Go type, so it decodes to the very
// value it was (an int stays an int, a float32 a float32). Numbers travel
// as strings: exact for every int64 and uint64, and NaN and infinities
// have a form.
type literalJSON struct {
	Type string `json:"type"`
	V    string `json:"v"`
	// Loc is a time's location name ("UTC", "Local", "Europe/Oslo"); the
	// instant itself is in V with its offset.
	Loc string `json:"loc,omitempty"`
}

// MarshalExpr encodes an expression as JSON: every node type of this
// package with constants of every type Lit accepts (Go integers, floats,
// strings, bools, time.Time and nil). A constant of another type is an
// error. The zero Expr is "null".
func MarshalExpr(e Expr) ([]byte, error) {
	if e.IsZero() {
		return []byte("null"), nil
	}
	j, err := exprToJSON(e)
	if err != nil {
		return nil, err
	}
	// Without HTML escaping, "fare > 10" stays readable in specs and logs.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalExpr decodes what MarshalExpr encoded.
func UnmarshalExpr(data []byte) (Expr, error) {
	if string(data) == "null" || len(data) == 0 {
		return Expr{}, nil
	}
	var j exprJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return Expr{}, fmt.Errorf("ops: decoding an expression: %w", err)
	}
	return exprFromJSON(j)
}

func marshalArgs(args ...Expr) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(args))
	for i, a := range args {
		if a.IsZero() {
			return nil, errNoExpr
		}
		data, err := MarshalExpr(a)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func exprToJSON(e Expr) (exprJSON, error) {
	var j exprJSON
	var args []Expr
	switch x := e.n.(type) {
	case *colRef:
		return exprJSON{Op: "col", Col: x.name}, nil
	case *literalNode:
		if x.err != nil {
			return j, fmt.Errorf("ops: expression %s: %w", e, x.err)
		}
		j.Op = "lit"
		if x.orig != nil {
			lit, err := marshalLiteral(x.orig)
			if err != nil {
				return j, fmt.Errorf("ops: expression %s: %w", e, err)
			}
			j.Value = lit
		}
		return j, nil
	case *Cmp:
		if x.Op < Eq || x.Op > Ge {
			return j, fmt.Errorf("ops: predicate on %q: unknown comparison %d", x.Column, x.Op)
		}
		lit, err := marshalLiteral(x.Value)
		if err != nil {
			return j, fmt.Errorf("ops: predicate %s: %w", x, err)
		}
		return exprJSON{Op: "cmp", Col: x.Column, Cmp: cmpNames[x.Op], Value: lit}, nil
	case *comparison:
		j.Op, j.Cmp, args = "compare", cmpNames[x.op], []Expr{x.l, x.r}
	case *arithNode:
		j.Op, j.Arith, args = "arith", arithNames[x.op], []Expr{x.l, x.r}
	case *negate:
		j.Op, args = "neg", []Expr{x.x}
	case *not:
		j.Op, args = "not", []Expr{x.x}
	case *NullCheck:
		if c, ok := x.x.n.(*colRef); ok {
			return exprJSON{Op: "null", Col: c.name, Null: x.Null}, nil
		}
		j.Op, j.Null, args = "null", x.Null, []Expr{x.x}
	case *cast:
		t, err := MarshalSchema(arrow.NewSchema([]arrow.Field{{Name: "t", Type: x.to, Nullable: true}}, nil))
		if err != nil {
			return j, fmt.Errorf("ops: expression %s: %w", e, err)
		}
		j.Op, j.Type, args = "cast", t, []Expr{x.x}
	case *alias:
		j.Op, j.Name, args = "alias", x.name, []Expr{x.x}
	case *call:
		j.Op, j.Fn, args = "call", x.name, x.args
	case *Logical:
		j := exprJSON{Op: "or"}
		if x.And {
			j.Op = "and"
		}
		terms, err := marshalArgs(x.Terms...)
		if err != nil {
			return j, err
		}
		j.Terms = terms
		if j.Terms == nil {
			j.Terms = []json.RawMessage{}
		}
		return j, nil
	default:
		return j, fmt.Errorf("ops: cannot encode an expression node of type %T", e.n)
	}
	var err error
	j.Args, err = marshalArgs(args...)
	return j, err
}

func exprFromJSON(j exprJSON) (Expr, error) {
	args := make([]Expr, len(j.Args))
	for i, a := range j.Args {
		e, err := UnmarshalExpr(a)
		if err != nil {
			return Expr{}, err
		}
		if e.IsZero() {
			return Expr{}, fmt.Errorf("ops: decoding an expression: null argument of %q", j.Op)
		}
		args[i] = e
	}
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("ops: decoding an expression: %q takes %d arguments, not %d", j.Op, n, len(args))
		}
		return nil
	}
	op := -1
	for i, n := range cmpNames {
		if n == j.Cmp {
			op = i
		}
	}
	switch j.Op {
	case "col":
		return Col(j.Col), nil
	case "lit":
		if j.Value == nil {
			return Lit(nil), nil
		}
		v, err := unmarshalLiteral(*j.Value)
		if err != nil {
			return Expr{}, fmt.Errorf("ops: decoding a constant: %w", err)
		}
		return Lit(v), nil
	case "cmp":
		if op < 0 {
			return Expr{}, fmt.Errorf("ops: decoding a predicate on %q: unknown comparison %q", j.Col, j.Cmp)
		}
		if j.Value == nil {
			return Expr{}, fmt.Errorf("ops: decoding a predicate on %q: no constant", j.Col)
		}
		v, err := unmarshalLiteral(*j.Value)
		if err != nil {
			return Expr{}, fmt.Errorf("ops: decoding a predicate on %q: %w", j.Col, err)
		}
		return Expr{&Cmp{Column: j.Col, Op: CmpOp(op), Value: v}}, nil
	case "compare":
		if op < 0 {
			return Expr{}, fmt.Errorf("ops: decoding an expression: unknown comparison %q", j.Cmp)
		}
		if err := need(2); err != nil {
			return Expr{}, err
		}
		return Expr{&comparison{op: CmpOp(op), l: args[0], r: args[1]}}, nil
	case "arith":
		for i, n := range arithNames {
			if n == j.Arith {
				if err := need(2); err != nil {
					return Expr{}, err
				}
				return arith(arithOp(i), args[0], args[1]), nil
			}
		}
		return Expr{}, fmt.Errorf("ops: decoding an expression: unknown operator %q", j.Arith)
	case "neg", "not", "null", "cast", "alias":
		if j.Op == "null" && j.Col != "" && len(args) == 0 {
			args = []Expr{Col(j.Col)}
		}
		if err := need(1); err != nil {
			return Expr{}, err
		}
		switch j.Op {
		case "neg":
			return args[0].Neg(), nil
		case "not":
			return args[0].Not(), nil
		case "null":
			return Expr{&NullCheck{x: args[0], Null: j.Null}}, nil
		case "alias":
			return args[0].Alias(j.Name), nil
		}
		s, err := UnmarshalSchema(j.Type)
		if err != nil || s == nil || s.NumFields() != 1 {
			return Expr{}, fmt.Errorf("ops: decoding a cast: bad type (%v)", err)
		}
		return args[0].Cast(s.Field(0).Type), nil
	case "call":
		return Expr{&call{name: j.Fn, args: args}}, nil
	case "and", "or":
		l := &Logical{And: j.Op == "and"}
		for _, t := range j.Terms {
			e, err := UnmarshalExpr(t)
			if err != nil {
				return Expr{}, err
			}
			if e.IsZero() {
				return Expr{}, fmt.Errorf("ops: decoding a predicate: null term in %s", j.Op)
			}
			l.Terms = append(l.Terms, e)
		}
		return Expr{l}, nil
	}
	return Expr{}, fmt.Errorf("ops: decoding an expression: unknown node %q", j.Op)
}

func marshalLiteral(v any) (*literalJSON, error) {
	i := func(t string, x int64) *literalJSON { return &literalJSON{Type: t, V: strconv.FormatInt(x, 10)} }
	u := func(t string, x uint64) *literalJSON { return &literalJSON{Type: t, V: strconv.FormatUint(x, 10)} }
	switch x := v.(type) {
	case int:
		return i("int", int64(x)), nil
	case int8:
		return i("int8", int64(x)), nil
	case int16:
		return i("int16", int64(x)), nil
	case int32:
		return i("int32", int64(x)), nil
	case int64:
		return i("int64", x), nil
	case uint:
		return u("uint", uint64(x)), nil
	case uint8:
		return u("uint8", uint64(x)), nil
	case uint16:
		return u("uint16", uint64(x)), nil
	case uint32:
		return u("uint32", uint64(x)), nil
	case uint64:
		return u("uint64", x), nil
	case float32:
		return &literalJSON{Type: "float32", V: strconv.FormatFloat(float64(x), 'g', -1, 32)}, nil
	case float64:
		return &literalJSON{Type: "float64", V: strconv.FormatFloat(x, 'g', -1, 64)}, nil
	case string:
		return &literalJSON{Type: "string", V: x}, nil
	case bool:
		return &literalJSON{Type: "bool", V: strconv.FormatBool(x)}, nil
	case time.Time:
		return &literalJSON{Type: "time", V: x.Format(time.RFC3339Nano), Loc: x.Location().String()}, nil
	}
	return nil, fmt.Errorf("unsupported constant of type %T", v)
}

func unmarshalLiteral(l literalJSON) (any, error) {
	bitsOf := map[string]int{"int": strconv.IntSize, "int8": 8, "int16": 16, "int32": 32, "int64": 64,
		"uint": strconv.IntSize, "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
	switch l.Type {
	case "int", "int8", "int16", "int32", "int64":
		n, err := strconv.ParseInt(l.V, 10, bitsOf[l.Type])
		if err != nil {
			return nil, err
		}
		switch l.Type {
		case "int":
			return int(n), nil
		case "int8":
			return int8(n), nil
		case "int16":
			return int16(n), nil
		case "int32":
			return int32(n), nil
		}
		return n, nil
	case "uint", "uint8", "uint16", "uint32", "uint64":
		n, err := strconv.ParseUint(l.V, 10, bitsOf[l.Type])
		if err != nil {
			return nil, err
		}
		switch l.Type {
		case "uint":
			return uint(n), nil
		case "uint8":
			return uint8(n), nil
		case "uint16":
			return uint16(n), nil
		case "uint32":
			return uint32(n), nil
		}
		return n, nil
	case "float32":
		f, err := strconv.ParseFloat(l.V, 32)
		return float32(f), err
	case "float64":
		return strconv.ParseFloat(l.V, 64)
	case "string":
		return l.V, nil
	case "bool":
		return strconv.ParseBool(l.V)
	case "time":
		t, err := time.Parse(time.RFC3339Nano, l.V)
		if err != nil {
			return nil, err
		}
		return inLocation(t, l.Loc), nil
	}
	return nil, fmt.Errorf("unknown constant type %q", l.Type)
}

// inLocation puts t (an instant with a fixed offset) in the named location
// when this process knows it and it gives the same offset; the instant
// never changes.
func inLocation(t time.Time, name string) time.Time {
	var loc *time.Location
	switch name {
	case "", "UTC":
		if _, off := t.Zone(); off == 0 {
			return t.UTC()
		}
		return t
	case "Local":
		loc = time.Local
	default:
		l, err := time.LoadLocation(name)
		if err != nil {
			return t
		}
		loc = l
	}
	in := t.In(loc)
	_, a := in.Zone()
	_, b := t.Zone()
	if a != b {
		return t
	}
	return in
}
