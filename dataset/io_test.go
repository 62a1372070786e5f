package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/storage/s3"
	"github.com/shoal-data/shoal/io/storage/s3/s3test"
)

// countingFS is the local filesystem, counting bytes read and files opened,
// so tests can see what pushdown saved.
type countingFS struct {
	storage.Local
	bytes atomic.Int64
	opens atomic.Int64
	mu    sync.Mutex
	paths map[string]bool
}

func newCountingFS() *countingFS { return &countingFS{paths: map[string]bool{}} }

func (c *countingFS) Open(ctx context.Context, p string) (storage.File, error) {
	f, err := c.Local.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	c.opens.Add(1)
	c.mu.Lock()
	c.paths[p] = true
	c.mu.Unlock()
	return &countingFile{File: f, n: &c.bytes}, nil
}

func (c *countingFS) reset() {
	c.bytes.Store(0)
	c.opens.Store(0)
	c.mu.Lock()
	c.paths = map[string]bool{}
	c.mu.Unlock()
}

type countingFile struct {
	storage.File
	n *atomic.Int64
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

// visibleFiles lists the files under dir, relative to it, but for hidden
// ones (the commit log, _shoal/): the data files, and any other tool sees.
func visibleFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && (strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestCSVRoundTripCount(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(10000, e.par(7)...).WriteCSV(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	if files := visibleFiles(t, dir); len(files) != 7 {
		t.Errorf("wrote %d files, want one per block (7): %v", len(files), files)
	}
	d := dataset.ReadCSV(e.ctx, dir, e.opt())
	n, err := d.Count(e.ctx)
	if err != nil || n != 10000 {
		t.Fatalf("Count = %d, %v; want 10000", n, err)
	}
	sum, err := d.Sum(e.ctx, "id")
	if err != nil || sum.Int64() != 9999*10000/2 {
		t.Errorf("Sum = %v, %v", sum, err)
	}
}

func TestRepartitionOneWritesOneFile(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(1000, e.par(9)...).Repartition(1).WriteParquet(e.ctx, dir, dataset.WriteID("job1")); err != nil {
		t.Fatal(err)
	}
	files := visibleFiles(t, dir)
	if len(files) != 1 || files[0] != "part-job1-000000.parquet" {
		t.Fatalf("files %v, want one named from the write ID", files)
	}
	n, err := dataset.ReadParquet(e.ctx, filepath.Join(dir, files[0]), e.opt()).Count(e.ctx)
	if err != nil || n != 1000 {
		t.Errorf("Count = %d, %v", n, err)
	}
}

// wideParquet writes 20000 rows of 8 columns sorted by id into dir as one
// file with row groups of 1000 rows.
func wideParquet(t *testing.T, e *testEnv, dir string) {
	t.Helper()
	d := dataset.Range(20000, e.opt()).MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids := b.Column(0).(*array.Int64)
		bld := array.NewRecordBuilder(e.mem, arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "c1", Type: arrow.PrimitiveTypes.Float64},
			{Name: "c2", Type: arrow.PrimitiveTypes.Float64},
			{Name: "c3", Type: arrow.PrimitiveTypes.Float64},
			{Name: "s1", Type: arrow.BinaryTypes.String},
			{Name: "s2", Type: arrow.BinaryTypes.String},
			{Name: "c4", Type: arrow.PrimitiveTypes.Int64},
			{Name: "c5", Type: arrow.PrimitiveTypes.Int64},
		}, nil))
		defer bld.Release()
		for i := range ids.Len() {
			id := ids.Value(i)
			bld.Field(0).(*array.Int64Builder).Append(id)
			for c := 1; c <= 3; c++ {
				bld.Field(c).(*array.Float64Builder).Append(float64(id) * float64(c) * 1.37)
			}
			bld.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("name-%08d-%x", id, id*7919))
			bld.Field(5).(*array.StringBuilder).Append(fmt.Sprintf("%x-%x", id*104729, id*13))
			bld.Field(6).(*array.Int64Builder).Append(id * 31)
			bld.Field(7).(*array.Int64Builder).Append(id ^ 0x5555)
		}
		return bld.NewRecordBatch(), nil
	})
	err := d.Repartition(1).WriteParquet(e.ctx, dir, dataset.ParquetOptions(formats.ParquetOptions{RowGroupRows: 1000, Compression: "none"}))
	if err != nil {
		t.Fatal(err)
	}
}

