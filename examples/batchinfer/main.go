// Batchinfer is offline batch inference, as "Learning Ray" chapter 6's
// Figures 6-1 and 6-2: read tabular data from Parquet, featurize it on the
// CPUs with stateless tasks, score it with a model that each actor of a
// pool loads once onto "its" GPU, and write the predictions back to
// Parquet. It shows:
//
//   - dataset.ReadParquet (local or s3://), with a column selection the
//     reader decodes alone;
//   - preprocess: a StandardScaler on the numeric columns and a
//     OneHotEncoder on the categorical one, each fitted by one distributed
//     pass, then chained with a Concatenator into one fixed_size_list
//     "features" column, applied lazily as plain MapBatches tasks;
//   - MapBatchesWithActors: an autoscaling pool of actors (Actors(min,
//     max)), each holding ActorGPUs(1) of N GPUs declared with
//     exec.WithGPUs(N) (no real GPU is needed: -latency sleeps per batch in
//     place of device time). The actor's constructor loads the model's
//     weights from JSON and says which GPU it got; every batch is then one
//     forward pass of a small MLP (inputs -> 16 tanh -> 1 sigmoid) with
//     gonum's mat.Dense products;
//   - WriteParquet of (id, score, label), with the run's progress display
//     (dataset.WithProgress), its Chrome/Perfetto trace (dataset.WithTrace:
//     one track per CPU worker and one per actor) and its Stats table.
//
// With no -in it first writes a deterministic synthetic dataset (-rows rows,
// seeded by -seed) as -files Parquet files: an int64 "id", eight float64
// features on very different scales (f0 ... f7) and a string "segment" of
// five values. With no -model it writes a deterministic, seeded weights
// file sized to the fitted features. Both go to a temporary directory, as
// does the output when -out is empty; the paths are printed. The trace goes
// to -trace, by default "_trace.json" in the output directory (a name
// starting with "_" is hidden from readers, so dataset.ReadParquet(out)
// still reads only the predictions).
//
//	go run ./examples/batchinfer                              # 200,000 generated rows, 2 fake GPUs
//	go run ./examples/batchinfer -gpus 4 -actors 2,4 -latency 50ms
//	go run ./examples/batchinfer -gpus 0 -actors 1            # one CPU actor
//	go run ./examples/batchinfer -in s3://bucket/customers/ -model weights.json -out s3://bucket/scores/
//
// An -in dataset needs an int64 "id" column, the -numeric columns and the
// -categorical column. A -model file is JSON:
//
//	{"features": ["f0", ..., "segment_consumer", ...],  // the input vector, in order
//	 "w1": [[...16 numbers...], ...],                   // one row per feature
//	 "b1": [...16...], "w2": [...16...], "b2": 0.1}
//
// where the features are the -numeric columns (standardized) followed by
// "<categorical>_<value>" for each value of the categorical column in
// sorted order (one-hot), as the fitted preprocessors produce them.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gonum.org/v1/gonum/mat"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	_ "github.com/shoal-data/shoal/io/storage/s3" // -in and -out may be s3:// URLs
	"github.com/shoal-data/shoal/pipeline"
	"github.com/shoal-data/shoal/preprocess"
)

// config is what the flags set.
type config struct {
	In    string // Parquet file, directory or glob, local or s3://; "" generates one
	Out   string // output directory, local or s3://; "" is Dir/predictions
	Model string // weights JSON, local or s3://; "" writes Dir/model.json
	Trace string // Chrome trace JSON, local or s3://; "" is Out/_trace.json
	// Dir is where generated input, a generated model and the default
	// output go; "" makes a temporary directory.
	Dir string

	// Numeric are the numeric feature columns, Categorical the categorical
	// one ("" for none); neither given means the generated data's.
	Numeric     []string
	Categorical string

	Rows  int    // rows to generate when In is ""
	Files int    // Parquet files to generate (default 8)
	Seed  uint64 // seed of the generated data and weights

	Latency   time.Duration // simulated device time per batch
	GPUs      int           // fake GPUs declared; 0 runs CPU actors
	MinActors int           // pool size; 0,0 picks 1 to GPUs (or CPUs-1)
	MaxActors int
	Batch     int // rows per model call

	// Progress is where the live progress display goes (nil: none).
	Progress io.Writer
}

