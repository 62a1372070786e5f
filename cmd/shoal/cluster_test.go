package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-data/shoal/internal/promtest"
)

// proc is a cluster process started by a test: its first stdout line
// (the address it serves) and its exit.
type proc struct {
	cmd    *exec.Cmd
	first  string
	stderr syncBuffer
	done   chan struct{} // closed once the process has exited
}

// startProc runs the shoal binary and waits for its first line of output.
// The process is killed when the test ends if it is still running.
func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("shoal %v printed nothing; stderr:\n%s", args, p.stderr.String())
		}
		p.first = l
	case <-time.After(30 * time.Second):
		t.Fatalf("shoal %v did not start within 30s; stderr:\n%s", args, p.stderr.String())
	}
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("%v still running after %v; stderr:\n%s", p.cmd.Args, within, p.stderr.String())
		return -1
	}
}

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestClusterProcesses starts a head and three nodes as separate
// processes on loopback, checks status, kills a node with SIGKILL and sees
// it declared dead, refuses a wrong token and another protocol version,
// and stops the cluster.
func TestClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := shoalBinary(t)
	env := []string{"SHOAL_TOKEN=process-test-token", "HOME=" + t.TempDir()}
	dashboard := freePort(t)
	head := startProc(t, bin, env, "start", "--head", "--port", "0", "--heartbeat", "100ms", "--dead-after", "2s", "--dashboard-port", fmt.Sprint(dashboard))
	m := regexp.MustCompile(`^head at (\S+)$`).FindStringSubmatch(head.first)
	if m == nil {
		t.Fatalf("head printed %q", head.first)
	}
	addr := m[1]
	var nodes []*proc
	for i := range 3 {
		nodes = append(nodes, startProc(t, bin, env, "start", "--address", addr, "--num-cpus", fmt.Sprint(2+i),
			"--num-gpus", fmt.Sprint(i%2), "--object-store-memory", "64MiB", "--memory", "1GiB", "--labels", fmt.Sprint("zone=z", i)))
	}
	res := run(t, bin, env, "status", "--address", addr)
	if res.code != 0 || !strings.Contains(res.stdout, "3 of 3 nodes alive: 9 CPUs, 1 GPUs, 192.0 MiB object store") {
		t.Fatalf("status (exit %d):\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, n := range nodes {
		id := strings.Fields(n.first)[1]
		if !strings.Contains(res.stdout, id) {
			t.Errorf("status does not list %s:\n%s", id, res.stdout)
		}
	}
	// The head serves its nodes to Prometheus on the dashboard port, to
	// the cluster token only.
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", dashboard)
	if _, code, err := promtest.Scrape(metricsURL, ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d (%v), want 401", code, err)
	}
	samples, code, err := promtest.Scrape(metricsURL, "process-test-token", "node")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d, %v", code, err)
	}
	for _, n := range nodes {
		if id := strings.Fields(n.first)[1]; samples["shoal_node_up{"+id+"}"] != 1 {
			t.Errorf("/metrics does not show %s up: %v", id, samples)
		}
	}

	// kill -9 a node: once it has missed heartbeats for 2s (--dead-after)
	// it is dead.
	victim := strings.Fields(nodes[1].first)[1]
	if err := nodes[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nodes[1].wait(t, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res = run(t, bin, env, "status", "--address", addr)
		if regexp.MustCompile(victim + `\s+\S+\s+dead since`).MatchString(res.stdout) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed node is not dead after 10s:\n%s", res.stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(res.stdout, "2 of 3 nodes alive: 6 CPUs") {
		t.Errorf("after the kill:\n%s", res.stdout)
	}

	// Abuse: a wrong token, another protocol version.
	res = run(t, bin, []string{"SHOAL_TOKEN=wrong", "HOME=" + t.TempDir()}, "status", "--address", addr)
	if res.code == 0 || !strings.Contains(res.stderr, "token") {
		t.Errorf("a wrong token: exit %d, stderr %q", res.code, res.stderr)
	}
	res = run(t, bin, env, "status", "--address", addr, "--protocol-version", "shoal-0")
	if res.code == 0 || !strings.Contains(res.stderr, "shoal-0") || !strings.Contains(res.stderr, "same Shoal build") {
		t.Errorf("another version: exit %d, stderr %q", res.code, res.stderr)
	}
	if out := startProcExpectExit(t, bin, env, "start", "--address", addr, "--labels", "novalue"); !strings.Contains(out, "key=value") {
		t.Errorf("a malformed --labels: %q", out)
	}
	old := startProcExpectExit(t, bin, env, "start", "--address", addr, "--protocol-version", "shoal-0")
	if !strings.Contains(old, "shoal-0") {
		t.Errorf("a node of another version: %q", old)
	}

	// A program joins with SHOAL_ADDRESS: the quickstart example built with
	// cluster support (-tags shoalcluster), its blocks on the two live
	// nodes, prints what it prints embedded.
	qs := filepath.Join(t.TempDir(), "quickstart")
	if out, err := exec.Command("go", "build", "-tags", "shoalcluster", "-o", qs, "../../examples/quickstart").CombinedOutput(); err != nil {
		t.Fatalf("go build quickstart: %v\n%s", err, out)
	}
	embedded := run(t, qs, nil)
	joined := run(t, qs, append(env, "SHOAL_ADDRESS="+addr))
	if embedded.code != 0 || joined.code != 0 || joined.stdout != embedded.stdout {
		t.Errorf("quickstart with SHOAL_ADDRESS (exit %d) differs from embedded (exit %d):\n%s\n---\n%s%s",
			joined.code, embedded.code, joined.stdout, embedded.stdout, joined.stderr)
	}
	res = run(t, bin, env, "status", "--address", addr)
	if !regexp.MustCompile(`job-\d+\s+quickstart\s+\S+\s+\d+\s+finished at`).MatchString(res.stdout) {
		t.Errorf("status does not list the quickstart's finished job:\n%s", res.stdout)
	}
	checkDashboard(t, fmt.Sprintf("http://127.0.0.1:%d/", dashboard), "process-test-token", "quickstart", victim)
	// The core API's word count, its map and reduce tasks and its actor on
	// the nodes, counts as it does embedded.
	wc := filepath.Join(t.TempDir(), "wordcount")
	if out, err := exec.Command("go", "build", "-o", wc, "../../examples/wordcount").CombinedOutput(); err != nil {
		t.Fatalf("go build wordcount: %v\n%s", err, out)
	}
	wcEmbedded := run(t, wc, nil)
	wcJoined := run(t, wc, append(env, "SHOAL_ADDRESS="+addr))
	if wcEmbedded.code != 0 || wcJoined.code != 0 || wcJoined.stdout != wcEmbedded.stdout || !strings.HasPrefix(wcJoined.stdout, "is: 10\n") {
		t.Errorf("wordcount with SHOAL_ADDRESS (exit %d) differs from embedded (exit %d):\n%s\n---\n%s%s",
			wcJoined.code, wcEmbedded.code, wcJoined.stdout, wcEmbedded.stdout, wcJoined.stderr)
	}
	lost := run(t, qs, append(env, "SHOAL_ADDRESS=127.0.0.1:1"))
	if lost.code == 0 || !strings.Contains(lost.stdout+lost.stderr, "SHOAL_ADDRESS=127.0.0.1:1") {
		t.Errorf("quickstart with a SHOAL_ADDRESS nobody serves: exit %d\n%s%s", lost.code, lost.stdout, lost.stderr)
	}
	// Built without cluster support, it does not run embedded as if
	// SHOAL_ADDRESS were not there: it fails, naming the import to add.
	light := filepath.Join(t.TempDir(), "quickstart")
	if out, err := exec.Command("go", "build", "-o", light, "../../examples/quickstart").CombinedOutput(); err != nil {
		t.Fatalf("go build quickstart: %v\n%s", err, out)
	}
	unsupported := run(t, light, append(env, "SHOAL_ADDRESS="+addr))
	msg := unsupported.stdout + unsupported.stderr
	if unsupported.code == 0 || !strings.Contains(msg, "SHOAL_ADDRESS="+addr) ||
		!strings.Contains(msg, `import _ "github.com/shoal-data/shoal/cluster"`) {
		t.Errorf("quickstart without cluster support, given SHOAL_ADDRESS: exit %d\n%s", unsupported.code, msg)
	}

	// stop: the live nodes and the head exit cleanly.
	res = run(t, bin, env, "stop", "--address", addr)
	if res.code != 0 || !strings.Contains(res.stdout, "cluster stopped") {
		t.Fatalf("stop: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, p := range []*proc{nodes[0], nodes[2], head} {
		if code := p.wait(t, 15*time.Second); code != 0 {
			t.Errorf("%v exited %d:\n%s", p.cmd.Args[1:], code, p.stderr.String())
		}
	}
}

// startProcExpectExit runs a process that should fail at once and returns
// its stderr.
func startProcExpectExit(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("shoal %v succeeded; want a refusal", args)
	}
	return string(out)
}

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port
}

