package dataset_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/formats"
)

// bigCSV writes a CSV file of n rows (about 25 bytes each) with quoted
// fields holding commas, and returns its path.
func bigCSV(t *testing.T, n int, extra string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,name,score\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,\"name, %d\",%d.5\n", i, i%97, i%1000)
	}
	b.WriteString(extra)
	path := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadOneLargeCSVInParallel: one 15 MB CSV file is read by as many
// tasks (byte ranges) as WithParallelism asks, and gives every row once,
// in file order; NumBlocks agrees before and after running.
func TestReadOneLargeCSVInParallel(t *testing.T) {
	e := setup(t)
	const n = 600_000
	path := bigCSV(t, n, "")
	for _, par := range []int{1, 3} {
		d := dataset.ReadCSV(e.ctx, path, dataset.WithRuntime(e.rt), dataset.WithParallelism(par))
		if strings.Contains(d.Explain(), "read whole") {
			t.Errorf("a splittable file said to be read whole:\n%s", d.Explain())
		}
		blocks, err := d.NumBlocks(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st := d.Stats(); st == nil || st.Tasks != par {
			t.Errorf("parallelism %d: read tasks %v", par, st)
		}
		next := int64(0)
		for r, err := range d.IterRows(e.ctx) {
			if err != nil {
				t.Fatal(err)
			}
			if id := r.Int64("id"); id != next {
				t.Fatalf("parallelism %d: row %d has id %d", par, next, id)
			}
			if name := r.String("name"); name != fmt.Sprintf("name, %d", next%97) {
				t.Fatalf("row %d: name %q", next, name)
			}
			next++
		}
		if next != n {
			t.Fatalf("parallelism %d: %d rows, want %d", par, next, n)
		}
		m, err := d.Materialize(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		after, err := m.NumBlocks(e.ctx)
		if err != nil || after != blocks {
			t.Errorf("parallelism %d: NumBlocks %d before running, %d after (%v)", par, blocks, after, err)
		}
	}
}

// TestReadLargeCSVQuotedNewline: a quoted newline past the sampled rows
// fails a split read with an error naming the file's line and the
// option, and NewlinesInValues reads the file whole, correctly.
func TestReadLargeCSVQuotedNewline(t *testing.T) {
	e := setup(t)
	const n = 600_000
	path := bigCSV(t, n, "600000,\"two\nlines\",1.5\n")
	_, err := dataset.ReadCSV(e.ctx, path, dataset.WithRuntime(e.rt), dataset.WithParallelism(4)).Count(e.ctx)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("big.csv line %d: a quoted field holds a newline", n+2)) || !strings.Contains(err.Error(), "NewlinesInValues") {
		t.Fatalf("split read: %v", err)
	}
	d := dataset.ReadCSV(e.ctx, path, dataset.WithRuntime(e.rt), dataset.WithParallelism(4),
		dataset.CSVOptions(formats.CSVOptions{NewlinesInValues: true}))
	if !strings.Contains(d.Explain(), "1 large files read whole") {
		t.Errorf("the plan does not say the file is read whole:\n%s", d.Explain())
	}
	rows, err := d.Count(e.ctx)
	if err != nil || rows != n+1 {
		t.Fatalf("NewlinesInValues: %d rows, %v", rows, err)
	}
}

// TestS3ReadOneLargeCSVInRanges: a large CSV object on S3 is read in byte
// ranges (ranged GETs) by as many tasks as the parallelism asks, with
// every row once, in order.
func TestS3ReadOneLargeCSVInRanges(t *testing.T) {
	e := setup(t)
	cfg, bucket, fs := s3Config(t)
	const n = 600_000
	data, err := os.ReadFile(bigCSV(t, n, ""))
	if err != nil {
		t.Fatal(err)
	}
	w, err := fs.Create(e.ctx, bucket+"/big.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d := dataset.ReadCSV(e.ctx, "s3://"+bucket+"/big.csv", dataset.Storage(cfg), dataset.WithRuntime(e.rt), dataset.WithParallelism(3))
	next := int64(0)
	for r, err := range d.IterRows(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if id := r.Int64("id"); id != next {
			t.Fatalf("row %d has id %d", next, id)
		}
		next++
	}
	if next != n {
		t.Fatalf("%d rows, want %d", next, n)
	}
	if st := d.Stats(); st == nil || st.Tasks != 3 {
		t.Errorf("read tasks %v, want 3", st)
	}

	// The same file gzipped, beside it: one task streams it from S3 and
	// decompresses it, rows in order; a directory read takes both.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	if w, err = fs.Create(e.ctx, bucket+"/big.csv.gz"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(gz.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d = dataset.ReadCSV(e.ctx, "s3://"+bucket+"/big.csv.gz", dataset.Storage(cfg), dataset.WithRuntime(e.rt), dataset.WithParallelism(3))
	next = 0
	for r, err := range d.IterRows(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if id := r.Int64("id"); id != next {
			t.Fatalf("gzip: row %d has id %d", next, id)
		}
		next++
	}
	if next != n {
		t.Fatalf("gzip: %d rows, want %d", next, n)
	}
	if st := d.Stats(); st == nil || st.Tasks != 1 {
		t.Errorf("gzip: read tasks %v, want 1", st)
	}
	if c, err := dataset.ReadCSV(e.ctx, "s3://"+bucket+"/", dataset.Storage(cfg), dataset.WithRuntime(e.rt)).Count(e.ctx); err != nil || c != 2*n {
		t.Errorf("directory of big.csv and big.csv.gz: %d rows, %v; want %d", c, err, 2*n)
	}
}

// TestCSVToParquetOverlaps: converting one large CSV file, the first
// write task starts before the last read task ends (the trace shows
// reading and writing overlap), whether the file is read in ranges or,
// compressed, whole by one task, which hands each block on as it is made;
// every row is written once.
func TestCSVToParquetOverlaps(t *testing.T) {
	e := setup(t)
	path := bigCSV(t, 600_000, "")
	plain, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	gzPath := path + ".gz"
	if err := os.WriteFile(gzPath, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path      string
		par       int
		readTasks int // 0: more than one
	}{{path, 3, 0}, {gzPath, 3, 1}} {
		par := c.par
		var trace bytes.Buffer
		d := dataset.ReadCSV(e.ctx, c.path, dataset.WithRuntime(e.rt), dataset.WithParallelism(par), dataset.WithTrace(&trace))
		out := filepath.Join(t.TempDir(), "out")
		if err := d.WriteParquet(e.ctx, out); err != nil {
			t.Fatal(err)
		}
		if n, err := dataset.ReadParquet(e.ctx, out, e.opt()).Count(e.ctx); err != nil || n != 600_000 {
			t.Errorf("%s: wrote %d rows, %v", filepath.Base(c.path), n, err)
		}
		var doc struct {
			TraceEvents []struct {
				Ph   string  `json:"ph"`
				Name string  `json:"name"`
				Cat  string  `json:"cat"`
				Ts   float64 `json:"ts"`
				Dur  float64 `json:"dur"`
			} `json:"traceEvents"`
		}
		if err := json.Unmarshal(trace.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		lastReadEnd, firstWrite := -1.0, -1.0
		reads, writes := 0, 0
		for _, ev := range doc.TraceEvents {
			if ev.Ph != "X" {
				continue
			}
			switch {
			case strings.Contains(ev.Name+ev.Cat, "Write"):
				writes++
				if firstWrite < 0 || ev.Ts < firstWrite {
					firstWrite = ev.Ts
				}
			case strings.Contains(ev.Name+ev.Cat, "ReadCSV"):
				reads++
				lastReadEnd = max(lastReadEnd, ev.Ts+ev.Dur)
			}
		}
		if reads == 0 || writes == 0 || c.readTasks > 0 && reads != c.readTasks || c.readTasks == 0 && reads < 2 {
			t.Fatalf("%s, parallelism %d: %d read and %d write task events in\n%.2000s", filepath.Base(c.path), par, reads, writes, trace.String())
		}
		if firstWrite >= lastReadEnd {
			t.Errorf("%s, parallelism %d: the first write starts at %.0fµs, after the last read ended at %.0fµs", filepath.Base(c.path), par, firstWrite, lastReadEnd)
		}
	}
}

// TestNumBlocksBeforeAndAfterRunning: NumBlocks of a read says what the
// run gives, for many small Parquet files, one file of many batches, and
// a CSV file (counted by running it).
func TestNumBlocksBeforeAndAfterRunning(t *testing.T) {
	e := setup(t)
	dir := t.TempDir()
	if err := dataset.Range(200*1000, e.par(200)...).WriteParquet(e.ctx, filepath.Join(dir, "many")); err != nil {
		t.Fatal(err)
	}
	if err := dataset.Range(300_000, e.par(1)...).WriteParquet(e.ctx, filepath.Join(dir, "one")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*dataset.Dataset{
		dataset.ReadParquet(e.ctx, filepath.Join(dir, "many"), e.opt()),
		dataset.ReadParquet(e.ctx, filepath.Join(dir, "one"), e.opt()),
		dataset.ReadCSV(e.ctx, bigCSV(t, 100_000, ""), e.opt()),
	} {
		before, err := d.NumBlocks(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := d.Materialize(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		after, err := m.NumBlocks(e.ctx)
		if err != nil || after != before || before < 2 {
			t.Errorf("%s: NumBlocks %d before running, %d after (%v)", d.Explain(), before, after, err)
		}
	}
}
