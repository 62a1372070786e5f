package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listDir lists the files under dir, relative to it.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFilesAndClean: shoal files prints a dataset's committed files; a
// shoal convert killed with -9 while writing leaves files that no reader
// sees, that shoal files does not print, and that shoal clean lists with
// --dry-run and then removes.
func TestFilesAndClean(t *testing.T) {
	bin := shoalBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "trips.csv")
	writeCSV(t, src, 1000)
	out := filepath.Join(dir, "out")
	if r := run(t, bin, nil, "convert", "--to", "parquet", "--files", "4", src, out); r.code != 0 {
		t.Fatalf("convert: %+v", r)
	}
	r := run(t, bin, nil, "files", out)
	committed := strings.Fields(r.stdout)
	if r.code != 0 || len(committed) != 4 {
		t.Fatalf("files: %+v", r)
	}
	for _, f := range committed {
		if _, err := os.Stat(f); err != nil || !strings.HasSuffix(f, ".parquet") || !strings.HasPrefix(filepath.Base(f), "part-") {
			t.Errorf("files printed %s: %v", f, err)
		}
	}
	r = run(t, bin, nil, "files", "--json", out)
	var list []string
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || !slices.Equal(list, committed) {
		t.Errorf("files --json: %q, %v", r.stdout, err)
	}

	// A big append, killed once its first file is there.
	big := filepath.Join(dir, "big.csv")
	writeCSV(t, big, 200000)
	cmd := exec.Command(bin, "convert", "--to", "parquet", "--mode", "append", "--files", "40", big, out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(listDir(t, out)) <= len(committed)+2 { // the data files, a manifest and the new write's marker
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the big convert wrote no file in a minute")
		}
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if r := run(t, bin, nil, "count", out); r.code != 0 || r.stdout != "1000\n" {
		t.Errorf("count after the killed append: %+v (want the old 1000 rows)", r)
	}
	if r := run(t, bin, nil, "files", out); r.code != 0 || !slices.Equal(strings.Fields(r.stdout), committed) {
		t.Errorf("files after the killed append: %+v", r)
	}
	before := listDir(t, out)
	var leftovers []string
	for _, f := range before {
		if !strings.HasPrefix(f, "_shoal"+string(filepath.Separator)+"manifest-") && !slices.Contains(committed, filepath.Join(out, f)) {
			leftovers = append(leftovers, filepath.Join(out, f))
		}
	}
	if len(leftovers) == 0 {
		t.Fatalf("the killed convert left nothing to clean: %v", before)
	}

	r = run(t, bin, nil, "clean", "--dry-run", out)
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if f, ok := strings.CutPrefix(line, "would remove "); ok {
			listed = append(listed, f)
		}
	}
	slices.Sort(listed)
	if r.code != 0 || fmt.Sprint(listed) != fmt.Sprint(leftovers) {
		t.Errorf("clean --dry-run: %+v\nlisted %v\nwant   %v", r, listed, leftovers)
	}
	if after := listDir(t, out); !slices.Equal(after, before) {
		t.Errorf("clean --dry-run removed files: %v", after)
	}
	if r := run(t, bin, nil, "clean", out); r.code != 0 || strings.Count(r.stdout, "removed ") != len(leftovers) {
		t.Errorf("clean: %+v", r)
	}
	var left []string
	for _, f := range listDir(t, out) {
		if !strings.HasPrefix(f, "_shoal") {
			left = append(left, filepath.Join(out, f))
		}
	}
	if !slices.Equal(left, committed) {
		t.Errorf("after clean: %v, want %v", left, committed)
	}
	if r := run(t, bin, nil, "count", out); r.code != 0 || r.stdout != "1000\n" {
		t.Errorf("count after clean: %+v", r)
	}

	// A directory without a log: every file, and a note.
	r = run(t, bin, nil, "files", filepath.Join(dir, "*.csv"))
	if r.code != 0 || len(strings.Fields(r.stdout)) != 2 || !strings.Contains(r.stderr, "no commit log") {
		t.Errorf("files of plain files: %+v", r)
	}
}
