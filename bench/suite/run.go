package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/shoal-data/shoal/bench"
	"github.com/shoal-data/shoal/bench/internal/measure"
	"github.com/shoal-data/shoal/bench/peers"
	"github.com/shoal-data/shoal/exec"
)

// ShoalEngine is Shoal's name in reports.
const ShoalEngine = "shoal"

// Config configures a Run.
type Config struct {
	Size    Size
	Dir     string   // the data cache: the data lives in Dir/<size>/
	Reps    int      // runs of every workload on every engine (default 3)
	Threads int      // workers, goroutines and peer threads (default GOMAXPROCS)
	Only    []string // workloads to run (nil: all)
	Seed    uint64   // the generator's seed (0: DefaultSeed)
	// Scratch is where workloads write (csv_etl); default a fresh
	// directory under Dir/<size>/, removed at the end.
	Scratch string
	// NoPeers leaves the peer engines out.
	NoPeers bool
	// PeerTimeout bounds one peer run (default 30 minutes).
	PeerTimeout time.Duration
	// Log gets progress lines (nil: none).
	Log io.Writer
}

// Status is the outcome of one engine on one workload.
type Status string

// The statuses an engine's cell can have.
const (
	StatusOK           Status = "ok"
	StatusNotInstalled Status = "not installed"
	StatusUnsupported  Status = "unsupported"
	StatusError        Status = "error"
	StatusNA           Status = "n/a"
)

// EngineResult is one engine's runs of one workload.
type EngineResult struct {
	Engine     string
	Status     Status
	Note       string // why not ok
	Runs       []time.Duration
	Answer     Answer   // the first run's
	Mismatches []string // disagreements with Shoal's answer (any run)
	// RSS is each run's peak memory: how far it grew the resident set
	// of the process it ran in (Shoal: this one; a peer: its node
	// process) above where it stood before the workload, in bytes; -1
	// where it could not be measured.
	RSS []int64
}

// MaxRSS is the largest of the runs' peak memory (-1 when none was
// measured).
func (e *EngineResult) MaxRSS() int64 {
	m := int64(-1)
	for _, r := range e.RSS {
		m = max(m, r)
	}
	return m
}

// Median, Min and Max of the runs (0 without runs).
func (e *EngineResult) Median() time.Duration { return median(e.Runs) }

// Min is the fastest run.
func (e *EngineResult) Min() time.Duration {
	if len(e.Runs) == 0 {
		return 0
	}
	return slices.Min(e.Runs)
}

// Max is the slowest run.
func (e *EngineResult) Max() time.Duration {
	if len(e.Runs) == 0 {
		return 0
	}
	return slices.Max(e.Runs)
}

// OK says whether the engine ran the workload and agreed with Shoal.
func (e *EngineResult) OK() bool {
	return e != nil && e.Status == StatusOK && len(e.Runs) > 0 && len(e.Mismatches) == 0
}

// median is the median of ds (the mean of the two middle runs for an even
// count), 0 without runs.
func median(ds []time.Duration) time.Duration {
	m, _, _ := measure.Stats(ds)
	return m
}

// WorkloadResult is every engine's result on one workload.
type WorkloadResult struct {
	Name    string
	Rows    int64                    // input rows
	Engines map[string]*EngineResult // by engine name
	Load    Load                     // other processes' CPU during its runs
}

// Ratio is Shoal's median time over engine's (>1: Shoal is slower); NaN
// when either did not run.
func (w *WorkloadResult) Ratio(engine string) float64 {
	s, e := w.Engines[ShoalEngine], w.Engines[engine]
	if s == nil || e == nil || len(s.Runs) == 0 || len(e.Runs) == 0 || e.Median() == 0 {
		return math.NaN()
	}
	return float64(s.Median()) / float64(e.Median())
}

