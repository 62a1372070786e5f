package dataset_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/storage/s3"
	"github.com/shoal-data/shoal/io/storage/s3/s3test"
)

// The kill -9 tests of the commit protocol: a child process (the program in
// testdata/killwriter) writes a dataset and is killed at a seeded random
// instant of a chosen phase (while encoding its files, or once its commit
// began); then Shoal's reader must see exactly the whole old dataset or
// the whole new one (row count and sum of ids), and a later write must
// leave nothing of the killed one behind.

// killRounds is how many kill instants each combination of store, mode
// and phase gets; SHOAL_KILL_ROUNDS raises it for a longer campaign
// (SHOAL_KILL_ROUNDS=10 SHOAL_KILL_SEED=100 go test -v -run TestKill).
func killRounds() int {
	if n, err := strconv.Atoi(os.Getenv("SHOAL_KILL_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// killSeed shifts the seeds of the kill instants: SHOAL_KILL_SEED=n
// draws other instants.
func killSeed() uint64 {
	n, _ := strconv.ParseUint(os.Getenv("SHOAL_KILL_SEED"), 10, 64)
	return n
}

// The child writes files of about killRows rows each.
const killRows = 2000

// buildKillWriter builds the child program.
func buildKillWriter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "killwriter")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/killwriter").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./testdata/killwriter: %v\n%s", err, out)
	}
	return bin
}

// child is a running killwriter.
type child struct {
	cmd    *exec.Cmd
	phases chan string // each "phase X" line as it comes
	stderr *strings.Builder
	done   chan error // the exit status, once
}

func startChild(t *testing.T, bin string, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, phases: make(chan string, 8), stderr: &strings.Builder{}, done: make(chan error, 1)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "phase "); ok {
				c.phases <- p
			}
		}
		close(c.phases)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return c
}

// await waits for the child to report phase; false if it exited first.
func (c *child) await(t *testing.T, phase string) bool {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case p, ok := <-c.phases:
			if !ok {
				return false
			}
			if p == phase {
				return true
			}
		case <-timeout:
			t.Fatalf("the writer did not reach phase %q in 2 minutes", phase)
		}
	}
}

