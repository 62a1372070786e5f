// Package dataset is Shoal's public API: a Dataset is a lazy plan over blocks
// of rows. Transforms (Map, Filter, MapBatches, ...) append operators and
// return a new Dataset at once; consumers (Count, Take, IterBatches, ...) run
// the plan on the streaming executor and take a context that cancels it.
//
// Derived columns, filters and aggregations are best written as
// expressions, which the optimizer can see into (a Go function it cannot):
//
//	trips.Where(dataset.Col("fare").Gt(10).And(dataset.Col("city").Eq("Oslo"))).
//		WithColumn("total", dataset.Col("fare").Add(dataset.Col("tip"))).
//		GroupBy("city").Aggregate(dataset.SumOfExpr(dataset.Col("total")).As("revenue"))
//
// Datasets run on the embedded local runtime unless WithRuntime names
// another. Errors found while building the plan (a nil function, an unknown
// column) are kept in the Dataset and returned by the first consumer, before
// any task runs; Err reports them early.
package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
	"golang.org/x/term"
)

// DefaultParallelism is the number of blocks a source is split into when no
// WithParallelism option is given (as Ray Data's default of 200), never more
// than one block per row.
const DefaultParallelism = 200

// Dataset is a lazy, immutable plan. Methods return new Datasets and never
// change the receiver, so a Dataset may be shared and consumed many times.
type Dataset struct {
	plan ops.Node
	cfg  *config
	err  error

	statsMu sync.Mutex
	stats   *pipeline.RunStats // of the latest consumer run on this value
}

type config struct {
	rt              exec.Runtime
	parallelism     int
	exec            pipeline.Options
	trace           io.Writer
	progress        io.Writer
	progressSet     bool // WithProgress was given, perhaps with nil
	readCPUs        float64
	readConcurrency int
	rules           []ops.Rule // nil: ops.DefaultRules
}

// Option configures a Dataset's source.
type Option func(*config)

// WithRuntime runs the dataset on rt instead of the default local runtime.
func WithRuntime(rt exec.Runtime) Option { return func(c *config) { c.rt = rt } }

// WithParallelism sets how many blocks (read tasks) a source is split into.
func WithParallelism(n int) Option { return func(c *config) { c.parallelism = n } }

// ReadCPUs sets the CPUs each read task of a source holds (default 1). A
// fraction such as 0.25 lets four reads per CPU run at once, and 0 lets
// reads run beside CPU work without holding a CPU at all: for sources that
// mostly wait on I/O (S3, a network filesystem, a remote service). Reads
// that hold less than a CPU are capped at 64 running or waiting to be
// taken, and by ReadConcurrency. A read whose CPUs differ from those of the
// stages after it does not fuse with them.
func ReadCPUs(n float64) Option {
	return func(c *config) { c.readCPUs = cpusField(n) }
}

// ReadConcurrency caps the read tasks of a source running at once (0: no
// cap beyond CPUs and memory). A capped read does not fuse with the stages
// after it.
func ReadConcurrency(n int) Option {
	return func(c *config) { c.readConcurrency = max(n, 0) }
}

// cpusField turns a user's CPU count into the plan's encoding, where 0
// means the default of 1 and a negative value none.
func cpusField(n float64) float64 {
	if n <= 0 {
		return -1
	}
	return n
}

// WithOptimizerRules makes the optimizer run rules, in order, instead of
// ops.DefaultRules on the plans of the dataset and those derived from it:
// to compare a plan with and without a rule (ops.SortLimitToTopK, say), or
// to turn one off. No rules at all still runs the defaults.
func WithOptimizerRules(rules ...ops.Rule) Option {
	return func(c *config) { c.rules = append([]ops.Rule(nil), rules...) }
}

// optimize is plan after the dataset's optimizer rules.
func (d *Dataset) optimize(plan ops.Node) ops.Node { return ops.Optimize(plan, d.cfg.rules...) }

// WithExecOptions tunes the streaming executor (memory budget, concurrency).
func WithExecOptions(o pipeline.Options) Option { return func(c *config) { c.exec = o } }

