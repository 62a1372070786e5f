package ops

import (
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
)

// Rule rewrites a plan. It returns the node unchanged when it does not apply.
type Rule func(Node) Node

// DefaultRules are the optimizer's rules in the order they run.
var DefaultRules = []Rule{FoldConstants, PushDownPredicate, PushDownProjection, PushDownLimit, SortLimitToTopK, MergeExprStages, MergeSelection, FuseOneToOne}

// DefaultRulesWithout is DefaultRules less the rules in skip, in order: to
// compare a plan with and without a rule, or to turn one off.
func DefaultRulesWithout(skip ...Rule) []Rule {
	var out []Rule
	for _, r := range DefaultRules {
		kept := true
		for _, s := range skip {
			// Functions compare only by their code pointer.
			kept = kept && reflect.ValueOf(r).Pointer() != reflect.ValueOf(s).Pointer()
		}
		if kept {
			out = append(out, r)
		}
	}
	return out
}

// Optimize applies rules to the plan, each bottom-up over the whole tree.
func Optimize(n Node, rules ...Rule) Node {
	if len(rules) == 0 {
		rules = DefaultRules
	}
	for _, r := range rules {
		n = transformUp(n, r)
	}
	return n
}

func transformUp(n Node, r Rule) Node {
	children := n.Children()
	if len(children) > 0 {
		changed := false
		next := make([]Node, len(children))
		for i, c := range children {
			next[i] = transformUp(c, r)
			changed = changed || next[i] != c
		}
		if changed {
			n = n.WithChildren(next)
		}
	}
	return r(n)
}

// PushDownLimit moves a Limit below row-preserving one-to-one operators
// (so a Map runs only on the rows kept), merges nested limits, and hands the
// limit to a source that can read only the first rows. The Limit itself
// stays above the source, which keeps results exact.
func PushDownLimit(n Node) Node {
	l, ok := n.(*Limit)
	if !ok {
		return n
	}
	switch in := l.Input.(type) {
	case *Limit:
		return PushDownLimit(&Limit{Input: in.Input, N: min(l.N, in.N)})
	case *OneToOne:
		if in.PreservesRows {
			return in.WithChildren([]Node{PushDownLimit(&Limit{Input: in.Input, N: l.N})})
		}
	case *Read:
		if src, ok := in.Source.(LimitedDatasource); ok {
			if rows := in.Rows(); rows < 0 || rows > l.N {
				return &Limit{Input: in.withSource(src.WithLimit(l.N)), N: l.N}
			}
		}
	}
	return n
}

// FuseOneToOne merges chains of one-to-one operators into one Fused node, so
// each block passes through the whole chain in one task without a trip
// through the object store. A stage that asks for larger batches than the
// chain gets, or for other CPUs per task, starts a new chain (as Ray fuses
// only operators with the same resources), and actor stages stand alone.
func FuseOneToOne(n Node) Node {
	switch o := n.(type) {
	case *OneToOne:
		if f, ok := o.Input.(*Fused); ok && o.BatchRows == 0 && o.Actors == nil && !f.HasActors() &&
			TaskCPUs(o.CPUs) == f.TaskCPUs() && o.MaxConcurrency == 0 && f.MaxConcurrency() == 0 {
			stages := append([]*OneToOne(nil), f.Stages...)
			return &Fused{Input: f.Input, Stages: append(stages, o)}
		}
		return &Fused{Input: o.Input, Stages: []*OneToOne{o}}
	}
	return n
}

// FilterRouter is a node with inputs a filter above it may move below
// (a sort's, a join side's): FilterSides gives their indices among the
// node's children for a filter reading cols, none when it must stay.
type FilterRouter interface {
	Node
	FilterSides(cols []string) []int
}

// ColumnPruner is a one-input node that can say which input columns it
// reads when only the columns out of its output are needed (nil: all),
// false when it cannot.
type ColumnPruner interface {
	Node
	InputColumns(out []string) ([]string, bool)
}

// InputPruner is a node with several inputs (a join) that can say which
// columns of each it needs for the output columns out, and rebuild itself
// over inputs narrowed to them; nil when it needs them all.
type InputPruner interface {
	Node
	InputNeeds(out []string) ([][]string, func([]Node) Node)
}

