package operator

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of the container's memory limit the Go heap may grow
// to: the rest is for stacks, the runtime and what the kernel counts against the pod.
const memoryLimitShare = 0.9

// cgroupMemoryFiles hold the container's memory limit: cgroup v2, then v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// SetMemoryLimit gives the Go runtime a soft memory limit of 90% of the container's
// memory limit, unless GOMEMLIMIT says otherwise: the garbage collector then works
// harder as the heap nears the limit instead of letting it double past it, which is
// what keeps a manager holding thousands of tenants inside its pod's limit. It returns
// the limit set, or 0.
func SetMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	for _, f := range cgroupMemoryFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || limit <= 0 || limit >= 1<<60 { // "max", or v1's "unlimited"
			return 0
		}
		soft := SoftMemoryLimit(limit)
		debug.SetMemoryLimit(soft)
		return soft
	}
	return 0
}

// SoftMemoryLimit is the Go memory limit the manager sets in a container whose memory
// limit is limit bytes.
func SoftMemoryLimit(limit int64) int64 {
	return int64(float64(limit) * memoryLimitShare)
}