// WithTrace makes every run of the dataset (and of datasets derived from
// it) write a Chrome trace event JSON document of its tasks to w when the
// run ends, as pipeline.Options.Trace describes; open it in Perfetto
// (ui.perfetto.dev) or chrome://tracing. Each run writes one document with a
// single Write, so runs that should land in separate files need separate
// datasets or a writer that splits them. It takes precedence over the Trace
// field of WithExecOptions.
func WithTrace(w io.Writer) Option { return func(c *config) { c.trace = w } }

// WithProgress makes every run of the dataset (and of datasets derived from
// it) draw a progress display to w while it runs, as
// pipeline.Options.Progress describes: one line per operator with its rows,
// tasks or blocks done, bytes, and whether it is backpressured or waiting on
// its downstream, redrawn every 200 ms with ANSI cursor movement and once
// more when the run ends, with a summary line. On a terminal every line
// fits its width (long fused operators are named by their kinds,
// "Read→Where→MapBatches"). WithProgress(nil) turns the display off. It takes
// precedence over the Progress field of WithExecOptions.
//
// Without WithProgress (and without a Progress in WithExecOptions) the
// display goes to os.Stderr if, and only if, os.Stderr is a terminal, so
// interactive runs show progress while tests, CI and redirected output stay
// quiet.
func WithProgress(w io.Writer) Option {
	return func(c *config) { c.progress, c.progressSet = w, true }
}

// stderrIsTerminal reports, once per process, whether os.Stderr is a
// terminal.
var stderrIsTerminal = sync.OnceValue(func() bool { return term.IsTerminal(int(os.Stderr.Fd())) })

// progressWriter is where a run draws its progress display: WithProgress's
// writer if given, else WithExecOptions's, else os.Stderr when tty says it is
// a terminal, else nowhere.
func (c *config) progressWriter(tty func() bool) io.Writer {
	switch {
	case c.progressSet:
		return c.progress
	case c.exec.Progress != nil:
		return c.exec.Progress
	case tty():
		return os.Stderr
	}
	return nil
}

// DefaultRuntime is the process-wide runtime that datasets use when no
// WithRuntime option is given: embedded (a worker per core and an object
// store of 30% of memory), or, when SHOAL_ADDRESS names a cluster's head,
// joined to that cluster (ConnectCluster; the token from SHOAL_TOKEN). It
// is created on first use and lives as long as the process; if joining the
// cluster fails, or the program lacks cluster support (see Init), every run
// reports why. Init(JoinCluster(addr)) names the cluster in the program
// instead.
func DefaultRuntime() exec.Runtime { return exec.Default() }

func newConfig(opts []Option) *config {
	c := &config{}
	for _, o := range opts {
		o(c)
	}
	if c.rt == nil {
		c.rt = DefaultRuntime()
	}
	return c
}

func (c *config) parallelismFor(rows int64) int {
	p := c.parallelism
	if p <= 0 {
		p = DefaultParallelism
	}
	if rows >= 0 && int64(p) > rows {
		p = int(max(rows, 1))
	}
	return p
}

// Err reports an error found while building the plan, if any.
func (d *Dataset) Err() error { return d.err }

// Runtime is the runtime the dataset runs on.
func (d *Dataset) Runtime() exec.Runtime { return d.cfg.rt }

// with returns a dataset over a new plan with the same configuration.
func (d *Dataset) with(plan ops.Node) *Dataset {
	return &Dataset{plan: plan, cfg: d.cfg}
}

// withErr returns a dataset that fails with err when consumed.
func (d *Dataset) withErr(err error) *Dataset {
	return &Dataset{plan: d.plan, cfg: d.cfg, err: err}
}

func errDataset(err error, opts []Option) *Dataset {
	return &Dataset{cfg: newConfig(opts), err: err}
}

// Explain describes the plan: the logical plan as written, the optimized
// plan, and the physical operators the executor will run.
func (d *Dataset) Explain() string {
	if d.err != nil {
		return "error: " + d.err.Error()
	}
	opt := d.optimize(d.plan)
	s := "-- logical plan --\n" + ops.Format(d.plan) + "-- optimized plan --\n" + ops.Format(opt)
	// A broadcast join's small side runs first, on its own: plan the probe
	// stage without it and print the side's plan after the main one.
	var sides []ops.Node
	run, err := pipeline.InlineBroadcasts(opt, func(side ops.Node) ([]byte, error) {
		sides = append(sides, side)
		return nil, nil
	})
	if err == nil {
		var phys pipeline.Operator
		if phys, err = pipeline.Build(run, 1); err == nil {
			s += "-- physical plan --\n" + pipeline.Format(phys)
		}
	}
	for _, side := range sides {
		if err != nil {
			break
		}
		var phys pipeline.Operator
		if phys, err = pipeline.Build(side, 1); err == nil {
			s += "-- broadcast side, run first --\n" + pipeline.Format(phys)
		}
	}
	if err != nil {
		s += "-- physical plan --\nerror: " + err.Error() + "\n"
	}
	return s
}