// PipelineReport is workload 9: the streaming pipeline against its stages.
type PipelineReport struct {
	Config                       bench.PipelineConfig
	PerIterNs                    float64
	Streaming, Read, Map, Actor  []time.Duration
	StageMax, StageSum           time.Duration // of the stages' medians
	StreamingOverMax, OverSum    float64       // streaming median over them
	Rows                         int64
	StreamingChecksum, ActorSums float64
}

// Report is the outcome of a Run.
type Report struct {
	Size       Size
	Threads    int
	Reps       int
	Seed       uint64
	Date       time.Time
	Machine    Machine
	Data       *Data // the files the workloads read
	DataDir    string
	DataBytes  int64
	Engines    []string          // column order: shoal, arrow-go, then the peers
	PeerStatus map[string]string // "" for a peer that ran, else why not
	Workloads  []*WorkloadResult
	Limits     []Limit
	Pipeline   *PipelineReport
	// Problems are the disagreements and errors, one line each: any makes
	// the run a failure.
	Problems []string
	// HarnessHeap is the most live Go heap the harness held when a Shoal
	// run started (after a GC), in bytes: it adds to the GC's goal, and
	// so to Shoal's measured peak memory.
	HarnessHeap int64
}

// Failed says whether any engine disagreed with Shoal or failed.
func (r *Report) Failed() bool { return len(r.Problems) > 0 }

// Workload returns the named workload's result, nil if it did not run.
func (r *Report) Workload(name string) *WorkloadResult {
	for _, w := range r.Workloads {
		if w.Name == name {
			return w
		}
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format, args...)
	}
}

// peerScript is the node script of a peer engine.
func peerScript(engine string) string { return filepath.Join(peers.Dir(), engine+".mjs") }

// PeerStatus says why a peer engine cannot run here ("" when it can).
func PeerStatus(engine string) string {
	if err := peers.Available(engine); err != nil {
		return err.Error()
	}
	if _, err := os.Stat(peerScript(engine)); err != nil {
		return fmt.Sprintf("bench/peers/%s.mjs is missing", engine)
	}
	return ""
}

