package dataset_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dataset"
)

// columnsItems are n random rows with nulls in i32, f and s.
func columnsItems(rng *rand.Rand, n int) []dataset.Item {
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	items := make([]dataset.Item, n)
	for i := range items {
		it := dataset.Item{
			"id": int64(i), "b": rng.IntN(2) == 0,
			"t": at.Add(time.Duration(rng.IntN(5*365*24)) * time.Hour),
		}
		if rng.IntN(4) > 0 {
			it["i32"] = int32(rng.IntN(2000) - 1000)
		} else {
			it["i32"] = nil
		}
		if rng.IntN(4) > 0 {
			it["f"] = rng.NormFloat64()
		} else {
			it["f"] = nil
		}
		if rng.IntN(4) > 0 {
			it["s"] = fmt.Sprint("s", rng.IntN(1000))
		} else {
			it["s"] = nil
		}
		items[i] = it
	}
	return items
}

// deriveColumns reads every typed getter and writes added, replaced and
// dropped columns: the function TestMapColumnsMatchesReference checks.
func deriveColumns(in dataset.ColumnSet) (dataset.ColumnSet, error) {
	i32, f, s, b, t := in.Int64("i32"), in.Float64("f"), in.String("s"), in.Bool("b"), in.Time("t")
	plus := make([]int64, in.Len())
	for i, v := range i32 {
		plus[i] = v + 10
	}
	in.SetNullable("i32_plus", plus, in.Valid("i32"))
	twice := make([]float64, len(f))
	for i, v := range f {
		twice[i] = 2 * v
	}
	in.SetNullable("f", twice, in.Valid("f")) // replaced in place
	lens := make([]int32, len(s))
	for i, v := range s {
		lens[i] = int32(len(v)) // a null reads ""
	}
	in.Set("s_len", lens)
	in.Drop("b")
	nb := make([]bool, len(b))
	for i, v := range b {
		nb[i] = !v
	}
	in.Set("nb", nb)
	years := make([]int64, len(t))
	for i, v := range t {
		years[i] = int64(v.Year())
	}
	in.Set("year", years)
	return in, nil
}

// deriveReference is deriveColumns over Items.
func deriveReference(it dataset.Item) dataset.Item {
	out := dataset.Item{"id": it["id"], "i32": nil, "f": nil, "s": it["s"], "t": it["t"], "i32_plus": nil,
		"nb": !it["b"].(bool), "year": int64(it["t"].(time.Time).Year())}
	if v, ok := it["i32"].(int32); ok {
		out["i32"], out["i32_plus"] = int64(v), int64(v)+10 // Items hold every integer as int64
	}
	if v, ok := it["f"].(float64); ok {
		out["f"] = 2 * v
	}
	s, _ := it["s"].(string)
	out["s_len"] = int64(len(s))
	return out
}

func TestMapColumnsMatchesReference(t *testing.T) {
	e := setup(t)
	rng := rand.New(rand.NewPCG(14, 2))
	items := columnsItems(rng, 500)
	ds := dataset.FromItems(items, e.par(7)...).MapColumns(deriveColumns, dataset.BatchSize(33))
	wantNames := []string{"id", "b", "t", "i32", "f", "s"}
	for b, err := range dataset.FromItems(items[:1], e.opt()).IterBatches(e.ctx, 1) {
		if err != nil {
			t.Fatal(err)
		}
		wantNames = wantNames[:0]
		for _, f := range b.Schema().Fields() {
			if f.Name != "b" {
				wantNames = append(wantNames, f.Name)
			}
		}
	}
	wantNames = append(wantNames, "i32_plus", "s_len", "nb", "year")
	for b, err := range ds.IterBatches(e.ctx, 100) {
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range b.Schema().Fields() {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, wantNames) {
			t.Fatalf("columns %v, want %v", names, wantNames)
		}
		if typ := b.Schema().Field(slices.Index(names, "s_len")).Type; typ.ID() != arrow.INT32 {
			t.Errorf("s_len is %s, want int32 as Set", typ)
		}
		break
	}
	got, err := ds.TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i]["id"].(int64) < got[j]["id"].(int64) })
	if len(got) != len(items) {
		t.Fatalf("%d rows, want %d", len(got), len(items))
	}
	for i, it := range items {
		want := deriveReference(it)
		for k, v := range want {
			g := got[i][k]
			if gt, ok := g.(time.Time); ok && gt.Equal(v.(time.Time)) {
				continue
			}
			if !reflect.DeepEqual(g, v) {
				t.Fatalf("row %d column %s: %T %v, want %T %v (row %v)", i, k, g, g, v, v, got[i])
			}
		}
		if len(got[i]) != len(want) {
			t.Fatalf("row %d: %v, want %v", i, got[i], want)
		}
	}
}

