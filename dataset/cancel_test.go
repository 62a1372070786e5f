package dataset_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"os/signal"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// cancelChildEnv makes the test binary run a cancelChild job instead of
// the tests (see TestMain).
const cancelChildEnv = "SHOAL_TEST_CANCEL_CHILD"

// cancelChild runs a long job as a user's program would, on the default
// runtime with Ctrl-C wired to its context, prints "running" once a task of
// the operator under test runs, and prints the job's error on stderr.
func cancelChild(job string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch job {
	case "map": // a per-row function over 4G rows: hours of work
		rt := announceRuntime{Runtime: dataset.DefaultRuntime(), operator: "Range("}
		d := dataset.Range(1<<32, dataset.WithRuntime(rt), dataset.WithParallelism(1<<16)).Map(doubleID)
		_, err = d.Sum(ctx, "x")
	case "sort": // a sort of 256 MiB, interrupted as it partitions and sorts
		rt := announceRuntime{Runtime: dataset.DefaultRuntime(), operator: "Sort(id desc).map"}
		_, err = dataset.Range(1<<25, dataset.WithRuntime(rt), dataset.WithParallelism(128)).Sort(dataset.Desc("id")).Sum(ctx, "id")
	default:
		err = fmt.Errorf("unknown job %q", job)
	}
	if err == nil {
		fmt.Fprintln(os.Stderr, "the job finished: it was never interrupted")
		return 2
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func doubleID(r dataset.Row) (dataset.Item, error) { return dataset.Item{"x": r.Int64("id") * 2}, nil }

// announceRuntime prints "running" on stdout when the first task of an
// operator whose name starts with operator runs: the moment to interrupt.
type announceRuntime struct {
	exec.Runtime
	operator string
}

var announceOnce sync.Once

func (r announceRuntime) Submit(ctx context.Context, t exec.Task, done func(exec.TaskResult)) {
	if run := t.Run; strings.HasPrefix(t.Operator, r.operator) {
		t.Run = func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
			announceOnce.Do(func() { fmt.Println("running") })
			return run(tc, in)
		}
	}
	r.Runtime.Submit(ctx, t, done)
}

// Ctrl-C (SIGINT, caught by signal.NotifyContext) stops a running job
// within a few seconds, and its error names the operators that were
// running. The job runs in a child process: the test binary re-executed.
func TestCtrlCStopsJobAndNamesOperator(t *testing.T) {
	for _, c := range []struct{ job, want string }{
		{"map", "operator Range(4294967296)->Map(dataset_test.doubleID)->PartialSum(x): context canceled"},
		{"sort", "operator Sort(id desc): context canceled"},
	} {
		t.Run(c.job, func(t *testing.T) {
			latency, stderr := interruptChild(t, c.job)
			if !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "context canceled") {
				t.Errorf("the job's error %q does not say %q and context canceled", stderr, c.want)
			}
			// A bound for a loaded machine under -race, where one sort task
			// of these (256K rows) takes up to a second: a job that ignored
			// its context would run on for minutes.
			if latency > 10*time.Second {
				t.Errorf("the job ended %v after SIGINT, want within 10s", latency)
			}
			t.Logf("ended %v after SIGINT: %s", latency, stderr)
		})
	}
}

// interruptChild starts the job in a child process, sends it SIGINT once
// its tasks run, and returns how long it took to exit and what it printed
// on stderr. Every wait has a deadline; the child is killed past it.
func interruptChild(t *testing.T, job string) (time.Duration, string) {
	t.Helper()
	cmd := osexec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cancelChildEnv+"="+job)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	started := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		started <- line == "running\n"
		exited <- cmd.Wait() // after stdout's reader is done, as StdoutPipe asks
	}()
	kill := func(why string) {
		cmd.Process.Kill()
		<-exited
		t.Fatalf("%s; stderr: %s", why, stderr.String())
	}
	select {
	case ok := <-started:
		if !ok {
			kill("the child exited before its job ran")
		}
	case <-time.After(2 * time.Minute):
		kill("the child's job did not start within 2 minutes")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case err := <-exited:
		latency := time.Since(sent)
		if ee, ok := err.(*osexec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("child exit: %v, want status 1 (the job's error); stderr: %s", err, stderr.String())
		}
		return latency, strings.TrimSpace(stderr.String())
	case <-time.After(time.Minute):
		kill("the child still ran a minute after SIGINT")
	}
	return 0, ""
}
