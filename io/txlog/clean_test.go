package txlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/io/storage"
)

// exitedPID is the pid of a process of this host that has exited.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func putMarker(t *testing.T, fs storage.FileSystem, dir string, m marker) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	put(t, fs, markerPath(fs, dir, m.WriteID), string(data))
}

func TestClean(t *testing.T) {
	stores(t, func(t *testing.T, fs storage.FileSystem, dir string) {
		ctx := t.Context()
		here := self()
		now := time.Now()
		// Four versions of the dataset; the latest names a's files.
		for v := range 4 {
			id := fmt.Sprintf("v%d", v)
			f := DataFileName(id, 0, ".parquet")
			put(t, fs, fs.Join(dir, f), "old")
			if _, err := Commit(ctx, fs, dir, func(*Manifest) (*Manifest, error) {
				return &Manifest{Format: "parquet", Schema: idSchema, WriteID: id, Files: []File{{Path: f}}}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		files := map[string]string{
			"part-v3-000000.parquet":                           "committed",
			"city=Oslo/part-dead-000000.parquet":               "dead write (its process exited)",
			"part-dead-000001.parquet":                         "dead write",
			".part-dead-000002.parquet.tmp-123":                "dead write's temp file",
			"part-stale-000000.parquet":                        "write on another host, silent for an hour",
			"part-live-000000.parquet":                         "live write (this process)",
			".part-live-000001.parquet.tmp-9":                  "live write's temp file",
			"city=Lima/part-away-000000.parquet":               "live write on another host",
			"part-nomarker-000000.parquet":                     "write without a marker",
			"notes.txt":                                        "another tool's file",
			"_SUCCESS":                                         "another tool's marker",
			"_shoal_staging_20240101-ab/x_000000.csv":          "old protocol staging",
			"_shoal/.manifest-00000000000000000009.json.tmp-1": "a committer's temp file",
			"_shoal/.manifest-00000000000000000002.json.tmp-5": "a dead committer's, for a version taken",
			"_shoal/writes/.dead.json.tmp-7":                   "a dead write's marker's temp file",
			"_shoal/writes/.live.json.tmp-8":                   "a live write's marker's temp file",
		}
		for f := range files {
			put(t, fs, fs.Join(dir, f), files[f])
		}
		putMarker(t, fs, dir, marker{WriteID: "dead", process: process{Host: here.Host, BootID: here.BootID, PID: exitedPID(t), Start: 1}, Heartbeat: now})
		putMarker(t, fs, dir, marker{WriteID: "stale", process: process{Host: "elsewhere", PID: 1}, Heartbeat: now.Add(-time.Hour)})
		live, err := Begin(ctx, fs, dir, "live", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer live.End(ctx)
		// A marker of this process whose write is not running here.
		putMarker(t, fs, dir, marker{WriteID: "ended", process: here, Heartbeat: now})
		put(t, fs, fs.Join(dir, "part-ended-000000.parquet"), "x")
		putMarker(t, fs, dir, marker{WriteID: "away", process: process{Host: "elsewhere", PID: 1}, Heartbeat: now})

		dry, err := Clean(ctx, fs, dir, CleanOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		before := listRel(t, fs, dir)
		rep, err := Clean(ctx, fs, dir, CleanOptions{})
		if err != nil || rep.Err() != nil {
			t.Fatal(err, rep.Err())
		}
		if fmt.Sprint(dry.Removed) != fmt.Sprint(rep.Removed) {
			t.Errorf("the dry run listed\n%v\nthe clean removed\n%v", dry.Removed, rep.Removed)
		}
		var gone []string
		for _, u := range rep.Removed {
			gone = append(gone, strings.ReplaceAll(relPath(fs, dir, strings.TrimPrefix(u, "s3://")), separator(fs), "/"))
		}
		want := []string{
			".part-dead-000002.parquet.tmp-123", "_shoal/.manifest-00000000000000000002.json.tmp-5",
			"_shoal/manifest-00000000000000000000.json", "_shoal/manifest-00000000000000000001.json",
			"_shoal/writes/.dead.json.tmp-7", "_shoal/writes/dead.json", "_shoal/writes/ended.json", "_shoal/writes/stale.json",
			"city=Oslo/part-dead-000000.parquet", "part-dead-000001.parquet", "part-ended-000000.parquet",
			"part-nomarker-000000.parquet", "part-stale-000000.parquet",
			"part-v0-000000.parquet", "part-v1-000000.parquet", "part-v2-000000.parquet",
		}
		if fmt.Sprint(gone) != fmt.Sprint(want) {
			t.Errorf("removed\n%v\nwant\n%v", gone, want)
		}
		if len(rep.Live) != 2 || !strings.Contains(strings.Join(rep.Live, " "), "write live") {
			t.Errorf("live writes %v", rep.Live)
		}
		after := listRel(t, fs, dir)
		if len(after) != len(before)-len(want) {
			t.Errorf("left\n%v", after)
		}

		// Every marker taken for dead, and another tool's files too.
		rep, err = Clean(ctx, fs, dir, CleanOptions{AssumeDead: true, Unlogged: true})
		if err != nil || rep.Err() != nil {
			t.Fatal(err, rep.Err())
		}
		left := listRel(t, fs, dir)
		want = []string{"_SUCCESS", "_shoal/manifest-00000000000000000002.json", "_shoal/manifest-00000000000000000003.json", "part-v3-000000.parquet"}
		if fmt.Sprint(left) != fmt.Sprint(want) {
			t.Errorf("after a clean that assumes every write dead: %v, want %v", left, want)
		}
	})
}

// TestCleanWithoutLog: in a directory no write committed to yet, a dead
// write's files go, but files named like Shoal's that no marker claims
// (copied in from another dataset, say) are data: kept, and listed by
// Unlogged for the first Append to adopt.
func TestCleanWithoutLog(t *testing.T) {
	fs, dir := storage.Local{}, t.TempDir()
	for _, f := range []string{"part-dead-000000.parquet", "part-copied-000000.parquet", "x.parquet"} {
		put(t, fs, fs.Join(dir, f), f)
	}
	putMarker(t, fs, dir, marker{WriteID: "dead", process: process{Host: "elsewhere"}, Heartbeat: time.Now().Add(-time.Hour)})
	if files, err := Unlogged(t.Context(), fs, dir); err != nil || fmt.Sprint(files) != "[{part-copied-000000.parquet -1 26} {x.parquet -1 9}]" {
		t.Errorf("unlogged: %v, %v", files, err)
	}
	if _, err := Clean(t.Context(), fs, dir, CleanOptions{}); err != nil {
		t.Fatal(err)
	}
	if left := listRel(t, fs, dir); fmt.Sprint(left) != "[part-copied-000000.parquet x.parquet]" {
		t.Errorf("left %v", left)
	}
}

// TestCleanAgesOldStaging: an old-protocol staging directory untouched
// for StaleAfter is removed; a fresh one may belong to a running writer.
func TestCleanAgesOldStaging(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"_shoal_staging_old", "_shoal_staging_new"} {
		p := filepath.Join(dir, d, "a", "x_000000.parquet")
		put(t, storage.Local{}, p, "x")
		if d == "_shoal_staging_old" {
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := Clean(t.Context(), storage.Local{}, dir, CleanOptions{StaleAfter: time.Minute})
	if err != nil || len(rep.Removed) != 1 || rep.Removed[0] != filepath.Join(dir, "_shoal_staging_old") {
		t.Fatalf("removed %v, %v", rep.Removed, err)
	}
	if left := listRel(t, storage.Local{}, dir); fmt.Sprint(left) != "[_shoal_staging_new/a/x_000000.parquet]" {
		t.Errorf("left %v", left)
	}
}

func TestRemoveWrite(t *testing.T) {
	stores(t, func(t *testing.T, fs storage.FileSystem, dir string) {
		for _, f := range []string{"a=1/part-w-000000.csv", "a=2/part-w-000000.csv", ".part-w-000001.csv.tmp-1", "part-w2-000000.csv", "part-v-000000.csv", "notes-part-w-000000.csv"} {
			put(t, fs, fs.Join(dir, f), f)
		}
		if err := RemoveWrite(t.Context(), fs, dir, "w"); err != nil {
			t.Fatal(err)
		}
		if left := listRel(t, fs, dir); fmt.Sprint(left) != "[notes-part-w-000000.csv part-v-000000.csv part-w2-000000.csv]" {
			t.Errorf("left %v", left)
		}
	})
}

// TestInFlight: the marker names this process and its heartbeat moves on;
// a second write with the same ID is refused; a marker that a cleanup
// removed is never brought back, and Alive says so; End stops the
// heartbeat goroutine and removes the marker.
func TestInFlight(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs, dir := storage.Local{}, t.TempDir()
	ctx := t.Context()
	w, err := Begin(ctx, fs, dir, "w1", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	first, err := readMarker(ctx, fs, markerPath(fs, dir, "w1"))
	if err != nil || first.PID != os.Getpid() || first.Host == "" || first.deadReason(self(), time.Now(), time.Minute) != "" {
		t.Fatalf("marker %+v, %v", first, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := readMarker(ctx, fs, markerPath(fs, dir, "w1"))
		if err == nil && m.Heartbeat.After(first.Heartbeat) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat in 10 s: %+v, %v", m, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.Alive(ctx); err != nil {
		t.Errorf("Alive: %v", err)
	}
	if _, err := Begin(ctx, fs, dir, "w1", time.Minute); err == nil || !strings.Contains(err.Error(), `"w1" is already in use`) || !strings.Contains(err.Error(), fmt.Sprint("pid ", os.Getpid())) {
		t.Errorf("a second write with the same ID: %v", err)
	}
	putMarker(t, fs, dir, marker{WriteID: "w0", process: process{Host: "elsewhere", PID: 4242}, Heartbeat: time.Now()})
	if _, err := Begin(ctx, fs, dir, "w0", time.Minute); err == nil || !strings.Contains(err.Error(), `"w0" is already in use`) || !strings.Contains(err.Error(), "host elsewhere, pid 4242") {
		t.Errorf("a write with the ID of another process's write: %v", err)
	}
	if err := w.End(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(ctx, markerPath(fs, dir, "w1")); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("the marker outlived End: %v", err)
	}
	if why := first.deadReason(self(), time.Now(), time.Minute); why != "its write ended in this process" {
		t.Errorf("a marker of this process's ended write: %q", why)
	}

	w, err = Begin(ctx, fs, dir, "w2", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.RemoveAll(ctx, markerPath(fs, dir, "w2")); err != nil {
		t.Fatal(err)
	}
	err = w.Alive(ctx)
	if err == nil || !strings.Contains(err.Error(), "took the write for dead") {
		t.Errorf("Alive after a cleanup removed the marker: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // heartbeats that must not bring it back
	if _, err := fs.Stat(ctx, markerPath(fs, dir, "w2")); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("the heartbeat brought the removed marker back: %v", err)
	}
	if err := w.End(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestProcessGone: a process of this host that exited is gone, as is one
// whose pid is now another process's; this process is not; another
// host's cannot be asked.
func TestProcessGone(t *testing.T) {
	here := self()
	if here.Start == 0 {
		t.Skip("no /proc: process start times are unknown here")
	}
	if why := here.gone(here); why != "" {
		t.Errorf("this process: %s", why)
	}
	reused := here
	reused.Start++
	if why := reused.gone(here); !strings.Contains(why, "another process's") {
		t.Errorf("a reused pid: %q", why)
	}
	exited := process{Host: here.Host, BootID: here.BootID, PID: exitedPID(t)}
	if why := exited.gone(here); !strings.Contains(why, "has exited") {
		t.Errorf("an exited process: %q", why)
	}
	rebooted := here
	rebooted.BootID = "another-boot"
	if why := rebooted.gone(here); !strings.Contains(why, "restarted") {
		t.Errorf("a process before a reboot: %q", why)
	}
	if why := (process{Host: "elsewhere", PID: 1}).gone(here); why != "" {
		t.Errorf("another host's process: %q", why)
	}
}
