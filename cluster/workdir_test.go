package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestDeadNodesWorkDirsRemoved: a starting node removes the work dir of a
// node whose process died holding its lock (here a child process killed
// with SIGKILL), and of one without a lock file that is old, but keeps a
// live node's and a fresh one's.
func TestDeadNodesWorkDirsRemoved(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock on windows: dead nodes' dirs stay (documented)")
	}
	tmp := t.TempDir()
	mk := func(name string) string {
		dir := filepath.Join(tmp, workDirPrefix+name)
		if err := os.MkdirAll(filepath.Join(dir, "binaries"), 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	live := mk("live")
	lock, err := lockOwner(filepath.Join(live, ownerLockName))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()

	// A process that takes the lock (flock(1) without forking: the process
	// we kill is the holder), then is killed.
	dead := mk("dead")
	cmd := exec.Command("flock", "--no-fork", "--exclusive", filepath.Join(dead, ownerLockName), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting flock(1): %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f, err := os.OpenFile(filepath.Join(dead, ownerLockName), os.O_RDWR, 0); err == nil {
			held := !tryLock(f)
			f.Close()
			if held {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("flock(1) never took the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// While it lives, its dir stays.
	removeDeadWorkDirs(tmp, t.Logf)
	if _, err := os.Stat(dead); err != nil {
		t.Fatalf("a live owner's dir was removed: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	old, fresh := mk("old"), mk("fresh")
	past := time.Now().Add(-2 * staleWorkDirAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	removeDeadWorkDirs(tmp, t.Logf)
	for dir, want := range map[string]bool{live: true, dead: false, old: false, fresh: true} {
		_, err := os.Stat(dir)
		if got := err == nil; got != want {
			t.Errorf("%s exists %v, want %v", filepath.Base(dir), got, want)
		}
	}
}
