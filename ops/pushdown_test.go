package ops

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// scanSource records the projection and filter handed to it.
type scanSource struct {
	cols   []string
	filter Expr
}

var scanSchema = arrow.NewSchema([]arrow.Field{
	{Name: "a", Type: arrow.PrimitiveTypes.Int64},
	{Name: "b", Type: arrow.PrimitiveTypes.Int64},
	{Name: "c", Type: arrow.BinaryTypes.String},
	{Name: "d", Type: arrow.PrimitiveTypes.Float64},
}, nil)

func (s *scanSource) Name() string {
	out := "Scan"
	if s.cols != nil {
		out += fmt.Sprintf("%v", s.cols)
	}
	if !s.filter.IsZero() {
		out += "{" + s.filter.String() + "}"
	}
	return out
}
func (s *scanSource) NumRows() int64                    { return -1 }
func (s *scanSource) ReadTasks(int) ([]ReadTask, error) { return nil, nil }
func (s *scanSource) Schema() *arrow.Schema {
	if s.cols == nil {
		return scanSchema
	}
	var fs []arrow.Field
	for _, c := range s.cols {
		fs = append(fs, scanSchema.Field(scanSchema.FieldIndices(c)[0]))
	}
	return arrow.NewSchema(fs, nil)
}
func (s *scanSource) WithColumns(cols []string) (Datasource, error) {
	for _, c := range cols {
		if len(scanSchema.FieldIndices(c)) == 0 {
			return nil, fmt.Errorf("no column %s", c)
		}
	}
	return &scanSource{cols: cols, filter: s.filter}, nil
}
func (s *scanSource) WithFilter(e Expr) Datasource {
	return &scanSource{cols: s.cols, filter: AndExpr(s.filter, e)}
}

func where(e Expr) *OneToOne { return &OneToOne{Label: "Where(" + e.String() + ")", Predicate: e} }
func project(c ...string) *OneToOne {
	return &OneToOne{Label: fmt.Sprintf("Select%v", c), Project: c, PreservesRows: true}
}

func TestPushDownPredicateAndProjection(t *testing.T) {
	rules := []Rule{PushDownPredicate, PushDownProjection}
	cases := []struct {
		name string
		plan Node
		want string
	}{
		{"filter into source",
			chain(&Read{Source: &scanSource{}}, where(Col("a").Gt(1))),
			"Where(a > 1)\n  Scan{a > 1}\n"},
		{"projection into source",
			chain(&Read{Source: &scanSource{}}, project("b", "a")),
			"Select[b a]\n  Scan[b a]\n"},
		{"filter moves below a selection that keeps its column",
			chain(&Read{Source: &scanSource{}}, project("a", "b"), where(Col("a").Gt(1))),
			"Select[a b]\n  Where(a > 1)\n    Scan[a b]{a > 1}\n"},
		{"projection reads the filter's columns too",
			chain(&Read{Source: &scanSource{}}, where(Col("d").Lt(0.5)), project("a")),
			"Select[a]\n  Where(d < 0.5)\n    Scan[a d]{d < 0.5}\n"},
		{"two filters both reach the source",
			chain(&Read{Source: &scanSource{}}, where(Col("a").Gt(1)), where(Col("c").Eq("x"))),
			"Where(c = 'x')\n  Where(a > 1)\n    Scan{a > 1 AND c = 'x'}\n"},
		{"nothing passes an opaque map",
			chain(&Read{Source: &scanSource{}}, stage("Map", true, 0), where(Col("a").Gt(1)), project("a")),
			"Select[a]\n  Where(a > 1)\n    Map\n      Scan\n"},
		{"nothing passes a limit",
			chain(&Limit{Input: &Read{Source: &scanSource{}}, N: 5}, where(Col("a").Gt(1))),
			"Where(a > 1)\n  Limit(5)\n    Scan\n"},
		{"an unknown column is left for the Select stage to report",
			chain(&Read{Source: &scanSource{}}, project("zz")),
			"Select[zz]\n  Scan\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := shape(Optimize(c.plan, rules...)); got != c.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestPushDownKeepsSourcesWithoutSupport(t *testing.T) {
	plan := chain(&Read{Source: &fakeSource{rows: 10}}, where(Col("a").Gt(1)), project("a"))
	if got, want := shape(Optimize(plan, PushDownPredicate, PushDownProjection)), "Select[a]\n  Where(a > 1)\n    Fake\n"; got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
}

var schemaSuffix = regexp.MustCompile(`(?m) \[[^\]]*\]$`)

// shape is Format without the schemas.
func shape(n Node) string { return schemaSuffix.ReplaceAllString(Format(n), "") }
