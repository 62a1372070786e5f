//go:build linux

package cluster

import (
	"errors"
	osexec "os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setDeathSignal has the kernel kill the worker when the node dies, even by
// kill -9. (It fires when the thread that started the worker exits; Go ends
// threads only under goroutines locked to them, which the node does not
// start workers from. The worker's stdin reaching EOF is the fallback.)
func setDeathSignal(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// isTextBusy reports whether starting a binary failed because it is still
// open for writing somewhere.
func isTextBusy(err error) bool { return errors.Is(err, syscall.ETXTBSY) }

// threadCPU is the CPU time of the calling OS thread; ok is false where it
// cannot be read.
func threadCPU() (d time.Duration, ok bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
