package ops

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestUnshippableNamesTheFirstStage(t *testing.T) {
	src := &Read{Source: &fakeSource{rows: 10}}
	errA, errB := errors.New("a is not registered"), errors.New("b is not registered")
	a := &OneToOne{Input: src, Label: "A", SpecErr: errA}
	ok := &OneToOne{Input: a, Label: "OK"}
	b := &OneToOne{Input: ok, Label: "B", SpecErr: errB}
	if err := Unshippable(b); err != errA {
		t.Fatalf("Unshippable = %v, want the first stage's error", err)
	}
	if err := Unshippable(Optimize(b)); err != errA {
		t.Fatalf("after fusion: %v", err)
	}
	if err := Unshippable(&Union{Inputs: []Node{&OneToOne{Input: src}, b}}); err != errA {
		t.Fatalf("union: %v", err)
	}
	if err := Unshippable(&Limit{Input: &OneToOne{Input: src, Label: "builtin"}, N: 3}); err != nil {
		t.Fatalf("built-in stages without specs: %v", err)
	}
	if err := Unshippable(nil); err != nil {
		t.Fatal(err)
	}
}

func TestSpecRegistries(t *testing.T) {
	if !slices.Contains(StageKinds(), "ops-test.noop") { // registered once per process, whatever -count says
		RegisterStage("ops-test.noop", func(json.RawMessage) (BlockFn, error) { return nil, errors.New("bad args") })
	}
	if _, err := BuildStage(Spec{Kind: "ops-test.noop"}); err == nil || !strings.Contains(err.Error(), "bad args") {
		t.Fatalf("builder error: %v", err)
	}
	if !slices.Contains(StageKinds(), "ops-test.noop") || !slices.Contains(StageKinds(), exprsKind) {
		t.Fatalf("kinds %v", StageKinds())
	}
	if _, err := BuildRead(Spec{Kind: "ops-test.none"}); err == nil || !strings.Contains(err.Error(), "no read kind") {
		t.Fatalf("unknown read kind: %v", err)
	}
	for _, f := range []func(){
		func() { RegisterStage("ops-test.noop", nil) },
		func() { RegisterRead("", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
	if _, err := NewSpec("k", func() {}); err == nil {
		t.Fatal("a function encoded")
	}
	s := MustSpec("k", map[string]int{"a": 1})
	if s.Kind != "k" || string(s.Args) != `{"a":1}` {
		t.Fatalf("spec %+v", s)
	}
}
