//go:build !unix

package cluster

import "os"

// lockOwner creates path; without flock there is no lock, so dead nodes'
// dirs are left alone (tryLock never succeeds).
func lockOwner(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

func tryLock(*os.File) bool { return false }
