package ops

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
)

// sortNode is a Sorter, as pipeline.Exchange is for a Sort.
type sortNode struct {
	Input Node
	keys  []blocks.SortKey
}

func (s *sortNode) Name() string               { return "Sort" }
func (s *sortNode) Children() []Node           { return []Node{s.Input} }
func (s *sortNode) WithChildren(c []Node) Node { n := *s; n.Input = c[0]; return &n }
func (s *sortNode) Schema() *arrow.Schema      { return s.Input.Schema() }
func (s *sortNode) Rows() int64                { return s.Input.Rows() }
func (s *sortNode) SortedBy() []blocks.SortKey { return s.keys }

func TestSortLimitToTopK(t *testing.T) {
	keys := []blocks.SortKey{{Column: "d", Descending: true}, {Column: "a"}}
	scan := func() Node { return &Read{Source: &scanSource{}} }
	cases := []struct {
		name string
		plan Node
		want string
	}{
		{"sort then limit",
			&Limit{Input: &sortNode{Input: scan(), keys: keys}, N: 10},
			"TopK[k=10; keys=d desc, a]\n  TopKPartial[k=10; keys=d desc, a]\n    Scan\n"},
		{"a row-preserving stage between",
			&Limit{Input: chain(&sortNode{Input: scan(), keys: keys}, project("a", "d")), N: 3},
			"Select[a d]\n  TopK[k=3; keys=d desc, a]\n    TopKPartial[k=3; keys=d desc, a]\n      Scan\n"},
		{"nested limits",
			&Limit{Input: &Limit{Input: &sortNode{Input: scan(), keys: keys}, N: 5}, N: 7},
			"TopK[k=5; keys=d desc, a]\n  TopKPartial[k=5; keys=d desc, a]\n    Scan\n"},
		{"a filter between stays a sort",
			&Limit{Input: chain(&sortNode{Input: scan(), keys: keys}, where(Col("a").Gt(1))), N: 3},
			"Limit(3)\n  Where(a > 1)\n    Sort\n      Scan\n"},
		{"a limit above TopKMaxRows stays a sort",
			&Limit{Input: &sortNode{Input: scan(), keys: keys}, N: TopKMaxRows + 1},
			"Limit(100001)\n  Sort\n    Scan\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules := []Rule{PushDownLimit, SortLimitToTopK}
			if got := shape(Optimize(c.plan, rules...)); got != c.want {
				t.Errorf("optimized plan:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestTopKRows(t *testing.T) {
	keys := []blocks.SortKey{{Column: "x"}}
	for _, c := range []struct{ rows, k, want int64 }{{1000, 10, 10}, {4, 10, 4}, {-1, 10, -1}, {1000, 0, 0}} {
		plan := Optimize(&Limit{Input: &sortNode{Input: &Read{Source: &fakeSource{rows: c.rows}}, keys: keys}, N: c.k})
		if _, ok := plan.(*TopK); !ok {
			t.Fatalf("plan is %T, want a TopK:\n%s", plan, Format(plan))
		}
		if got := plan.Rows(); got != c.want {
			t.Errorf("TopK(k=%d) over %d rows: Rows() = %d, want %d", c.k, c.rows, got, c.want)
		}
	}
}

func TestTopKPartialSpecBuilds(t *testing.T) {
	st := TopKPartial(&Read{Source: &fakeSource{rows: 5}}, 3, []blocks.SortKey{{Column: "x", Descending: true}})
	if _, err := BuildStage(*st.Spec); err != nil {
		t.Fatalf("building the partial stage from its spec: %v", err)
	}
}

func TestDefaultRulesWithout(t *testing.T) {
	rules := DefaultRulesWithout(SortLimitToTopK)
	if len(rules) != len(DefaultRules)-1 {
		t.Fatalf("%d rules, want %d", len(rules), len(DefaultRules)-1)
	}
	plan := &Limit{Input: &sortNode{Input: &Read{Source: &fakeSource{rows: 100}}, keys: []blocks.SortKey{{Column: "x"}}}, N: 3}
	if _, ok := Optimize(plan, rules...).(*TopK); ok {
		t.Error("the rule left out still ran")
	}
}