func TestParquetPushdown(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	wideParquet(t, e, dir)
	fs := newCountingFS()
	st := dataset.Storage(storage.Config{FileSystem: fs})

	full := dataset.ReadParquet(e.ctx, dir, st, e.opt())
	if n, err := full.Count(e.ctx); err != nil || n != 20000 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	fs.reset()
	if _, err := full.TakeAll(e.ctx); err != nil {
		t.Fatal(err)
	}
	fullBytes := fs.bytes.Load()

	t.Run("projection", func(t *testing.T) {
		fs.reset()
		d := dataset.ReadParquet(e.ctx, dir, st, e.opt()).SelectColumns("c4", "id")
		if !strings.Contains(d.Explain(), "columns=[c4 id]") {
			t.Errorf("projection not pushed into the read:\n%s", d.Explain())
		}
		rows, err := d.TakeAll(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 20000 || rows[5]["c4"] != int64(5*31) || len(rows[5]) != 2 {
			t.Errorf("row 5 = %v", rows[5])
		}
		if got := fs.bytes.Load(); got*3 > fullBytes {
			t.Errorf("read %d bytes for 2 of 8 columns, full read %d", got, fullBytes)
		}
	})
	t.Run("predicate", func(t *testing.T) {
		fs.reset()
		d := dataset.ReadParquet(e.ctx, dir, st, e.opt()).Where(dataset.Col("id").Ge(18500))
		if !strings.Contains(d.Explain(), "filter=id >= 18500") {
			t.Errorf("filter not pushed into the read:\n%s", d.Explain())
		}
		sum, err := d.Sum(e.ctx, "id")
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(18500+19999) * 1500 / 2; sum.Int64() != want {
			t.Errorf("sum = %d, want %d", sum.Int64(), want)
		}
		// 2 of 20 row groups hold matching rows.
		if got := fs.bytes.Load(); got*5 > fullBytes {
			t.Errorf("read %d bytes for 2 of 20 row groups, full read %d", got, fullBytes)
		}
	})
	t.Run("options", func(t *testing.T) {
		fs.reset()
		d := dataset.ReadParquet(e.ctx, dir, st, e.opt(), dataset.Columns("s1"), dataset.Filter(dataset.Col("id").Lt(3)))
		rows, err := d.TakeAll(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 || rows[2]["s1"] != fmt.Sprintf("name-%08d-%x", 2, 2*7919) || len(rows[2]) != 1 {
			t.Errorf("rows %v", rows)
		}
		if got := fs.bytes.Load(); got*10 > fullBytes {
			t.Errorf("read %d bytes for 1 column of 1 row group, full read %d", got, fullBytes)
		}
	})
	t.Run("limit", func(t *testing.T) {
		fs.reset()
		rows, err := dataset.ReadParquet(e.ctx, dir, st, e.opt()).Limit(5).TakeAll(e.ctx)
		if err != nil || len(rows) != 5 || rows[4]["id"] != int64(4) {
			t.Fatalf("rows %v, %v", rows, err)
		}
		if got := fs.bytes.Load(); got*5 > fullBytes {
			t.Errorf("read %d bytes for 5 rows, full read %d", got, fullBytes)
		}
	})
}

func TestHivePartitioning(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	var items []dataset.Item
	cities := []string{"Oslo", "Lima", "Kyoto/East"}
	for i := range 300 {
		items = append(items, dataset.Item{"city": cities[i%3], "year": int64(2020 + i%2), "v": int64(i)})
	}
	err := dataset.FromItems(items, e.par(4)...).WriteParquet(e.ctx, dir, dataset.PartitionBy("city", "year"))
	if err != nil {
		t.Fatal(err)
	}
	files := visibleFiles(t, dir)
	dirs := map[string]bool{}
	for _, f := range files {
		dirs[filepath.Dir(f)] = true
	}
	if len(dirs) != 6 || !dirs[filepath.Join("city=Oslo", "year=2021")] || !dirs[filepath.Join("city=Kyoto%2FEast", "year=2020")] {
		t.Errorf("partition directories %v", dirs)
	}

	fs := newCountingFS()
	d := dataset.ReadParquet(e.ctx, dir, e.opt(), dataset.Storage(storage.Config{FileSystem: fs}))
	s, err := d.Schema(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(fieldNamesOf(s)); got != "[v city year]" {
		t.Errorf("columns %s", got)
	}
	if typ := s.Field(2).Type; typ.ID() != arrow.INT64 {
		t.Errorf("year is %s, want int64 (every value is an integer)", typ)
	}
	fs.reset()
	rows, err := d.Where(dataset.And(dataset.Col("city").Eq("Kyoto/East"), dataset.Col("year").Eq(2021))).TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 50 {
		t.Errorf("got %d rows, want 50", len(rows))
	}
	for _, r := range rows {
		if r["city"] != "Kyoto/East" || r["year"] != int64(2021) || r["v"].(int64)%3 != 2 {
			t.Fatalf("row %v", r)
		}
	}
	fs.mu.Lock()
	for p := range fs.paths {
		if !strings.Contains(p, "city=Kyoto%2FEast") || !strings.Contains(p, "year=2021") {
			t.Errorf("opened %s, outside the selected partition", p)
		}
	}
	fs.mu.Unlock()
}

func fieldNamesOf(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

func TestSchemaUnificationAcrossFiles(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	one := dataset.FromItems([]dataset.Item{{"a": int64(1), "b": "x"}}, e.opt()).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			return castColumn(b, 0, arrow.PrimitiveTypes.Int32)
		})
	if err := one.WriteParquet(e.ctx, dir, dataset.WriteID("one")); err != nil {
		t.Fatal(err)
	}
	two := dataset.FromItems([]dataset.Item{{"a": int64(1) << 40, "c": 2.5}}, e.opt())
	if err := two.WriteParquet(e.ctx, dir, dataset.WriteID("two")); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadParquet(e.ctx, dir, e.opt()).TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []dataset.Item{{"a": int64(1), "b": "x", "c": nil}, {"a": int64(1) << 40, "b": nil, "c": 2.5}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows %v, want %v", rows, want)
	}

	// A write whose column a is text cannot join the dataset: the append
	// fails, naming the column and both types, and the dataset stays.
	three := dataset.FromItems([]dataset.Item{{"a": "text"}}, e.opt())
	err = three.WriteParquet(e.ctx, dir, dataset.WriteID("three"))
	for _, part := range []string{`column "a"`, "int64", "utf8", dir} {
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("append of a clashing type: error %v does not name %s", err, part)
		}
	}
	if rows, err := dataset.ReadParquet(e.ctx, dir, e.opt()).TakeAll(e.ctx); err != nil || fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("after the refused append: rows %v, %v", rows, err)
	}

	// Files that no log joins clash at read time: the error names both
	// files; datasets read together, both datasets.
	other := t.TempDir()
	if err := three.WriteParquet(e.ctx, other, dataset.WriteID("three")); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	for _, f := range []string{filepath.Join(dir, "part-one-000000.parquet"), filepath.Join(other, "part-three-000000.parquet")} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plain, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		d     *dataset.Dataset
		names []string
	}{
		{dataset.ReadParquet(e.ctx, plain, e.opt()), []string{"part-one-000000.parquet", "part-three-000000.parquet", "int32"}},
		{dataset.ReadParquet(e.ctx, dir, e.opt(), dataset.Paths(other)), []string{dir, other, "int64"}},
	} {
		_, err = c.d.Count(e.ctx)
		var conflict *formats.SchemaConflictError
		if !errors.As(err, &conflict) {
			t.Fatalf("err = %v, want a schema conflict", err)
		}
		for _, part := range append(c.names, `column "a"`, "utf8") {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not name %s", err, part)
			}
		}
	}
}

