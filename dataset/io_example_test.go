package dataset_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/ops"
)

func ExampleReadParquet() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "trips")
	defer os.RemoveAll(dir)

	// Write 1000 trips as Parquet, one directory per city.
	trips := dataset.Range(1000, dataset.WithRuntime(rt)).Map(func(r dataset.Row) (dataset.Item, error) {
		id := r.Int64("id")
		return dataset.Item{"id": id, "city": []string{"Oslo", "Lima"}[id%2], "fare": float64(id%50) + 0.5}, nil
	})
	if err := trips.WriteParquet(ctx, dir, dataset.PartitionBy("city")); err != nil {
		log.Fatal(err)
	}

	// Read back only the Oslo trips with a fare above 45, and only two
	// columns: the other city's files are never opened and the other
	// columns are never decoded.
	expensive := dataset.ReadParquet(ctx, dir, dataset.WithRuntime(rt)).
		Where(dataset.And(dataset.Col("city").Eq("Oslo"), dataset.Col("fare").Gt(45))).
		SelectColumns("id", "fare")
	n, err := expensive.Count(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expensive Oslo trips:", n)
	// Output:
	// expensive Oslo trips: 40
}

// memorySink is a user-defined Datasink: it keeps each block's rows as
// lines in a map, standing in for a key-value store. Writes go to a
// staging area and become visible only on Commit.
type memorySink struct {
	mu      sync.Mutex
	staged  map[int][]string
	visible []string
}

func (s *memorySink) Name() string                { return "MemorySink" }
func (s *memorySink) Start(context.Context) error { s.staged = map[int][]string{}; return nil }
func (s *memorySink) Abort(context.Context, []ops.WriteResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staged = nil
	return nil
}

func (s *memorySink) Write(tc *exec.TaskContext, index int, b blocks.Block) (ops.WriteResult, error) {
	var lines []string
	for i := range int(b.NumRows()) {
		lines = append(lines, fmt.Sprint(blocks.NewRow(b, i).Item()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staged[index] = lines
	return ops.WriteResult{Rows: b.NumRows(), Files: []string{fmt.Sprint("block-", index)}}, nil
}

func (s *memorySink) Commit(_ context.Context, results []ops.WriteResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range results {
		s.visible = append(s.visible, s.staged[i]...)
	}
	return nil
}

// countdownSource is a user-defined Datasource: n rows counting down, in
// two read tasks.
type countdownSource struct{ n int64 }

var countdownSchema = arrow.NewSchema([]arrow.Field{{Name: "left", Type: arrow.PrimitiveTypes.Int64}}, nil)

func (c countdownSource) Name() string          { return fmt.Sprintf("Countdown(%d)", c.n) }
func (c countdownSource) Schema() *arrow.Schema { return countdownSchema }
func (c countdownSource) NumRows() int64        { return c.n }
func (c countdownSource) ReadTasks(int) ([]ops.ReadTask, error) {
	half := c.n / 2
	task := func(lo, hi int64) ops.ReadTask {
		return ops.ReadTask{Rows: hi - lo, Bytes: 8 * (hi - lo), Read: func(tc *exec.TaskContext) ([]blocks.Block, error) {
			b := array.NewInt64Builder(tc.Alloc)
			defer b.Release()
			for i := lo; i < hi; i++ {
				b.Append(c.n - i)
			}
			col := b.NewArray()
			defer col.Release()
			return []blocks.Block{array.NewRecordBatch(countdownSchema, []arrow.Array{col}, hi-lo)}, nil
		}}
	}
	return []ops.ReadTask{task(0, half), task(half, c.n)}, nil
}

func ExampleDataset_Write() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	sink := &memorySink{}
	ds := dataset.ReadDatasource(countdownSource{n: 4}, dataset.WithRuntime(rt))
	if err := ds.Write(ctx, sink); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ds)
	fmt.Println(strings.Join(sink.visible, "\n"))
	// Output:
	// Dataset(Countdown(4), rows=4, schema={left: int64})
	// map[left:4]
	// map[left:3]
	// map[left:2]
	// map[left:1]
}

func ExampleDataset_WriteCSV() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "range")
	defer os.RemoveAll(dir)

	// Repartition(1) gives one file; WriteID fixes its name. _shoal holds
	// the commit log: the manifest that names the file.
	err := dataset.Range(10000, dataset.WithRuntime(rt)).Repartition(1).WriteCSV(ctx, dir, dataset.WriteID("ids"))
	if err != nil {
		log.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	n, err := dataset.ReadCSV(ctx, filepath.Join(dir, "*.csv"), dataset.WithRuntime(rt)).Count(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(names, n)
	// Output:
	// [_shoal part-ids-000000.csv] 10000
}

// Arrow strings must be valid UTF-8, so a CSV value that is not is an
// error naming the file, line and column; formats.InvalidUTF8Replace reads
// it with U+FFFD in place of each bad byte instead (InvalidUTF8Binary
// reads the column as binary).
func ExampleReadCSV_invalidUTF8() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "latin1")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cities.csv")
	_ = os.WriteFile(path, []byte("id,city\n1,Oslo\n2,Malm\xf6\n"), 0o644) // Latin-1 ö

	_, err := dataset.ReadCSV(ctx, path, dataset.WithRuntime(rt)).TakeAll(ctx)
	fmt.Println(strings.Replace(err.Error(), path, "cities.csv", 1))

	rows, _ := dataset.ReadCSV(ctx, path, dataset.WithRuntime(rt),
		dataset.CSVOptions(formats.CSVOptions{InvalidUTF8: formats.InvalidUTF8Replace})).TakeAll(ctx)
	fmt.Println(rows[1]["city"])
	// Output:
	// operator ReadCSV[1 files, 23 B], block 0: cities.csv line 3, column "city": invalid UTF-8 at byte 5 of "Malm\xf6": set InvalidUTF8 to replace the bad bytes or read the column as binary
	// Malm�
}
