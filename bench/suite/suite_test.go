package suite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-data/shoal/bench/peers"
	"github.com/shoal-data/shoal/internal/ci"
)

// logWriter sends the harness's progress lines to t.Log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestShoalbenchSmall runs the whole harness at size S (data generated
// into a temporary directory, one repetition): every workload on Shoal,
// the raw baselines and every installed peer, answers cross-checked. It
// then holds Shoal's answers against values computed in Go straight from
// the generator (so the test means something without peers), and checks
// that the document and chart writers produce their files.
func TestShoalbenchSmall(t *testing.T) {
	for _, e := range peers.Engines {
		if st := PeerStatus(e); st != "" {
			if ci.Enabled() {
				t.Errorf("peer %s cannot run: %s (CI is set: scripts/test installs the peers where node exists)", e, st)
			}
			t.Logf("!!! PEER %s SKIPPED: %s -- run scripts/bench-peers-install to include it in this test !!!", e, st)
		} else {
			t.Logf("peer %s included (%s %s)", e, peerPackages[e], packageVersion(peerPackages[e]))
		}
	}
	cfg := Config{Size: SizeS, Dir: t.TempDir(), Reps: 1, Log: logWriter{t}}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("harness problem: %s", p)
	}

	// Every workload ran on Shoal and gave an answer; Shoal's answers are
	// the values the generator implies.
	for _, w := range Workloads {
		wr := rep.Workload(w)
		if wr == nil {
			t.Errorf("%s did not run", w)
			continue
		}
		s := wr.Engines[ShoalEngine]
		if s.Status != StatusOK || len(s.Runs) != 1 || s.Answer == nil {
			t.Errorf("%s on Shoal: status %s (%s), %d runs, answer %v", w, s.Status, s.Note, len(s.Runs), s.Answer)
			continue
		}
		if w != PipelineW && (len(s.RSS) != 1 || s.RSS[0] < 0) {
			t.Errorf("%s on Shoal: peak memory not measured: %v", w, s.RSS)
		}
		want, ok := Expected(rep.Data, w)
		if !ok {
			continue
		}
		for _, diff := range Compare(w, want, s.Answer) {
			t.Errorf("%s: Shoal's answer against the generator: %s", w, diff)
		}
		for _, e := range rep.Engines[1:] {
			er := wr.Engines[e]
			switch {
			case er.Answer != nil:
				for _, diff := range Compare(w, want, er.Answer) {
					t.Errorf("%s: %s's answer against the generator: %s", w, e, diff)
				}
				if e != RawEngine && (len(er.RSS) != 1 || er.RSS[0] < 0) {
					t.Errorf("%s on %s: peak memory not measured: %v", w, e, er.RSS)
				}
			case er.Status == StatusUnsupported || er.Status == StatusError:
				t.Logf("%s on %s: %s: %s", w, e, er.Status, er.Note)
			}
		}
	}
	// The four the issue names are computed independently of the files
	// here, whatever Expected covers.
	for _, w := range []string{ScanFilterSum, GroupBy100, JoinW, SortInt} {
		if _, ok := Expected(rep.Data, w); !ok {
			t.Errorf("no generator answer for %s", w)
		}
	}
	// The raw baselines agree with the generator too (checked above) and
	// ran.
	for _, w := range []string{ScanFilterSum, MapArith} {
		if er := rep.Workload(w).Engines[RawEngine]; er.Answer == nil {
			t.Errorf("%s: the raw arrow-go baseline gave no answer (%s: %s)", w, er.Status, er.Note)
		}
	}
	if p := rep.Pipeline; p == nil || len(p.Streaming) != 1 || p.StageMax <= 0 {
		t.Errorf("pipeline report incomplete: %+v", p)
	}
	// The harness's own heap does not inflate Shoal's GC goal (and so its
	// peak memory): the memory-copy buffers are not held across the runs.
	if rep.HarnessHeap <= 0 || rep.HarnessHeap > 64<<20 {
		t.Errorf("the harness held %d MB of live heap when a Shoal run started, want 0 < x <= 64 MB", rep.HarnessHeap>>20)
	}
	if len(rep.Limits) != 3 {
		t.Errorf("%d limits, want 3 (memory copy on 1 and 2 threads, pqarrow decode)", len(rep.Limits))
	}

	// The writers: the chart is a PNG; the document keeps what is outside
	// the region, and a second size adds its block next to the first.
	dir := t.TempDir()
	chart := filepath.Join(dir, "benchmarks-S.png")
	if err := WriteChart(rep, chart); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(chart); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("chart %s: not a PNG (err %v)", chart, err)
	}
	doc := filepath.Join(dir, "benchmarks.md")
	const before, after = "# Benchmarks\n\nHand-written text before.\n", "\n## Later\n\nHand-written text after.\n"
	if err := os.WriteFile(doc, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	md := Markdown(rep, "benchmarks-S.png")
	if err := UpdateDoc(doc, "S", md); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	if err := os.WriteFile(doc, append(b, after...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateDoc(doc, "M", "### Size M: placeholder\n"); err != nil {
		t.Fatal(err)
	}
	if err := UpdateDoc(doc, "S", md); err != nil { // replaces, does not add
		t.Fatal(err)
	}
	b, _ = os.ReadFile(doc)
	got := string(b)
	for _, want := range []string{before, after, "| workload | input rows | shoal ms |", "| scan_filter_sum | 200,000 |",
		"| groupby_100 |", "| pipeline |", "| workload | shoal peak MB |", "| tpch_q1 |", "`join_groupby` peak memory ≤ 1.5× DuckDB's (issue 14)", "![shoalbench size S", "### Size M: placeholder", "memory copy 256 MiB"} {
		if !strings.Contains(got, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	for _, once := range []string{DocBegin, DocEnd, sizeBegin("S"), sizeBegin("M"), "| scan_filter_sum | 200,000 |"} {
		if n := strings.Count(got, once); n != 1 {
			t.Errorf("document has %q %d times, want once", once, n)
		}
	}
	if strings.Index(got, sizeBegin("S")) > strings.Index(got, sizeBegin("M")) {
		t.Error("size S's block comes after size M's")
	}
	if t.Failed() {
		t.Logf("document:\n%s", got)
	}
}

// TestCompareTolerances pins the answer comparison of SPEC.md.
func TestCompareTolerances(t *testing.T) {
	for _, c := range []struct {
		workload string
		want     Answer
		got      Answer
		diffs    int
	}{
		{GroupBy100, Answer{"groups": 100, "sum_mean": 1}, Answer{"groups": 100, "sum_mean": 1 + 5e-7}, 0},
		{GroupBy100, Answer{"groups": 100, "sum_sum": 1}, Answer{"groups": 100, "sum_sum": 1 + 5e-7}, 1},
		{GroupBy100, Answer{"groups": 100}, Answer{"groups": 101}, 1},
		{SortInt, Answer{"first": 3}, Answer{"first": 3 + 1e-12}, 1},
		{SortStr, Answer{"first": 3}, Answer{"first": 3 + 1e-12}, 0},
		{JoinW, Answer{"rows": 1, "sum_a": 2}, Answer{"rows": 1}, 1},
		{JoinW, Answer{"rows": 1}, Answer{"rows": 1, "sum_a": 2}, 1},
	} {
		if d := Compare(c.workload, c.want, c.got); len(d) != c.diffs {
			t.Errorf("%s: Compare(%v, %v) = %q, want %d differences", c.workload, c.want, c.got, d, c.diffs)
		}
	}
}
