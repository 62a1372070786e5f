//go:build !linux

package exec

import "time"

// threadCPU cannot be read on this platform: task CPU times stay 0.
func threadCPU() (time.Duration, bool) { return 0, false }