// String is a one-line description of the dataset.
func (d *Dataset) String() string {
	if d.err != nil {
		return "Dataset(error: " + d.err.Error() + ")"
	}
	s := "Dataset(" + d.plan.Name()
	if rows := d.plan.Rows(); rows >= 0 {
		s += fmt.Sprintf(", rows=%d", rows)
	}
	if schema := d.plan.Schema(); schema != nil {
		s += ", schema={" + ops.SchemaString(schema) + "}"
	}
	return s + ")"
}

// stream runs plan and returns its running stream.
func (d *Dataset) stream(ctx context.Context, plan ops.Node) (*pipeline.Stream, error) {
	if d.err != nil {
		return nil, d.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s, ok := d.cfg.rt.(interface{ ShipsTasks() bool }); ok && s.ShipsTasks() {
		// Refuse before any task runs, not when a worker cannot find a function.
		if err := ops.Unshippable(plan); err != nil {
			return nil, err
		}
	}
	return d.streamOptimized(ctx, d.optimize(plan))
}

// streamOptimized runs an optimized plan: the small sides of broadcast
// joins first (collectIPC), then the rest.
func (d *Dataset) streamOptimized(ctx context.Context, opt ops.Node) (*pipeline.Stream, error) {
	opt, err := pipeline.InlineBroadcasts(opt, func(side ops.Node) ([]byte, error) {
		return d.collectIPC(ctx, side)
	})
	if err != nil {
		return nil, err
	}
	res := d.cfg.rt.Resources()
	if err := pipeline.CheckResources(opt, res); err != nil {
		return nil, err
	}
	queue := max(4, 2*res.CPUs)
	root, err := pipeline.Build(opt, queue)
	if err != nil {
		return nil, err
	}
	opts := d.cfg.exec
	if d.cfg.trace != nil {
		opts.Trace = d.cfg.trace
	}
	opts.Progress = d.cfg.progressWriter(stderrIsTerminal)
	return pipeline.Run(ctx, d.cfg.rt, root, opts), nil
}

// RunStats describe a finished run: see pipeline.RunStats.
type RunStats = pipeline.RunStats

// Stats reports what the most recent consumer run on this Dataset value did
// (per-operator tasks, times, rows and bytes, backpressure, spills), like
// Ray Data's ds.stats(); print it for a table. It is nil before any run, and
// for consumers answered from metadata without running (Count and Schema
// when the plan knows them). Datasets derived by transforms keep their own
// stats.
func (d *Dataset) Stats() *RunStats {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	return d.stats
}

func (d *Dataset) setStats(s *pipeline.RunStats) {
	d.statsMu.Lock()
	d.stats = s
	d.statsMu.Unlock()
}

// forEachBundle runs plan and calls fn with each output bundle, in order.
// The bundle's references are released after fn returns.
func (d *Dataset) forEachBundle(ctx context.Context, plan ops.Node, fn func(pipeline.Bundle) error) error {
	s, err := d.stream(ctx, plan)
	if err != nil {
		return err
	}
	defer func() {
		s.Close()
		d.setStats(s.Stats())
	}()
	return d.drain(ctx, s, fn)
}

// drain hands every bundle of s to fn and releases the bundle's references
// after it.
func (d *Dataset) drain(ctx context.Context, s *pipeline.Stream, fn func(pipeline.Bundle) error) error {
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = fn(b)
		for _, r := range b.Refs {
			d.cfg.rt.Release(r)
		}
		if err != nil {
			if ctx.Err() != nil {
				err = s.Canceled(err) // name what the cancellation stopped
			}
			return err
		}
	}
}

// errStop ends a forEach early without an error.
var errStop = errors.New("stop")
