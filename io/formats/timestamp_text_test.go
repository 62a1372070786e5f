package formats

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestFastTimestampAgrees: every text the fast parser accepts, the
// general one accepts too, to the same instant; over random texts of the
// common shapes, out-of-range fields, leap days and offsets included.
func TestFastTimestampAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	accepted := 0
	for range 200_000 {
		s := fmt.Sprintf("%04d-%02d-%02d%s%02d:%02d:%02d%s%s",
			[]int{0, 1, 1677, 1969, 1970, 2000, 2023, 2024, 2100, 2262, 9998, 9999}[rng.IntN(12)]+rng.IntN(2),
			rng.IntN(14), rng.IntN(33), pick("T", " ", "t", "_"), rng.IntN(26), rng.IntN(62), rng.IntN(62),
			pick("", ".5", ".123456", ".123456789", ".1234567891", ".", ".x"),
			pick("", "Z", "z", "+02:00", "-05:30", "+23:59", "+24:00", "-00:60", "+0200", "+02:0x"))
		sec, nsec, ok := fastTimestamp([]byte(s))
		tm, slowOK := parseTimestampText(s, false)
		if !ok {
			continue
		}
		accepted++
		if !slowOK {
			t.Fatalf("%q: fast parser accepts (%d, %d), parseTimestampText refuses", s, sec, nsec)
		}
		if tm.Unix() != sec || int64(tm.Nanosecond()) != nsec {
			t.Fatalf("%q: fast %d.%09d, parseTimestampText %d.%09d", s, sec, nsec, tm.Unix(), tm.Nanosecond())
		}
	}
	if accepted < 10_000 {
		t.Errorf("only %d texts took the fast path", accepted)
	}
	for _, s := range []string{"2024-02-29 12:00:00", "2023-02-28T23:59:59.999999999Z", "1970-01-01 00:00:00", "2024-01-05 13:22:10+02:00"} {
		if _, _, ok := fastTimestamp([]byte(s)); !ok {
			t.Errorf("%q: not on the fast path", s)
		}
	}
	for _, s := range []string{"2023-02-29 12:00:00", "2024-01-05 24:00:00", "2024-13-01 00:00:00", "2024-01-05T13:22:10+0200"} {
		if _, _, ok := fastTimestamp([]byte(s)); ok {
			t.Errorf("%q: accepted", s)
		}
	}
}