func TestMapColumnsNewRows(t *testing.T) {
	e := setup(t)
	evens := dataset.Range(100, e.par(4)...).MapColumns(func(in dataset.ColumnSet) (dataset.ColumnSet, error) {
		var ids []int64
		for _, id := range in.Int64("id") {
			if id%2 == 0 {
				ids = append(ids, id)
			}
		}
		out := dataset.NewColumnSet(len(ids))
		out.Set("even", ids)
		return out, nil
	})
	got, err := evens.TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := int64(0)
	for _, r := range got {
		sum += r["even"].(int64)
	}
	if len(got) != 50 || sum != 2450 || len(got[0]) != 1 {
		t.Fatalf("%d rows summing to %d (first %v), want 50 summing to 2450", len(got), sum, got[0])
	}
}

func TestMapColumnsErrors(t *testing.T) {
	e := setup(t)
	src := dataset.FromItems([]dataset.Item{{"id": 1, "s": "a"}, {"id": 2, "s": "b"}}, e.par(1)...)
	const cols = "(columns: id int64, s utf8)"
	errUser := errors.New("user says no")
	for _, c := range []struct {
		name string
		fn   dataset.ColumnSetFunc
		want []string
	}{
		{"unknown column", func(in dataset.ColumnSet) (dataset.ColumnSet, error) { in.Float64("fre"); return in, nil },
			[]string{"MapColumns(", "block 0", `ColumnSet.Float64("fre"): no such column ` + cols}},
		{"wrong type", func(in dataset.ColumnSet) (dataset.ColumnSet, error) { in.Int64("s"); return in, nil },
			[]string{`ColumnSet.Int64("s"): column "s" is utf8; Int64 reads an integer column ` + cols}},
		{"wrong type of a set column", func(in dataset.ColumnSet) (dataset.ColumnSet, error) {
			in.Set("x", []float32{1, 2})
			in.String("x")
			return in, nil
		}, []string{`ColumnSet.String("x"): column "x" is float32; String reads a utf8 column (or a dictionary of utf8) (columns: id int64, s utf8, x float32)`}},
		{"short column", func(in dataset.ColumnSet) (dataset.ColumnSet, error) { in.Set("x", []int64{1}); return in, nil },
			[]string{`column "x": 1 values, the batch has 2 rows`}},
		{"short validity", func(in dataset.ColumnSet) (dataset.ColumnSet, error) {
			in.SetNullable("x", []int64{1, 2}, []bool{true})
			return in, nil
		}, []string{`column "x": 1 validity flags, the batch has 2 rows`}},
		{"not a slice", func(in dataset.ColumnSet) (dataset.ColumnSet, error) { in.Set("x", 5); return in, nil },
			[]string{`column "x": int is not a slice`}},
		{"zero ColumnSet", func(dataset.ColumnSet) (dataset.ColumnSet, error) { return dataset.ColumnSet{}, nil },
			[]string{"returned the zero ColumnSet"}},
		{"user error", func(dataset.ColumnSet) (dataset.ColumnSet, error) { return dataset.ColumnSet{}, errUser },
			[]string{"user says no"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := src.MapColumns(c.fn).TakeAll(e.ctx)
			wantTaskError(t, err, nil, c.want...)
			var access *dataset.AccessError
			if isAccess := errors.As(err, &access); isAccess != (c.name == "unknown column" || c.name == "wrong type" || c.name == "wrong type of a set column") {
				t.Errorf("errors.As(%v, *AccessError) = %v", err, isAccess)
			}
			if c.name == "user error" && !errors.Is(err, errUser) {
				t.Errorf("%v does not wrap the function's error", err)
			}
		})
	}
	if _, err := src.MapColumns(nil).Count(e.ctx); err == nil {
		t.Error("MapColumns(nil): no error")
	}
}
