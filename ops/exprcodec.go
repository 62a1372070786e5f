package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// exprJSON is the JSON form of an Expr node: Op says which fields apply.
//
//	{"op":"cmp","col":"fare","cmp":">","value":{"type":"float64","v":"10"}}
//	{"op":"null","col":"tip","null":true}
//	{"op":"and","terms":[...]}   {"op":"or","terms":[...]}
type exprJSON struct {
	Op    string            `json:"op"`
	Col   string            `json:"col,omitempty"`
	Cmp   string            `json:"cmp,omitempty"`
	Value *literalJSON      `json:"value,omitempty"`
	Null  bool              `json:"null,omitempty"`
	Terms []json.RawMessage `json:"terms,omitempty"`
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

// MarshalExpr encodes a predicate as JSON: every node type of this package
// (Cmp, NullCheck, Logical) with constants of every type Cmp accepts (Go
// integers, floats, strings, bools and time.Time). An Expr implemented
// elsewhere, or a constant of another type, is an error. A nil Expr is
// "null".
func MarshalExpr(e Expr) ([]byte, error) {
	if e == nil {
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
		return nil, nil
	}
	var j exprJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("ops: decoding a predicate: %w", err)
	}
	return exprFromJSON(j)
}

func exprToJSON(e Expr) (exprJSON, error) {
	switch x := e.(type) {
	case *Cmp:
		if x.Op < Eq || x.Op > Ge {
			return exprJSON{}, fmt.Errorf("ops: predicate on %q: unknown comparison %d", x.Column, x.Op)
		}
		lit, err := marshalLiteral(x.Value)
		if err != nil {
			return exprJSON{}, fmt.Errorf("ops: predicate %s: %w", x, err)
		}
		return exprJSON{Op: "cmp", Col: x.Column, Cmp: cmpNames[x.Op], Value: lit}, nil
	case *NullCheck:
		return exprJSON{Op: "null", Col: x.Column, Null: x.Null}, nil
	case *Logical:
		j := exprJSON{Op: "or", Terms: []json.RawMessage{}}
		if x.And {
			j.Op = "and"
		}
		for _, t := range x.Terms {
			data, err := MarshalExpr(t)
			if err != nil {
				return exprJSON{}, err
			}
			j.Terms = append(j.Terms, data)
		}
		return j, nil
	}
	return exprJSON{}, fmt.Errorf("ops: cannot encode a predicate of type %T", e)
}

func exprFromJSON(j exprJSON) (Expr, error) {
	switch j.Op {
	case "cmp":
		op := -1
		for i, n := range cmpNames {
			if n == j.Cmp {
				op = i
			}
		}
		if op < 0 {
			return nil, fmt.Errorf("ops: decoding a predicate on %q: unknown comparison %q", j.Col, j.Cmp)
		}
		if j.Value == nil {
			return nil, fmt.Errorf("ops: decoding a predicate on %q: no constant", j.Col)
		}
		v, err := unmarshalLiteral(*j.Value)
		if err != nil {
			return nil, fmt.Errorf("ops: decoding a predicate on %q: %w", j.Col, err)
		}
		return &Cmp{Column: j.Col, Op: CmpOp(op), Value: v}, nil
	case "null":
		return &NullCheck{Column: j.Col, Null: j.Null}, nil
	case "and", "or":
		l := &Logical{And: j.Op == "and"}
		for _, t := range j.Terms {
			e, err := UnmarshalExpr(t)
			if err != nil {
				return nil, err
			}
			if e == nil {
				return nil, fmt.Errorf("ops: decoding a predicate: null term in %s", j.Op)
			}
			l.Terms = append(l.Terms, e)
		}
		return l, nil
	}
	return nil, fmt.Errorf("ops: decoding a predicate: unknown node %q", j.Op)
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
