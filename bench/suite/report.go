package suite

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Goal is a recorded (not enforced) target: Shoal's time (or, for a
// Memory goal, its peak memory) over the baseline's at most MaxRatio.
type Goal struct {
	Workload, Against string
	MaxRatio          float64
	Why               string
	Memory            bool
}

// Goals are issue 6's targets: scan and map within 0.8× the raw arrow-go
// throughput (time ratio ≤ 1.25); groupby, sort and join within 1.5×
// DuckDB's time.
var Goals = []Goal{
	{Workload: ScanFilterSum, Against: RawEngine, MaxRatio: 1.25, Why: "≥ 0.8× the raw arrow-go throughput"},
	{Workload: MapArith, Against: RawEngine, MaxRatio: 1.25, Why: "≥ 0.8× the raw arrow-go throughput"},
	{Workload: GroupBy100, Against: "duckdb", MaxRatio: 1.5, Why: "≤ 1.5× DuckDB's time"},
	{Workload: GroupBy1M, Against: "duckdb", MaxRatio: 1.5, Why: "≤ 1.5× DuckDB's time"},
	{Workload: SortInt, Against: "duckdb", MaxRatio: 1.5, Why: "≤ 1.5× DuckDB's time"},
	{Workload: SortStr, Against: "duckdb", MaxRatio: 1.5, Why: "≤ 1.5× DuckDB's time"},
	{Workload: JoinW, Against: "duckdb", MaxRatio: 1.5, Why: "≤ 1.5× DuckDB's time"},
}

// Issue 14's targets: the workloads written with expressions within
// DuckDB's time, and within 1.5× its peak memory.
func init() {
	for _, w := range []string{ScanFilterSum, MapArith, TPCHQ1, TPCHQ6, TopK10, JoinGroupBy} {
		Goals = append(Goals,
			Goal{Workload: w, Against: "duckdb", MaxRatio: 1, Why: "≤ 1.0× DuckDB's time (issue 14)"},
			Goal{Workload: w, Against: "duckdb", MaxRatio: 1.5, Why: "peak memory ≤ 1.5× DuckDB's (issue 14)", Memory: true})
	}
	// Issue 15's: the all-to-all operators within DuckDB's time and 1.5×
	// its peak memory.
	for _, w := range []string{GroupBy100, GroupBy1M, JoinW, UniqueW, SortInt, SortStr, ShuffleW} {
		Goals = append(Goals,
			Goal{Workload: w, Against: "duckdb", MaxRatio: 1, Why: "≤ 1.0× DuckDB's time (issue 15)"},
			Goal{Workload: w, Against: "duckdb", MaxRatio: 1.5, Why: "peak memory ≤ 1.5× DuckDB's (issue 15)", Memory: true})
	}
	// Issue 16's: one CSV file to Parquet within DuckDB's time.
	Goals = append(Goals, Goal{Workload: CSVConvert, Against: "duckdb", MaxRatio: 1, Why: "≤ 1.0× DuckDB's time (issue 16)"})
}

// MemRatio is Shoal's peak memory over engine's (NaN when either was not
// measured).
func (w *WorkloadResult) MemRatio(engine string) float64 {
	s, e := w.Engines[ShoalEngine], w.Engines[engine]
	if s == nil || e == nil || s.MaxRSS() < 0 || e.MaxRSS() <= 0 {
		return math.NaN()
	}
	return float64(s.MaxRSS()) / float64(e.MaxRSS())
}

// Markers delimit the region of docs/benchmarks.md that shoalbench owns;
// inside it, each size has its own block, so that runs of different sizes
// keep each other's tables.
const (
	DocBegin = "<!-- shoalbench:begin -->"
	DocEnd   = "<!-- shoalbench:end -->"
)

func sizeBegin(size string) string { return "<!-- shoalbench:size=" + size + ":begin -->" }
func sizeEnd(size string) string   { return "<!-- shoalbench:size=" + size + ":end -->" }

