package formats

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/ops"
)

// checkReadSpecs reads every task of src twice, with its own function and
// with the one its spec builds after a trip through JSON, and compares the
// blocks.
func checkReadSpecs(t *testing.T, src ops.Datasource, parallelism int) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tasks, err := src.ReadTasks(parallelism)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) == 0 {
		t.Fatal("no tasks")
	}
	var rows int64
	for i, task := range tasks {
		if task.Spec == nil {
			t.Fatalf("task %d of %s has no spec", i, src.Name())
		}
		data, err := json.Marshal(task.Spec)
		if err != nil {
			t.Fatal(err)
		}
		var spec ops.Spec
		if err := json.Unmarshal(data, &spec); err != nil {
			t.Fatal(err)
		}
		read, err := ops.BuildRead(spec)
		if err != nil {
			t.Fatal(err)
		}
		tc := &exec.TaskContext{Context: context.Background(), Alloc: mem, Index: i}
		want, err := task.Read(tc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := read(tc)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("task %d: built read gives %d blocks, want %d", i, len(got), len(want))
		}
		for k := range want {
			if !array.RecordEqual(got[k], want[k]) || !got[k].Schema().Equal(want[k].Schema()) {
				t.Fatalf("task %d block %d: built read gives\n%v\nwant\n%v", i, k, got[k], want[k])
			}
			rows += want[k].NumRows()
			got[k].Release()
			want[k].Release()
		}
	}
	if rows == 0 {
		t.Fatal("read no rows")
	}
}

func TestReadSpecsParquet(t *testing.T) {
	dir := t.TempDir()
	writeSampleFiles(t, filepath.Join(dir, "year=2023", "city=Oslo"), 100, 250, 120)
	writeSampleFiles(t, filepath.Join(dir, "year=2024", "city=Bergen"), 100, 80)
	writeSampleFiles(t, filepath.Join(dir, "year=__HIVE_DEFAULT_PARTITION__", "city=Oslo"), 100, 10)
	s := newTestSource(t, SourceOptions{Paths: []string{dir}, MinTaskBytes: 1, BatchRows: 33,
		Reader: Parquet(ParquetOptions{BufferedStream: true})})
	checkReadSpecs(t, s, 4)
	checkReadSpecs(t, s, 1)
	p, err := s.WithColumns([]string{"city", "id", "year"})
	if err != nil {
		t.Fatal(err)
	}
	checkReadSpecs(t, p, 3)
	checkReadSpecs(t, p.(*Source).WithFilter(ops.Or(ops.Col("id").Ge(300), ops.Col("year").IsNull())), 3)
	checkReadSpecs(t, s.WithLimit(130), 5)
	only, err := s.WithColumns([]string{"year"})
	if err != nil {
		t.Fatal(err)
	}
	checkReadSpecs(t, only, 2)
}

func TestReadSpecsTextFormats(t *testing.T) {
	dir := t.TempDir()
	var csv, js, txt strings.Builder
	csv.WriteString("id|when|city|score\n")
	for i := range 200 {
		city := []string{"Oslo", "-", "Bergen"}[i%3]
		fmt.Fprintf(&csv, "%d|2024-02-%02d|%s|%d\n", i, i%28+1, city, i*7)
		if i%7 == 0 {
			csv.WriteString("# a comment\n")
		}
		fmt.Fprintf(&js, "{\"id\": %d, \"tags\": [\"a\", \"b%d\"], \"late\": %d}\n", i, i%4, i)
		fmt.Fprintf(&txt, "line %d\n", i)
	}
	bad := "ok\nnot \xffUTF-8\n"
	for name, body := range map[string]string{"a.csv": csv.String(), "b.jsonl": js.String(), "c.txt": txt.String(), "d.txt": bad} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	csvOpts := CSVOptions{Delimiter: '|', Comment: '#', NullValues: []string{"-"}, InferRows: 10,
		Columns: map[string]arrow.DataType{"score": arrow.PrimitiveTypes.Int32, "when": arrow.FixedWidthTypes.Date32}}
	for _, c := range []struct {
		name string
		o    SourceOptions
	}{
		{"csv", SourceOptions{Paths: []string{filepath.Join(dir, "a.csv")}, Reader: CSV(csvOpts), BatchRows: 17}},
		{"csv-empty-nulls", SourceOptions{Paths: []string{filepath.Join(dir, "a.csv")}, Reader: CSV(CSVOptions{Delimiter: '|', Comment: '#', NullValues: []string{}})}},
		{"csv-schema", SourceOptions{Paths: []string{filepath.Join(dir, "a.csv")}, Reader: CSV(CSVOptions{Delimiter: '|', Comment: '#'}),
			Schema: arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int16}, {Name: "city", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)}},
		{"json", SourceOptions{Paths: []string{filepath.Join(dir, "b.jsonl")}, Reader: JSON(JSONOptions{InferRows: 3,
			Columns: map[string]arrow.DataType{"late": arrow.PrimitiveTypes.Float32}})}},
		{"text", SourceOptions{Paths: []string{filepath.Join(dir, "c.txt")}, Reader: Text(), BatchRows: 50}},
		{"text-replace", SourceOptions{Paths: []string{filepath.Join(dir, "d.txt")}, Reader: TextWith(TextOptions{InvalidUTF8: InvalidUTF8Replace})}},
		{"binary", SourceOptions{Paths: []string{dir}, Reader: Binary()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newTestSource(t, c.o)
			checkReadSpecs(t, s, 2)
			checkReadSpecs(t, s.WithLimit(25), 2)
		})
	}
}

