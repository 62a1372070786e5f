package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-data/shoal/dataset"
)

// runProgram is the test binary as a user's program run with
// SHOAL_DASHBOARD set: it counts a dataset on the default runtime, says
// so, and lives until its stdin closes.
func runProgram() {
	n, err := dataset.Range(5000, dataset.WithParallelism(5)).MapBatches(slowBatch).Count(context.Background())
	fmt.Println("counted", n, err)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// TestDashboardFromEnvironment runs a program with SHOAL_DASHBOARD and
// finds its run on the dashboard it announces.
func TestDashboardFromEnvironment(t *testing.T) {
	// The program is killed if the test has not finished with it in a
	// minute, which ends the reads of its output too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHOAL_TEST_DASHBOARD_PROGRAM=1", "SHOAL_DASHBOARD=127.0.0.1:0", "SHOAL_DASHBOARD_TOKEN="+testToken)
	stdin, _ := cmd.StdinPipe()
	stderr, _ := cmd.StderrPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stderr).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "shoal: dashboard at ")
	if err != nil || !ok {
		t.Fatalf("the program's first line on stderr: %q (%v)", line, err)
	}
	if out, _ := bufio.NewReader(stdout).ReadString('\n'); out != "counted 5000 <nil>\n" {
		t.Fatalf("the program printed %q", out)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if code := get(t, c, url, "/api/jobs/local", "", nil); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	var job apiJob
	if code := get(t, c, url, "/api/jobs/local", testToken, &job); code != 200 || len(job.Runs) != 1 || job.Runs[0].State != "finished" {
		t.Fatalf("%d %+v", code, job)
	}
	if ops := job.Runs[0].Operators; ops[len(ops)-1].Tasks != 5 {
		t.Errorf("the count's operators: %+v", ops)
	}
}
