// Package tmpfs mounts small tmpfs filesystems for tests that need a real
// full disk: a write past the size fails with ENOSPC, as on a full disk.
package tmpfs

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/shoal-data/shoal/internal/ci"
)

// Mount mounts a tmpfs of the given size on a new directory and unmounts
// it when the test ends. Mounting needs root (scripts/test runs as root):
// where it fails, the test is skipped, or failed under CI (ci.Missing).
func Mount(t testing.TB, bytes int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", bytes), "tmpfs", dir).CombinedOutput()
	if err != nil {
		ci.Missing(t, fmt.Sprintf("cannot mount a tmpfs on %s (needs root, as scripts/test runs): %v: %s", dir, err, out))
	}
	// Registered after TempDir's removal, so it runs before it.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
