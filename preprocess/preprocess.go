// Package preprocess holds fitted feature transforms for Shoal datasets,
// modelled on Ray AIR's preprocessors and scikit-learn's transformers:
// StandardScaler, MinMaxScaler, LabelEncoder, OneHotEncoder, Concatenator,
// and Chain to run several in order.
//
// A Preprocessor is fitted once on a training dataset (Fit runs one
// distributed aggregation over it), then applied lazily to any dataset with
// Transform, or to a single Arrow record batch with TransformBatch, the
// serving path. The fitted state is plain JSON: Save a fitted preprocessor
// and Load it in the serving process to apply exactly the same transform.
//
// Fit changes the preprocessor; it must not run concurrently with a
// Transform being consumed or with TransformBatch. Transform of a fitted
// preprocessor takes its state as it is then (so the transform can run on
// a cluster's nodes); Transform before Fit reads the state when the
// dataset runs.
package preprocess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/dataset"
)

// Preprocessor is a fitted, serializable transform of datasets and batches.
type Preprocessor interface {
	// Fit computes the preprocessor's state from d, replacing any earlier
	// state. It runs d.
	Fit(ctx context.Context, d *dataset.Dataset) error
	// Transform returns d transformed, lazily: errors (such as a missing
	// Fit) surface when the returned dataset is consumed.
	Transform(d *dataset.Dataset) *dataset.Dataset
	// TransformBatch transforms one record batch. It never releases b; the
	// caller releases the returned batch, which is always a new reference.
	TransformBatch(b arrow.RecordBatch) (arrow.RecordBatch, error)
}

// ErrNotFitted is returned (wrapped) by TransformBatch, and by consuming a
// Transform, of a preprocessor that needs Fit and has not been fitted.
var ErrNotFitted = errors.New("preprocess: not fitted")

func notFitted(name string) error { return fmt.Errorf("%s: %w", name, ErrNotFitted) }

// transform is the common Transform: MapBatches over TransformBatch.
//
// A fitted preprocessor of this package travels to a cluster's workers as
// its saved JSON (the registered factory below loads it there), so it is
// the state at Transform that runs, here as on the nodes. An unfitted one
// reads its state when the dataset runs, in this process only: it cannot
// ship, and running it before Fit fails with ErrNotFitted.
func transform(d *dataset.Dataset, p Preprocessor) *dataset.Dataset {
	name := dataset.StageName(preprocessorName(p))
	if isFitted(p) {
		if saved, err := Save(p); err == nil {
			return d.MapBatches(loaded.Bind(savedState{Saved: saved}), name)
		}
	}
	return d.MapBatches(p.TransformBatch, name)
}

// savedState is a preprocessor as Save writes it.
type savedState struct {
	Saved json.RawMessage `json:"saved"`
}

// loaded makes the TransformBatch of a saved preprocessor, in any process
// running this binary.
var loaded = dataset.RegisterFactory("preprocess.transform", func(a savedState) dataset.BatchFunc {
	p, err := Load(a.Saved)
	if err != nil {
		return func(arrow.RecordBatch) (arrow.RecordBatch, error) { return nil, err }
	}
	return p.TransformBatch
})

// isFitted reports whether p has its fitted state (a Concatenator needs
// none); false for preprocessors of other packages.
func isFitted(p Preprocessor) bool {
	switch p := p.(type) {
	case *StandardScaler:
		return p.Stats != nil
	case *MinMaxScaler:
		return p.Stats != nil
	case *LabelEncoder:
		return p.Classes != nil
	case *OneHotEncoder:
		return p.Categories != nil
	case *Concatenator:
		return true
	case *Chained:
		for _, s := range p.Stages {
			if !isFitted(s) {
				return false
			}
		}
		return true
	}
	return false
}

