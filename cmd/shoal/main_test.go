package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-data/shoal/internal/ci"
	"github.com/shoal-data/shoal/io/storage/s3"
	"github.com/shoal-data/shoal/io/storage/s3/s3test"
)

// shoalBinary builds the command once per test run; the tests run it as a
// user would, as a separate process.
func shoalBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shoal")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func writeCSV(t *testing.T, path string, rows int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,city,fare\n")
	for i := range rows {
		fmt.Fprintf(&b, "%d,%s,%.2f\n", i, []string{"Oslo", "Lima", "Pune"}[i%3], float64(i)*0.25)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCommands(t *testing.T) {
	bin := shoalBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "trips.csv")
	writeCSV(t, src, 1000)

	if r := run(t, bin, nil, "schema", src); r.code != 0 || r.stdout != "id: int64\ncity: utf8\nfare: float64\n" {
		t.Errorf("schema: %+v", r)
	}
	if r := run(t, bin, nil, "count", src); r.code != 0 || r.stdout != "1000\n" {
		t.Errorf("count: %+v", r)
	}
	r := run(t, bin, nil, "head", "-n", "2", src)
	if r.code != 0 || !strings.Contains(r.stdout, "Oslo") || !strings.Contains(r.stdout, "Lima") || strings.Contains(r.stdout, "Pune") {
		t.Errorf("head: %+v", r)
	}

	out := filepath.Join(dir, "trips.parquet")
	if r := run(t, bin, nil, "convert", "--files", "1", "--compression", "zstd", src, out); r.code != 0 {
		t.Fatalf("convert: %+v", r)
	}
	if r := run(t, bin, nil, "count", out); r.code != 0 || r.stdout != "1000\n" {
		t.Errorf("count of the converted data: %+v", r)
	}
	if r := run(t, bin, nil, "schema", out); r.code != 0 || !strings.HasPrefix(r.stdout, "id: int64") {
		t.Errorf("schema of the converted data: %+v", r)
	}
	// A second convert into the same directory is refused by default.
	if r := run(t, bin, nil, "convert", src, out); r.code == 0 || !strings.Contains(r.stderr, "already holds") {
		t.Errorf("convert into a full directory: %+v", r)
	}
	parts := filepath.Join(dir, "by_city")
	if r := run(t, bin, nil, "convert", "--to", "json", "--partition-by", "city", src, parts); r.code != 0 {
		t.Fatalf("partitioned convert: %+v", r)
	}
	if r := run(t, bin, nil, "count", parts); r.code != 0 || r.stdout != "1000\n" {
		t.Errorf("count of the partitioned data: %+v", r)
	}
	// Compressed CSV out, and read back by the same commands.
	gz := filepath.Join(dir, "gz.csv")
	if r := run(t, bin, nil, "convert", "--compression", "gzip", src, gz); r.code != 0 {
		t.Fatalf("convert to gzipped CSV: %+v", r)
	}
	if files, _ := filepath.Glob(filepath.Join(gz, "*.csv.gz")); len(files) == 0 {
		t.Errorf("no .csv.gz file in %s", gz)
	}
	if r := run(t, bin, nil, "count", gz); r.code != 0 || r.stdout != "1000\n" {
		t.Errorf("count of the gzipped CSV: %+v", r)
	}

	// Invalid UTF-8: an error naming the line and column, or as asked.
	bad := filepath.Join(dir, "latin1.csv")
	if err := os.WriteFile(bad, []byte("city\nM\xfcnchen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, bin, nil, "head", bad); r.code == 0 || !strings.Contains(r.stderr, `latin1.csv line 2, column "city": invalid UTF-8`) {
		t.Errorf("head of invalid UTF-8: %+v", r)
	}
	if r := run(t, bin, nil, "head", "--invalid-utf8", "replace", bad); r.code != 0 || !strings.Contains(r.stdout, "M\uFFFDnchen") {
		t.Errorf("head --invalid-utf8 replace: %+v", r)
	}
	if r := run(t, bin, nil, "schema", "--invalid-utf8", "binary", bad); r.code != 0 || r.stdout != "city: binary\n" {
		t.Errorf("schema --invalid-utf8 binary: %+v", r)
	}
}

func TestCommandErrors(t *testing.T) {
	bin := shoalBinary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("a,b\n1,2\n3,4,5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(dir, "odd")
	if err := os.MkdirAll(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(odd, "x.dat"), []byte("?"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"count", filepath.Join(dir, "missing.parquet")}, "missing.parquet"},
		{[]string{"count", bad}, "line 3"},
		{[]string{"count", odd}, "pass --format"},
		{[]string{"count", "--format", "xml", odd}, "unknown format"},
		{[]string{"head", "-n", "-1", bad}, "negative"},
		{[]string{"convert", bad, filepath.Join(dir, "out.xyz")}, "--to"},
		{[]string{"schema"}, "accepts 1 arg"},
		{[]string{"frobnicate"}, "unknown command"},
	}
	for _, c := range cases {
		r := run(t, bin, nil, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("shoal %v: code %d, stderr %q, stdout %q; want a failure saying %q on stderr",
				c.args, r.code, r.stderr, r.stdout, c.want)
		}
	}
}

func TestCommandsOnS3(t *testing.T) {
	opts := s3test.SharedOptions(t)
	fs, err := s3.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	bucket := s3test.NewBucket(t, fs)
	endpoint, access, secret := opts.Endpoint, opts.AccessKeyID, opts.SecretAccessKey
	env := []string{"AWS_ENDPOINT_URL=" + endpoint, "AWS_ACCESS_KEY_ID=" + access, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_REGION=us-east-1"}

	bin := shoalBinary(t)
	src := filepath.Join(t.TempDir(), "trips.csv")
	writeCSV(t, src, 500)
	dst := "s3://" + bucket + "/trips"
	if r := run(t, bin, env, "convert", "--to", "parquet", src, dst); r.code != 0 {
		t.Fatalf("convert to S3: %+v", r)
	}
	if r := run(t, bin, env, "count", dst); r.code != 0 || r.stdout != "500\n" {
		t.Errorf("count on S3: %+v", r)
	}
	if r := run(t, bin, env, "files", dst); r.code != 0 || !strings.HasPrefix(r.stdout, dst+"/part-") || strings.Count(r.stdout, "\n") < 1 {
		t.Errorf("files on S3: %+v", r)
	}
	if r := run(t, bin, env, "clean", "--dry-run", dst); r.code != 0 || r.stdout != "" {
		t.Errorf("clean of a clean dataset on S3: %+v", r)
	}
	if r := run(t, bin, env, "schema", dst+"/"); r.code != 0 || !strings.Contains(r.stdout, "city: utf8") {
		t.Errorf("schema on S3: %+v", r)
	}
	if r := run(t, bin, env, "count", "s3://no-such-bucket-shoal/x"); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("missing bucket: %+v", r)
	}
	bad := append(env[:len(env):len(env)], "AWS_SECRET_ACCESS_KEY=wrong")
	if r := run(t, bin, bad, "count", dst); r.code == 0 || !strings.Contains(r.stderr, "credentials") {
		t.Errorf("wrong credentials: %+v", r)
	}
}

// Every valid file of parquet-testing's data/ converts, as a new user
// would convert it (no --to: a directory without an extension gets
// Parquet), to a dataset of as many rows; the files with corrupt pages
// fail naming the page.
func TestConvertParquetTestingData(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "testdata", "parquet-testing", "data")
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if len(files) == 0 {
		ci.Missing(t, "parquet-testing files not found at "+dir+" (../shared/testdata belongs beside the checkout)")
	}
	bin := shoalBinary(t)
	out := t.TempDir()
	for _, src := range files {
		name := strings.TrimSuffix(filepath.Base(src), ".parquet")
		dst := filepath.Join(out, strings.ReplaceAll(name, ".", "_"))
		r := run(t, bin, nil, "convert", src, dst)
		if strings.Contains(name, "corrupt-checksum") {
			if r.code == 0 || !strings.Contains(r.stderr, "page checksum mismatch") {
				t.Errorf("%s: %+v, want a checksum failure", name, r)
			}
			continue
		}
		if r.code != 0 {
			t.Errorf("convert %s: %+v", name, r)
			continue
		}
		want, got := run(t, bin, nil, "count", src), run(t, bin, nil, "count", dst)
		if want.code != 0 || got.code != 0 || want.stdout != got.stdout {
			t.Errorf("%s: count %+v, converted %+v", name, want, got)
		}
	}
}
