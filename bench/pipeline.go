package bench

// The three-stage inference pipeline (the seed's Figures 6-1 and 6-2): a
// read that waits on I/O, a CPU map and an actor stage that waits on a
// (simulated) GPU, sized so that each stage alone takes about the same
// time T. Run one after another (each stage materialized before the next
// starts, as a job without streaming does) they take about 3T; streamed,
// the stages overlap and the pipeline should take little more than T.
//
//   - Read: a Datasource of Blocks read tasks; each sleeps ReadLatency (the
//     I/O) and then builds a block of Rows rows (id int64, x float64). Reads
//     hold no CPU (dataset.ReadCPUs(0)) and ReadConcurrency run at once: an
//     I/O depth, as a client's connection pool gives.
//   - Map: CPU work on every row (MapIters rounds of an xorshift-and-float
//     loop), a plain MapBatches on the CPUs.
//   - Actor: MapBatchesWithActors on Actors actors of one (declared) GPU
//     each; every batch (one block) sleeps GPULatency, standing in for the
//     kernel, and adds a score column.
//
// The workloads give the same rows in the same order, so one checksum
// (PipelineChecksum) must come out of every mode.

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// PipelineConfig sizes the three-stage pipeline.
type PipelineConfig struct {
	Blocks          int
	Rows            int // per block
	ReadLatency     time.Duration
	ReadConcurrency int
	MapIters        int // rounds of CPU work per row
	GPULatency      time.Duration
	Actors          int // one GPU each
	Window          int // blocks per window in the windowed mode
}

// PipelineFor sizes the pipeline so that each stage alone takes about T on
// workers CPUs, given the nanoseconds one round of map work on one row
// takes (CalibrateMap).
func PipelineFor(t time.Duration, blocks, rows, workers int, perIterNs float64) PipelineConfig {
	c := PipelineConfig{Blocks: blocks, Rows: rows, ReadConcurrency: 4, Actors: 1, Window: max(blocks/8, 1)}
	c.ReadLatency = t * time.Duration(c.ReadConcurrency) / time.Duration(blocks)
	c.GPULatency = t * time.Duration(c.Actors) / time.Duration(blocks)
	perBlock := t * time.Duration(workers) / time.Duration(blocks)
	c.MapIters = max(int(float64(perBlock)/(perIterNs*float64(rows))), 1)
	return c
}

// CalibrateMap measures one round of map work on one row, on one
// goroutine, in nanoseconds.
func CalibrateMap() float64 {
	b := pipelineBlock(0, 1<<14)
	defer b.Release()
	iters := 1
	for {
		start := time.Now()
		out, err := mapWork(iters)(b)
		el := time.Since(start)
		if err == nil {
			out.Release()
		}
		if el > 50*time.Millisecond {
			return float64(el.Nanoseconds()) / float64(iters*int(b.NumRows()))
		}
		iters *= 2
	}
}

var pipelineSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64},
}, nil)

func pipelineBlock(lo, n int64) arrow.RecordBatch {
	ids := make([]int64, n)
	xs := make([]float64, n)
	for i := range ids {
		ids[i] = lo + int64(i)
		xs[i] = float64((lo+int64(i))%1000) / 1000
	}
	idCol, xCol := blocks.NumericArray(ids), blocks.NumericArray(xs)
	defer idCol.Release()
	defer xCol.Release()
	return array.NewRecordBatch(pipelineSchema, []arrow.Array{idCol, xCol}, n)
}

// slowSource is the read stage: its read tasks wait, then build a block.
type slowSource struct{ c PipelineConfig }

