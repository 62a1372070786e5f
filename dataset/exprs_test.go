package dataset_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/ops"
)

// tripsFile writes n random trip rows (with nulls) as Parquet in several
// files and returns the directory and the rows.
func tripsFile(t *testing.T, e *testEnv, n int) (string, []dataset.Item) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	payments := []string{"card", "cash", "dispute", ""}
	items := make([]dataset.Item, n)
	for i := range items {
		it := dataset.Item{
			"id":       int64(i),
			"distance": math.Round(rng.Float64()*300) / 10,
			"fare":     math.Round(rng.Float64()*1000) / 10,
			"tip":      math.Round(rng.Float64()*100) / 10,
			"payment":  payments[rng.IntN(len(payments))],
			"pax":      int64(rng.IntN(6) + 1),
			"pad":      strings.Repeat("x", rng.IntN(20)),
		}
		if rng.IntN(10) == 0 {
			it["tip"] = nil
		}
		if rng.IntN(15) == 0 {
			it["pax"] = nil
		}
		items[i] = it
	}
	dir := t.TempDir()
	if err := dataset.FromItems(items, e.par(8)...).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	return dir, items
}

// TestExpressionPipelineAgainstReference runs Where, WithColumn and Select
// over Parquet, checks every row against the same computation written in
// Go, and checks that the optimized plan (constants folded, the first
// filter done by the read, the other stages one program, only the used
// columns read) gives the same rows as
// the plan run as written.
func TestExpressionPipelineAgainstReference(t *testing.T) {
	e := setup(t)
	dir, items := tripsFile(t, e, 5000)
	build := func(opts ...dataset.Option) *dataset.Dataset {
		return dataset.ReadParquet(e.ctx, dir, readOpts(append([]dataset.Option{e.opt()}, opts...))...).
			Where(dataset.Col("distance").Gt(dataset.Lit(2).Add(3)).And(dataset.Col("payment").Eq("card"))).
			WithColumn("total", dataset.Col("fare").Add(dataset.Col("tip"))).
			WithColumn("per_mile", dataset.Col("total").Div(dataset.Col("distance"))).
			Where(dataset.Col("per_mile").Lt(dataset.Col("pax").Mul(4))).
			Select(dataset.Col("id"), dataset.Col("per_mile").Alias("ppm"), dataset.Col("pax").Mul(2).Alias("seats"))
	}
	ds := build()
	plan := ds.Explain()
	opt := plan[strings.Index(plan, "-- optimized plan --"):]
	for _, want := range []string{
		"WithColumn(total, fare + tip)->WithColumn(per_mile, total / distance)->Where(per_mile < (pax * 4))->Select(id, per_mile AS ppm, pax * 2 AS seats)",
		// The first filter reads only the file's columns: the read drops
		// the rows itself.
		"filter=distance > 5 AND payment = 'card']",
	} {
		if !strings.Contains(opt, want) {
			t.Errorf("optimized plan lacks %s:\n%s", want, plan)
		}
	}
	if strings.Contains(opt, "pad") {
		t.Errorf("the optimized plan reads column pad, which nothing uses:\n%s", plan)
	}
	got := must(ds.TakeAll(e.ctx))(t)
	var want []dataset.Item
	for _, it := range items {
		if !(it["distance"].(float64) > 5 && it["payment"] == "card") || it["tip"] == nil || it["pax"] == nil {
			continue // a null tip makes total null, a null pax the filter null
		}
		perMile := (it["fare"].(float64) + it["tip"].(float64)) / it["distance"].(float64)
		if !(perMile < float64(it["pax"].(int64)*4)) {
			continue
		}
		want = append(want, dataset.Item{"id": it["id"], "ppm": perMile, "seats": it["pax"].(int64) * 2})
	}
	sortByID(got)
	if len(got) != len(want) || len(want) < 50 {
		t.Fatalf("%d rows, want %d (and more than 50 for the test to mean something)", len(got), len(want))
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Fatalf("row %d: got %v, want %v", i, got[i], want[i])
		}
	}
	// The same rows with the expression rules off.
	off := build(dataset.WithOptimizerRules(ops.DefaultRulesWithout(ops.FoldConstants, ops.MergeExprStages, ops.MergeSelection, ops.PushDownProjection)...))
	if p := off.Explain(); !strings.Contains(p[strings.Index(p, "-- optimized plan --"):], "filter=distance > (2 + 3)") || !strings.Contains(p[strings.Index(p, "-- optimized plan --"):], "pad: utf8") {
		t.Errorf("with the rules off the plan is still folded or pruned:\n%s", p)
	}
	plain := must(off.TakeAll(e.ctx))(t)
	sortByID(plain)
	if fmt.Sprint(plain) != fmt.Sprint(got) {
		t.Errorf("rules off give other rows")
	}
}

