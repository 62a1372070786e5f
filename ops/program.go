package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// StepKind says what a Program step does.
type StepKind int

const (
	// StepFilter keeps the rows where Expr is true.
	StepFilter StepKind = iota
	// StepWith sets column Name to Expr, in place if there is one of that
	// name and last otherwise.
	StepWith
	// StepSelect makes the block exactly Exprs, each named by its Name,
	// all computed from the block before the step.
	StepSelect
)

// Step is one step of a Program.
type Step struct {
	Kind  StepKind
	Expr  Expr
	Name  string
	Exprs []Expr
}

func (s Step) String() string {
	switch s.Kind {
	case StepFilter:
		return "Where(" + s.Expr.String() + ")"
	case StepWith:
		return "WithColumn(" + s.Name + ", " + s.Expr.String() + ")"
	}
	parts := make([]string, len(s.Exprs))
	for i, e := range s.Exprs {
		parts[i] = e.String()
	}
	return "Select(" + strings.Join(parts, ", ") + ")"
}

// Program is what Where, WithColumn and Select compute, as steps over a
// working block. Consecutive expression stages merge into one program
// (MergeExprStages), which runs as one pass over each block: every step
// sees the block the steps before it left, a filter gathers only the
// columns some later step or the output still needs, and no stage makes a
// block of its own.
type Program []Step

func (p Program) String() string {
	parts := make([]string, len(p))
	for i, s := range p {
		parts[i] = s.String()
	}
	return strings.Join(parts, "->")
}

// Schema is the program's output schema for input schema in, or the first
// step's error: an unknown column, a type mismatch, a filter that is not
// boolean, a Select naming two columns alike.
func (p Program) Schema(in *arrow.Schema) (*arrow.Schema, error) {
	s := in
	for _, st := range p {
		switch st.Kind {
		case StepFilter:
			t, err := st.Expr.DataType(s)
			if err != nil {
				return nil, err
			}
			if t.ID() != arrow.BOOL && t.ID() != arrow.NULL {
				return nil, fmt.Errorf("filter %s: the expression is %s, not boolean", st.Expr, t)
			}
		case StepWith:
			t, err := st.Expr.DataType(s)
			if err != nil {
				return nil, err
			}
			f := arrow.Field{Name: st.Name, Type: t, Nullable: true}
			fields := append([]arrow.Field(nil), s.Fields()...)
			if idx := s.FieldIndices(st.Name); len(idx) > 0 {
				fields[idx[0]] = f
			} else {
				fields = append(fields, f)
			}
			s = arrow.NewSchema(fields, nil)
		case StepSelect:
			fields := make([]arrow.Field, len(st.Exprs))
			seen := map[string]bool{}
			for i, e := range st.Exprs {
				t, err := e.DataType(s)
				if err != nil {
					return nil, err
				}
				name := e.Name()
				if seen[name] {
					return nil, fmt.Errorf("select: two columns named %q (name one with Alias)", name)
				}
				seen[name] = true
				fields[i] = arrow.Field{Name: name, Type: t, Nullable: true}
				if c, ok := ColumnName(e); ok {
					if idx := s.FieldIndices(c); len(idx) > 0 {
						fields[i].Nullable = s.Field(idx[0]).Nullable
						fields[i].Metadata = s.Field(idx[0]).Metadata
					}
				}
			}
			s = arrow.NewSchema(fields, nil)
		}
	}
	return s, nil
}

// PreservesRows reports a program with no filter.
func (p Program) PreservesRows() bool {
	for _, st := range p {
		if st.Kind == StepFilter {
			return false
		}
	}
	return true
}

// Needs is the input columns the program reads when its output columns
// out are needed (nil: all of them): nil when that is every input column
// (a WithColumn keeps them all).
func (p Program) Needs(out []string) []string {
	live := p.liveness(out)
	return live[0]
}

