package suite

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/shoal-data/shoal/bench/internal/measure"
	"github.com/shoal-data/shoal/bench/peers"
)

// Machine describes where a report was measured.
type Machine struct {
	CPU      string // model name from /proc/cpuinfo
	Cores    int    // runtime.NumCPU
	MemBytes int64  // MemTotal from /proc/meminfo
	OS       string
	Go       string
	Arrow    string            // arrow-go module version
	Node     string            // node --version, "" when absent
	Engines  map[string]string // engine → package version (installed peers)
}

// peerPackages are the npm packages whose versions the report names.
var peerPackages = map[string]string{"duckdb": "@duckdb/node-api", "polars": "nodejs-polars"}

// DescribeMachine gathers the machine's description.
func DescribeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), Engines: map[string]string{}}
	m.CPU = measure.CPUModel()
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					m.MemBytes = kb << 10
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", Linux " + strings.TrimSpace(string(b))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/apache/arrow-go/v18" {
				m.Arrow = dep.Version
			}
		}
	}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		m.Node = strings.TrimSpace(string(out))
	}
	for _, e := range peers.Engines {
		if v := packageVersion(peerPackages[e]); v != "" {
			m.Engines[e] = v
		}
	}
	return m
}

// packageVersion reads the version of an installed npm package under
// bench/peers/node_modules, "" when it is not installed.
func packageVersion(pkg string) string {
	if pkg == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(peers.Dir(), "node_modules", pkg, "package.json"))
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	return p.Version
}

func (m Machine) memString() string {
	if m.MemBytes == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(m.MemBytes)/(1<<30))
}