const docHeader = `## shoalbench: Shoal against DuckDB, Polars and the machine's limits

Written by ` + "`go run ./bench/cmd/shoalbench -size S|M|L`" + ` (see
[bench/README.md](../bench/README.md); workloads, data and answers:
[bench/suite/SPEC.md](../bench/suite/SPEC.md)); everything between the
shoalbench markers is regenerated, one block per size. Times are the
median of the repetitions (min–max in parentheses), every engine run
interleaved with the others in the same process; ratio = Shoal's time /
the other's, so **> 1 means Shoal is slower**. Peers run in one node
process per run and report only the workload's own time. Every answer is
checked against Shoal's (integers exactly, floats to 1e-9 relative, 1e-6
for means and sums of products).
`

// Markdown renders the report of one size: the block UpdateDoc puts into
// docs/benchmarks.md. chart is the PNG's path relative to the document
// ("" for none).
func Markdown(r *Report, chart string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	reps := "repetitions"
	if r.Reps == 1 {
		reps = "repetition"
	}
	p("### Size %s: %s rows, %d threads, %d %s (%s)\n\n", r.Size.Name, commas(r.Size.Rows), r.Threads, r.Reps, reps, r.Date.Format("2006-01-02 15:04 MST"))
	m := r.Machine
	p("Machine: %s, %d cores, %s memory; %s; %s; arrow-go %s", orUnknown(m.CPU), m.Cores, m.memString(), m.OS, m.Go, orUnknown(m.Arrow))
	if m.Node != "" {
		p("; node %s", m.Node)
	}
	for _, e := range r.Engines[2:] {
		if v := m.Engines[e]; v != "" {
			p("; %s %s (%s)", e, v, peerPackages[e])
		}
	}
	p(".\nData: %s (%.1f MB, seed %d). Command: `go run ./bench/cmd/shoalbench -size %s -reps %d -threads %d`.\n\n",
		r.DataDir, float64(r.DataBytes)/1e6, r.Seed, r.Size.Name, r.Reps, r.Threads)
	var missing []string
	for _, e := range r.Engines[2:] {
		if st := r.PeerStatus[e]; st != "" {
			missing = append(missing, fmt.Sprintf("%s: %s", e, st))
		}
	}
	if len(missing) > 0 {
		p("> **Peers not run** (%s). Install them with `scripts/bench-peers-install`.\n\n", strings.Join(missing, "; "))
	}
	if r.Failed() {
		p("> **FAILED: answers disagree or engines failed:**\n")
		for _, pr := range r.Problems {
			p("> - %s\n", mdEscape(pr))
		}
		p("\n")
	}

	// The main table.
	p("| workload | input rows | shoal ms | shoal Mrows/s |")
	for _, e := range r.Engines[1:] {
		p(" %s ms | shoal/%s |", e, e)
	}
	p(" answers |\n|---|--:|--:|--:|")
	for range r.Engines[1:] {
		p("--:|--:|")
	}
	p("---|\n")
	for _, w := range r.Workloads {
		s := w.Engines[ShoalEngine]
		p("| %s | %s | %s | %s |", w.Name, commas(w.Rows), timeCell(s), rowsPerSec(w.Rows, s))
		for _, e := range r.Engines[1:] {
			er := w.Engines[e]
			p(" %s | %s |", timeCell(er), ratioCell(w.Ratio(e), er))
		}
		p(" %s |\n", answersCell(r, w))
	}
	p("\n")
	memoryTable(p, r)

	if pr := r.Pipeline; pr != nil && len(pr.Streaming) > 0 {
		c := pr.Config
		p("Workload `pipeline` (bench.RunPipeline, Shoal only): %d blocks of %d rows; read %v per block, %d at once; map %d rounds per row; %d actor, %v per batch. Streaming against each stage run alone:\n\n",
			c.Blocks, c.Rows, c.ReadLatency, c.ReadConcurrency, c.MapIters, c.Actors, c.GPULatency)
		p("| run | median ms (min–max) |\n|---|--:|\n")
		for _, row := range []struct {
			name string
			runs []time.Duration
		}{{"read alone", pr.Read}, {"map alone", pr.Map}, {"actor alone", pr.Actor}, {"**streaming**", pr.Streaming}} {
			p("| %s | %s |\n", row.name, timeCell(&EngineResult{Status: StatusOK, Runs: row.runs}))
		}
		if pr.StageMax > 0 {
			p("\nStreaming = **%.2f× the slowest stage** (%.1f ms; 1.0 is the floor) and **%.2f× the sum of the stages** (%.1f ms; what running them one after another costs).\n\n",
				pr.StreamingOverMax, ms(pr.StageMax), pr.OverSum, ms(pr.StageSum))
		}
	}

	p("Machine limits, measured in the same run:\n\n| limit | threads | median ms (min–max) | GB/s | Mrows/s |\n|---|--:|--:|--:|--:|\n")
	for _, l := range r.Limits {
		er := &EngineResult{Status: StatusOK, Runs: l.Runs}
		gbs, mrs := "", ""
		if med := er.Median(); med > 0 {
			gbs = fmt.Sprintf("%.2f", float64(l.Bytes)/med.Seconds()/1e9)
			if l.Rows > 0 {
				mrs = fmt.Sprintf("%.1f", float64(l.Rows)/med.Seconds()/1e6)
			}
		}
		p("| %s | %d | %s | %s | %s |\n", l.Name, l.Threads, timeCell(er), gbs, mrs)
	}
	p("\nGoals (recorded, not enforced):\n\n")
	for _, g := range Goals {
		w := r.Workload(g.Workload)
		if w == nil {
			continue
		}
		ratio := w.Ratio(g.Against)
		if g.Memory {
			ratio = w.MemRatio(g.Against)
		}
		verdict := fmt.Sprintf("not measured (%s did not run)", g.Against)
		if !math.IsNaN(ratio) {
			verdict = fmt.Sprintf("shoal/%s = %.2f: **%s**", g.Against, ratio, map[bool]string{true: "met", false: "not met"}[ratio <= g.MaxRatio])
		}
		p("- `%s` %s (shoal/%s ≤ %.2f): %s\n", g.Workload, g.Why, g.Against, g.MaxRatio, verdict)
	}
	if chart != "" {
		p("\n![shoalbench size %s: median time per workload and engine](%s)\n", r.Size.Name, chart)
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func commas(n int64) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func fmtMs(d time.Duration) string {
	x := ms(d)
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

func timeCell(e *EngineResult) string {
	if e == nil {
		return "–"
	}
	switch e.Status {
	case StatusNA:
		if e.Note != "" {
			return "n/a (Shoal only)"
		}
		return "–"
	case StatusNotInstalled:
		return "not installed"
	case StatusUnsupported:
		return "unsupported"
	case StatusError:
		return "**ERROR**"
	}
	if len(e.Runs) == 0 {
		return "–"
	}
	cell := fmtMs(e.Median())
	if len(e.Runs) > 1 {
		cell += fmt.Sprintf(" (%s–%s)", fmtMs(e.Min()), fmtMs(e.Max()))
	}
	if len(e.Mismatches) > 0 {
		cell = "**MISMATCH** " + cell
	}
	return cell
}

func ratioCell(ratio float64, e *EngineResult) string {
	if math.IsNaN(ratio) || e == nil || e.Status != StatusOK {
		return ""
	}
	return fmt.Sprintf("%.2f", ratio)
}

func rowsPerSec(rows int64, e *EngineResult) string {
	if e == nil || len(e.Runs) == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", float64(rows)/e.Median().Seconds()/1e6)
}

func answersCell(r *Report, w *WorkloadResult) string {
	s := w.Engines[ShoalEngine]
	if s.Answer == nil {
		return "**no Shoal answer**"
	}
	var bad, checked []string
	for _, e := range r.Engines {
		er := w.Engines[e]
		switch {
		case len(er.Mismatches) > 0:
			bad = append(bad, e)
		case e != ShoalEngine && er.Answer != nil:
			checked = append(checked, e)
		}
	}
	if len(bad) > 0 {
		return "**DISAGREE: " + strings.Join(bad, ", ") + "**"
	}
	if len(checked) == 0 {
		if w.Name == PipelineW {
			return "rows ok"
		}
		return "Shoal only"
	}
	return "agree (" + strings.Join(checked, ", ") + ")"
}

var sizeBlockRE = regexp.MustCompile(`(?s)<!-- shoalbench:size=(\w+):begin -->.*?<!-- shoalbench:size=\w+:end -->`)

// UpdateDoc puts block (Markdown's output) for size into the shoalbench
// region of the document at path: the region between DocBegin and DocEnd
// is rewritten (a header, then each size's block in S, M, L order, keeping
// the blocks of other sizes already there); everything outside it stays
// as it was. A document without the region gets it appended; a missing
// document is created.
func UpdateDoc(path, size, block string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	blocks := map[string]string{}
	before, after := string(old), ""
	if i := bytes.Index(old, []byte(DocBegin)); i >= 0 {
		j := bytes.Index(old[i:], []byte(DocEnd))
		if j < 0 {
			return fmt.Errorf("%s: %q without %q", path, DocBegin, DocEnd)
		}
		region := string(old[i+len(DocBegin) : i+j])
		before, after = string(old[:i]), string(old[i+j+len(DocEnd):])
		for _, m := range sizeBlockRE.FindAllStringSubmatch(region, -1) {
			blocks[m[1]] = m[0]
		}
	} else if len(before) > 0 {
		before = strings.TrimRight(before, "\n") + "\n\n"
	}
	blocks[size] = sizeBegin(size) + "\n" + strings.TrimSpace(block) + "\n" + sizeEnd(size)
	var b strings.Builder
	b.WriteString(before)
	b.WriteString(DocBegin + "\n" + docHeader)
	var sizes []string
	for s := range blocks {
		sizes = append(sizes, s)
	}
	for _, s := range sortedSizes(sizes) {
		b.WriteString("\n" + blocks[s] + "\n")
	}
	b.WriteString(DocEnd)
	if after == "" {
		after = "\n"
	}
	b.WriteString(after)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// memoryTable writes each workload's peak memory per engine and the load
// other processes put on the machine meanwhile.
func memoryTable(p func(string, ...any), r *Report) {
	var engines []string
	for _, e := range r.Engines {
		if e != RawEngine {
			engines = append(engines, e)
		}
	}
	p("Peak memory: the most a run grew the resident set of the process it ran in above where it stood just before the workload "+
		"(Shoal: the harness's process, its earlier heap handed back to the OS and VmHWM reset first; a peer: its node process, "+
		"VmHWM less its RSS after the engine's setup), max over the repetitions, in MB. "+
		"The harness itself held at most %.0f MB of live heap when a Shoal run started. "+
		"Others' CPU: the share of the machine's %d CPUs that other processes kept busy during the workload's runs (/proc/stat less this process and its children).\n\n",
		float64(r.HarnessHeap)/1e6, r.Machine.Cores)
	p("| workload |")
	for _, e := range engines {
		p(" %s peak MB |", e)
		if e != ShoalEngine {
			p(" shoal/%s |", e)
		}
	}
	p(" others' CPU |\n|---|")
	for _, e := range engines {
		p("--:|")
		if e != ShoalEngine {
			p("--:|")
		}
	}
	p("--:|\n")
	for _, w := range r.Workloads {
		if w.Name == PipelineW {
			continue
		}
		p("| %s |", w.Name)
		for _, e := range engines {
			p(" %s |", fmtMB(w.Engines[e].MaxRSS()))
			if e != ShoalEngine {
				if ratio := w.MemRatio(e); !math.IsNaN(ratio) {
					p(" %.2f |", ratio)
				} else {
					p("  |")
				}
			}
		}
		if share := w.Load.Share(); !math.IsNaN(share) {
			p(" %.0f%% |\n", 100*share)
		} else {
			p(" – |\n")
		}
	}
	p("\n")
}
