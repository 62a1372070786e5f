package suite

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestShoalRSSSeesGrowth: memory touched after the reset shows in the
// growth, memory the process held before, or held and gave back, does
// not. (The race detector's
// shadow memory doubles the growth: the bounds allow for it.)
func TestShoalRSSSeesGrowth(t *testing.T) {
	held := make([]byte, 192<<20)
	for i := 0; i < len(held); i += 4096 {
		held[i] = 1
	}
	// A spike before the run, handed back: the reset must forget it.
	spike := make([]byte, 256<<20)
	for i := 0; i < len(spike); i += 4096 {
		spike[i] = 1
	}
	spike = nil
	mem := startShoalRSS()
	if mem.before < 0 {
		t.Fatal("cannot reset VmHWM (/proc/self/clear_refs)")
	}
	grown := make([]byte, 64<<20)
	for i := 0; i < len(grown); i += 4096 {
		grown[i] = 1
	}
	g := mem.growth()
	if g < 60<<20 || g > 180<<20 {
		t.Errorf("growth %d MB after touching 64 MB (192 MB held before the reset), want 60..180 MB", g>>20)
	}
	_, _ = held[len(held)-1], grown[len(grown)-1]
}

// TestOthersCPU: a busy process this one does not wait for counts as
// another process's CPU.
func TestOthersCPU(t *testing.T) {
	before := sampleCPU()
	if !before.ok {
		t.Fatal("cannot read /proc/stat or getrusage")
	}
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Process.Kill(); _ = busy.Wait() }()
	// Wait (with a deadline) until the child has used 300 ms of CPU.
	const want = 300 * time.Millisecond
	deadline := time.Now().Add(20 * time.Second)
	var used time.Duration
	for used < want {
		if time.Now().After(deadline) {
			t.Fatalf("the busy child used only %v of CPU in 20 s", used)
		}
		time.Sleep(20 * time.Millisecond)
		used = procCPU(t, busy.Process.Pid)
	}
	after := sampleCPU() // before Wait: the child is not yet this process's
	others, wall, ok := after.othersSince(before)
	if !ok || wall <= 0 {
		t.Fatalf("othersSince: ok=%v wall=%v", ok, wall)
	}
	// /proc/stat counts in 10 ms ticks.
	if others < used-30*time.Millisecond {
		t.Errorf("others' CPU %v, want at least the busy child's %v", others, used)
	}
}

// procCPU is the CPU time (user + system) of process pid so far.
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command's closing parenthesis: state is 3rd,
	// utime the 14th and stime the 15th of the whole line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / userHz
}