// preprocessorName is p's type name, "StandardScaler", for stage labels.
func preprocessorName(p Preprocessor) string {
	t := reflect.TypeOf(p)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// ---------------------------------------------------------------------------
// Save and Load
// ---------------------------------------------------------------------------

// envelope is the JSON form of a saved preprocessor: its type tag and its
// own JSON (configuration plus fitted state).
type envelope struct {
	Type  string          `json:"type"`
	State json.RawMessage `json:"state"`
}

// factories makes an empty preprocessor of each saved type.
var factories = map[string]func() Preprocessor{
	"StandardScaler": func() Preprocessor { return &StandardScaler{} },
	"MinMaxScaler":   func() Preprocessor { return &MinMaxScaler{} },
	"LabelEncoder":   func() Preprocessor { return &LabelEncoder{} },
	"OneHotEncoder":  func() Preprocessor { return &OneHotEncoder{} },
	"Concatenator":   func() Preprocessor { return &Concatenator{} },
	"Chain":          func() Preprocessor { return &Chained{} },
}

func typeName(p Preprocessor) (string, error) {
	switch p.(type) {
	case *StandardScaler:
		return "StandardScaler", nil
	case *MinMaxScaler:
		return "MinMaxScaler", nil
	case *LabelEncoder:
		return "LabelEncoder", nil
	case *OneHotEncoder:
		return "OneHotEncoder", nil
	case *Concatenator:
		return "Concatenator", nil
	case *Chained:
		return "Chain", nil
	}
	return "", fmt.Errorf("preprocess.Save: unsupported preprocessor %T", p)
}

// Save encodes p, fitted or not, as JSON tagged with its type:
// {"type": "StandardScaler", "state": {...}}. Load reverses it.
func Save(p Preprocessor) ([]byte, error) {
	name, err := typeName(p)
	if err != nil {
		return nil, err
	}
	state, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("preprocess.Save %s: %w", name, err)
	}
	return json.Marshal(envelope{Type: name, State: state})
}

// Load decodes a preprocessor written by Save.
func Load(data []byte) (Preprocessor, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("preprocess.Load: %w", err)
	}
	mk, ok := factories[env.Type]
	if !ok {
		return nil, fmt.Errorf("preprocess.Load: unknown preprocessor type %q", env.Type)
	}
	p := mk()
	if len(env.State) > 0 {
		if err := json.Unmarshal(env.State, p); err != nil {
			return nil, fmt.Errorf("preprocess.Load %s: %w", env.Type, err)
		}
	}
	return p, nil
}

// Float is a float64 whose JSON form is null for NaN and the infinities
// (which JSON cannot hold), and which decodes null as NaN. Fitted
// statistics of a column without values are NaN.
type Float float64

// MarshalJSON writes f, or null when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number, or null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// ---------------------------------------------------------------------------
// Chain
// ---------------------------------------------------------------------------

// Chained runs preprocessors in order; make one with Chain.
type Chained struct {
	Stages []Preprocessor
}

// Chain returns a preprocessor that runs ps in order: Fit fits each stage
// on the output of the stages before it (transformed lazily, so the
// earlier stages run again for every later stage's Fit; Materialize the
// input first if that is costly), and Transform applies all of them.
func Chain(ps ...Preprocessor) *Chained { return &Chained{Stages: ps} }

// Fit fits each stage in order on the previous stages' transformed output.
func (c *Chained) Fit(ctx context.Context, d *dataset.Dataset) error {
	cur := d
	for i, p := range c.Stages {
		if err := p.Fit(ctx, cur); err != nil {
			return fmt.Errorf("preprocess.Chain stage %d: %w", i, err)
		}
		if i < len(c.Stages)-1 {
			cur = p.Transform(cur)
		}
	}
	return nil
}

// Transform applies every stage in order.
func (c *Chained) Transform(d *dataset.Dataset) *dataset.Dataset {
	for _, p := range c.Stages {
		d = p.Transform(d)
	}
	return d
}

// TransformBatch applies every stage in order to b.
func (c *Chained) TransformBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	b.Retain()
	cur := b
	for i, p := range c.Stages {
		next, err := p.TransformBatch(cur)
		cur.Release()
		if err != nil {
			return nil, fmt.Errorf("preprocess.Chain stage %d: %w", i, err)
		}
		cur = next
	}
	if cur == b {
		// No stage: return a new reference to the same columns.
		defer cur.Release()
		return array.NewRecordBatch(b.Schema(), b.Columns(), b.NumRows()), nil
	}
	return cur, nil
}

// MarshalJSON writes the stages as a list of Save envelopes.
func (c *Chained) MarshalJSON() ([]byte, error) {
	stages := make([]json.RawMessage, len(c.Stages))
	for i, p := range c.Stages {
		s, err := Save(p)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", i, err)
		}
		stages[i] = s
	}
	return json.Marshal(struct {
		Stages []json.RawMessage `json:"stages"`
	}{stages})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (c *Chained) UnmarshalJSON(b []byte) error {
	var v struct {
		Stages []json.RawMessage `json:"stages"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	c.Stages = make([]Preprocessor, len(v.Stages))
	for i, s := range v.Stages {
		p, err := Load(s)
		if err != nil {
			return fmt.Errorf("stage %d: %w", i, err)
		}
		c.Stages[i] = p
	}
	return nil
}
