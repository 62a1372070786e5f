package ops

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// ScalarFunc is a function expressions call by name (Call): it computes
// one value per row from its arguments' values in the same row. The
// functions Shoal knows are registered in init functions of this package,
// so every copy of a program (the driver and cluster workers) has them.
type ScalarFunc struct {
	// Name is how plans print and the codec names the function: "year".
	Name string
	// MinArgs and MaxArgs bound the argument count; MaxArgs -1 is any.
	MinArgs, MaxArgs int
	// Type is the result type for these argument types, or an error saying
	// what the function needs ("needs a string"); the caller adds the
	// expression and the operands.
	Type func(args []arrow.DataType) (arrow.DataType, error)
	// Eval computes the function over n rows. Arguments are columns of n
	// rows or constants; Eval must not release them, and returns a new
	// datum (a constant when every argument is one, if it likes).
	Eval func(ec *evalCtx, args []datum, n int) (datum, error)
}

var scalarFuncs = map[string]*ScalarFunc{}

// registerFunc adds f; a name used twice is a programming error.
func registerFunc(f *ScalarFunc) {
	if _, dup := scalarFuncs[f.Name]; dup {
		panic("ops: function " + f.Name + " registered twice")
	}
	scalarFuncs[f.Name] = f
}

// FuncNames lists the registered functions, sorted.
func FuncNames() []string {
	out := make([]string, 0, len(scalarFuncs))
	for n := range scalarFuncs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Call applies the registered function name to args (Exprs or constants).
// An unknown name or a wrong argument count is reported when the plan is
// checked (DataType) and when evaluated.
func Call(name string, args ...any) Expr {
	c := &call{name: name, args: make([]Expr, len(args))}
	for i, a := range args {
		c.args[i] = operand(a)
	}
	return Expr{c}
}

// call is a function applied to arguments.
type call struct {
	name string
	args []Expr
}

func (c *call) String() string {
	parts := make([]string, len(c.args))
	for i, a := range c.args {
		parts[i] = a.String()
	}
	return c.name + "(" + strings.Join(parts, ", ") + ")"
}

func (c *call) columns(add func(string)) {
	for _, a := range c.args {
		a.n.columns(add)
	}
}

func (c *call) fn() (*ScalarFunc, error) {
	f, ok := scalarFuncs[c.name]
	if !ok {
		return nil, fmt.Errorf("expression %s: unknown function %q", c, c.name)
	}
	if len(c.args) < f.MinArgs || f.MaxArgs >= 0 && len(c.args) > f.MaxArgs {
		want := fmt.Sprint(f.MinArgs)
		switch {
		case f.MaxArgs < 0:
			want = "at least " + want
		case f.MaxArgs != f.MinArgs:
			want += fmt.Sprintf(" to %d", f.MaxArgs)
		}
		return nil, fmt.Errorf("expression %s: %s takes %s arguments, not %d", c, c.name, want, len(c.args))
	}
	return f, nil
}

func (c *call) dataType(s *arrow.Schema) (arrow.DataType, error) {
	f, err := c.fn()
	if err != nil {
		return nil, err
	}
	types := make([]arrow.DataType, len(c.args))
	for i, a := range c.args {
		if types[i], err = a.n.dataType(s); err != nil {
			return nil, err
		}
	}
	t, err := f.Type(types)
	if err != nil {
		return nil, typeError(c, err.Error(), c.args, types)
	}
	return t, nil
}

func (c *call) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	f, err := c.fn()
	if err != nil {
		return datum{}, err
	}
	args := make([]datum, 0, len(c.args))
	defer func() {
		for _, a := range args {
			a.release()
		}
	}()
	types := make([]arrow.DataType, len(c.args))
	for i, a := range c.args {
		d, err := a.n.eval(ec, b)
		if err != nil {
			return datum{}, err
		}
		args = append(args, d)
		types[i] = d.typ
	}
	if _, err := f.Type(types); err != nil {
		return datum{}, typeError(c, err.Error(), c.args, types)
	}
	out, err := f.Eval(ec, args, int(b.NumRows()))
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", c, err)
	}
	return out, nil
}

func (c *call) mayMatch(StatsFunc) bool { return true }
func (c *call) children() []Expr        { return c.args }
func (c *call) withChildren(k []Expr) exprNode {
	return &call{name: c.name, args: append([]Expr(nil), k...)}
}
