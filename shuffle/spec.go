package shuffle

import (
	"encoding/json"
	"fmt"
)

// aggJSON is an Agg as data: {"kind":"sum","col":"fare","as":"total"}.
type aggJSON struct {
	Kind string `json:"kind"`
	Col  string `json:"col,omitempty"`
	As   string `json:"as,omitempty"`
	Zero bool   `json:"zero,omitempty"`
}

// MarshalJSON encodes the aggregation, so that it can travel in a task's
// spec to another process.
func (a Agg) MarshalJSON() ([]byte, error) {
	if a.kind < aggCount || int(a.kind) >= len(aggNames) {
		return nil, fmt.Errorf("shuffle: unknown aggregation kind %d", a.kind)
	}
	return json.Marshal(aggJSON{Kind: aggNames[a.kind], Col: a.col, As: a.As, Zero: a.zero})
}

// UnmarshalJSON decodes what MarshalJSON encoded.
func (a *Agg) UnmarshalJSON(data []byte) error {
	var j aggJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	for k, name := range aggNames {
		if name == j.Kind {
			*a = Agg{kind: aggKind(k), col: j.Col, As: j.As, zero: j.Zero}
			return nil
		}
	}
	return fmt.Errorf("shuffle: unknown aggregation %q", j.Kind)
}

// NewAdaptive is an Adaptive that starts with a decision already made: map
// tasks run in another process cannot share the driver's Adaptive, so they
// get what it has learned so far (Skipping) as data. Either way the
// aggregation's result is the same; only where the grouping work happens
// differs.
func NewAdaptive(skip bool) *Adaptive {
	a := &Adaptive{}
	a.skip.Store(skip)
	return a
}

// Observe records that a map task grouped a block of rows rows into groups
// partial rows, as AggregateMap does itself: the executor calls it with
// what it sees of tasks that ran elsewhere.
func (a *Adaptive) Observe(rows, groups int64) { a.observe(rows, groups) }