// Default column names of the generated data.
var (
	defaultNumeric     = []string{"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"}
	defaultCategorical = "segment"
	segments           = []string{"consumer", "small_business", "enterprise", "government", "education"}
)

// idCol is the column that identifies a row in the input and output.
const idCol = "id"

// featuresCol is the Concatenator's output: the model's input vector.
const featuresCol = "features"

// summary is what a run did.
type summary struct {
	Input, Model, Output, Trace string
	// Generated and ModelGenerated say whether run wrote Input and Model.
	Generated, ModelGenerated bool
	Rows                      int64    // input rows
	Features                  []string // the model's input columns, in order
	Scaler                    *preprocess.StandardScaler
	Encoder                   *preprocess.OneHotEncoder
	// Actors are the actors that were built, in the order their
	// constructors ran: one entry per constructor call.
	Actors []actorInfo
	// Predicted and Positives count the rows the actors scored and those
	// labelled 1 (a batch retried after an actor died counts twice).
	Predicted, Positives int64
	// Stats are the inference run's (read, featurize, predict, write).
	Stats *dataset.RunStats
	Wall  time.Duration // of the inference run, as the caller saw it
	// ActorStage is the actor pool's line of Stats; Busy is its task wall
	// over wall × actors built (NaN when unknown).
	ActorStage *pipeline.OperatorStats
	Busy       float64
}

// actorInfo is one actor's life.
type actorInfo struct {
	Index   int
	GPUs    []int
	Batches int   // calls served, set when the actor stops
	Rows    int64 // rows scored, set when the actor stops
	Stopped bool  // its cleanup ran
}

