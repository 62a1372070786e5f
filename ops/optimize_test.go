package ops

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

type fakeSource struct{ rows int64 }

func (f *fakeSource) Name() string                      { return "Fake" }
func (f *fakeSource) Schema() *arrow.Schema             { return nil }
func (f *fakeSource) NumRows() int64                    { return f.rows }
func (f *fakeSource) ReadTasks(int) ([]ReadTask, error) { return nil, nil }
func (f *fakeSource) WithLimit(n int64) Datasource      { return &fakeSource{rows: min(n, f.rows)} }

func stage(label string, preserves bool, batch int64) *OneToOne {
	return &OneToOne{Label: label, PreservesRows: preserves, BatchRows: batch}
}

func chain(in Node, stages ...*OneToOne) Node {
	for _, s := range stages {
		s.Input = in
		in = s
	}
	return in
}

func TestFuseOneToOneChains(t *testing.T) {
	plan := chain(&Read{Source: &fakeSource{rows: 10}}, stage("A", true, 0), stage("B", false, 0), stage("C", true, 64), stage("D", true, 0))
	got := Format(Optimize(plan))
	want := "C->D\n  A->B\n    Fake\n"
	if got != want {
		t.Errorf("fused plan:\n%s\nwant:\n%s", got, want)
	}
}

func TestPushDownLimit(t *testing.T) {
	src := &fakeSource{rows: 1000}
	// Limit moves below the row-preserving A, not below the filter-like B,
	// merges with the inner limit, and is handed to the source.
	plan := &Limit{Input: chain(&Limit{Input: &Read{Source: src}, N: 50}, stage("B", false, 0), stage("A", true, 0)), N: 10}
	got := Format(Optimize(plan, PushDownLimit))
	want := "A\n  Limit(10)\n    B\n      Limit(50)\n        Fake\n"
	if got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	lim := Optimize(plan, PushDownLimit).Children()[0].Children()[0].Children()[0].(*Limit)
	if r := lim.Input.(*Read); r.Source.NumRows() != 50 {
		t.Errorf("source reads %d rows, want the limit of 50", r.Source.NumRows())
	}
	if rows := Optimize(plan).Rows(); rows != -1 {
		t.Errorf("rows after a non-preserving stage = %d, want unknown (-1)", rows)
	}
	if rows := (&Limit{Input: &Read{Source: src}, N: 10}).Rows(); rows != 10 {
		t.Errorf("Limit(10) over 1000 known rows = %d", rows)
	}
}

func TestFuncName(t *testing.T) {
	if got := FuncName(strings.ToUpper); got != "strings.ToUpper" {
		t.Errorf("FuncName = %q", got)
	}
	var nilFn func()
	if got := FuncName(nilFn); got != "<nil>" {
		t.Errorf("FuncName(nil) = %q", got)
	}
}
