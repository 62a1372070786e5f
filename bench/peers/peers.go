// Package peers runs the benchmark workloads on the engines a Shoal user
// would otherwise pick, DuckDB and Polars, through their Node.js packages
// (installed by scripts/bench-peers-install into bench/peers/node_modules).
// Each run is one node process; the workload contract (data, answers, the
// JSON request and reply) is bench/suite/SPEC.md.
package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// Engines are the peer engines, in table order.
var Engines = []string{"duckdb", "polars"}

// Request is what a peer script reads on stdin.
type Request struct {
	Workload string `json:"workload"`
	Dir      string `json:"dir"`     // the size's data directory
	Threads  int    `json:"threads"` // threads the engine may use
	Out      string `json:"out"`     // a scratch directory for outputs
}

// Result is what a peer script prints.
type Result struct {
	Engine      string             `json:"engine"`
	Workload    string             `json:"workload"`
	Ms          float64            `json:"ms"`
	Answer      map[string]float64 `json:"answer"`
	Error       string             `json:"error,omitempty"`
	Unsupported bool               `json:"unsupported,omitempty"`
	// RSSBefore is the node process's resident set just before the
	// workload (the engine loaded and set up), in bytes.
	RSSBefore int64 `json:"rss_before,omitempty"`
	// PeakRSS is the node process's peak resident set (VmHWM), in bytes.
	PeakRSS int64 `json:"rss_peak,omitempty"`
}

// RSSGrowth is how far the workload grew the process's resident set
// above where it stood before the workload (-1 where either is unknown).
func (r Result) RSSGrowth() int64 {
	if r.RSSBefore <= 0 || r.PeakRSS <= 0 {
		return -1
	}
	return max(r.PeakRSS-r.RSSBefore, 0)
}

// Wall is the timed part of the run.
func (r Result) Wall() time.Duration { return time.Duration(r.Ms * float64(time.Millisecond)) }

// ErrUnsupported is returned (wrapped) for a workload the engine cannot run.
var ErrUnsupported = errors.New("peers: workload not supported by this engine")

// Dir is bench/peers in the source tree, found from this file.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Available says whether engine can run here: node on the PATH and the
// engine's package installed.
func Available(engine string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("peers: node is not installed: %w", err)
	}
	pkg := map[string]string{"duckdb": "@duckdb/node-api", "polars": "nodejs-polars"}[engine]
	if pkg == "" {
		return fmt.Errorf("peers: unknown engine %q", engine)
	}
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", pkg, "package.json")); err != nil {
		return fmt.Errorf("peers: %s is not installed (run scripts/bench-peers-install): %w", pkg, err)
	}
	return nil
}

// Run runs one workload on engine in a fresh node process and returns its
// result. A workload the engine cannot express gives ErrUnsupported.
func Run(ctx context.Context, engine string, req Request) (Result, error) {
	if err := Available(engine); err != nil {
		return Result{}, err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return Result{}, err
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(Dir(), engine+".mjs"))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "POLARS_MAX_THREADS="+strconv.Itoa(max(req.Threads, 1)))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res Result
	line := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:] // the last line is the reply; engines may log before it
	}
	if err := json.Unmarshal(line, &res); err != nil {
		return Result{}, fmt.Errorf("peers: %s %s: no JSON reply (%v); stderr: %s", engine, req.Workload, runErr, tail(stderr.Bytes()))
	}
	switch {
	case res.Unsupported:
		return res, fmt.Errorf("%s %s: %w: %s", engine, req.Workload, ErrUnsupported, res.Error)
	case res.Error != "":
		return res, fmt.Errorf("peers: %s %s: %s", engine, req.Workload, res.Error)
	case runErr != nil:
		return res, fmt.Errorf("peers: %s %s: %w; stderr: %s", engine, req.Workload, runErr, tail(stderr.Bytes()))
	}
	return res, nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}
