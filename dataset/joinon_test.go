package dataset_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-data/shoal/dataset"
)

// joinOnSides makes a left side (k, s, lv, x) and a right side
// (id, tag, rv, x, k): the keys are k=id and, with two keys, s=tag. The
// right x and k are not keys, so they clash with left names.
func joinOnSides(rng *rand.Rand, keyRange int) (left, right []dataset.Item) {
	maybe := func(v any) any {
		if rng.IntN(10) == 0 {
			return nil
		}
		return v
	}
	for i := range 1 + rng.IntN(120) {
		left = append(left, dataset.Item{"k": maybe(int64(rng.IntN(keyRange))), "s": maybe([]string{"a", "b"}[rng.IntN(2)]),
			"lv": int64(i), "x": int64(rng.IntN(5))})
	}
	for i := range 1 + rng.IntN(120) {
		right = append(right, dataset.Item{"id": maybe(int64(rng.IntN(keyRange))), "tag": maybe([]string{"a", "b"}[rng.IntN(2)]),
			"rv": int64(i), "x": int64(rng.IntN(5)), "k": int64(-i)})
	}
	return left, right
}

// refJoin joins the columns leftCols of left with the columns rightCols of
// right, through a Go map from right key tuples to right rows, and renders
// each output row as its sorted name=value pairs.
func refJoin(left, right []dataset.Item, leftCols, rightCols, leftOn, rightOn []string, kind dataset.JoinKind) []string {
	key := func(it dataset.Item, names []string) (string, bool) {
		var b strings.Builder
		for _, n := range names {
			if it[n] == nil {
				return "", false // null keys match nothing
			}
			fmt.Fprintf(&b, "%v|", it[n])
		}
		return b.String(), true
	}
	index := map[string][]int{}
	for i, r := range right {
		if k, ok := key(r, rightOn); ok {
			index[k] = append(index[k], i)
		}
	}
	row := func(l, r dataset.Item) string {
		out := dataset.Item{}
		for i, k := range leftOn {
			if l != nil {
				out[k] = l[k]
			} else {
				out[k] = r[rightOn[i]]
			}
		}
		for _, c := range leftCols {
			if !slices.Contains(leftOn, c) && l != nil {
				out[c] = l[c]
			} else if !slices.Contains(leftOn, c) {
				out[c] = nil
			}
		}
		if kind != dataset.SemiJoin && kind != dataset.AntiJoin {
			for _, c := range rightCols {
				if slices.Contains(rightOn, c) {
					continue
				}
				name := c
				if _, used := out[c]; used {
					name += "_right"
				}
				out[name] = nil
				if r != nil {
					out[name] = r[c]
				}
			}
		}
		return renderItem(out)
	}
	var out []string
	matchedRight := make([]bool, len(right))
	for _, l := range left {
		k, ok := key(l, leftOn)
		matches := index[k]
		if !ok {
			matches = nil
		}
		switch {
		case kind == dataset.SemiJoin:
			if len(matches) > 0 {
				out = append(out, row(l, nil))
			}
		case kind == dataset.AntiJoin:
			if len(matches) == 0 {
				out = append(out, row(l, nil))
			}
		case len(matches) == 0 && (kind == dataset.LeftJoin || kind == dataset.FullJoin):
			out = append(out, row(l, nil))
		default:
			for _, ri := range matches {
				matchedRight[ri] = true
				out = append(out, row(l, right[ri]))
			}
		}
	}
	if kind == dataset.RightJoin || kind == dataset.FullJoin {
		for ri, r := range right {
			if !matchedRight[ri] {
				out = append(out, row(nil, r))
			}
		}
	}
	slices.Sort(out)
	return out
}

func renderItems(rows []dataset.Item) []string {
	out := make([]string, len(rows))
	for i, it := range rows {
		out[i] = renderItem(it)
	}
	slices.Sort(out)
	return out
}

func renderItem(it dataset.Item) string {
	names := make([]string, 0, len(it))
	for n := range it {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%v ", n, it[n])
	}
	return b.String()
}