func (s slowSource) Name() string          { return fmt.Sprintf("SlowRead[%d blocks]", s.c.Blocks) }
func (s slowSource) Schema() *arrow.Schema { return pipelineSchema }
func (s slowSource) NumRows() int64        { return int64(s.c.Blocks * s.c.Rows) }
func (s slowSource) ReadTasks(int) ([]ops.ReadTask, error) {
	tasks := make([]ops.ReadTask, s.c.Blocks)
	for i := range tasks {
		lo := int64(i * s.c.Rows)
		tasks[i] = ops.ReadTask{Rows: int64(s.c.Rows), Bytes: int64(s.c.Rows) * 16,
			Read: func(tc *exec.TaskContext) ([]blocks.Block, error) {
				select {
				case <-time.After(s.c.ReadLatency):
				case <-tc.Done():
					return nil, tc.Err()
				}
				return []blocks.Block{pipelineBlock(lo, int64(s.c.Rows))}, nil
			}}
	}
	return tasks, nil
}

// mapWork adds y, computed with iters rounds of integer and float work per
// row: CPU time that no engine can skip.
func mapWork(iters int) dataset.BatchFunc {
	schema := arrow.NewSchema(append(pipelineSchema.Fields(), arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Float64}), nil)
	return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids, err := blocks.Values[int64](b.Column(0))
		if err != nil {
			return nil, err
		}
		xs, err := blocks.Values[float64](b.Column(1))
		if err != nil {
			return nil, err
		}
		ys := make([]float64, len(ids))
		for i, id := range ids {
			h, y := uint64(id)|1, xs[i]
			for range iters {
				h ^= h << 13
				h ^= h >> 7
				h ^= h << 17
				y = y*0.5 + float64(h>>40)*1e-9
			}
			ys[i] = y
		}
		col := blocks.NumericArray(ys)
		defer col.Release()
		return array.NewRecordBatch(schema, []arrow.Array{b.Column(0), b.Column(1), col}, b.NumRows()), nil
	}
}

// gpuActor is the actor stage's constructor: each batch waits latency and
// gets score = 2y.
func gpuActor(latency time.Duration) dataset.ActorConstructor {
	return func(ac *dataset.ActorContext) (dataset.BatchFunc, error) {
		return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			time.Sleep(latency)
			ys, err := blocks.Values[float64](b.Column(2))
			if err != nil {
				return nil, err
			}
			out := make([]float64, len(ys))
			for i, y := range ys {
				out[i] = 2 * y
			}
			col := blocks.NumericArray(out)
			defer col.Release()
			return blocks.WithColumn(b, "score", col)
		}, nil
	}
}

// PipelineMode is how the three stages run.
type PipelineMode string

const (
	// Sequential runs each stage to completion (materialized) before the
	// next starts.
	Sequential PipelineMode = "sequential"
	// Streaming runs the three stages as one streaming pipeline.
	Streaming PipelineMode = "streaming"
	// Windowed streams the read and runs map and actor per window
	// (Dataset.Window), a window's stages overlapping the next window's.
	Windowed PipelineMode = "windowed"
	// ReadOnly, MapOnly and ActorOnly run one stage alone (map and actor
	// over materialized input, outside the timer).
	ReadOnly  PipelineMode = "read alone"
	MapOnly   PipelineMode = "map alone"
	ActorOnly PipelineMode = "actor alone"
)

// PipelineResult is one run's outcome.
type PipelineResult struct {
	Wall     time.Duration
	Rows     int64
	Checksum float64
	// ActorBusy is the actor stage's summed call time over its own wall
	// time (first call start to last call end) times the actors;
	// ActorBusyRun is the same over the whole run's wall time. Set for the
	// sequential, streaming and actor-alone runs.
	ActorBusy, ActorBusyRun float64
}

// pipelineRuntime is a local runtime with one declared GPU per actor.
func pipelineRuntime(c PipelineConfig, workers int) *exec.Local {
	return exec.NewLocal(exec.WithWorkers(workers), exec.WithGPUs(c.Actors))
}

func (c PipelineConfig) read(rt exec.Runtime) *dataset.Dataset {
	return dataset.ReadDatasource(slowSource{c}, dataset.WithRuntime(rt), dataset.ReadCPUs(0), dataset.ReadConcurrency(c.ReadConcurrency))
}