func sortByID(items []dataset.Item) {
	sort.Slice(items, func(i, j int) bool { return items[i]["id"].(int64) < items[j]["id"].(int64) })
}

// TestAggregateExpressions checks SumOfExpr, MeanOfExpr, MinOfExpr,
// MaxOfExpr, CountOf and their names against Go, per group and globally.
func TestAggregateExpressions(t *testing.T) {
	e := setup(t)
	dir, items := tripsFile(t, e, 4000)
	net := dataset.Col("fare").Mul(dataset.Lit(1).Sub(dataset.Col("tip").Div(100)))
	ds := dataset.ReadParquet(e.ctx, dir, e.opt()).
		Where(dataset.Col("payment").Ne("")).
		GroupBy("payment").Aggregate(
		dataset.SumOfExpr(net).Alias("revenue"),
		dataset.MeanOfExpr(dataset.Col("fare").Div(dataset.Col("distance").Add(1))),
		dataset.MinOfExpr(dataset.Col("pax").Mul(10)),
		dataset.MaxOfExpr(dataset.Col("tip").Alias("best_tip")),
		dataset.CountOf(dataset.Col("tip")),
		dataset.CountRows(),
	).Sort(dataset.Asc("payment"))
	if err := ds.Err(); err != nil {
		t.Fatal(err)
	}
	schema := must(ds.Schema(e.ctx))(t)
	var names []string
	for _, f := range schema.Fields() {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, "|"), "payment|revenue|mean(fare / (distance + 1))|min(pax * 10)|best_tip|count(tip)|count()"; got != want {
		t.Errorf("columns %s, want %s", got, want)
	}
	type acc struct {
		revenue, meanSum float64
		meanN, count     int64
		minPax           int64
		maxTip           float64
		tips             int64
	}
	ref := map[string]*acc{}
	for _, it := range items {
		p := it["payment"].(string)
		if p == "" {
			continue
		}
		a := ref[p]
		if a == nil {
			a = &acc{minPax: math.MaxInt64, maxTip: math.Inf(-1)}
			ref[p] = a
		}
		a.count++
		a.meanSum += it["fare"].(float64) / (it["distance"].(float64) + 1)
		a.meanN++
		if tip, ok := it["tip"].(float64); ok {
			a.revenue += it["fare"].(float64) * (1 - tip/100)
			a.tips++
			a.maxTip = max(a.maxTip, tip)
		}
		if pax, ok := it["pax"].(int64); ok {
			a.minPax = min(a.minPax, pax*10)
		}
	}
	rows := must(ds.TakeAll(e.ctx))(t)
	if len(rows) != len(ref) {
		t.Fatalf("%d groups, want %d", len(rows), len(ref))
	}
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	for _, r := range rows {
		a := ref[r["payment"].(string)]
		if !close(r["revenue"].(float64), a.revenue) || !close(r["mean(fare / (distance + 1))"].(float64), a.meanSum/float64(a.meanN)) ||
			r["min(pax * 10)"] != a.minPax || r["best_tip"] != a.maxTip || r["count(tip)"] != a.tips || r["count()"] != a.count {
			t.Errorf("group %v: got %v, want %+v", r["payment"], r, *a)
		}
	}
}

