//go:build !linux

package cluster

import (
	osexec "os/exec"
	"time"
)

// setDeathSignal does nothing here: no parent-death signal outside Linux.
// A worker still exits when its stdin, held by the node, reaches EOF.
func setDeathSignal(*osexec.Cmd) {}

// isTextBusy: only Linux refuses to run a binary open for writing.
func isTextBusy(error) bool { return false }

// threadCPU cannot be read on this platform: task CPU times stay 0.
func threadCPU() (time.Duration, bool) { return 0, false }