// wait waits for the child to exit, and returns the last phase it reported.
func (c *child) wait(t *testing.T, last string) (string, error) {
	t.Helper()
	for {
		select {
		case p, ok := <-c.phases:
			if ok {
				last = p
				continue
			}
			select {
			case err := <-c.done:
				return last, err
			case <-time.After(2 * time.Minute):
				t.Fatal("the writer did not exit in 2 minutes")
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("the writer did not exit in 2 minutes")
		}
	}
}

// datasetState is what Shoal's reader sees of a dataset.
type datasetState struct{ rows, sum int64 }

func (s datasetState) String() string { return fmt.Sprintf("%d rows, sum %d", s.rows, s.sum) }

// written is the state after a write of n rows (ids 0..n-1) in mode onto s.
func (s datasetState) written(mode string, n int64) datasetState {
	add := datasetState{n, n * (n - 1) / 2}
	if mode == "overwrite" {
		return add
	}
	return datasetState{s.rows + add.rows, s.sum + add.sum}
}

func readState(t *testing.T, e *testEnv, out string, st dataset.ReadWriteOption) datasetState {
	t.Helper()
	d := dataset.ReadParquet(e.ctx, out, e.opt(), st)
	n, err := d.Count(e.ctx)
	if err != nil {
		t.Fatalf("reading %s: %v", out, err)
	}
	sum, err := d.Sum(e.ctx, "id")
	if err != nil {
		t.Fatalf("reading %s: %v", out, err)
	}
	return datasetState{n, sum.Int64()}
}

// killCampaign kills writes to out in every mode and phase, checks what a
// reader sees after each, and then that one more write leaves only its
// own files and the log behind. It returns the outcome of each kill.
func killCampaign(t *testing.T, e *testEnv, seed uint64, files int, bin, out string, env []string, st dataset.ReadWriteOption, list func() []string) {
	rng := rand.New(rand.NewPCG(seed+killSeed(), 13))
	// The dataset before: 3 files of 1000 rows.
	c := startChild(t, bin, env, "-out", out, "-files", "3", "-rows", "1000")
	if last, err := c.wait(t, ""); err != nil || last != "committed" {
		t.Fatalf("the first write: %v (last phase %s)\n%s", err, last, c.stderr)
	}
	cur := readState(t, e, out, st)
	if cur != (datasetState{}).written("append", 3000) {
		t.Fatalf("after the first write: %v", cur)
	}

	// How long each phase lasts, from a write in each mode not killed.
	var encoding time.Duration
	committing := map[string]time.Duration{}
	for _, mode := range []string{"append", "overwrite"} {
		c = startChild(t, bin, env, "-out", out, "-mode", mode, "-files", strconv.Itoa(files), "-rows", strconv.Itoa(killRows))
		c.await(t, "write")
		began := time.Now()
		c.await(t, "commit")
		encoding = time.Since(began)
		began = time.Now()
		c.await(t, "committed")
		committing[mode] = time.Since(began)
		if _, err := c.wait(t, ""); err != nil {
			t.Fatalf("the timing write: %v\n%s", err, c.stderr)
		}
		cur = cur.written(mode, int64(files*killRows))
	}
	t.Logf("%s: encoding takes %v, the commit %v", out, encoding.Round(time.Millisecond), committing)

	counts := map[string]int{}
	kills := 0
	// Overwrites first: appends that commit grow the dataset to read.
	for _, mode := range []string{"overwrite", "append"} {
		for _, phase := range []string{"write", "commit"} {
			span := encoding
			if phase == "commit" {
				span = committing[mode] + committing[mode]/2 + time.Millisecond
			}
			for round := range killRounds() {
				delay := time.Duration(rng.Int64N(int64(span)))
				// Each round writes its own number of rows, so that an
				// Overwrite's new dataset differs from the old.
				rows := killRows + 1 + kills
				c := startChild(t, bin, env, "-out", out, "-mode", mode, "-files", strconv.Itoa(files), "-rows", strconv.Itoa(rows))
				if !c.await(t, phase) {
					_, err := c.wait(t, "")
					t.Fatalf("the writer exited before phase %s: %v\n%s", phase, err, c.stderr)
				}
				time.Sleep(delay)
				_ = c.cmd.Process.Signal(syscall.SIGKILL)
				last, err := c.wait(t, phase)
				got := readState(t, e, out, st)
				next := cur.written(mode, int64(files*rows))
				outcome := "old"
				switch {
				case err == nil:
					outcome = "new (the write finished before the kill)"
					cur = next
				case got == cur:
				case got == next:
					outcome = "new"
					cur = next
				default:
					t.Errorf("kill %s %s round %d, %v into phase %s: the reader sees %v; want the old %v or the new %v",
						mode, phase, round, delay, phase, got, cur, next)
					cur = got
					outcome = "MIXED"
				}
				if got != cur {
					t.Errorf("kill %s %s round %d: the writer exited cleanly but the reader sees %v, want %v", mode, phase, round, got, cur)
				}
				counts[outcome]++
				kills++
				t.Logf("kill -9 %s/%s round %d at +%v (last phase reported: %s): %s dataset, %v", mode, phase, round, delay.Round(time.Microsecond), last, outcome, got)
			}
		}
	}
	t.Logf("%s: %d kills: %v", out, kills, counts)

	// One more write cleans up after the killed ones.
	if err := dataset.Range(100, e.par(2)...).WriteParquet(e.ctx, out, st, dataset.Mode(formats.Overwrite), dataset.WriteID("final")); err != nil {
		t.Fatal(err)
	}
	var log, data []string
	for _, f := range list() {
		switch {
		case strings.HasPrefix(f, "_shoal/manifest-"):
			log = append(log, f)
		default:
			data = append(data, f)
		}
	}
	if want := "[part-final-000000.parquet part-final-000001.parquet]"; fmt.Sprint(data) != want || len(log) > 2 {
		t.Errorf("after a write that followed the kills: files %v and log %v; want %s and at most 2 manifests", data, log, want)
	}
	if got := readState(t, e, out, st); got != (datasetState{}).written("overwrite", 100) {
		t.Errorf("after the last write: %v", got)
	}
}

// listLocal lists every file under dir, relative to it.
func listLocal(t *testing.T, dir string) func() []string {
	return func() []string {
		var out []string
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// listS3 lists every object under bucket/prefix, relative to it.
func listS3(t *testing.T, fs *s3.FileSystem, dir string) func() []string {
	return func() []string {
		files, err := fs.List(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range files {
			out = append(out, strings.TrimPrefix(f.Path, dir+"/"))
		}
		return out
	}
}

func TestKillWriteLocal(t *testing.T) {
	e := setup(t)
	bin := buildKillWriter(t)
	out := filepath.Join(t.TempDir(), "out")
	killCampaign(t, e, 1, 60, bin, out, nil, dataset.Storage(storage.Config{}), listLocal(t, out))
}

func TestKillWriteS3(t *testing.T) {
	e := setup(t)
	cfg, bucket, fs := s3Config(t)
	bin := buildKillWriter(t)
	killCampaign(t, e, 2, 30, bin, "s3://"+bucket+"/out", nil, dataset.Storage(cfg), listS3(t, fs, bucket+"/out"))
}

// TestKillS3ServerDuringCommit kills -9 the S3 server at a random instant
// of a write's commit and restarts it a random while later; the writer
// retries or fails, and what a reader sees afterwards is the old dataset
// or the new one. A later write cleans up.
func TestKillS3ServerDuringCommit(t *testing.T) {
	e := setup(t)
	srv := s3test.Start(t)
	bin := buildKillWriter(t)
	opts := srv.Options()
	env := []string{"SHOAL_TEST_S3_ENDPOINT=" + opts.Endpoint, "SHOAL_TEST_S3_ACCESS_KEY=" + opts.AccessKeyID, "SHOAL_TEST_S3_SECRET_KEY=" + opts.SecretAccessKey}
	fs, err := s3.New(e.ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	bucket := "killed"
	if _, err := fs.Client().CreateBucket(e.ctx, &s3api.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	st := dataset.Storage(storage.Config{S3: opts})
	out := "s3://killed/out"
	c := startChild(t, bin, env, "-out", out, "-files", "3", "-rows", "1000")
	if last, err := c.wait(t, ""); err != nil || last != "committed" {
		t.Fatalf("the first write: %v (last phase %s)\n%s", err, last, c.stderr)
	}
	cur := readState(t, e, out, st)
	rng := rand.New(rand.NewPCG(7+killSeed(), 7))
	counts := map[string]int{}
	rounds := killRounds()
	for round := range rounds {
		mode := []string{"append", "overwrite"}[round%2]
		delay := time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
		down := time.Duration(rng.Int64N(int64(3 * time.Second)))
		rows := 1000 + round
		c := startChild(t, bin, env, "-out", out, "-mode", mode, "-attempts", "8", "-files", "20", "-rows", strconv.Itoa(rows))
		if !c.await(t, "commit") {
			_, err := c.wait(t, "")
			t.Fatalf("the writer exited before its commit: %v\n%s", err, c.stderr)
		}
		time.Sleep(delay)
		srv.Kill()
		time.Sleep(down)
		srv.Restart()
		last, werr := c.wait(t, "commit")
		got := readState(t, e, out, st)
		next := cur.written(mode, int64(20*rows))
		outcome := "old"
		switch {
		case got == cur:
		case got == next:
			outcome = "new"
			cur = next
		default:
			t.Errorf("server killed %v into a %s commit, down %v: the reader sees %v; want the old %v or the new %v", delay, mode, down, got, cur, next)
			cur, outcome = got, "MIXED"
		}
		if werr == nil && outcome != "new" {
			t.Errorf("the writer says it committed, the reader sees the old dataset")
		}
		result := "the writer failed: " + strings.TrimSpace(c.stderr.String())
		if werr == nil {
			result = "the writer retried and committed"
		}
		counts[outcome]++
		t.Logf("server kill -9 %d (%s) at +%v into the commit, down %v (last phase %s, %s): %s dataset, %v",
			round, mode, delay.Round(time.Microsecond), down.Round(time.Millisecond), last, result, outcome, got)
	}
	t.Logf("%d server kills: %v", rounds, counts)
	if err := dataset.Range(100, e.par(2)...).WriteParquet(e.ctx, out, st, dataset.Mode(formats.Overwrite), dataset.WriteID("final")); err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, f := range listS3(t, fs, "killed/out")() {
		if !strings.HasPrefix(f, "_shoal/manifest-") {
			data = append(data, f)
		}
	}
	if fmt.Sprint(data) != "[part-final-000000.parquet part-final-000001.parquet]" {
		t.Errorf("after a write that followed the kills: %v", data)
	}
}