func castColumn(b arrow.RecordBatch, i int, to arrow.DataType) (arrow.RecordBatch, error) {
	ints := b.Column(i).(*array.Int64)
	bld := array.NewInt32Builder(memory.DefaultAllocator)
	defer bld.Release()
	for j := range ints.Len() {
		bld.Append(int32(ints.Value(j)))
	}
	col := bld.NewArray()
	defer col.Release()
	fields := append([]arrow.Field(nil), b.Schema().Fields()...)
	fields[i].Type = to
	cols := append([]arrow.Array(nil), b.Columns()...)
	cols[i] = col
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
}

func TestFailedWriteLeavesNothing(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	failing := dataset.Range(1000, e.par(10)...).Map(func(r dataset.Row) (dataset.Item, error) {
		if r.Int64("id") == 555 {
			return nil, errors.New("bad row")
		}
		return r.Item(), nil
	})
	err := failing.WriteParquet(e.ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "bad row") || !strings.Contains(err.Error(), "block 5") {
		t.Fatalf("err = %v, want the failing block named", err)
	}
	if files := visibleFiles(t, dir); len(files) != 0 {
		t.Errorf("a failed write left %v", files)
	}
	if m := inFlightMarkers(t, dir); len(m) != 0 {
		t.Errorf("a failed write left its marker: %v", m)
	}

	// Overwrite keeps the old files when the new write fails.
	if err := dataset.Range(10, e.opt()).WriteCSV(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	before := visibleFiles(t, dir)
	if err := failing.WriteCSV(e.ctx, dir, dataset.Mode(formats.Overwrite)); err == nil {
		t.Fatal("failing overwrite succeeded")
	}
	if after := visibleFiles(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("failed overwrite changed the directory: %v -> %v", before, after)
	}
}

func TestCancelledWriteLeavesNothing(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(e.ctx)
	var seen atomic.Int64
	d := dataset.Range(2000, e.par(20)...).Map(func(r dataset.Row) (dataset.Item, error) {
		if seen.Add(1) == 500 {
			cancel()
		}
		return r.Item(), nil
	})
	err := d.WriteJSON(ctx, dir)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "write json "+dir+": cancelled: ") {
		t.Fatalf("err = %v, want context.Canceled, saying which write", err)
	}
	if files := visibleFiles(t, dir); len(files) != 0 {
		t.Errorf("a cancelled write left %v", files)
	}
	if m := inFlightMarkers(t, dir); len(m) != 0 {
		t.Errorf("a cancelled write left its marker: %v", m)
	}
}

