package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
)

// writeFormat writes d to dir in format.
func writeFormat(e *testEnv, d *dataset.Dataset, format, dir string, opts ...dataset.WriteOption) error {
	switch format {
	case "csv":
		return d.WriteCSV(e.ctx, dir, opts...)
	case "json":
		return d.WriteJSON(e.ctx, dir, opts...)
	}
	return d.WriteParquet(e.ctx, dir, opts...)
}

// readFormat reads dir in format.
func readFormat(e *testEnv, format, dir string, opts ...dataset.ReadOption) *dataset.Dataset {
	opts = append(opts, e.opt())
	switch format {
	case "csv":
		return dataset.ReadCSV(e.ctx, dir, opts...)
	case "json":
		return dataset.ReadJSON(e.ctx, dir, opts...)
	}
	return dataset.ReadParquet(e.ctx, dir, opts...)
}

// inFlightMarkers lists the write markers left in dir's log.
func inFlightMarkers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(dir, "_shoal", "writes"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestWriteNoRows: a write of no rows makes one file that holds the
// columns (a Parquet file with no row groups, a CSV header, an empty JSON
// lines file) and a manifest, so the schema reads back exactly, partition
// columns included.
func TestWriteNoRows(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{{"id": int64(1), "name": "a", "x": 0.5, "ok": true}}
	for _, format := range []string{"parquet", "csv", "json"} {
		for _, part := range [][]string{nil, {"name"}} {
			dir := filepath.Join(t.TempDir(), format)
			src := dataset.FromItems(items, e.opt()).Where(dataset.Col("id").Lt(0))
			want := must(src.Schema(e.ctx))(t)
			var opts []dataset.WriteOption
			if part != nil {
				opts = append(opts, dataset.PartitionBy(part...))
			}
			if err := writeFormat(e, src, format, dir, opts...); err != nil {
				t.Fatalf("%s %v: %v", format, part, err)
			}
			files := visibleFiles(t, dir)
			if len(files) != 1 || !strings.HasPrefix(files[0], "part-") {
				t.Fatalf("%s %v: files %v, want one", format, part, files)
			}
			data, err := os.ReadFile(filepath.Join(dir, files[0]))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case format == "csv" && part == nil && string(data) != "id,name,ok,x\n",
				format == "csv" && part != nil && string(data) != "id,ok,x\n",
				format == "json" && len(data) != 0,
				format == "parquet" && !strings.HasPrefix(string(data), "PAR1"):
				t.Errorf("%s %v: the file holds %q", format, part, data)
			}
			back := readFormat(e, format, dir)
			got, err := back.Schema(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantCols := "[id: int64 name: utf8 ok: bool x: float64]"
			if part != nil {
				wantCols = "[id: int64 ok: bool x: float64 name: utf8]" // partition columns last, as from paths
			}
			if gotCols := fmt.Sprint(columnsOf(got)); gotCols != wantCols || fmt.Sprint(columnsOf(want)) != "[id: int64 name: utf8 ok: bool x: float64]" {
				t.Errorf("%s %v: columns read back %s, want %s", format, part, gotCols, wantCols)
			}
			if n, err := back.Count(e.ctx); err != nil || n != 0 {
				t.Errorf("%s %v: count %d, %v", format, part, n, err)
			}
			if rows, err := back.TakeAll(e.ctx); err != nil || len(rows) != 0 {
				t.Errorf("%s %v: rows %v, %v", format, part, rows, err)
			}
		}
	}
	// A dataset with no blocks at all: the plan's schema is written.
	dir := t.TempDir()
	if err := dataset.Range(0, e.opt()).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	s, err := dataset.ReadParquet(e.ctx, dir, e.opt()).Schema(e.ctx)
	if err != nil || fmt.Sprint(fieldNamesOf(s)) != "[id]" {
		t.Errorf("Range(0) read back: %v, %v", s, err)
	}
}

// columnsOf lists "name: type" for each column.
func columnsOf(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = fmt.Sprintf("%s: %s", f.Name, f.Type)
	}
	return out
}

// TestWriteNoColumns: rows with no columns keep their count in every
// format (Parquet records none for a file without columns; the manifest
// does).
func TestWriteNoColumns(t *testing.T) {
	e := setup(t)
	for _, format := range []string{"parquet", "csv", "json"} {
		dir := filepath.Join(t.TempDir(), format)
		if err := writeFormat(e, dataset.Range(7, e.par(2)...).DropColumns("id"), format, dir); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		back := readFormat(e, format, dir)
		if n, err := back.Count(e.ctx); err != nil || n != 7 {
			t.Errorf("%s: count %d, %v; want 7", format, n, err)
		}
		rows, err := back.TakeAll(e.ctx)
		if err != nil || len(rows) != 7 || len(rows[0]) != 0 {
			t.Errorf("%s: rows %v, %v; want 7 empty rows", format, rows, err)
		}
		if rows, err := back.Limit(3).TakeAll(e.ctx); err != nil || len(rows) != 3 {
			t.Errorf("%s: Limit(3) gave %d rows, %v", format, len(rows), err)
		}
	}
}