// TestExpressionErrors checks the errors a user meets: a type mismatch or
// an unknown column when the plan is built, naming the expression, column
// and types; an overflow when it runs, naming the expression and row.
func TestExpressionErrors(t *testing.T) {
	e := setup(t)
	base := dataset.Range(100, e.opt()).WithColumn("name", dataset.Lit("x"))
	for _, c := range []struct {
		ds   *dataset.Dataset
		want []string
	}{
		{base.WithColumn("y", dataset.Col("name").Add(1)), []string{"WithColumn(y, name + 1)", "column name is utf8", "int64"}},
		{base.Where(dataset.Col("idd").Gt(3)), []string{`unknown column "idd"`, "id, name"}},
		{base.Where(dataset.Col("id").Add(1)), []string{"int64, not boolean"}},
		{base.Select(dataset.Col("id"), dataset.Col("id")), []string{`two columns named "id"`}},
		{base.GroupBy("name").Aggregate(dataset.SumOfExpr(dataset.Col("name").Gt("a"))), []string{"name > 'a'", "bool, not numeric"}},
		{base.Where(dataset.Expr{}), []string{"no predicate"}},
	} {
		err := c.ds.Err()
		if err == nil {
			t.Errorf("no plan-time error, want %q", c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
	_, err := dataset.Range(100, e.opt()).WithColumn("y", dataset.Col("id").Add(int64(math.MaxInt64-50))).TakeAll(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "id + 9223372036854775757") || !strings.Contains(err.Error(), "overflow") || !strings.Contains(err.Error(), "row ") {
		t.Errorf("overflow: %v", err)
	}
}

// TestPushdownThroughSortsJoinsAndUnions checks where filters and column
// selections land: below a sort, into the join side whose rows the join
// keeps unchanged (and not into the side a left join null-extends), into
// every input of a union, and through a sort into the Parquet read; each
// plan gives the rows it gives with the rules off.
func TestPushdownThroughSortsJoinsAggregatesAndUnions(t *testing.T) {
	e := setup(t)
	dir, _ := tripsFile(t, e, 3000)
	read := func(o ...dataset.Option) *dataset.Dataset {
		return dataset.ReadParquet(e.ctx, dir, readOpts(append([]dataset.Option{e.opt()}, o...))...)
	}
	zones := func(o ...dataset.Option) *dataset.Dataset {
		items := make([]dataset.Item, 6)
		for i := range items {
			items[i] = dataset.Item{"zone_pax": int64(i + 1), "label": fmt.Sprint("z", i%3), "fare": float64(i) / 2, "extra": "unused"}
		}
		return dataset.FromItems(items, append([]dataset.Option{e.opt()}, o...)...)
	}
	cases := []struct {
		name  string
		build func(o ...dataset.Option) *dataset.Dataset
		want  []string // in the optimized plan, top to bottom
		// absent: not in the optimized plan (a filter the read applies
		// itself leaves no Where stage).
		absent []string
	}{
		{"filter below sort", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).Sort(dataset.Desc("fare")).Where(dataset.Col("payment").Eq("cash"))
		}, []string{"Sort(fare desc)", "filter=payment = 'cash'"}, []string{"Where("}},
		{"selection through sort into the read", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).Sort(dataset.Asc("id")).Select(dataset.Col("id"), dataset.Col("tip").Mul(2).Alias("t2"))
		}, []string{"Select(id, tip * 2 AS t2)", "Sort(id)", "columns=[id tip]] [id: int64, tip: float64]"}, nil},
		{"inner join: each side's filter goes to its side", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).JoinOn(zones(o...), []string{"pax"}, []string{"zone_pax"}, dataset.InnerJoin).
				Where(dataset.Col("fare").Gt(50.0)).Where(dataset.Col("label").Eq("z1"))
		}, []string{"Join(", "filter=fare > 50.0", "Where(label = 'z1')"}, []string{"Where(fare"}},
		{"left join: a right column's filter stays above", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).JoinOn(zones(o...), []string{"pax"}, []string{"zone_pax"}, dataset.LeftJoin).
				Where(dataset.Col("label").IsNull())
		}, []string{"Where(label IS NULL)", "Join("}, nil},
		{"a join reads only the columns used after it", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).JoinOn(zones(o...), []string{"pax"}, []string{"zone_pax"}, dataset.InnerJoin).
				Select(dataset.Col("tip"), dataset.Col("label"))
		}, []string{"Select(tip, label)", "Join(", "columns=[pax tip]", "Select(zone_pax, label)"}, nil},
		{"a join keeps the left column that names a right one's suffix", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).JoinOn(zones(o...), []string{"pax"}, []string{"zone_pax"}, dataset.LeftJoin).
				Select(dataset.Col("id"), dataset.Col("fare_right"))
		}, []string{"Select(id, fare_right)", "Join(", "columns=[pax id fare]", "Select(zone_pax, fare)"}, nil},
		{"a filter on group keys runs before the aggregation", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).GroupBy("payment", "pax").Aggregate(dataset.SumOf("fare")).
				Where(dataset.Col("payment").Ne("dispute").And(dataset.Col("pax").Lt(4)))
		}, []string{"GroupBy[payment pax]", "filter=payment != 'dispute' AND pax < 4"}, []string{"Where("}},
		{"a filter on an aggregate stays after it", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).GroupBy("payment").Aggregate(dataset.SumOf("fare")).Where(dataset.Col("sum(fare)").Gt(10.0))
		}, []string{"Where(\"sum(fare)\" > 10.0)", "GroupBy[payment]"}, nil},
		{"union: the filter goes to every input", func(o ...dataset.Option) *dataset.Dataset {
			return read(o...).Union(read(o...)).Where(dataset.Col("tip").Lt(1.0))
		}, []string{"Union(2)", "filter=tip < 1.0", "filter=tip < 1.0"}, []string{"Where("}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := c.build()
			plan := ds.Explain()
			opt := plan[strings.Index(plan, "-- optimized plan --"):strings.Index(plan, "-- physical plan --")]
			at := 0
			for _, w := range c.want {
				i := strings.Index(opt[at:], w)
				if i < 0 {
					t.Fatalf("optimized plan lacks %q after offset %d:\n%s", w, at, plan)
				}
				at += i + len(w)
			}
			for _, w := range c.absent {
				if strings.Contains(opt, w) {
					t.Errorf("optimized plan has %q:\n%s", w, plan)
				}
			}
			got := must(ds.TakeAll(e.ctx))(t)
			off := must(c.build(dataset.WithOptimizerRules(ops.DefaultRulesWithout(ops.PushDownPredicate, ops.PushDownProjection)...)).TakeAll(e.ctx))(t)
			if len(got) == 0 || len(got) != len(off) {
				t.Fatalf("%d rows, %d with the rules off", len(got), len(off))
			}
			key := func(items []dataset.Item) []string {
				out := make([]string, len(items))
				for i, it := range items {
					out[i] = fmt.Sprint(it)
				}
				if !strings.Contains(c.name, "sort") {
					sort.Strings(out)
				}
				return out
			}
			if fmt.Sprint(key(got)) != fmt.Sprint(key(off)) {
				t.Errorf("rows differ with the rules off")
			}
		})
	}
}

