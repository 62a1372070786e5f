package ops

// Rule rewrites a plan. It returns the node unchanged when it does not apply.
type Rule func(Node) Node

// DefaultRules are the optimizer's rules in the order they run.
var DefaultRules = []Rule{PushDownLimit, FuseOneToOne}

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
				return &Limit{Input: &Read{Source: src.WithLimit(l.N), Parallelism: in.Parallelism}, N: l.N}
			}
		}
	}
	return n
}

// FuseOneToOne merges chains of one-to-one operators into one Fused node, so
// each block passes through the whole chain in one task without a trip
// through the object store. A stage that asks for larger batches than the
// chain gets starts a new chain.
func FuseOneToOne(n Node) Node {
	switch o := n.(type) {
	case *OneToOne:
		if f, ok := o.Input.(*Fused); ok && o.BatchRows == 0 {
			return &Fused{Input: f.Input, Stages: append(append([]*OneToOne(nil), f.Stages...), o)}
		}
		return &Fused{Input: o.Input, Stages: []*OneToOne{o}}
	}
	return n
}
