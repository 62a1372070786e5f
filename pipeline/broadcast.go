package pipeline

import (
	"github.com/shoal-data/shoal/ops"
)

// InlineBroadcasts replaces each exchange of the optimized plan n that has
// a Broadcast by the one-to-one stage it makes over its first input, after
// collect has run the exchange's small input (its bytes: an Arrow IPC
// stream). Spark broadcasts a small join side the same way: collected by
// the driver, sent whole to every task. The new stage joins the one-to-one
// chains around it, so a read, the join's probe and a partial aggregation
// run as one task per read task. collect may return nil (Explain): the
// stage is planned but must not run.
func InlineBroadcasts(n ops.Node, collect func(ops.Node) ([]byte, error)) (ops.Node, error) {
	var err error
	var walk func(ops.Node) ops.Node
	walk = func(n ops.Node) ops.Node {
		kids := n.Children()
		next := make([]ops.Node, len(kids))
		changed := false
		for i, c := range kids {
			next[i] = walk(c)
			changed = changed || next[i] != c
		}
		if err != nil {
			return n
		}
		if changed {
			n = n.WithChildren(next)
		}
		switch x := n.(type) {
		case *Exchange:
			if x.Broadcast == nil || len(x.More) != 1 {
				return n
			}
			var more []byte
			if more, err = collect(x.More[0]); err != nil {
				return n
			}
			var st *ops.OneToOne
			if st, err = x.Broadcast(more); err != nil || st == nil {
				return n
			}
			stage := *st
			stage.Input = x.Input
			return ops.FuseOneToOne(&stage)
		case *ops.Fused:
			return mergeChains(x)
		}
		return n
	}
	out := walk(n)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mergeChains re-fuses f's stages onto its input, one by one, with the
// rule the optimizer fuses by (ops.FuseOneToOne), so a chain whose input
// became a chain (a probe stage in place of an exchange) joins it where
// the rule allows.
func mergeChains(f *ops.Fused) ops.Node {
	if _, ok := f.Input.(*ops.Fused); !ok {
		return f
	}
	n := f.Input
	for _, st := range f.Stages {
		s := *st
		s.Input = n
		n = ops.FuseOneToOne(&s)
	}
	return n
}