func main() {
	cfg := config{Numeric: defaultNumeric, Categorical: defaultCategorical, Progress: os.Stderr}
	flag.StringVar(&cfg.In, "in", "", "input Parquet file, directory or glob (local or s3://); empty generates synthetic data")
	flag.StringVar(&cfg.Out, "out", "", "output directory for the predictions (local or s3://); empty uses a temporary directory")
	flag.StringVar(&cfg.Model, "model", "", "model weights JSON (local or s3://); empty writes seeded random weights")
	flag.StringVar(&cfg.Trace, "trace", "", "Chrome trace output (local or s3://); empty is <out>/_trace.json")
	flag.Func("numeric", "comma-separated numeric feature columns (default "+strings.Join(defaultNumeric, ",")+")", func(s string) error {
		cfg.Numeric = splitList(s)
		return nil
	})
	flag.StringVar(&cfg.Categorical, "categorical", defaultCategorical, "categorical feature column (empty for none)")
	flag.IntVar(&cfg.Rows, "rows", 200_000, "rows to generate when -in is empty")
	flag.IntVar(&cfg.Files, "files", 8, "Parquet files to generate when -in is empty")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of the generated data and weights")
	flag.DurationVar(&cfg.Latency, "latency", 20*time.Millisecond, "simulated GPU time per batch")
	flag.IntVar(&cfg.GPUs, "gpus", 2, "fake GPUs to declare, one per actor; 0 runs the model on CPU actors")
	flag.Func("actors", "actor pool size: min,max or n (default 1 to the GPUs, or to the CPUs less one)", func(s string) error {
		var err error
		cfg.MinActors, cfg.MaxActors, err = parseActors(s)
		return err
	})
	flag.IntVar(&cfg.Batch, "batch", 1024, "rows per model call")
	flag.Parse()

	sum, err := run(context.Background(), cfg, os.Stdout)
	if sum.Generated {
		os.RemoveAll(sum.Input)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// parseActors reads "min,max" or "n" (a fixed pool of n).
func parseActors(s string) (lo, hi int, err error) {
	a, b, pair := strings.Cut(s, ",")
	if lo, err = strconv.Atoi(strings.TrimSpace(a)); err != nil {
		return 0, 0, fmt.Errorf("actors %q: want min,max or n", s)
	}
	hi = lo
	if pair {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, fmt.Errorf("actors %q: want min,max or n", s)
		}
	}
	if lo < 1 || hi < lo {
		return 0, 0, fmt.Errorf("actors %q: want 1 <= min <= max", s)
	}
	return lo, hi, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// run generates what is missing, fits the preprocessors, runs inference and
// writes the predictions, and prints a report to w.
func run(ctx context.Context, cfg config, w io.Writer) (summary, error) {
	var sum summary
	if cfg.Batch <= 0 {
		return sum, fmt.Errorf("batch size %d: want at least 1", cfg.Batch)
	}
	if cfg.GPUs < 0 || cfg.Latency < 0 {
		return sum, errors.New("-gpus and -latency must not be negative")
	}
	if len(cfg.Numeric) == 0 && cfg.Categorical == "" {
		cfg.Numeric, cfg.Categorical = defaultNumeric, defaultCategorical
	}
	minActors, maxActors := cfg.MinActors, cfg.MaxActors
	if minActors <= 0 && maxActors <= 0 {
		minActors, maxActors = 1, max(cfg.GPUs, 1)
		if cfg.GPUs == 0 {
			maxActors = max(runtime.GOMAXPROCS(0)-1, 1) // leave the featurizing tasks a CPU
		}
	}
	if minActors < 1 || maxActors < minActors {
		return sum, fmt.Errorf("actors %d,%d: want 1 <= min <= max", minActors, maxActors)
	}

	dir := cfg.Dir
	needDir := cfg.In == "" || cfg.Model == "" || cfg.Out == ""
	if dir == "" && needDir {
		d, err := os.MkdirTemp("", "batchinfer-")
		if err != nil {
			return sum, err
		}
		dir = d
	}
	// GPUs are declared, not detected: exec.WithGPUs(0) also turns detection off.
	rt := exec.NewLocal(exec.WithGPUs(cfg.GPUs))
	defer rt.Close()
	opts := []dataset.Option{dataset.WithRuntime(rt), dataset.WithProgress(cfg.Progress)}

	// The input.
	in := cfg.In
	if in == "" {
		in = filepath.Join(dir, "input")
		sum.Input, sum.Generated = in, true
		start := time.Now()
		files, err := generate(ctx, in, cfg.Rows, cfg.Files, cfg.Seed, opts)
		if err != nil {
			return sum, err
		}
		fmt.Fprintf(w, "generated %d synthetic rows (seed %d) as %d Parquet files under %s in %s\n",
			cfg.Rows, cfg.Seed, files, in, time.Since(start).Round(time.Millisecond))
	}
	sum.Input = in
	cols := append([]string{idCol}, cfg.Numeric...)
	if cfg.Categorical != "" {
		cols = append(cols, cfg.Categorical)
	}
	raw := dataset.ReadParquet(ctx, in, append([]dataset.ReadOption{dataset.Columns(cols...)}, readOpts(opts)...)...)
	rows, err := raw.Count(ctx) // from the Parquet footers
	if err != nil {
		return sum, err
	}
	sum.Rows = rows

	// Fit the featurization: one aggregation pass for the scaler, one
	// Unique pass for the encoder; each decodes only its own columns.
	start := time.Now()
	var stages []preprocess.Preprocessor
	if len(cfg.Numeric) > 0 {
		sum.Scaler = &preprocess.StandardScaler{Columns: cfg.Numeric}
		if err := sum.Scaler.Fit(ctx, raw.SelectColumns(cfg.Numeric...)); err != nil {
			return sum, err
		}
		stages = append(stages, sum.Scaler)
	}
	sum.Features = slices.Clone(cfg.Numeric)
	if cfg.Categorical != "" {
		sum.Encoder = &preprocess.OneHotEncoder{Columns: []string{cfg.Categorical}}
		if err := sum.Encoder.Fit(ctx, raw.SelectColumns(cfg.Categorical)); err != nil {
			return sum, err
		}
		stages = append(stages, sum.Encoder)
		v := sum.Encoder.Categories[cfg.Categorical]
		for i := range v.Len() {
			sum.Features = append(sum.Features, cfg.Categorical+"_"+vocabLabel(v, i))
		}
	}
	stages = append(stages, &preprocess.Concatenator{Columns: sum.Features, Output: featuresCol})
	featurize := preprocess.Chain(stages...)
	fmt.Fprintf(w, "fitted StandardScaler on %d columns and OneHotEncoder on %q over %d rows in %s: %d features\n",
		len(cfg.Numeric), cfg.Categorical, rows, time.Since(start).Round(time.Millisecond), len(sum.Features))

	// The model.
	sum.Model = cfg.Model
	if sum.Model == "" {
		sum.Model, sum.ModelGenerated = filepath.Join(dir, "model.json"), true
		m := randomModel(sum.Features, 16, cfg.Seed)
		if err := writeModel(ctx, sum.Model, m); err != nil {
			return sum, err
		}
		fmt.Fprintf(w, "wrote a seeded %d-16-1 MLP (%d weights) to %s\n", len(sum.Features), m.params(), sum.Model)
	}

	sum.Output = cfg.Out
	if sum.Output == "" {
		sum.Output = filepath.Join(dir, "predictions")
	}
	sum.Trace = cfg.Trace
	if sum.Trace == "" {
		sum.Trace = strings.TrimSuffix(sum.Output, "/") + "/_trace.json"
	}

	// Inference: read -> featurize (CPU tasks) -> predict (actors) -> write.
	// A dataset of its own, so that only this run writes the trace.
	var trace bytes.Buffer
	src := dataset.ReadParquet(ctx, in, append([]dataset.ReadOption{dataset.Columns(cols...), dataset.WithTrace(&trace)}, readOpts(opts)...)...)
	rec := &recorder{w: w}
	poolOpts := []dataset.MapBatchesOption{dataset.BatchSize(cfg.Batch), dataset.Actors(minActors, maxActors)}
	where := "CPU"
	if cfg.GPUs > 0 {
		poolOpts = append(poolOpts, dataset.ActorGPUs(1))
		where = fmt.Sprintf("%d fake GPUs", cfg.GPUs)
	}
	predictor := newPredictor(sum.Model, sum.Features, cfg.Latency, rec)
	predictions := featurize.Transform(src).MapBatchesWithActors(predictor, poolOpts...)

	fmt.Fprintf(w, "scoring %d rows in batches of %d on %d-%d actors (%s, %s per batch) -> %s\n",
		rows, cfg.Batch, minActors, maxActors, where, cfg.Latency, sum.Output)
	start = time.Now()
	err = predictions.WriteParquet(ctx, sum.Output, dataset.Mode(formats.Overwrite), dataset.MinRowsPerFile(50_000))
	sum.Wall = time.Since(start)
	sum.Stats = predictions.Stats()
	sum.Actors, sum.Predicted, sum.Positives = rec.result()
	if err != nil {
		return sum, err
	}
	if sum.Stats != nil && sum.Stats.TraceErr != nil {
		return sum, fmt.Errorf("trace: %w", sum.Stats.TraceErr)
	}
	if err := writeFile(ctx, sum.Trace, trace.Bytes()); err != nil {
		return sum, err
	}
	sum.Busy = math.NaN()
	if sum.Stats != nil {
		for i, o := range sum.Stats.Operators {
			if strings.Contains(o.Name, "MapBatchesWithActors") {
				sum.ActorStage = &sum.Stats.Operators[i]
				if o.Wall > 0 && len(sum.Actors) > 0 {
					sum.Busy = float64(o.TaskWall) / (float64(o.Wall) * float64(len(sum.Actors)))
				}
			}
		}
	}
	report(w, sum)
	return sum, nil
}

// readOpts turns dataset options into read options.
func readOpts(opts []dataset.Option) []dataset.ReadOption {
	out := make([]dataset.ReadOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

// vocabLabel is a vocabulary value as OneHotEncoder names its column.
func vocabLabel(v *preprocess.Vocabulary, i int) string {
	if v.Kind == preprocess.KindInt {
		return strconv.FormatInt(v.Ints[i], 10)
	}
	return v.Strings[i]
}

// report prints what the inference run did.
func report(w io.Writer, sum summary) {
	fmt.Fprintf(w, "\nwrote %d predictions to %s (trace: %s)\n", sum.Predicted, sum.Output, sum.Trace)
	if sum.Predicted > 0 {
		fmt.Fprintf(w, "label 1 for %d rows (%.1f%%)\n", sum.Positives, 100*float64(sum.Positives)/float64(sum.Predicted))
	}
	for _, a := range sum.Actors {
		fmt.Fprintf(w, "actor %d: %s, %d batches, %d rows\n", a.Index, device(a.GPUs), a.Batches, a.Rows)
	}
	fmt.Fprintf(w, "\ninference run stats:\n%s", sum.Stats)
	secs := sum.Wall.Seconds()
	fmt.Fprintf(w, "\nwall %s, %.0f rows/s", sum.Wall.Round(time.Millisecond), float64(sum.Rows)/secs)
	if !math.IsNaN(sum.Busy) {
		fmt.Fprintf(w, ", actor stage busy %.0f%% (task wall %s / (wall %s x %d actors))",
			100*sum.Busy, sum.ActorStage.TaskWall.Round(time.Millisecond), sum.ActorStage.Wall.Round(time.Millisecond), len(sum.Actors))
	}
	fmt.Fprintln(w)
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

// mlpFile is the weights file: inputs -> len(B1) tanh units -> 1 sigmoid.
type mlpFile struct {
	Features []string    `json:"features"`
	W1       [][]float64 `json:"w1"` // one row per feature, one column per hidden unit
	B1       []float64   `json:"b1"`
	W2       []float64   `json:"w2"`
	B2       float64     `json:"b2"`
}

func (m *mlpFile) params() int { return len(m.Features)*len(m.B1) + 2*len(m.B1) + 1 }

// randomModel is a seeded MLP with Xavier-like weights.
func randomModel(features []string, hidden int, seed uint64) *mlpFile {
	rng := rand.New(rand.NewPCG(seed, 0x6d6f64656c)) // "model"
	m := &mlpFile{Features: slices.Clone(features), W1: make([][]float64, len(features)),
		B1: make([]float64, hidden), W2: make([]float64, hidden), B2: 0.1 * rng.NormFloat64()}
	for i := range m.W1 {
		m.W1[i] = make([]float64, hidden)
		for j := range m.W1[i] {
			m.W1[i][j] = rng.NormFloat64() / math.Sqrt(float64(len(features)))
		}
	}
	for j := range hidden {
		m.B1[j] = 0.1 * rng.NormFloat64()
		m.W2[j] = 2 * rng.NormFloat64() / math.Sqrt(float64(hidden))
	}
	return m
}

// mlp is a loaded model: the weights as gonum matrices.
type mlp struct {
	w1 *mat.Dense    // inputs x hidden
	b1 []float64     // hidden
	w2 *mat.VecDense // hidden
	b2 float64
}

// newMLP checks a weights file against the features it will be given.
func newMLP(f *mlpFile, features []string) (*mlp, error) {
	if !slices.Equal(f.Features, features) {
		return nil, fmt.Errorf("the model takes features %v, the data has %v", f.Features, features)
	}
	d, h := len(f.Features), len(f.B1)
	if d == 0 || h == 0 || len(f.W1) != d || len(f.W2) != h {
		return nil, fmt.Errorf("model shapes: %d features, w1 %d rows, b1 %d, w2 %d", d, len(f.W1), h, len(f.W2))
	}
	w1 := mat.NewDense(d, h, nil)
	for i, row := range f.W1 {
		if len(row) != h {
			return nil, fmt.Errorf("model: w1 row %d has %d values, want %d", i, len(row), h)
		}
		w1.SetRow(i, row)
	}
	return &mlp{w1: w1, b1: slices.Clone(f.B1), w2: mat.NewVecDense(h, slices.Clone(f.W2)), b2: f.B2}, nil
}

// forward scores the rows of x (n x inputs): σ(tanh(x·W1 + b1)·w2 + b2).
func (m *mlp) forward(x *mat.Dense) []float64 {
	n, _ := x.Dims()
	var h mat.Dense
	h.Mul(x, m.w1)
	h.Apply(func(_, j int, v float64) float64 { return math.Tanh(v + m.b1[j]) }, &h)
	z := mat.NewVecDense(n, nil)
	z.MulVec(&h, m.w2)
	out := make([]float64, n)
	for i := range out {
		out[i] = 1 / (1 + math.Exp(-(z.AtVec(i) + m.b2)))
	}
	return out
}

var predictionSchema = arrow.NewSchema([]arrow.Field{
	{Name: idCol, Type: arrow.PrimitiveTypes.Int64},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "label", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// newPredictor is the actors' constructor: it loads the weights (once per
// actor, as a real one would copy them to ac.GPUIDs), then returns the
// per-batch forward pass.
func newPredictor(modelPath string, features []string, latency time.Duration, rec *recorder) dataset.ActorConstructor {
	return func(ac *dataset.ActorContext) (dataset.BatchFunc, error) {
		f, err := readModel(ac, modelPath)
		if err != nil {
			return nil, err
		}
		m, err := newMLP(f, features)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", modelPath, err)
		}
		me := rec.constructed(ac.Index, ac.GPUIDs)
		rec.printf("actor %d: loaded %s (%d weights) onto %s\n", ac.Index, filepath.Base(modelPath), f.params(), device(ac.GPUIDs))
		var batches int // actor state: only this actor's calls touch it
		var rows int64
		ac.Cleanup(func() { rec.stopped(me, batches, rows) })
		d := len(features)
		return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			if latency > 0 { // device time
				t := time.NewTimer(latency)
				select {
				case <-t.C:
				case <-ac.Done():
					t.Stop()
					return nil, ac.Err()
				}
			}
			idArr, err := blocks.Column(b, idCol)
			if err != nil {
				return nil, err
			}
			featArr, err := blocks.Column(b, featuresCol)
			if err != nil {
				return nil, err
			}
			fl, ok := featArr.(*array.FixedSizeList)
			if !ok {
				return nil, fmt.Errorf("column %q is %s, want fixed_size_list<float64>", featuresCol, featArr.DataType())
			}
			vals, ok := fl.ListValues().(*array.Float64)
			if !ok {
				return nil, fmt.Errorf("column %q is %s, want fixed_size_list<float64>", featuresCol, featArr.DataType())
			}
			n := int(b.NumRows())
			scores := make([]float64, n)
			if n > 0 {
				lo, _ := fl.ValueOffsets(0)
				x := vals.Float64Values()[lo : lo+int64(n*d)]
				if fl.NullN() > 0 || hasNull(vals, int(lo), n*d) {
					return nil, fmt.Errorf("batch has null features (a null %v value)", features)
				}
				// A view of the Arrow buffer, row-major n x d: no copy.
				scores = m.forward(mat.NewDense(n, d, x))
			}
			labels := make([]int64, n)
			var pos int64
			for i, s := range scores {
				if s >= 0.5 {
					labels[i], pos = 1, pos+1
				}
			}
			batches++
			rows += int64(n)
			rec.scored(int64(n), pos)
			score, label := blocks.NumericArray(scores), blocks.NumericArray(labels)
			defer score.Release()
			defer label.Release()
			return array.NewRecordBatch(predictionSchema, []arrow.Array{idArr, score, label}, int64(n)), nil
		}, nil
	}
}

// device names where an actor runs.
func device(gpus []int) string {
	if len(gpus) == 0 {
		return "CPU"
	}
	return fmt.Sprintf("GPUs %v", gpus)
}

func hasNull(a arrow.Array, from, n int) bool {
	if a.NullN() == 0 {
		return false
	}
	for i := from; i < from+n; i++ {
		if a.IsNull(i) {
			return true
		}
	}
	return false
}

// recorder collects what the actors did; they call it from their own
// goroutines.
type recorder struct {
	mu        sync.Mutex
	w         io.Writer
	actors    []actorInfo
	predicted int64
	positives int64
}

func (r *recorder) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, format, args...)
}

func (r *recorder) constructed(index int, gpus []int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actors = append(r.actors, actorInfo{Index: index, GPUs: slices.Clone(gpus)})
	return len(r.actors) - 1
}

func (r *recorder) stopped(k, batches int, rows int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := &r.actors[k]
	a.Batches, a.Rows, a.Stopped = batches, rows, true
}

func (r *recorder) scored(rows, positives int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.predicted += rows
	r.positives += positives
}

func (r *recorder) result() ([]actorInfo, int64, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.actors), r.predicted, r.positives
}

// ---------------------------------------------------------------------------
// Files, local or S3
// ---------------------------------------------------------------------------

func readModel(ctx context.Context, url string) (*mlpFile, error) {
	data, err := readFile(ctx, url)
	if err != nil {
		return nil, err
	}
	var m mlpFile
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return &m, nil
}

func writeModel(ctx context.Context, url string, m *mlpFile) error {
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return writeFile(ctx, url, data)
}

func readFile(ctx context.Context, url string) ([]byte, error) {
	fs, path, err := storage.Resolve(ctx, url, storage.Config{})
	if err != nil {
		return nil, err
	}
	f, err := fs.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.NewSectionReader(f, 0, f.Size()))
}

// writeFile writes data to url; the file appears only once complete.
func writeFile(ctx context.Context, url string, data []byte) error {
	fs, path, err := storage.Resolve(ctx, url, storage.Config{})
	if err != nil {
		return err
	}
	fw, err := fs.Create(ctx, path)
	if err != nil {
		return err
	}
	if _, err := fw.Write(data); err != nil {
		fw.Abort()
		return err
	}
	return fw.Close()
}

// ---------------------------------------------------------------------------
// Synthetic input
// ---------------------------------------------------------------------------

// generate writes rows synthetic rows as files Parquet files in dir, with
// the dataset API: Range(rows) in files blocks, a MapBatches that draws
// every row's values from a generator seeded by (seed, id), so the data is
// the same however blocks are cut, and WriteParquet (one file per block).
func generate(ctx context.Context, dir string, rows, files int, seed uint64, opts []dataset.Option) (int, error) {
	if rows <= 0 {
		return 0, fmt.Errorf("rows %d: want at least 1", rows)
	}
	if files <= 0 {
		files = 8
	}
	files = min(files, rows)
	ds := dataset.Range(int64(rows), append(slices.Clone(opts), dataset.WithParallelism(files))...).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { return synthBatch(b, seed) })
	err := ds.WriteParquet(ctx, dir, dataset.Mode(formats.Overwrite), dataset.WriteID("input"),
		dataset.ParquetOptions(formats.ParquetOptions{RowGroupRows: 8192}))
	return files, err
}