// TestExpressionEdgeCases: a filter of NULL or false keeps nothing, of
// true everything (folded away); a Select of constants repeats them per
// row; an aggregate over no rows counts 0 and sums null; expressions over
// an empty dataset give nothing and no error.
func TestExpressionEdgeCases(t *testing.T) {
	e := setup(t)
	col, lit := dataset.Col, dataset.Lit
	r := dataset.Range(10, e.opt())
	count := func(ds *dataset.Dataset) int {
		t.Helper()
		return len(must(ds.TakeAll(e.ctx))(t))
	}
	if n := count(r.Where(lit(nil))); n != 0 {
		t.Errorf("WHERE NULL kept %d rows", n)
	}
	if n := count(r.Where(lit(false))); n != 0 {
		t.Errorf("WHERE false kept %d rows", n)
	}
	if n := count(r.Where(lit(1).Add(1).Eq(2))); n != 10 {
		t.Errorf("WHERE 1 + 1 = 2 kept %d rows", n)
	}
	if p := r.Where(lit(1).Add(1).Eq(2)).Explain(); strings.Contains(p[strings.Index(p, "-- optimized plan --"):], "Where") {
		t.Errorf("a filter that folds to true stays:\n%s", p)
	}
	lits := must(r.Select(lit(7).Alias("seven"), lit(nil).Alias("nothing")).TakeAll(e.ctx))(t)
	if len(lits) != 10 || lits[9]["seven"] != int64(7) || lits[9]["nothing"] != nil {
		t.Errorf("constants: %v", lits)
	}
	agg := must(r.Where(lit(false)).Aggregate(dataset.SumOfExpr(col("id").Mul(2)), dataset.CountOf(col("id")), dataset.CountRows()).TakeAll(e.ctx))(t)
	if len(agg) != 1 || agg[0]["sum(id * 2)"] != nil || agg[0]["count(id)"] != int64(0) || agg[0]["count()"] != int64(0) {
		t.Errorf("aggregate of no rows: %v, want sum null and counts 0", agg)
	}
	if n := count(dataset.Range(0, e.opt()).WithColumn("x", col("id").Add(1)).Where(col("x").Gt(0))); n != 0 {
		t.Errorf("empty input gave %d rows", n)
	}
}

