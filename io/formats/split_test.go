package formats

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/io/storage"
)

// readRanges reads f in the ranges that cut points make of it, one Read
// each with meta from one Inspect, and returns the rows end to end.
func readRanges(t testing.TB, r Reader, f storage.File, meta *FileMeta, cuts []int64) ([]blocks.Item, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	bounds := append(append([]int64{0}, cuts...), f.Size())
	var rows []blocks.Item
	for k := range len(bounds) - 1 {
		if bounds[k] == bounds[k+1] {
			continue
		}
		req := ReadRequest{Alloc: mem, Limit: -1, BatchRows: 7, Range: ByteRange{bounds[k], bounds[k+1]}}
		err := r.Read(context.Background(), f, meta, req, func(rec arrow.RecordBatch) error {
			defer rec.Release()
			rows = append(rows, blocks.ToItems(rec)...)
			return nil
		})
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// randomCuts picks n sorted cut points in (0, size).
func randomCuts(rng *rand.Rand, size int64, n int) []int64 {
	var cuts []int64
	for range n {
		if size > 1 {
			cuts = append(cuts, 1+rng.Int64N(size-1))
		}
	}
	slices.Sort(cuts)
	return cuts
}

// splitCSVText is random CSV: a header, quoted and unquoted fields with
// commas, doubled quotes and CR LF endings, blank lines, no final newline
// at times; no newline inside a quoted field.
func splitCSVText(rng *rand.Rand, rows int) string {
	var b strings.Builder
	if rng.IntN(4) == 0 {
		b.WriteString("\xEF\xBB\xBF")
	}
	eol := "\n"
	if rng.IntN(3) == 0 {
		eol = "\r\n"
	}
	b.WriteString("id,name,score" + eol)
	for i := range rows {
		name := []string{"plain", `"quoted, with comma"`, `"say ""hi"""`, "", `"["`, "x y"}[rng.IntN(6)]
		fmt.Fprintf(&b, "%d,%s,%d.%d", i, name, rng.IntN(1000), rng.IntN(10))
		if i < rows-1 || rng.IntN(2) == 0 {
			b.WriteString(eol)
		}
		if rng.IntN(10) == 0 {
			b.WriteString(eol) // a blank line
		}
	}
	return b.String()
}

func splitJSONText(rng *rand.Rand, rows int) string {
	var b strings.Builder
	for i := range rows {
		fmt.Fprintf(&b, `{"id": %d, "s": "a\nb,\"}{", "l": [%d, {"x": "]"}]}`, i, rng.IntN(9))
		if i < rows-1 || rng.IntN(2) == 0 {
			b.WriteString([]string{"\n", "\r\n", "\n\n"}[rng.IntN(3)])
		}
	}
	return b.String()
}

func splitText(rng *rand.Rand, rows int) string {
	var b strings.Builder
	for i := range rows {
		fmt.Fprintf(&b, "line %d %s", i, strings.Repeat("x", rng.IntN(30)))
		if i < rows-1 || rng.IntN(2) == 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// TestSplitRangesMatchWholeRead: CSV, JSON lines and text files read as
// ranges cut at random points (and, for small files, at every byte) give
// the rows of one whole read, in order, each exactly once.
func TestSplitRangesMatchWholeRead(t *testing.T) {
	formats := []struct {
		name string
		r    Reader
		gen  func(*rand.Rand, int) string
	}{
		{"csv", CSV(CSVOptions{}), splitCSVText},
		{"json", JSON(JSONOptions{}), splitJSONText},
		{"text", Text(), splitText},
	}
	for _, fm := range formats {
		for seed := range uint64(30) {
			rng := rand.New(rand.NewPCG(seed, 3))
			rows := []int{0, 1, 2, 5, 40, 300}[seed%6]
			content := fm.gen(rng, rows)
			f := tfMem("split."+fm.name, []byte(content))
			whole := tfMustRead(t, fm.r, f, tfAll)
			if !whole.meta.Splittable {
				t.Fatalf("%s: not splittable", fm.name)
			}
			var cutSets [][]int64
			if len(content) <= 200 {
				for c := range int64(len(content)) {
					cutSets = append(cutSets, []int64{c})
				}
			}
			for range 20 {
				cutSets = append(cutSets, randomCuts(rng, int64(len(content)), 1+rng.IntN(12)))
			}
			for _, cuts := range cutSets {
				got, err := readRanges(t, fm.r, f, whole.meta, cuts)
				if err != nil {
					t.Fatalf("%s seed %d cuts %v: %v", fm.name, seed, cuts, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(whole.rows) {
					t.Fatalf("%s seed %d cuts %v:\n got %v\nwant %v\nfile %q", fm.name, seed, cuts, got, whole.rows, content)
				}
			}
		}
	}
}

// TestCSVSplitQuotedNewline: a quoted newline in the sampled rows makes a
// CSV file unsplittable, as NewlinesInValues does; one past the sample
// fails a range read, naming the file's line (counted from its start)
// and the option, while a whole read of the file works.
func TestCSVSplitQuotedNewline(t *testing.T) {
	early := "a,b\n1,\"two\nlines\"\n2,x\n"
	for _, tc := range []struct {
		c    *CSVFormat
		text string
	}{
		{CSV(CSVOptions{}), early},
		{CSV(CSVOptions{NewlinesInValues: true}), "a,b\n1,x\n2,y\n"},
	} {
		res := tfMustRead(t, tc.c, tfMem("q.csv", []byte(tc.text)), tfAll)
		if res.meta.Splittable {
			t.Errorf("%q with %+v: splittable", tc.text, tc.c.o)
		}
	}

	var b strings.Builder
	b.WriteString("a,b\n")
	for i := range 100 {
		fmt.Fprintf(&b, "%d,x\n", i)
	}
	b.WriteString("100,\"late\nnewline\"\n101,y\n")
	late := b.String()
	c := CSV(CSVOptions{InferRows: 10})
	f := tfMem("late.csv", []byte(late))
	whole := tfMustRead(t, c, f, tfAll)
	if !whole.meta.Splittable || len(whole.rows) != 102 {
		t.Fatalf("splittable %v, %d rows", whole.meta.Splittable, len(whole.rows))
	}
	_, err := readRanges(t, c, f, whole.meta, []int64{int64(len(late) / 2)})
	if err == nil || !strings.Contains(err.Error(), "late.csv line 102: a quoted field holds a newline") || !strings.Contains(err.Error(), "NewlinesInValues") {
		t.Fatalf("range read: %v", err)
	}
}

// TestRangeErrorsNameTheFileLine: a bad value in a range far from the
// start is reported at its line in the file.
func TestRangeErrorsNameTheFileLine(t *testing.T) {
	var b strings.Builder
	b.WriteString("a\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "%d\n", i)
	}
	b.WriteString("oops\n")
	text := b.String()
	c := CSV(CSVOptions{InferRows: 10})
	f := tfMem("bad.csv", []byte(text))
	meta, err := c.Inspect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	_, err = readRanges(t, c, f, meta, []int64{int64(len(text)) - 30})
	if err == nil || !strings.Contains(err.Error(), `bad.csv line 1002, column "a": cannot parse "oops" as int64`) {
		t.Fatalf("%v", err)
	}
	j := JSON(JSONOptions{InferRows: 10})
	jt := strings.Repeat("{\"a\": 1}\n", 500) + "{\"a\": \"x\"}\n"
	jf := tfMem("bad.jsonl", []byte(jt))
	if meta, err = j.Inspect(context.Background(), jf); err != nil {
		t.Fatal(err)
	}
	_, err = readRanges(t, j, jf, meta, []int64{int64(len(jt)) - 20})
	if err == nil || !strings.Contains(err.Error(), `bad.jsonl line 501, column "a"`) {
		t.Fatalf("%v", err)
	}
}

// FuzzCSVSplit: a CSV file that reads whole and is splittable reads to
// the same rows in order when cut into ranges at any two offsets.
func FuzzCSVSplit(f *testing.F) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 5))
		f.Add([]byte(splitCSVText(rng, int(seed*3))), uint16(seed*7), uint16(seed*31))
	}
	f.Add([]byte("a,b\n\"x,\"\"y\",2\n\n3,\"\"\n"), uint16(5), uint16(9))
	f.Fuzz(func(t *testing.T, data []byte, c1, c2 uint16) {
		if len(data) > 4096 {
			return
		}
		hang := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("HANG %q %d %d", data, c1, c2)) })
		defer hang.Stop()
		c := CSV(CSVOptions{InferRows: -1})
		file := tfMem("fuzz.csv", data)
		whole, err := tfRead(t, c, file, tfAll)
		if err != nil || !whole.meta.Splittable {
			return
		}
		size := int64(len(data))
		if size == 0 {
			return
		}
		cuts := []int64{int64(c1) % size, int64(c2) % size}
		slices.Sort(cuts)
		got, err := readRanges(t, c, file, whole.meta, cuts)
		if err != nil {
			t.Fatalf("cuts %v: %v (whole read fine)", cuts, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(whole.rows) {
			t.Fatalf("cuts %v:\n got %v\nwant %v", cuts, got, whole.rows)
		}
	})
}
