package formats

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// writeSampleFiles writes files of the sample table (pqSample): one file
// per entry of rows, each with row groups of groupRows, under dir/sub.
func writeSampleFiles(t *testing.T, dir string, groupRows int64, rows ...int) {
	t.Helper()
	mem := memory.NewGoAllocator()
	at := 0
	for i, n := range rows {
		rec := pqSample(t, mem, at, at+n)
		at += n
		data := pqEncode(t, ParquetOptions{RowGroupRows: groupRows}, []arrow.RecordBatch{rec})
		rec.Release()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%03d.parquet", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newTestSource(t *testing.T, o SourceOptions) *Source {
	t.Helper()
	if o.Reader == nil {
		o.Reader = Parquet(ParquetOptions{})
	}
	s, err := NewSource(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readAllTasks runs every read task and returns the blocks' row counts.
func readAllTasks(t *testing.T, src ops.Datasource, parallelism int) (tasks int, rows int64) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ts, err := src.ReadTasks(parallelism)
	if err != nil {
		t.Fatal(err)
	}
	for i, task := range ts {
		blks, err := task.Read(&exec.TaskContext{Context: context.Background(), Alloc: mem, Index: i})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, b := range blks {
			if !b.Schema().Equal(src.Schema()) {
				t.Errorf("block schema %s, want %s", b.Schema(), src.Schema())
			}
			n += b.NumRows()
			b.Release()
		}
		if task.Rows >= 0 && task.Rows != n {
			t.Errorf("task %d promised %d rows, read %d", i, task.Rows, n)
		}
		rows += n
	}
	return len(ts), rows
}

func TestSourceBatchesSmallFiles(t *testing.T) {
	dir := t.TempDir()
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 50
	}
	writeSampleFiles(t, dir, 1000, sizes...)
	s := newTestSource(t, SourceOptions{Paths: []string{dir}})
	if s.NumRows() != 2000 {
		t.Errorf("NumRows = %d", s.NumRows())
	}
	tasks, rows := readAllTasks(t, s, 200)
	if tasks != 1 || rows != 2000 {
		t.Errorf("40 small files gave %d tasks (%d rows); want them batched into one", tasks, rows)
	}
}

func TestSourceSplitsLargeFileAtRowGroups(t *testing.T) {
	dir := t.TempDir()
	writeSampleFiles(t, dir, 100, 2000) // one file, 20 row groups
	s := newTestSource(t, SourceOptions{Paths: []string{dir}, MinTaskBytes: 1})
	tasks, rows := readAllTasks(t, s, 4)
	if tasks != 4 || rows != 2000 {
		t.Errorf("one file of 20 row groups gave %d tasks (%d rows) for parallelism 4", tasks, rows)
	}
	tasks, _ = readAllTasks(t, s, 1000)
	if tasks != 20 {
		t.Errorf("parallelism 1000 gave %d tasks, want one per row group (20)", tasks)
	}
}

func TestSourcePruning(t *testing.T) {
	dir := t.TempDir()
	writeSampleFiles(t, dir, 100, 500, 500) // ids 0..999 in 10 row groups
	s := newTestSource(t, SourceOptions{Paths: []string{dir}, MinTaskBytes: 1})

	// The statistics leave 3 row groups to read (3 tasks); the read drops
	// the rows of those that fail the filter, so the count is unknown
	// until it has run.
	f := s.WithFilter(ops.Col("id").Ge(750))
	if got := f.NumRows(); got != -1 {
		t.Errorf("after the filter NumRows = %d, want -1 (unknown)", got)
	}
	if !strings.Contains(f.Name(), "filter=id >= 750") {
		t.Errorf("name %q", f.Name())
	}
	if tasks, rows := readAllTasks(t, f, 10); tasks != 3 || rows != 250 {
		t.Errorf("read %d rows in %d tasks, want 250 in 3 (one per row group left)", rows, tasks)
	}
	if tasks, rows := readAllTasks(t, s.WithFilter(ops.Col("id").Gt(5000)), 10); tasks != 0 || rows != 0 {
		t.Errorf("a filter nothing matches leaves %d tasks (%d rows)", tasks, rows)
	}

	l := s.WithLimit(150)
	if got := l.NumRows(); got != 150 {
		t.Errorf("limited NumRows = %d", got)
	}
	if tasks, rows := readAllTasks(t, l, 10); tasks != 2 || rows > 200 || rows < 150 {
		t.Errorf("limit 150 read %d rows in %d tasks; want 2 row groups", rows, tasks)
	}

	p, err := s.WithColumns([]string{"s", "id"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Schema().Field(0).Name + " " + p.Schema().Field(1).Name; got != "s id" {
		t.Errorf("projected schema %s", p.Schema())
	}
	if _, rows := readAllTasks(t, p, 3); rows != 1000 {
		t.Errorf("projected read gave %d rows", rows)
	}
	if _, err := s.WithColumns([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown column: %v", err)
	}
}

func TestSourcePartitionColumnsOnly(t *testing.T) {
	dir := t.TempDir()
	writeSampleFiles(t, filepath.Join(dir, "year=2023"), 100, 120)
	writeSampleFiles(t, filepath.Join(dir, "year=2024"), 100, 80)
	writeSampleFiles(t, filepath.Join(dir, "year=__HIVE_DEFAULT_PARTITION__"), 100, 10)
	s := newTestSource(t, SourceOptions{Paths: []string{dir}})
	p, err := s.WithColumns([]string{"year"})
	if err != nil {
		t.Fatal(err)
	}
	if _, rows := readAllTasks(t, p, 4); rows != 210 {
		t.Errorf("read %d rows of the partition column alone, want 210", rows)
	}
	only := p.(*Source).WithFilter(ops.Col("year").Eq(2024))
	if _, rows := readAllTasks(t, only, 4); rows != 80 {
		t.Errorf("year = 2024 reads %d rows, want 80", rows)
	}
	nulls := p.(*Source).WithFilter(ops.Col("year").IsNull())
	if _, rows := readAllTasks(t, nulls, 4); rows != 10 {
		t.Errorf("year IS NULL reads %d rows, want 10", rows)
	}
	noPart := newTestSource(t, SourceOptions{Paths: []string{dir}, NoPartitioning: true})
	if len(noPart.Schema().FieldIndices("year")) != 0 {
		t.Errorf("NoPartitioning still adds year")
	}
}

func TestSourceSkipsOtherExtensionsInADirectory(t *testing.T) {
	dir := t.TempDir()
	writeSampleFiles(t, dir, 0, 100, 50)
	for name, body := range map[string]string{"trace.json": `{"traceEvents":[]}`, "README.md": "# data"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newTestSource(t, SourceOptions{Paths: []string{dir}})
	if n := s.NumRows(); n != 150 {
		t.Errorf("%d rows, want the 150 of the two Parquet files", n)
	}
	// Named outright, a file is read whatever its name says.
	_, err := NewSource(context.Background(), SourceOptions{Paths: []string{filepath.Join(dir, "trace.json")}, Reader: Parquet(ParquetOptions{})})
	if err == nil || !strings.Contains(err.Error(), "trace.json") {
		t.Errorf("a JSON file named as Parquet: err %v, want a footer error naming it", err)
	}
	only := t.TempDir()
	if err := os.WriteFile(filepath.Join(only, "notes.md"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = NewSource(context.Background(), SourceOptions{Paths: []string{only}, Reader: Parquet(ParquetOptions{})})
	if err == nil || !strings.Contains(err.Error(), "no parquet files") || !strings.Contains(err.Error(), "notes.md") {
		t.Errorf("a directory without Parquet files: err %v", err)
	}
}
