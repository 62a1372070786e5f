package shuffle

import (
	"encoding/json"
	"testing"
)

func TestAggJSONRoundTrip(t *testing.T) {
	named := MeanOf("fare")
	named.As = "avg fare"
	aggs := []Agg{CountRows(), SumOf("a"), MinOf("b"), MaxOf("c"), MeanOf("d"), StdOf("e"), named}
	data, err := json.Marshal(aggs)
	if err != nil {
		t.Fatal(err)
	}
	var back []Agg
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != len(aggs) {
		t.Fatalf("decoded %d aggregations", len(back))
	}
	for i := range aggs {
		if back[i] != aggs[i] || back[i].Name() != aggs[i].Name() {
			t.Errorf("%s decoded as %s (%#v)", aggs[i].Name(), back[i].Name(), back[i])
		}
	}
	var a Agg
	for _, bad := range []string{`{"kind":"median","col":"x"}`, `[1]`} {
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
	if _, err := json.Marshal(Agg{kind: aggKind(42)}); err == nil {
		t.Error("an unknown kind encoded")
	}
}

func TestNewAdaptive(t *testing.T) {
	if NewAdaptive(false).Skipping() || !NewAdaptive(true).Skipping() {
		t.Fatal("NewAdaptive does not start with its decision")
	}
	a := NewAdaptive(false)
	a.Observe(adaptiveMinRows, adaptiveMinRows/2)
	if a.Skipping() {
		t.Fatal("skips after a block that pre-aggregates well")
	}
	a.Observe(adaptiveMinRows, adaptiveMinRows)
	if !a.Skipping() {
		t.Fatal("does not skip after a block of unique keys")
	}
}