// TestReadSpecsRelativePath checks that a relative path travels as an
// absolute one: a worker's working directory may differ.
func TestReadSpecsRelativePath(t *testing.T) {
	dir := t.TempDir()
	writeSampleFiles(t, dir, 100, 50)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Skip("no relative path to the temporary directory:", err)
	}
	s := newTestSource(t, SourceOptions{Paths: []string{rel}})
	tasks, err := s.ReadTasks(1)
	if err != nil {
		t.Fatal(err)
	}
	var a readArgs
	if err := json.Unmarshal(tasks[0].Spec.Args, &a); err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(a.Files[0].Info.Path) || !strings.HasPrefix(a.Files[0].URL, "file:///") {
		t.Fatalf("file travels as %q (%s)", a.Files[0].Info.Path, a.Files[0].URL)
	}
	checkReadSpecs(t, s, 1)
}

// otherFS is a FileSystem the spec cannot name.
type otherFS struct{ storage.Local }

// TestReadSpecsStayInDriver lists the reads that cannot ship.
func TestReadSpecsStayInDriver(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.csv"), []byte("x\n1\n2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.jsonl"), []byte("{\"x\": 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    SourceOptions
	}{
		{"csv-bad-rows-counter", SourceOptions{Reader: CSV(CSVOptions{BadRows: new(atomic.Int64)})}},
		{"json-bad-rows-counter", SourceOptions{Reader: JSON(JSONOptions{BadRows: new(atomic.Int64)})}},
		{"custom-filesystem", SourceOptions{Reader: CSV(CSVOptions{}), Storage: storage.Config{FileSystem: otherFS{}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Paths = []string{filepath.Join(dir, "a.csv")}
			if strings.HasPrefix(c.name, "json") {
				c.o.Paths = []string{filepath.Join(dir, "b.jsonl")}
			}
			s := newTestSource(t, c.o)
			tasks, err := s.ReadTasks(1)
			if err != nil {
				t.Fatal(err)
			}
			if tasks[0].Spec != nil {
				t.Fatalf("a %s read has a spec", c.name)
			}
		})
	}
	// The local filesystem named outright ships.
	s := newTestSource(t, SourceOptions{Paths: []string{filepath.Join(dir, "a.csv")}, Reader: CSV(CSVOptions{}),
		Storage: storage.Config{FileSystem: storage.Local{}}})
	checkReadSpecs(t, s, 1)
}

func TestReadSpecErrors(t *testing.T) {
	for _, args := range []string{
		`{`,
		`{"format":"orc"}`,
		`{"format":"csv","options":{"Delimiter":"x"}}`,
		`{"format":"text","file_types":null,"out":null}`,
	} {
		if _, err := ops.BuildRead(ops.Spec{Kind: ReadKind, Args: json.RawMessage(args)}); err == nil {
			t.Errorf("%s built", args)
		}
	}
}
