package blocks

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// AccessError is the failure of a typed getter that reads a column by name
// (Row's, and the dataset package's Columns'): no column of that name, a
// column of a type the getter cannot read, or (Reason) a view that has no
// row to read. Getters panic with it, as an index out of range does; the
// engine turns the panic into the task's error.
type AccessError struct {
	Getter string         // the getter: "Row.Int64", "Columns.Float64", ...
	Column string         // the column asked for
	Type   arrow.DataType // the column's type; nil when there is no such column
	Schema *arrow.Schema  // the columns there are; nil when Reason is set
	Reason string         // why nothing could be read, when no column is at fault
}

// wants names what each typed getter reads, by method name.
var wants = map[string]string{
	"Int64":   "an integer column",
	"Float64": "an integer or float column",
	"String":  "a utf8 column (or a dictionary of utf8)",
	"Bool":    "a bool column",
	"Time":    "a timestamp or date column",
}

func (e *AccessError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s(%q): ", e.Getter, e.Column)
	switch {
	case e.Reason != "":
		b.WriteString(e.Reason)
		return b.String()
	case e.Type == nil:
		b.WriteString("no such column")
	default:
		method := e.Getter[strings.LastIndexByte(e.Getter, '.')+1:]
		fmt.Fprintf(&b, "column %q is %s; %s reads %s", e.Column, e.Type, method, wants[method])
	}
	b.WriteString(" (columns: ")
	if e.Schema != nil {
		for j, f := range e.Schema.Fields() {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s", f.Name, f.Type)
		}
	}
	b.WriteString(")")
	return b.String()
}