func TestWriteModes(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	write := func(n int64, opts ...dataset.WriteOption) error {
		return dataset.Range(n, e.par(2)...).WriteCSV(e.ctx, dir, opts...)
	}
	count := func() int64 {
		n, err := dataset.ReadCSV(e.ctx, dir, e.opt()).Count(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := write(10); err != nil {
		t.Fatal(err)
	}
	if err := write(5); err != nil || count() != 15 {
		t.Fatalf("append: %v, count %d", err, count())
	}
	if err := write(7, dataset.Mode(formats.Overwrite)); err != nil || count() != 7 {
		t.Fatalf("overwrite: %v, count %d", err, count())
	}
	err := write(3, dataset.Mode(formats.ErrorIfExists))
	if err == nil || !strings.Contains(err.Error(), "already holds 2 files") {
		t.Fatalf("ErrorIfExists: %v", err)
	}
	if count() != 7 {
		t.Errorf("refused write changed the data")
	}
}

func TestJSONTextBinaryRoundTrip(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	items := []dataset.Item{{"name": "a", "n": int64(1), "x": 0.5}, {"name": "b\"q", "n": int64(2), "x": nil}}
	if err := dataset.FromItems(items, e.opt()).WriteJSON(e.ctx, filepath.Join(dir, "json")); err != nil {
		t.Fatal(err)
	}
	rows, err := dataset.ReadJSON(e.ctx, filepath.Join(dir, "json"), e.opt()).TakeAll(e.ctx)
	if err != nil || fmt.Sprint(rows) != fmt.Sprint(items) {
		t.Errorf("json rows %v, %v", rows, err)
	}

	txt := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(txt, []byte("one\r\ntwo\nthree"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := dataset.ReadText(e.ctx, txt, e.opt()).TakeAll(e.ctx)
	if err != nil || fmt.Sprint(lines) != "[map[text:one] map[text:two] map[text:three]]" {
		t.Errorf("text rows %v, %v", lines, err)
	}

	files, err := dataset.ReadBinaryFiles(e.ctx, filepath.Join(dir, "*.txt"), e.opt()).TakeAll(e.ctx)
	if err != nil || len(files) != 1 || string(files[0]["bytes"].([]byte)) != "one\r\ntwo\nthree" || files[0]["path"] != txt {
		t.Errorf("binary rows %v, %v", files, err)
	}
}

func TestReadErrors(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.parquet")
	if err := os.WriteFile(corrupt, []byte("PAR1 this is not parquet at all PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	badCSV := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(badCSV, []byte("a,b\n1,2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		d    *dataset.Dataset
		want []string
		is   error
	}{
		{dataset.ReadParquet(e.ctx, filepath.Join(dir, "missing"), e.opt()), []string{"missing"}, storage.ErrNotExist},
		{dataset.ReadCSV(e.ctx, empty, e.opt()), []string{"empty", "no files"}, storage.ErrNoFiles},
		{dataset.ReadParquet(e.ctx, corrupt, e.opt()), []string{"corrupt.parquet"}, nil},
		{dataset.ReadCSV(e.ctx, badCSV, e.opt()), []string{"bad.csv", "line 3"}, nil},
		{dataset.ReadParquet(e.ctx, "ftp://x/y", e.opt()), []string{"unsupported scheme"}, nil},
	}
	for _, c := range cases {
		_, err := c.d.Count(e.ctx)
		if err == nil {
			t.Errorf("no error, want one naming %v", c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("error %q is not %v", err, c.is)
		}
	}
}

// s3Config points at the S3 server scripts/test starts, creating a bucket
// that is removed when the test ends.
func s3Config(t *testing.T) (storage.Config, string, *s3.FileSystem) {
	t.Helper()
	opts := s3test.SharedOptions(t)
	fs, err := s3.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return storage.Config{S3: opts}, s3test.NewBucket(t, fs), fs
}

func TestS3WriteRead(t *testing.T) {
	e := setup(t)
	cfg, bucket, fs := s3Config(t)
	st := dataset.Storage(cfg)
	out := "s3://" + bucket + "/ids"
	if err := dataset.Range(5000, e.par(4)...).WriteParquet(e.ctx, out, st, dataset.WriteID("w")); err != nil {
		t.Fatal(err)
	}
	objs, err := fs.List(e.ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Path)
	}
	want := []string{bucket + "/ids/_shoal/manifest-00000000000000000000.json", bucket + "/ids/part-w-000000.parquet",
		bucket + "/ids/part-w-000001.parquet", bucket + "/ids/part-w-000002.parquet", bucket + "/ids/part-w-000003.parquet"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("objects %v, want %v (the data files and the manifest, no marker left)", names, want)
	}
	d := dataset.ReadParquet(e.ctx, out, st, e.opt()).Where(dataset.Col("id").Lt(100))
	sum, err := d.Sum(e.ctx, "id")
	if err != nil || sum.Int64() != 99*100/2 {
		t.Errorf("sum %v, %v", sum, err)
	}

	// A failed write leaves no object behind.
	failing := dataset.Range(1000, e.par(10)...).Map(func(r dataset.Row) (dataset.Item, error) {
		if r.Int64("id") == 950 {
			return nil, errors.New("bad row")
		}
		return r.Item(), nil
	})
	if err := failing.WriteCSV(e.ctx, "s3://"+bucket+"/failed", st); err == nil {
		t.Fatal("failing write succeeded")
	}
	left, err := fs.List(e.ctx, bucket+"/failed")
	if err != nil || len(left) != 0 {
		t.Errorf("a failed write left %v (%v)", left, err)
	}
	left, err = fs.List(e.ctx, bucket+"/ids/_shoal/writes")
	if err != nil || len(left) != 0 {
		t.Errorf("a committed write left its marker: %v (%v)", left, err)
	}
}

func TestMinRowsPerFileGathersSmallBlocks(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	// 40 blocks of 250 rows; files of at least 1000 rows: 10 files.
	if err := dataset.Range(10000, e.par(40)...).WriteParquet(e.ctx, dir, dataset.MinRowsPerFile(1000)); err != nil {
		t.Fatal(err)
	}
	if files := visibleFiles(t, dir); len(files) != 10 {
		t.Errorf("wrote %d files, want 10 of 1000 rows: %v", len(files), files)
	}
	ids := takeIDs(t, e, dataset.ReadParquet(e.ctx, dir, e.opt()))
	equalInts(t, "read back", ids, seq(0, 10000))
}

// TestMaxRowsPerFileSplitsLargeBlocks: one block of 10000 rows written
// with at most 3000 rows per file makes 4 files (3000, 3000, 3000, 1000),
// and per partition alike; the rows read back in order.
func TestMaxRowsPerFileSplitsLargeBlocks(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(10000, e.par(1)...).WriteParquet(e.ctx, dir, dataset.MaxRowsPerFile(3000)); err != nil {
		t.Fatal(err)
	}
	files := visibleFiles(t, dir)
	if len(files) != 4 {
		t.Fatalf("wrote %d files, want 4: %v", len(files), files)
	}
	var counts []int64
	for _, f := range files {
		n, err := dataset.ReadParquet(e.ctx, filepath.Join(dir, f), e.opt()).Count(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, n)
	}
	slices.Sort(counts)
	if fmt.Sprint(counts) != "[1000 3000 3000 3000]" {
		t.Errorf("file rows %v", counts)
	}
	equalInts(t, "read back", takeIDs(t, e, dataset.ReadParquet(e.ctx, dir, e.opt())), seq(0, 10000))

	pdir := t.TempDir()
	d := dataset.Range(10000, e.par(1)...).WithColumn("p", dataset.Col("id").Mod(2))
	if err := d.WriteParquet(e.ctx, pdir, dataset.PartitionBy("p"), dataset.MaxRowsPerFile(3000)); err != nil {
		t.Fatal(err)
	}
	if files := visibleFiles(t, pdir); len(files) != 4 {
		t.Errorf("partitioned: %d files, want 2 per partition: %v", len(files), files)
	}
	n, err := dataset.ReadParquet(e.ctx, pdir, e.opt()).Count(e.ctx)
	if err != nil || n != 10000 {
		t.Errorf("partitioned read back: %d rows, %v", n, err)
	}
}

// TestMaxBytesPerFile: one block of 20000 int64 rows (160 KB in memory)
// written with at most 50 KB per file makes 4 files of 5000 rows; with no
// bound (and under the default 128 MiB) one file.
func TestMaxBytesPerFile(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(20000, e.par(1)...).WriteParquet(e.ctx, dir, dataset.MaxBytesPerFile(50_000)); err != nil {
		t.Fatal(err)
	}
	files := visibleFiles(t, dir)
	if len(files) != 4 {
		t.Fatalf("wrote %d files, want 4: %v", len(files), files)
	}
	for _, f := range files {
		n, err := dataset.ReadParquet(e.ctx, filepath.Join(dir, f), e.opt()).Count(e.ctx)
		if err != nil || n != 5000 {
			t.Errorf("%s: %d rows, %v; want 5000", f, n, err)
		}
	}
	equalInts(t, "read back", takeIDs(t, e, dataset.ReadParquet(e.ctx, dir, e.opt())), seq(0, 20000))
	for _, opts := range [][]dataset.WriteOption{{dataset.MaxBytesPerFile(0)}, nil} {
		dir := t.TempDir()
		if err := dataset.Range(20000, e.par(1)...).WriteParquet(e.ctx, dir, opts...); err != nil {
			t.Fatal(err)
		}
		if files := visibleFiles(t, dir); len(files) != 1 {
			t.Errorf("options %v: %d files, want 1", opts, len(files))
		}
	}
}

// TestCompressedWrites: WriteCSV and WriteJSON compress when asked; the
// files are named for it and read back, by directory, as written.
func TestCompressedWrites(t *testing.T) {
	e := setup(t)
	src := dataset.Range(5000, e.par(2)...).WithColumn("s", dataset.Col("id").Mod(7).Cast(arrow.BinaryTypes.String))
	for _, c := range []struct {
		write func(dir string) error
		read  func(dir string) *dataset.Dataset
		ext   string
	}{
		{func(dir string) error {
			return src.WriteCSV(e.ctx, dir, dataset.CSVOptions(formats.CSVOptions{Compression: "gzip"}))
		}, func(dir string) *dataset.Dataset { return dataset.ReadCSV(e.ctx, dir, e.opt()) }, ".csv.gz"},
		{func(dir string) error {
			return src.WriteJSON(e.ctx, dir, dataset.JSONOptions(formats.JSONOptions{Compression: "zstd"}))
		}, func(dir string) *dataset.Dataset { return dataset.ReadJSON(e.ctx, dir, e.opt()) }, ".jsonl.zst"},
	} {
		dir := t.TempDir()
		if err := c.write(dir); err != nil {
			t.Fatal(err)
		}
		files := visibleFiles(t, dir)
		if len(files) != 2 {
			t.Fatalf("%s: files %v, want 2", c.ext, files)
		}
		for _, f := range files {
			if !strings.HasSuffix(f, c.ext) {
				t.Errorf("file %s does not end in %s", f, c.ext)
			}
		}
		equalInts(t, c.ext, takeIDs(t, e, c.read(dir)), seq(0, 5000))
	}
	err := src.WriteCSV(e.ctx, t.TempDir(), dataset.CSVOptions(formats.CSVOptions{Compression: "lzma"}))
	if err == nil || !strings.Contains(err.Error(), `unknown compression "lzma"`) {
		t.Errorf("unknown codec: %v", err)
	}
}

func TestWhereTypeErrorAtPlanTime(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(10, e.opt()).Where(dataset.Col("id").Gt("ten"))
	if err := ds.Err(); err == nil || !strings.Contains(err.Error(), "id") {
		t.Fatalf("Where comparing an int column with a string: err %v, want a plan-time error naming the column", err)
	}
}

func TestWhereThenSelectGathersOnlySelected(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{{"x": 1.0, "name": "a"}, {"x": nil, "name": "b"}, {"x": 3.0, "name": "c"}, {"x": 5.0, "name": "d"}}
	ds := dataset.FromItems(items, e.opt()).Where(dataset.Col("x").Gt(2.0)).SelectColumns("name")
	if plan := ds.Explain(); !strings.Contains(plan, "Where(x > 2.0)->Select(name)") {
		t.Errorf("Where and SelectColumns are not one stage:\n%s", plan)
	}
	got := must(ds.TakeAll(e.ctx))(t)
	if len(got) != 2 || got[0]["name"] != "c" || got[1]["name"] != "d" || len(got[0]) != 1 {
		t.Errorf("rows %v, want names c and d only", got)
	}
}