// PushDownPredicate hands an expression filter to the source below it, so
// the source can skip files and row groups the predicate rules out. The
// filter moves below column selections that keep its columns first. The
// filter node itself stays, which keeps results exact, unless the source
// drops the rows it rules out itself (RowFilterDatasource).
func PushDownPredicate(n Node) Node {
	f, ok := n.(*OneToOne)
	if !ok || f.Predicate.IsZero() {
		return n
	}
	switch in := f.Input.(type) {
	case *OneToOne:
		if in.Project != nil && containsAll(in.Project, f.Predicate.Columns()) {
			// Filter(Select(x)) = Select(Filter(x)) when the filter reads
			// only selected columns.
			return in.WithChildren([]Node{PushDownPredicate(f.WithChildren([]Node{in.Input}))})
		}
		if !in.Predicate.IsZero() {
			// Below another filter: hand the predicate to the source under
			// it too, keeping the filters' order.
			if pushed := filterSourceBelow(in, f.Predicate); pushed != nil {
				return f.WithChildren([]Node{pushed})
			}
		}
	case *Read:
		if src, ok := in.Source.(RowFilterDatasource); ok && plainStage(f) && src.FiltersRows(f.Predicate) {
			// The source drops the rows itself: no filter stage is left.
			return in.withSource(src.WithFilter(f.Predicate))
		}
		if src, ok := in.Source.(FilterableDatasource); ok {
			return f.WithChildren([]Node{in.withSource(src.WithFilter(f.Predicate))})
		}
	case *Union:
		// A filter of a union is the union of the inputs filtered.
		kids := make([]Node, len(in.Inputs))
		for i, c := range in.Inputs {
			kids[i] = PushDownPredicate(f.WithChildren([]Node{c}))
		}
		return in.WithChildren(kids)
	case FilterRouter:
		if !plainStage(f) {
			return n
		}
		sides := in.FilterSides(f.Predicate.Columns())
		if len(sides) == 0 {
			return n
		}
		kids := append([]Node(nil), in.Children()...)
		for _, i := range sides {
			kids[i] = PushDownPredicate(f.WithChildren([]Node{kids[i]}))
		}
		return in.WithChildren(kids)
	}
	return n
}

// filterSourceBelow rebuilds a chain of filters over a filterable source
// with e handed to the source, or returns nil when the chain ends elsewhere.
func filterSourceBelow(n Node, e Expr) Node {
	switch x := n.(type) {
	case *OneToOne:
		if x.Predicate.IsZero() {
			return nil
		}
		if in := filterSourceBelow(x.Input, e); in != nil {
			return x.WithChildren([]Node{in})
		}
	case *Read:
		if src, ok := x.Source.(FilterableDatasource); ok {
			return x.withSource(src.WithFilter(e))
		}
	}
	return nil
}

// PushDownProjection hands the source the columns a chain of one-to-one
// stages reads (a column selection, a Select, the columns WithColumn and
// Where expressions use), through the other stages of the chain that say
// what they read, so only those columns are decoded.
func PushDownProjection(n Node) Node {
	top, ok := n.(*OneToOne)
	if !ok {
		return n
	}
	need, ok := stageNeeds(top, nil)
	if !ok || len(need) == 0 {
		return n
	}
	// Walk down through the stages, limits, sorts and shuffles under top,
	// each turning what is needed of its output into what it reads.
	var chain []Node
	cur := top.Input
	for {
		var below []string
		ok := true
		switch o := cur.(type) {
		case *OneToOne:
			below, ok = stageNeeds(o, need)
		case *Limit:
			below = need
		case ColumnPruner:
			below, ok = o.InputColumns(need)
		default:
			ok = false
		}
		if !ok || len(cur.Children()) != 1 {
			break
		}
		chain = append(chain, cur)
		need = below
		cur = cur.Children()[0]
	}
	var out Node
	if p, ok := cur.(InputPruner); ok {
		out = pruneInputs(p, need)
	} else {
		out = narrowRead(cur, need)
	}
	if out == nil {
		return n
	}
	for i := len(chain) - 1; i >= 0; i-- {
		out = chain[i].WithChildren([]Node{out})
	}
	return top.WithChildren([]Node{out})
}

// pruneInputs rebuilds p over inputs that keep only the columns p needs for
// its output columns need, each input's selection pushed on towards its
// source; nil when p needs every column.
func pruneInputs(p InputPruner, need []string) Node {
	sides, rebuild := p.InputNeeds(need)
	if sides == nil {
		return nil
	}
	kids := append([]Node(nil), p.Children()...)
	for i, cols := range sides {
		if i >= len(kids) || len(cols) == 0 {
			continue
		}
		if s := kids[i].Schema(); s == nil || len(cols) >= s.NumFields() {
			continue
		}
		sel := Step{Kind: StepSelect}
		for _, c := range cols {
			sel.Exprs = append(sel.Exprs, Col(c))
		}
		st := NewExprStage(Program{sel})
		st.Input = kids[i]
		kids[i] = PushDownProjection(st)
	}
	return rebuild(kids)
}

// narrowRead is the read n with its source narrowed to the columns need,
// or nil when n is not such a read or already reads just those.
func narrowRead(n Node, need []string) Node {
	r, ok := n.(*Read)
	if !ok {
		return nil
	}
	src, ok := r.Source.(ProjectableDatasource)
	if !ok {
		return nil
	}
	if s := r.Schema(); s != nil && len(need) == s.NumFields() && containsAll(need, fieldNames(s)) {
		return nil // already reads just these
	}
	narrowed, err := src.WithColumns(need)
	if err != nil {
		return nil // leave it to the stages to report the unknown column
	}
	return r.withSource(narrowed)
}

// stageNeeds is the input columns stage o reads when the columns out of
// its output are needed (nil: all), and false when it cannot say (a Go
// function may read anything) or needs them all.
func stageNeeds(o *OneToOne, out []string) ([]string, bool) {
	switch {
	case o.Program != nil:
		need := o.Program.Needs(out)
		return need, need != nil
	case o.Project != nil:
		return o.Project, true
	case !o.Predicate.IsZero() && out != nil:
		return union(out, o.Predicate.Columns()), true
	}
	return nil, false
}

func containsAll(set, items []string) bool {
	for _, it := range items {
		found := false
		for _, s := range set {
			if s == it {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func fieldNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}