// synthBatch turns a block of ids into rows of features on different
// scales and a skewed categorical column.
func synthBatch(b arrow.RecordBatch, seed uint64) (arrow.RecordBatch, error) {
	ids, err := blocks.Values[int64](b.Column(0))
	if err != nil {
		return nil, err
	}
	n := len(ids)
	f := make([][]float64, len(defaultNumeric))
	for k := range f {
		f[k] = make([]float64, n)
	}
	seg := array.NewStringBuilder(memory.DefaultAllocator)
	defer seg.Release()
	var src rand.PCG
	rng := rand.New(&src)
	for i, id := range ids {
		src.Seed(seed, uint64(id))
		f[0][i] = rng.NormFloat64()                                  // standard normal
		f[1][i] = 40 + 12*rng.NormFloat64()                          // an age
		f[2][i] = 55000 * math.Exp(0.6*rng.NormFloat64())            // an income
		f[3][i] = 0.001 * rng.Float64()                              // a tiny rate
		f[4][i] = -250 + 30*rng.NormFloat64()                        // a negative offset
		f[5][i] = float64(rng.IntN(20))                              // a count
		f[6][i] = 1e6 * rng.ExpFloat64()                             // a heavy tail
		f[7][i] = math.Sin(float64(id)/1000) + 0.1*rng.NormFloat64() // a slow drift
		switch u := rng.Float64(); {
		case u < 0.45:
			seg.Append(segments[0])
		case u < 0.70:
			seg.Append(segments[1])
		case u < 0.85:
			seg.Append(segments[2])
		case u < 0.95:
			seg.Append(segments[3])
		default:
			seg.Append(segments[4])
		}
	}
	fields := []arrow.Field{{Name: idCol, Type: arrow.PrimitiveTypes.Int64}}
	cols := []arrow.Array{b.Column(0)}
	for k, name := range defaultNumeric {
		a := blocks.NumericArray(f[k])
		defer a.Release()
		fields = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64})
		cols = append(cols, a)
	}
	s := seg.NewArray()
	defer s.Release()
	fields = append(fields, arrow.Field{Name: defaultCategorical, Type: arrow.BinaryTypes.String})
	cols = append(cols, s)
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n)), nil
}
