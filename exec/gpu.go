package exec

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// DetectGPUs lists the GPUs this process may use, as device indices. When
// CUDA_VISIBLE_DEVICES is set it decides (its entries are renumbered from
// 0, as CUDA does; "" or "-1" means none); otherwise nvidia-smi is asked.
// No nvidia-smi on the PATH means no GPUs, not an error; an nvidia-smi
// that fails or prints something unexpected is an error.
func DetectGPUs(ctx context.Context) ([]int, error) {
	if v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES"); ok {
		return visibleDevices(v), nil
	}
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--query-gpu=index", "--format=csv,noheader,nounits").Output()
	if err != nil {
		return nil, fmt.Errorf("exec: detect GPUs: %s: %w", path, err)
	}
	return parseGPUIndices(string(out))
}

func visibleDevices(v string) []int {
	v = strings.TrimSpace(v)
	if v == "" || v == "-1" || strings.EqualFold(v, "NoDevFiles") {
		return nil
	}
	var ids []int
	for i, f := range strings.Split(v, ",") {
		if strings.TrimSpace(f) == "-1" {
			break // CUDA ignores this entry and everything after it
		}
		ids = append(ids, i)
	}
	return ids
}

func parseGPUIndices(out string) ([]int, error) {
	var ids []int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		id, err := strconv.Atoi(line)
		if err != nil {
			return nil, fmt.Errorf("exec: detect GPUs: nvidia-smi printed %q, want a device index per line", line)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