// liveness gives, for each step, the columns of the working block that
// step or a later one reads or the output keeps (nil: all), and at the
// end the output's need.
func (p Program) liveness(out []string) [][]string {
	live := make([][]string, len(p)+1)
	live[len(p)] = out
	for i := len(p) - 1; i >= 0; i-- {
		after := live[i+1]
		st := p[i]
		switch st.Kind {
		case StepFilter:
			if after != nil {
				live[i] = union(after, st.Expr.Columns())
			}
		case StepWith:
			if after != nil {
				var keep []string
				for _, c := range after {
					if c != st.Name {
						keep = append(keep, c)
					}
				}
				live[i] = union(keep, st.Expr.Columns())
			}
		case StepSelect:
			need := []string{}
			for _, e := range st.Exprs {
				if after == nil || contains(after, e.Name()) {
					need = union(need, e.Columns())
				}
			}
			live[i] = need
		}
	}
	return live
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, c := range b {
		if !contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func contains(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

// Run computes the program over one block; the result carries one
// reference for the caller.
func (p Program) Run(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
	return p.run(tc, tc.Alloc, in)
}

func (p Program) run(ctx context.Context, mem memory.Allocator, in blocks.Block) (blocks.Block, error) {
	live := p.liveness(nil)
	cur := in
	cur.Retain()
	release := func() { cur.Release() }
	for i, st := range p {
		if live[i] != nil && int(cur.NumCols()) > len(live[i]) {
			next := keepColumns(cur, live[i])
			cur.Release()
			cur = next
		}
		var next arrow.RecordBatch
		var err error
		switch st.Kind {
		case StepFilter:
			// Gather only the columns later steps read: a column only the
			// filter reads is dropped before the rows are copied.
			next, err = FilterProject(ctx, mem, st.Expr, cur, live[i+1])
		case StepWith:
			var col arrow.Array
			if col, err = st.Expr.Eval(ctx, mem, cur); err == nil {
				next, err = blocks.WithColumn(cur, st.Name, col)
				col.Release()
			}
		case StepSelect:
			next, err = selectExprs(ctx, mem, st.Exprs, cur)
		}
		if err != nil {
			release()
			return nil, err
		}
		cur.Release()
		cur = next
	}
	return cur, nil
}

// keepColumns is b with only the named columns it has, in b's order,
// sharing its arrays.
func keepColumns(b arrow.RecordBatch, names []string) arrow.RecordBatch {
	var fields []arrow.Field
	var cols []arrow.Array
	for i, f := range b.Schema().Fields() {
		if contains(names, f.Name) {
			fields = append(fields, f)
			cols = append(cols, b.Column(i))
		}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows())
}

func selectExprs(ctx context.Context, mem memory.Allocator, exprs []Expr, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	fields := make([]arrow.Field, len(exprs))
	cols := make([]arrow.Array, 0, len(exprs))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i, e := range exprs {
		col, err := e.Eval(ctx, mem, b)
		if err != nil {
			return nil, err
		}
		cols = append(cols, col)
		fields[i] = arrow.Field{Name: e.Name(), Type: col.DataType(), Nullable: true}
		if c, ok := ColumnName(e); ok {
			if idx := b.Schema().FieldIndices(c); len(idx) > 0 {
				fields[i].Nullable = b.Schema().Field(idx[0]).Nullable
				fields[i].Metadata = b.Schema().Field(idx[0]).Metadata
			}
		}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
}

// exprsKind is the stage kind of a Program.
const exprsKind = "ops.exprs"

type stepJSON struct {
	Filter json.RawMessage   `json:"filter,omitempty"`
	With   string            `json:"with,omitempty"`
	Expr   json.RawMessage   `json:"expr,omitempty"`
	Select []json.RawMessage `json:"select,omitempty"`
}

// MarshalProgram encodes a program as JSON.
func MarshalProgram(p Program) ([]byte, error) {
	steps := make([]stepJSON, len(p))
	for i, st := range p {
		var err error
		switch st.Kind {
		case StepFilter:
			steps[i].Filter, err = MarshalExpr(st.Expr)
		case StepWith:
			steps[i].With = st.Name
			steps[i].Expr, err = MarshalExpr(st.Expr)
		case StepSelect:
			steps[i].Select, err = marshalArgs(st.Exprs...)
			if steps[i].Select == nil {
				steps[i].Select = []json.RawMessage{}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return json.Marshal(steps)
}

// UnmarshalProgram decodes what MarshalProgram encoded.
func UnmarshalProgram(data []byte) (Program, error) {
	var steps []stepJSON
	if err := json.Unmarshal(data, &steps); err != nil {
		return nil, fmt.Errorf("ops: decoding an expression program: %w", err)
	}
	p := make(Program, len(steps))
	for i, sj := range steps {
		switch {
		case sj.Filter != nil:
			e, err := UnmarshalExpr(sj.Filter)
			if err != nil {
				return nil, err
			}
			p[i] = Step{Kind: StepFilter, Expr: e}
		case sj.With != "":
			e, err := UnmarshalExpr(sj.Expr)
			if err != nil {
				return nil, err
			}
			p[i] = Step{Kind: StepWith, Name: sj.With, Expr: e}
		case sj.Select != nil:
			st := Step{Kind: StepSelect}
			for _, raw := range sj.Select {
				e, err := UnmarshalExpr(raw)
				if err != nil {
					return nil, err
				}
				st.Exprs = append(st.Exprs, e)
			}
			p[i] = st
		default:
			return nil, fmt.Errorf("ops: decoding an expression program: step %d is empty", i)
		}
		if p[i].Kind != StepSelect && p[i].Expr.IsZero() {
			return nil, fmt.Errorf("ops: decoding an expression program: step %d has no expression", i)
		}
	}
	return p, nil
}

func init() {
	RegisterStage(exprsKind, func(args json.RawMessage) (BlockFn, error) {
		p, err := UnmarshalProgram(args)
		if err != nil {
			return nil, err
		}
		return programFn(p), nil
	})
}

// programFn is a program's stage function; blocks with no columns (the
// void blocks of empty reads) pass untouched.
func programFn(p Program) BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		if in.NumCols() == 0 {
			in.Retain()
			return in, nil
		}
		return p.Run(tc, in)
	}
}

// NewExprStage is the one-to-one stage that runs p. A program of one
// filter is also the stage's Predicate, which sources use to skip data.
func NewExprStage(p Program) *OneToOne {
	st := &OneToOne{
		Label:         p.String(),
		PreservesRows: p.PreservesRows(),
		OutSchema:     p.Schema,
		Fn:            programFn(p),
		Program:       p,
	}
	if len(p) == 1 && p[0].Kind == StepFilter {
		st.Predicate = p[0].Expr
	}
	if data, err := MarshalProgram(p); err == nil {
		st.Spec = &Spec{Kind: exprsKind, Args: data}
	}
	return st
}

// withProgram is st running p instead, with st's other settings.
func (o *OneToOne) withProgram(p Program) *OneToOne {
	n := NewExprStage(p)
	n.Input, n.CPUs, n.MaxConcurrency, n.BatchRows = o.Input, o.CPUs, o.MaxConcurrency, o.BatchRows
	return n
}