func TestJoinOnMatchesReference(t *testing.T) {
	e := setup(t)
	kinds := []dataset.JoinKind{dataset.InnerJoin, dataset.LeftJoin, dataset.RightJoin, dataset.FullJoin, dataset.SemiJoin, dataset.AntiJoin}
	for seed := range uint64(16) {
		rng := rand.New(rand.NewPCG(seed, 14))
		left, right := joinOnSides(rng, []int{1, 5, 50, 1000}[seed%4])
		leftOn, rightOn := []string{"k"}, []string{"id"}
		if seed%2 == 1 {
			leftOn, rightOn = []string{"s", "k"}, []string{"tag", "id"}
		}
		leftCols, rightCols := []string{"k", "s", "lv", "x"}, []string{"id", "tag", "rv", "x", "k"}
		for _, kind := range kinds {
			l := dataset.FromItems(left, e.par(1+rng.IntN(5))...).SelectColumns(leftCols...)
			r := dataset.FromItems(right, e.par(1+rng.IntN(5))...).SelectColumns(rightCols...)
			rows, err := l.JoinOn(r, leftOn, rightOn, kind).TakeAll(e.ctx)
			if err != nil {
				t.Fatalf("seed %d %s: %v", seed, kind, err)
			}
			got, want := renderItems(rows), refJoin(left, right, leftCols, rightCols, leftOn, rightOn, kind)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d %s join on %v=%v: %d rows, want %d\ngot  %v\nwant %v", seed, kind, leftOn, rightOn, len(got), len(want), head(got), head(want))
			}
		}
	}
}

func TestJoinOnSchema(t *testing.T) {
	e := setup(t)
	l := dataset.FromItems([]dataset.Item{{"k": int64(1), "s": "a", "lv": int64(1), "x": int64(0)}}, e.opt())
	r := dataset.FromItems([]dataset.Item{{"id": int64(1), "tag": "a", "rv": int64(1), "x": int64(0), "k": int64(-1)}}, e.opt())
	for kind, want := range map[dataset.JoinKind][]string{
		dataset.InnerJoin: {"s", "k", "lv", "x", "id", "rv", "x_right"},
		dataset.FullJoin:  {"s", "k", "lv", "x", "id", "rv", "x_right"},
		dataset.SemiJoin:  {"s", "k", "lv", "x"},
	} {
		// The right k is a key (dropped), its id is not (kept).
		joined := l.SelectColumns("k", "s", "lv", "x").JoinOn(r.SelectColumns("id", "tag", "rv", "x", "k"), []string{"s", "k"}, []string{"tag", "k"}, kind)
		s, err := joined.Schema(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range s.Fields() {
			got = append(got, f.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: columns %v, want %v", kind, got, want)
		}
	}
}

func TestJoinOnErrors(t *testing.T) {
	e := setup(t)
	l := dataset.FromItems([]dataset.Item{{"k": int64(1), "a": "x"}}, e.opt())
	r := dataset.FromItems([]dataset.Item{{"id": "1", "b": "y", "n": int64(2)}}, e.opt())
	for _, c := range []struct {
		d    *dataset.Dataset
		want string
	}{
		{l.JoinOn(r, []string{"k"}, []string{"id"}, dataset.InnerJoin), `left key "k" is int64 but right key "id" is utf8`},
		{l.JoinOn(r, []string{"k"}, []string{"nope"}, dataset.LeftJoin), `right side: unknown column "nope" (have [b id n])`},
		{l.JoinOn(r, []string{"nope"}, []string{"n"}, dataset.LeftJoin), `left side: unknown column "nope" (have [a k])`},
		{l.JoinOn(r, []string{"k", "a"}, []string{"n"}, dataset.InnerJoin), `2 left key columns [k a] but 1 right ones [n]`},
		{l.JoinOn(r, []string{"k", "k"}, []string{"n", "b"}, dataset.InnerJoin), `left key "k" is given twice`},
		{l.JoinOn(r, nil, nil, dataset.InnerJoin), "dataset.JoinOn: no key columns"},
	} {
		_, err := c.d.TakeAll(e.ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %s", err, c.want)
		}
	}
	// A known-good pair of differently named keys builds.
	if _, err := l.JoinOn(r, []string{"k"}, []string{"n"}, dataset.InnerJoin).TakeAll(e.ctx); err != nil {
		t.Errorf("k=n: %v", err)
	}
}