// checkDashboard reads the head's dashboard API as a script would: the
// pages refuse a request without the token; the job named job succeeded
// and shows its runs, each finished with its operators' rows; the nodes
// are listed, dead among them.
func checkDashboard(t *testing.T, url, token, job, dead string) {
	t.Helper()
	get := func(path string, auth bool, out any) int {
		req, _ := http.NewRequest("GET", url+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("dashboard %s: %v", path, err)
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatalf("dashboard %s: %v", path, err)
			}
		}
		return resp.StatusCode
	}
	for _, path := range []string{"", "api/jobs", "api/nodes"} {
		if code := get(path, false, nil); code != http.StatusUnauthorized {
			t.Errorf("dashboard /%s without the token: %d, want 401", path, code)
		}
	}
	var jobs []struct {
		ID, Name, State string
		Runs            int
	}
	if code := get("api/jobs", true, &jobs); code != http.StatusOK {
		t.Fatalf("dashboard /api/jobs: %d", code)
	}
	id := ""
	for _, j := range jobs {
		if j.Name == job {
			id = j.ID
			if j.State != "succeeded" || j.Runs == 0 {
				t.Errorf("the dashboard shows %s %s with %d runs", j.Name, j.State, j.Runs)
			}
		}
	}
	if id == "" {
		t.Fatalf("the dashboard lists no %s job: %+v", job, jobs)
	}
	var detail struct {
		Runs []struct {
			ID, State string
			Operators []struct {
				Short   string
				RowsOut int64 `json:"rows_out"`
			}
		}
	}
	if code := get("api/jobs/"+id, true, &detail); code != http.StatusOK {
		t.Fatalf("dashboard /api/jobs/%s: %d", id, code)
	}
	for _, r := range detail.Runs {
		if r.State != "finished" || len(r.Operators) == 0 || r.Operators[0].RowsOut == 0 {
			t.Errorf("%s's %s on the dashboard: %+v", job, r.ID, r)
		}
	}
	var nodes []struct{ ID, State string }
	if code := get("api/nodes", true, &nodes); code != http.StatusOK {
		t.Fatalf("dashboard /api/nodes: %d", code)
	}
	states := map[string]string{}
	for _, n := range nodes {
		states[n.ID] = n.State
	}
	if len(nodes) != 3 || states[dead] != "dead" {
		t.Errorf("the dashboard's nodes: %+v (%s should be dead)", nodes, dead)
	}
}