// TestBroadcastJoinMatchesHashJoin joins with a small right side of known
// size (broadcast: every right block to every reduce) and with the same
// side behind a Go filter, whose size is unknown (both sides hashed), for
// every kind: the same rows, nulls and duplicate keys included; right and
// full joins never broadcast.
func TestBroadcastJoinMatchesHashJoin(t *testing.T) {
	e := setup(t)
	rng := rand.New(rand.NewPCG(5, 5))
	var left, right []dataset.Item
	for i := range 3000 {
		var k any = int64(rng.IntN(60))
		if rng.IntN(20) == 0 {
			k = nil
		}
		left = append(left, dataset.Item{"id": int64(i), "k": k})
	}
	for i := range 80 {
		var k any = int64(rng.IntN(70))
		if i%17 == 0 {
			k = nil
		}
		right = append(right, dataset.Item{"key": k, "w": float64(i)})
	}
	keep := func(dataset.Row) (bool, error) { return true, nil }
	for _, kind := range []dataset.JoinKind{dataset.InnerJoin, dataset.LeftJoin, dataset.SemiJoin, dataset.AntiJoin, dataset.RightJoin, dataset.FullJoin} {
		l := dataset.FromItems(left, e.par(12)...)
		small := l.JoinOn(dataset.FromItems(right, e.par(3)...), []string{"k"}, []string{"key"}, kind)
		hashed := l.JoinOn(dataset.FromItems(right, e.par(3)...).Filter(keep), []string{"k"}, []string{"key"}, kind)
		plan := small.Explain()
		broadcast := strings.Contains(plan, "broadcast right")
		if want := kind != dataset.RightJoin && kind != dataset.FullJoin; broadcast != want || strings.Contains(hashed.Explain(), "broadcast") {
			t.Errorf("%v: broadcast %v, want %v (and never for a right side of unknown size)", kind, broadcast, want)
		}
		// A broadcast join runs as a probe stage fused into the left
		// side's read, its right side collected first: no exchange.
		phys := plan[strings.Index(plan, "-- physical plan --"):]
		if broadcast && (strings.Contains(phys, "Exchange[") || !strings.Contains(phys, "-- broadcast side, run first --") ||
			!strings.Contains(phys, "Read[FromItems(3000)->Join(")) {
			t.Errorf("%v: the broadcast join is not a probe stage in the left read:\n%s", kind, plan)
		}
		a, b := must(small.TakeAll(e.ctx))(t), must(hashed.TakeAll(e.ctx))(t)
		key := func(items []dataset.Item) []string {
			out := make([]string, len(items))
			for i, it := range items {
				out[i] = fmt.Sprint(it)
			}
			sort.Strings(out)
			return out
		}
		if len(a) == 0 || fmt.Sprint(key(a)) != fmt.Sprint(key(b)) {
			t.Errorf("%v: broadcast join gives %d rows, hash join %d, or other rows", kind, len(a), len(b))
		}
	}
}