// Run generates (or finds) the data, runs the selected workloads on every
// engine cfg.Reps times, interleaved (each repetition runs every engine
// once per workload, in a rotating order), measures the machine's limits
// in the same run and checks every answer against Shoal's. An error is
// returned only when the run could not be made (bad config, data); engine
// failures and disagreements are in Report.Problems.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Reps <= 0 {
		cfg.Reps = 3
	}
	if cfg.Threads <= 0 {
		cfg.Threads = runtime.GOMAXPROCS(0)
	}
	if cfg.Seed == 0 {
		cfg.Seed = DefaultSeed
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = 30 * time.Minute
	}
	if cfg.Size.Rows <= 0 {
		return nil, errors.New("suite: no size")
	}
	if cfg.Dir == "" {
		return nil, errors.New("suite: no data directory")
	}
	workloads := Workloads
	if len(cfg.Only) > 0 {
		workloads = nil
		for _, w := range Workloads {
			if slices.Contains(cfg.Only, w) {
				workloads = append(workloads, w)
			}
		}
		for _, w := range cfg.Only {
			if !slices.Contains(Workloads, w) {
				return nil, fmt.Errorf("suite: unknown workload %q (have %v)", w, Workloads)
			}
		}
	}
	// Shoal's workers, the baselines' goroutines and the Go runtime all get
	// the same cores.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Threads))

	d, err := PrepareData(cfg.Dir, cfg.Size, cfg.Seed, cfg.Log)
	if err != nil {
		return nil, err
	}
	scratch := cfg.Scratch
	if scratch == "" {
		if scratch, err = os.MkdirTemp(d.Dir, "scratch-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(scratch)
	}

	r := &Report{Size: cfg.Size, Threads: cfg.Threads, Reps: cfg.Reps, Seed: cfg.Seed, Date: time.Now(),
		Machine: DescribeMachine(), Data: d, DataDir: d.Dir, DataBytes: d.TotalBytes,
		Engines: []string{ShoalEngine, RawEngine}, PeerStatus: map[string]string{}}
	var livePeers []string
	for _, e := range peers.Engines {
		r.Engines = append(r.Engines, e)
		st := "disabled (NoPeers)"
		if !cfg.NoPeers {
			st = PeerStatus(e)
		}
		r.PeerStatus[e] = st
		if st == "" {
			livePeers = append(livePeers, e)
		} else {
			cfg.logf("shoalbench: %s NOT RUN: %s (install with scripts/bench-peers-install)\n", e, st)
		}
	}

	results := map[string]*WorkloadResult{}
	for _, w := range workloads {
		wr := &WorkloadResult{Name: w, Rows: d.InputRows(w), Engines: map[string]*EngineResult{}, Load: Load{Cores: runtime.NumCPU()}}
		wr.Engines[ShoalEngine] = &EngineResult{Engine: ShoalEngine, Status: StatusOK}
		if HasRaw(w) {
			wr.Engines[RawEngine] = &EngineResult{Engine: RawEngine, Status: StatusOK}
		} else {
			wr.Engines[RawEngine] = &EngineResult{Engine: RawEngine, Status: StatusNA}
		}
		for _, e := range peers.Engines {
			switch {
			case w == PipelineW:
				wr.Engines[e] = &EngineResult{Engine: e, Status: StatusNA, Note: "Shoal only: peers cannot express it"}
			case r.PeerStatus[e] != "":
				wr.Engines[e] = &EngineResult{Engine: e, Status: StatusNotInstalled, Note: r.PeerStatus[e]}
			default:
				wr.Engines[e] = &EngineResult{Engine: e, Status: StatusOK}
			}
		}
		results[w] = wr
		r.Workloads = append(r.Workloads, wr)
	}

	// The machine's limits.
	copyLimits := []*Limit{{Name: "memory copy 256 MiB", Threads: 1, Bytes: memCopyBytes}, {Name: "memory copy 256 MiB", Threads: 2, Bytes: memCopyBytes}}
	decode := &Limit{Name: "pqarrow decode of trips (all columns)", Threads: cfg.Threads}

	var pipe *PipelineReport
	if slices.Contains(workloads, PipelineW) {
		pipe = &PipelineReport{PerIterNs: bench.CalibrateMap()}
		pipe.Config = PipelineConfigFor(cfg.Size, cfg.Threads, pipe.PerIterNs)
		r.Pipeline = pipe
	}

	for rep := range cfg.Reps {
		cfg.logf("shoalbench: repetition %d/%d\n", rep+1, cfg.Reps)
		measureCopyLimits(copyLimits)
		runtime.GC()
		el, rows, bytes, err := MeasureDecode(ctx, d, cfg.Threads)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("limit %s: %v", decode.Name, err))
		} else {
			decode.Runs, decode.Rows, decode.Bytes = append(decode.Runs, el), rows, bytes
		}
		for _, w := range workloads {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			wr := results[w]
			if w == PipelineW {
				runPipelineRep(ctx, &cfg, pipe, rep, wr)
				continue
			}
			engines := slices.Concat([]string{ShoalEngine}, []string{RawEngine}, livePeers)
			k := rep % len(engines)
			engines = append(engines[k:], engines[:k]...)
			for _, e := range engines {
				er := wr.Engines[e]
				if er.Status != StatusOK {
					continue
				}
				runtime.GC()
				var a Answer
				var el time.Duration
				var err error
				rss := int64(-1)
				var before cpuSample
				switch e {
				case ShoalEngine:
					mem := startShoalRSS()
					r.HarnessHeap = max(r.HarnessHeap, mem.heapLive)
					rt := exec.NewLocal(exec.WithWorkers(cfg.Threads))
					before = sampleCPU()
					a, el, err = RunShoal(ctx, rt, d, w, scratch)
					wr.Load.add(before, sampleCPU())
					rss = mem.growth()
					rt.Close()
				case RawEngine:
					before = sampleCPU()
					a, el, err = RunRaw(ctx, d, w, cfg.Threads)
					wr.Load.add(before, sampleCPU())
				default:
					before = sampleCPU()
					a, el, rss, err = runPeer(ctx, &cfg, e, d, w, scratch, rep)
					wr.Load.add(before, sampleCPU())
				}
				if errors.Is(err, peers.ErrUnsupported) {
					er.Status, er.Note = StatusUnsupported, err.Error()
					cfg.logf("  %-16s %-8s unsupported: %v\n", w, e, err)
					continue
				}
				if err != nil {
					er.Status, er.Note = StatusError, err.Error()
					cfg.logf("  %-16s %-8s ERROR: %v\n", w, e, err)
					continue
				}
				er.Runs = append(er.Runs, el)
				er.RSS = append(er.RSS, rss)
				if er.Answer == nil {
					er.Answer = a
				}
				cfg.logf("  %-16s %-8s %10.1f ms %6s MB  %s\n", w, e, ms(el), fmtMB(rss), FormatAnswer(a))
				// Shoal's first answer is the reference; check every run
				// against it (Shoal's later runs too).
				if ref := wr.Engines[ShoalEngine].Answer; ref != nil && !(e == ShoalEngine && len(er.Runs) == 1) {
					if diff := Compare(w, ref, a); len(diff) > 0 && len(er.Mismatches) == 0 {
						er.Mismatches = diff
					}
				}
			}
		}
	}
	// Runs made before Shoal's first answer (rotation) are checked now.
	for _, wr := range r.Workloads {
		ref := wr.Engines[ShoalEngine].Answer
		for _, e := range r.Engines {
			er := wr.Engines[e]
			if e == ShoalEngine || er.Answer == nil || ref == nil || len(er.Mismatches) > 0 {
				continue
			}
			er.Mismatches = Compare(wr.Name, ref, er.Answer)
		}
	}
	for _, l := range append(copyLimits, decode) {
		r.Limits = append(r.Limits, *l)
	}
	if pipe != nil {
		finishPipeline(pipe, results[PipelineW])
	}
	for _, wr := range r.Workloads {
		for _, e := range r.Engines {
			er := wr.Engines[e]
			switch {
			case er.Status == StatusError:
				r.Problems = append(r.Problems, fmt.Sprintf("%s on %s: ERROR: %s", wr.Name, e, er.Note))
			case len(er.Mismatches) > 0:
				r.Problems = append(r.Problems, fmt.Sprintf("%s on %s: ANSWER DISAGREES WITH SHOAL: %s (%s: %s; shoal: %s)",
					wr.Name, e, joinLines(er.Mismatches), e, FormatAnswer(er.Answer), FormatAnswer(wr.Engines[ShoalEngine].Answer)))
			}
		}
		if s := wr.Engines[ShoalEngine]; s.Status == StatusOK && s.Answer == nil && wr.Name != PipelineW {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: Shoal gave no answer", wr.Name))
		}
	}
	for _, p := range r.Problems {
		cfg.logf("shoalbench: PROBLEM: %s\n", p)
	}
	return r, nil
}

