package txlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// process identifies a running process across pid reuse and reboots:
// the host, the kernel's boot ID, the pid and the pid's start time
// (field 22 of /proc/<pid>/stat, in clock ticks since boot). Where /proc
// is missing (not Linux) the boot ID and start time are empty, and only
// heartbeats tell whether a write lives.
type process struct {
	Host   string `json:"host"`
	BootID string `json:"boot_id,omitempty"`
	PID    int    `json:"pid"`
	Start  uint64 `json:"pid_start,omitempty"`
}

// self describes the running process.
func self() process {
	host, _ := os.Hostname()
	p := process{Host: host, PID: os.Getpid()}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		p.BootID = strings.TrimSpace(string(b))
	}
	if start, err := procStart(p.PID); err == nil {
		p.Start = start
	}
	return p
}

// errNoProcess says a pid names no live process (or only a zombie).
var errNoProcess = errors.New("no such process")

// procStart reads a process's start time from /proc/<pid>/stat; an error
// matching errNoProcess when the process is gone or a zombie, another error
// when /proc cannot tell.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat("/proc/self/stat"); serr == nil {
			return 0, errNoProcess
		}
	}
	if err != nil {
		return 0, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	// so the fields are counted from the last ')'. The state is field 3,
	// the start time field 22.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, s)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, s)
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, errNoProcess
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// gone says why the process p is known to have ended, seen from here;
// "" when it may still run (another host, or no /proc to ask).
func (p process) gone(here process) string {
	if p.Host != here.Host {
		return ""
	}
	if p.BootID != "" && here.BootID != "" && p.BootID != here.BootID {
		return fmt.Sprintf("host %s restarted since", p.Host)
	}
	start, err := procStart(p.PID)
	switch {
	case errors.Is(err, errNoProcess):
		return fmt.Sprintf("process %d on %s has exited", p.PID, p.Host)
	case err == nil && p.Start != 0 && start != p.Start:
		return fmt.Sprintf("process %d on %s has exited (the pid is another process's now)", p.PID, p.Host)
	}
	return ""
}