// TestExpressionsOverDictionaryColumns: dictionary-encoded columns (a
// pandas categorical written by pyarrow reads back as one) compare,
// compute and filter as their values, through Parquet too.
func TestExpressionsOverDictionaryColumns(t *testing.T) {
	e := setupGC(t)
	mem := memory.NewGoAllocator()
	strType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	intType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.PrimitiveTypes.Int64}
	sb := array.NewDictionaryBuilder(mem, strType).(*array.BinaryDictionaryBuilder)
	ib := array.NewDictionaryBuilder(mem, intType).(*array.Int64DictionaryBuilder)
	cities := []string{"Oslo", "Bergen", "Oslo", "Tromsø", "", "Bergen"}
	for i, c := range cities {
		if i == 4 {
			sb.AppendNull()
			ib.AppendNull()
			continue
		}
		if err := sb.AppendString(c); err != nil {
			t.Fatal(err)
		}
		if err := ib.Append(int64(10 * (i % 3))); err != nil {
			t.Fatal(err)
		}
	}
	cityCol, zoneCol := sb.NewArray(), ib.NewArray()
	sb.Release()
	ib.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "city", Type: strType, Nullable: true}, {Name: "zone", Type: intType, Nullable: true}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{cityCol, zoneCol}, int64(len(cities)))
	cityCol.Release()
	zoneCol.Release()
	dir := t.TempDir()
	if err := dataset.FromRecords([]arrow.RecordBatch{rec}, e.opt()).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	col := dataset.Col
	// Shoal stores the Arrow schema in the file, so the columns read back
	// as dictionaries (the integer one failed to read before: its values
	// could not be cast back to a dictionary).
	src := dataset.ReadParquet(e.ctx, dir, e.opt())
	s := must(src.Schema(e.ctx))(t)
	if s.Field(0).Type.ID() != arrow.DICTIONARY || s.Field(1).Type.ID() != arrow.DICTIONARY {
		t.Fatalf("Parquet read gives %s, not dictionaries", s)
	}
	ds := src.Where(col("city").Eq("Oslo").Or(col("city").Gt("S"))).
		WithColumn("z2", col("zone").Mul(2).Add(col("zone"))).
		WithColumn("same", col("city").Eq(col("city"))).
		Select(col("city").Cast(arrow.BinaryTypes.String).Alias("city"), col("z2"), col("same"))
	got := must(ds.TakeAll(e.ctx))(t)
	want := "[map[city:Oslo same:true z2:0] map[city:Oslo same:true z2:60] map[city:Tromsø same:true z2:0]]"
	if fmt.Sprint(got) != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
}

// TestWhenThenOtherwise: the first true branch wins, a null condition is
// false, Otherwise(nil) gives null, the chain prints as nested ifs and
// round-trips like any expression, and branches of different kinds are
// an error when the plan is built.
func TestWhenThenOtherwise(t *testing.T) {
	e := setup(t)
	col := dataset.Col
	ds := dataset.FromItems([]dataset.Item{{"x": int64(1)}, {"x": int64(5)}, {"x": nil}, {"x": int64(12)}}, e.opt())
	size := dataset.When(col("x").Lt(2)).Then("small").When(col("x").Lt(10)).Then("medium").Otherwise(nil)
	rows := must(ds.Select(col("x"), size.Alias("size")).TakeAll(e.ctx))(t)
	want := []any{"small", "medium", nil, nil}
	for i, r := range rows {
		if r["size"] != want[i] {
			t.Errorf("row %v: size %v, want %v", r, r["size"], want[i])
		}
	}
	if s := size.String(); !strings.Contains(s, "if(x < 2, 'small', if(x < 10, 'medium', NULL))") {
		t.Errorf("prints as %s", s)
	}
	data, err := ops.MarshalExpr(size)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ops.UnmarshalExpr(data)
	if err != nil || back.String() != size.String() {
		t.Errorf("round trip: %v, %v", back, err)
	}
	bad := dataset.When(col("x").Lt(2)).Then("small").Otherwise(col("x"))
	if _, err := ds.Select(bad.Alias("b")).TakeAll(e.ctx); err == nil {
		t.Errorf("a string branch and an integer branch: no error")
	}
}