func (c PipelineConfig) mapStage(d *dataset.Dataset) *dataset.Dataset {
	return d.MapBatches(mapWork(c.MapIters))
}

func (c PipelineConfig) actorStage(d *dataset.Dataset) *dataset.Dataset {
	return d.MapBatchesWithActors(gpuActor(c.GPULatency), dataset.Actors(c.Actors, c.Actors), dataset.ActorGPUs(1))
}

// RunPipeline runs the pipeline (or one stage) in mode on a fresh runtime
// of workers CPUs and returns its wall time and what came out.
func RunPipeline(ctx context.Context, c PipelineConfig, workers int, mode PipelineMode) (PipelineResult, error) {
	rt := pipelineRuntime(c, workers)
	defer rt.Close()
	var res PipelineResult
	// Inputs of the single-stage runs are made outside the timer.
	var input *dataset.Dataset
	var err error
	switch mode {
	case MapOnly:
		input, err = c.read(rt).Materialize(ctx)
	case ActorOnly:
		input, err = c.mapStage(c.read(rt)).Materialize(ctx)
	}
	if err != nil {
		return res, err
	}
	start := time.Now()
	var last *dataset.Dataset
	switch mode {
	case ReadOnly:
		last = c.read(rt)
	case MapOnly:
		last = c.mapStage(input)
	case ActorOnly:
		last = c.actorStage(input)
	case Streaming:
		last = c.actorStage(c.mapStage(c.read(rt)))
	case Sequential:
		read, err := c.read(rt).Materialize(ctx)
		if err != nil {
			return res, err
		}
		mapped, err := c.mapStage(read).Materialize(ctx)
		if err != nil {
			return res, err
		}
		last = c.actorStage(mapped)
	case Windowed:
		p := c.read(rt).Window(c.Window).ForEachWindow(func(w dataset.Window) *dataset.Dataset {
			return c.actorStage(c.mapStage(w.Dataset))
		})
		for w, err := range p.Iter(ctx) {
			if err != nil {
				return res, err
			}
			if err := drain(ctx, w.Dataset, &res); err != nil {
				return res, err
			}
		}
		res.Wall = time.Since(start)
		return res, nil
	default:
		return res, fmt.Errorf("bench: unknown pipeline mode %q", mode)
	}
	if err := drain(ctx, last, &res); err != nil {
		return res, err
	}
	res.Wall = time.Since(start)
	if st := last.Stats(); st != nil && (mode == Streaming || mode == ActorOnly || mode == Sequential) {
		for _, o := range st.Operators {
			if o.Wall > 0 && len(o.Name) > 20 && o.Name[:20] == "MapBatchesWithActors" {
				res.ActorBusy = float64(o.TaskWall) / (float64(o.Wall) * float64(c.Actors))
				res.ActorBusyRun = float64(o.TaskWall) / (float64(res.Wall) * float64(c.Actors))
			}
		}
	}
	return res, nil
}

// drain consumes d, adding its rows and checksum to res.
func drain(ctx context.Context, d *dataset.Dataset, res *PipelineResult) error {
	for b, err := range d.IterBatches(ctx, 0) {
		if err != nil {
			return err
		}
		res.Rows += b.NumRows()
		res.Checksum += PipelineChecksum(b)
	}
	return nil
}

// PipelineChecksum sums the last column of b (score, or the stage's newest
// column) plus its ids, in float64.
func PipelineChecksum(b arrow.RecordBatch) float64 {
	var s float64
	if ids, err := blocks.Values[int64](b.Column(0)); err == nil {
		for _, v := range ids {
			s += float64(v)
		}
	}
	if v, err := blocks.Values[float64](b.Column(int(b.NumCols()) - 1)); err == nil {
		for _, x := range v {
			s += x
		}
	}
	return math.Round(s*1e6) / 1e6
}
