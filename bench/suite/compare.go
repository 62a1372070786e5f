package suite

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Tolerance is how closely a key of a workload's answer must agree across
// engines (SPEC.md): 0 for integers (exact), 1e-6 relative for means and
// sums of products or quotients (engines add them in different orders),
// 1e-9 relative for other float sums.
func Tolerance(workload, key string) float64 {
	switch key {
	case "rows", "groups", "sum_count", "batches", "moved", "sum_id", "columns":
		return 0
	case "sum_mean", "sum_y", "sum_fare_per_mile",
		"sum_avg_qty", "sum_avg_price", "sum_avg_disc", "sum_disc_price", "sum_charge", "revenue":
		return 1e-6
	case "first", "last", "probe":
		if workload == SortInt {
			return 0
		}
	}
	return 1e-9
}

// Compare checks got against want (Shoal's answer) key by key and returns
// one line per disagreement (none when they agree).
func Compare(workload string, want, got Answer) []string {
	var out []string
	for _, k := range sortedKeys(want) {
		g, ok := got[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s missing (want %s)", k, fmtNum(want[k])))
			continue
		}
		w := want[k]
		tol := Tolerance(workload, k)
		if !agrees(w, g, tol) {
			rel := math.Abs(g-w) / math.Max(math.Abs(w), math.Abs(g))
			out = append(out, fmt.Sprintf("%s = %s, want %s (rel. diff %.2g > %g)", k, fmtNum(g), fmtNum(w), rel, tol))
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("unexpected key %s = %s", k, fmtNum(got[k])))
		}
	}
	return out
}

func agrees(w, g, tol float64) bool {
	if math.IsNaN(w) || math.IsNaN(g) {
		return math.IsNaN(w) && math.IsNaN(g)
	}
	if tol == 0 {
		return w == g
	}
	if w == g {
		return true
	}
	return math.Abs(g-w) <= tol*math.Max(math.Abs(w), math.Abs(g))
}

func sortedKeys(a Answer) []string {
	ks := make([]string, 0, len(a))
	for k := range a {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func fmtNum(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.15g", x)
}

// FormatAnswer writes an answer as "k=v, ..." in key order.
func FormatAnswer(a Answer) string {
	var parts []string
	for _, k := range sortedKeys(a) {
		parts = append(parts, k+"="+fmtNum(a[k]))
	}
	return strings.Join(parts, ", ")
}
