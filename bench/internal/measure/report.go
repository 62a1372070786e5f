package measure

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// The helpers of the commands' headers and tables, so that every command
// prints the same quantities the same way.

// CPUModel is the CPU's model name from /proc/cpuinfo (the first "model
// name" line), "" where it cannot be read or names none: the headers and
// reports name the machine so that figures from two machines are not
// compared by mistake.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// GoLine is the header line that says where a command runs: Go version,
// GOOS/GOARCH, NumCPU and what GOMAXPROCS is (procs).
func GoLine(procs string) string {
	return fmt.Sprintf("go %s, GOOS/GOARCH %s/%s, NumCPU %d, GOMAXPROCS %s",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), procs)
}

// MB formats a byte count in decimal megabytes, one decimal ("60.7 MB").
func MB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// Table is the writer of the commands' tables: cells end with a tab, and
// columns are aligned right with at least two spaces between them. Flush
// it after the last row.
func Table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

// Ms formats a duration in milliseconds with one decimal, from whole
// microseconds ("213.3").
func Ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1e3) }

// Ratio is the ratio cell of a table row: "(base)" on the baseline's own
// row, the ratio to the baseline as "1.04x" on the others.
func Ratio(baseline bool, ratio float64) string {
	if baseline {
		return "(base)"
	}
	return fmt.Sprintf("%.2fx", ratio)
}
