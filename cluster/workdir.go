package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A node that makes its own work dir (in the system temp dir) holds a lock
// on WorkDir/owner.lock for as long as its process lives; the kernel drops
// it when the process dies, however it dies. A starting node removes the
// work dirs whose lock it can take: those of nodes killed before they could
// remove their own (each holds a copy of every binary a driver shipped,
// tens of MB). A dir without a lock file is removed once it is older than
// staleWorkDirAge (a node that has only just made it has not locked it yet).

const (
	workDirPrefix   = "shoal-node-"
	ownerLockName   = "owner.lock"
	staleWorkDirAge = time.Minute
)

// newOwnWorkDir makes a work dir in the temp dir and locks it, after
// removing those of dead nodes; the returned file holds the lock.
func newOwnWorkDir(logf func(string, ...any)) (string, *os.File, error) {
	removeDeadWorkDirs(os.TempDir(), logf)
	dir, err := os.MkdirTemp("", workDirPrefix)
	if err != nil {
		return "", nil, err
	}
	lock, err := lockOwner(filepath.Join(dir, ownerLockName))
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, lock, nil
}

// removeDeadWorkDirs removes the node work dirs in tmp whose owner is dead.
func removeDeadWorkDirs(tmp string, logf func(string, ...any)) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), workDirPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		if !ownerDead(dir) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			logf("removing the work dir of a dead node %s: %v", dir, err)
		}
	}
}

// ownerDead says dir's owner no longer runs: its lock can be taken, or it
// has none and the dir is old.
func ownerDead(dir string) bool {
	path := filepath.Join(dir, ownerLockName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if os.IsNotExist(err) {
		info, err := os.Stat(dir)
		return err == nil && time.Since(info.ModTime()) > staleWorkDirAge
	}
	if err != nil {
		return false
	}
	defer f.Close() // closing drops the lock if we took it
	return tryLock(f)
}