// measureCopyLimits runs one repetition of the memory-copy limits over
// buffers made here and dropped on return: held across the workloads, their
// 512 MB would raise the Go heap's live size, and with it the GC's goal,
// for every Shoal run (its peak memory grew by 400 MB at size M).
func measureCopyLimits(limits []*Limit) {
	src, dst := make([]byte, memCopyBytes), make([]byte, memCopyBytes)
	for i := range src {
		src[i] = byte(i)
	}
	for _, l := range limits {
		runtime.GC()
		l.Runs = append(l.Runs, MeasureMemCopy(dst, src, l.Threads))
	}
}

func joinLines(ls []string) string {
	out := ""
	for i, l := range ls {
		if i > 0 {
			out += "; "
		}
		out += l
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runPeer runs one workload on a peer engine in a fresh node process,
// with a fresh scratch directory; rss is the workload's peak memory
// (peers.Result.RSSGrowth).
func runPeer(ctx context.Context, cfg *Config, engine string, d *Data, workload, scratch string, rep int) (a Answer, el time.Duration, rss int64, err error) {
	out := filepath.Join(scratch, fmt.Sprintf("%s-%s-%d", engine, workload, rep))
	if err := os.RemoveAll(out); err != nil {
		return nil, 0, -1, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, 0, -1, err
	}
	defer os.RemoveAll(out)
	ctx, cancel := context.WithTimeout(ctx, cfg.PeerTimeout)
	defer cancel()
	res, err := peers.Run(ctx, engine, peers.Request{Workload: workload, Dir: d.Dir, Threads: cfg.Threads, Out: out})
	if err != nil {
		return nil, 0, -1, err
	}
	if res.Answer == nil {
		return nil, 0, -1, fmt.Errorf("peers: %s %s: reply without an answer", engine, workload)
	}
	return Answer(res.Answer), res.Wall(), res.RSSGrowth(), nil
}

// runPipelineRep runs workload 9 once in each mode (streaming and the
// three stages alone), in a rotating order.
func runPipelineRep(ctx context.Context, cfg *Config, p *PipelineReport, rep int, wr *WorkloadResult) {
	modes := []bench.PipelineMode{bench.Streaming, bench.ReadOnly, bench.MapOnly, bench.ActorOnly}
	k := rep % len(modes)
	modes = append(modes[k:], modes[:k]...)
	er := wr.Engines[ShoalEngine]
	want := int64(p.Config.Blocks * p.Config.Rows)
	for _, m := range modes {
		if er.Status != StatusOK {
			return
		}
		runtime.GC()
		res, err := bench.RunPipeline(ctx, p.Config, cfg.Threads, m)
		if err == nil && res.Rows != want {
			err = fmt.Errorf("%d rows, want %d", res.Rows, want)
		}
		if err != nil {
			er.Status, er.Note = StatusError, fmt.Sprintf("pipeline %s: %v", m, err)
			cfg.logf("  %-16s %-8s ERROR: %s\n", PipelineW, m, er.Note)
			return
		}
		cfg.logf("  %-16s %-12s %10.1f ms\n", PipelineW, m, ms(res.Wall))
		switch m {
		case bench.Streaming:
			p.Streaming = append(p.Streaming, res.Wall)
			er.Runs = append(er.Runs, res.Wall)
			p.StreamingChecksum = res.Checksum
		case bench.ReadOnly:
			p.Read = append(p.Read, res.Wall)
		case bench.MapOnly:
			p.Map = append(p.Map, res.Wall)
		case bench.ActorOnly:
			p.Actor = append(p.Actor, res.Wall)
			p.ActorSums = res.Checksum
		}
	}
	p.Rows = want
}

func finishPipeline(p *PipelineReport, wr *WorkloadResult) {
	er := wr.Engines[ShoalEngine]
	if len(p.Streaming) == 0 || len(p.Read) == 0 || len(p.Map) == 0 || len(p.Actor) == 0 {
		return
	}
	r, m, a := median(p.Read), median(p.Map), median(p.Actor)
	p.StageMax, p.StageSum = max(r, m, a), r+m+a
	s := median(p.Streaming)
	p.StreamingOverMax = float64(s) / float64(p.StageMax)
	p.OverSum = float64(s) / float64(p.StageSum)
	er.Answer = Answer{"rows": float64(p.Rows), "checksum": p.StreamingChecksum}
	// The streamed pipeline and the actor stage alone (over the read and
	// map materialized) compute the same rows.
	if diff := Compare(PipelineW, Answer{"rows": float64(p.Rows), "checksum": p.ActorSums}, er.Answer); len(diff) > 0 {
		er.Mismatches = append([]string{"streaming vs the stages run one by one:"}, diff...)
	}
}