// TestAppendAdoptsFilesAlreadyThere: the first logged Append into a
// directory that holds files (from before the log, or another tool's)
// keeps them in the snapshot; an Overwrite removes them.
func TestAppendAdoptsFilesAlreadyThere(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"old.csv":                "id\n100\n101\n102\n",
		"part-copied-000001.csv": "id\n1000\n", // named like Shoal's, but no write of this directory's
		"x=1/old_0001.csv":       "id\n200\n",
		"README.md":              "not data",
		"_SUCCESS":               "",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := dataset.Range(5, e.opt()).WriteCSV(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	d := dataset.ReadCSV(e.ctx, dir, e.opt())
	if sum, err := d.Sum(e.ctx, "id"); err != nil || sum.Int64() != 100+101+102+200+1000+10 {
		t.Errorf("sum of ids %v, %v: the files already there and the new ones", sum, err)
	}
	if n, err := d.Count(e.ctx); err != nil || n != 10 {
		t.Errorf("count %d, %v", n, err)
	}
	if err := dataset.Range(2, e.opt()).WriteCSV(e.ctx, dir, dataset.Mode(formats.Overwrite), dataset.WriteID("new")); err != nil {
		t.Fatal(err)
	}
	for _, f := range visibleFiles(t, dir) {
		if !strings.HasPrefix(f, "part-new-") {
			t.Errorf("after an Overwrite: %s is left", f)
		}
	}
	if n, err := dataset.ReadCSV(e.ctx, dir, e.opt()).Count(e.ctx); err != nil || n != 2 {
		t.Errorf("after an Overwrite: count %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
		t.Errorf("an Overwrite removed another tool's hidden marker: %v", err)
	}
}

// TestReadsOnlyCommittedFiles: files that no manifest names (an
// unfinished or dead write's) are not read through the dataset's
// directory, a partition directory or a glob.
func TestReadsOnlyCommittedFiles(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	var items []dataset.Item
	for i := range 40 {
		items = append(items, dataset.Item{"city": []string{"Oslo", "Lima"}[i%2], "v": int64(i)})
	}
	if err := dataset.FromItems(items, e.par(2)...).WriteParquet(e.ctx, dir, dataset.PartitionBy("city")); err != nil {
		t.Fatal(err)
	}
	// A dead write's files: copies of committed ones under its own names.
	for _, f := range visibleFiles(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		zombie := filepath.Join(dir, filepath.Dir(f), "part-zombie-"+filepath.Base(f)[len(filepath.Base(f))-14:])
		if err := os.WriteFile(zombie, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path string
		rows int64
	}{
		{dir, 40},
		{filepath.Join(dir, "city=Oslo"), 20},
		{filepath.Join(dir, "city=Lima", "*.parquet"), 20},
		{filepath.Join(dir, "*", "part-*.parquet"), 40},
	} {
		d := dataset.ReadParquet(e.ctx, c.path, e.opt())
		n, err := d.Count(e.ctx)
		sum, serr := d.Sum(e.ctx, "v")
		if err != nil || serr != nil || n != c.rows || (c.rows == 40 && sum.Int64() != 39*40/2) {
			t.Errorf("%s: %d rows (sum %v), %v %v; want %d", c.path, n, sum, err, serr, c.rows)
		}
	}
	zombie := filepath.Join(dir, "city=Oslo", "part-zombie-000000.parquet")
	_, err := dataset.ReadParquet(e.ctx, zombie, e.opt()).Count(e.ctx)
	if !errors.Is(err, storage.ErrNoFiles) || !strings.Contains(err.Error(), zombie) || !strings.Contains(err.Error(), "unfinished or replaced write") {
		t.Errorf("reading an uncommitted file: %v", err)
	}
	// The next write removes them (their write has no marker: it is dead).
	if err := dataset.Range(1, e.opt()).Map(func(dataset.Row) (dataset.Item, error) {
		return dataset.Item{"city": "Rome", "v": int64(0)}, nil
	}).WriteParquet(e.ctx, dir, dataset.PartitionBy("city")); err != nil {
		t.Fatal(err)
	}
	for _, f := range visibleFiles(t, dir) {
		if strings.Contains(f, "zombie") {
			t.Errorf("the next write left %s", f)
		}
	}
}

// TestConcurrentAppends: writes that append to one directory at once
// each commit, one version each, and every write's rows are there.
func TestConcurrentAppends(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	const writers = 4
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			errs[i] = dataset.Range(int64(100*(i+1)), e.par(3)...).WriteParquet(e.ctx, dir)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	d := dataset.ReadParquet(e.ctx, dir, e.opt())
	n, err := d.Count(e.ctx)
	sum, serr := d.Sum(e.ctx, "id")
	var want int64
	for i := range int64(writers) {
		k := 100 * (i + 1)
		want += k * (k - 1) / 2
	}
	if err != nil || serr != nil || n != 1000 || sum.Int64() != want {
		t.Errorf("count %d (want 1000), sum %v (want %d): %v %v", n, sum, want, err, serr)
	}
	if m := inFlightMarkers(t, dir); len(m) != 0 {
		t.Errorf("markers left: %v", m)
	}
}

// TestWriteCleansOldStaging: the staging directories the former commit
// protocol left are removed by the next write once nothing touched them
// for the staleness bound.
func TestWriteCleansOldStaging(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	old := filepath.Join(dir, "_shoal_staging_20240101T000000-abcdef", "20240101T000000-abcdef_000000.parquet")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	if err := dataset.Range(10, e.opt()).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(old)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old staging directory is still there: %v", err)
	}
}

// refusingFS is the local filesystem with injected failures: removals are
// refused, as is creating a manifest, so a commit fails and so does its
// rollback.
type refusingFS struct{ storage.Local }

var errRefused = errors.New("permission denied (injected)")

func (refusingFS) RemoveAll(_ context.Context, p string) error {
	return &storage.PathError{Op: "remove", URL: p, Err: errRefused}
}

func (f refusingFS) PutIfAbsent(ctx context.Context, p string, data []byte) error {
	if strings.Contains(p, "manifest-") {
		return &storage.PathError{Op: "create", URL: p, Err: errors.New("no space left on device (injected)")}
	}
	return f.Local.PutIfAbsent(ctx, p, data)
}

// TestFailedCommitAndRollback: when the commit fails and so does the
// rollback, both errors come back, each naming the path, and a reader
// still sees the old dataset whole.
func TestFailedCommitAndRollback(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(100, e.par(2)...).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	st := dataset.Storage(storage.Config{FileSystem: refusingFS{}})
	err := dataset.Range(1000, e.par(5)...).WriteParquet(e.ctx, dir, st, dataset.WriteID("doomed"))
	for _, want := range []string{"write parquet " + dir, "no space left on device", "manifest-00000000000000000001.json",
		"cleaning up the failed write", "rolling back write doomed in " + dir, "permission denied", "part-doomed-0000"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	d := dataset.ReadParquet(e.ctx, dir, e.opt())
	n, cerr := d.Count(e.ctx)
	sum, serr := d.Sum(e.ctx, "id")
	if cerr != nil || serr != nil || n != 100 || sum.Int64() != 99*100/2 {
		t.Errorf("after the failed write the reader sees %d rows, sum %v (%v %v); want the old 100", n, sum, cerr, serr)
	}
	// Its files are garbage that the next write removes.
	if err := dataset.Range(1, e.opt()).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range visibleFiles(t, dir) {
		if strings.Contains(f, "doomed") {
			t.Errorf("the next write left %s", f)
		}
	}
	if m := inFlightMarkers(t, dir); len(m) != 0 {
		t.Errorf("markers left: %v", m)
	}
}

// TestWriteIDInUse: a write ID that names files of the dataset already is
// refused before anything is written (its files would replace the
// committed ones in place).
func TestWriteIDInUse(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(10, e.opt()).WriteParquet(e.ctx, dir, dataset.WriteID("daily")); err != nil {
		t.Fatal(err)
	}
	err := dataset.Range(20, e.opt()).WriteParquet(e.ctx, dir, dataset.WriteID("daily"), dataset.Mode(formats.Overwrite))
	if err == nil || !strings.Contains(err.Error(), `write ID "daily" already names files`) {
		t.Fatalf("err = %v", err)
	}
	if n, err := dataset.ReadParquet(e.ctx, dir, e.opt()).Count(e.ctx); err != nil || n != 10 {
		t.Errorf("count %d, %v", n, err)
	}
}

// TestCountAndSchemaFromTheManifest: Count and Schema of a written
// dataset open no data file.
func TestCountAndSchemaFromTheManifest(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(5000, e.par(8)...).WriteParquet(e.ctx, dir); err != nil {
		t.Fatal(err)
	}
	fs := newCountingFS()
	d := dataset.ReadParquet(e.ctx, dir, e.opt(), dataset.Storage(storage.Config{FileSystem: fs}))
	n, err := d.Count(e.ctx)
	s, serr := d.Schema(e.ctx)
	if err != nil || serr != nil || n != 5000 || s.NumFields() != 1 {
		t.Fatalf("count %d, schema %v: %v %v", n, s, err, serr)
	}
	fs.mu.Lock()
	for p := range fs.paths {
		if strings.HasSuffix(p, ".parquet") {
			t.Errorf("opened %s for Count and Schema", p)
		}
	}
	fs.mu.Unlock()
	// Reading still prunes row groups by their statistics.
	b := must(d.Where(dataset.Col("id").Lt(10)).TakeAll(e.ctx))(t)
	if len(b) != 10 {
		t.Errorf("%d rows under 10", len(b))
	}
}
