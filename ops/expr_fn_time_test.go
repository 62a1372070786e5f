package ops

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// timeFn applies f to a non-null time (in the column's zone).
func timeFn(col string, f func(time.Time) int64) func(map[string]any) any {
	return func(r map[string]any) any {
		if r[col] == nil {
			return nil
		}
		return f(r[col].(time.Time))
	}
}

// midnight is the calendar date of t (on its own clock) as midnight UTC.
func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func TestTimeParts(t *testing.T) {
	parts := map[string]func(time.Time) int64{
		"year":      func(t time.Time) int64 { return int64(t.Year()) },
		"month":     func(t time.Time) int64 { return int64(t.Month()) },
		"day":       func(t time.Time) int64 { return int64(t.Day()) },
		"hour":      func(t time.Time) int64 { return int64(t.Hour()) },
		"minute":    func(t time.Time) int64 { return int64(t.Minute()) },
		"dayofweek": func(t time.Time) int64 { return int64(t.Weekday()) }, // Sunday is 0, as DuckDB
	}
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		for _, col := range []string{"ts", "tsz", "tsn", "d32", "d64"} {
			for part, f := range parts {
				checkFn(t, mem, b, Call(part, Col(col)), timeFn(col, f))
			}
		}
	})
	moment := time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC) // a Sunday
	for part, want := range map[string]int64{"year": 1969, "month": 7, "day": 20, "hour": 20, "minute": 17, "dayofweek": 0} {
		checkConst(t, Call(part, moment), want)
	}
	checkConst(t, Call("year", nil), nil)
	for z := int64(-800000); z < 800000; z += 997 { // the civil calendar, far both sides of 1970
		y, m, d := civil(z)
		want := time.Unix(z*86400, 0).UTC()
		if y != int64(want.Year()) || m != int64(want.Month()) || d != int64(want.Day()) {
			t.Fatalf("civil(%d) = %d-%d-%d, want %s", z, y, m, d, want)
		}
	}
}

// TestShiftToZone checks the offset table against time.In over instants
// from 1700 to 2300 (beyond the table both ways) in zones north and south
// of the equator, without daylight saving, and fixed.
func TestShiftToZone(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, name := range []string{"America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "UTC", "-03:30"} {
		loc, err := zone(name)
		if err != nil {
			t.Fatal(err)
		}
		secs := make([]int64, 20000)
		for i := range secs {
			secs[i] = rng.Int64N(600*365*86400) - 270*365*86400
		}
		got := slices.Clone(secs)
		shiftToZone(got, loc)
		for i, s := range secs {
			_, off := time.Unix(s, 0).In(loc).Zone()
			if got[i] != s+int64(off) {
				t.Fatalf("%s at %s: offset %d, want %d", name, time.Unix(s, 0).UTC(), got[i]-s, off)
			}
		}
	}
}

func TestTimeDiffs(t *testing.T) {
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		cols := []string{"ts", "tsz", "tsn", "d32", "d64"}
		for _, x := range cols {
			for _, y := range cols {
				checkFn(t, mem, b, Call("diff_seconds", Col(x), Col(y)), func(r map[string]any) any {
					if r[x] == nil || r[y] == nil {
						return nil
					}
					a, c := r[x].(time.Time), r[y].(time.Time)
					// Whole seconds and the nanoseconds apart, as exact as float64 allows.
					return float64(a.Unix()) - float64(c.Unix()) + float64(a.Nanosecond()-c.Nanosecond())/1e9
				})
				checkFn(t, mem, b, Call("diff_days", Col(x), Col(y)), func(r map[string]any) any {
					if r[x] == nil || r[y] == nil {
						return nil
					}
					return int64(midnight(r[x].(time.Time)).Sub(midnight(r[y].(time.Time))).Hours() / 24)
				})
			}
		}
		at := time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC)
		checkFn(t, mem, b, Call("diff_days", at, Col("d32")), func(r map[string]any) any {
			if r["d32"] == nil {
				return nil
			}
			return int64(midnight(at).Sub(r["d32"].(time.Time)).Hours() / 24)
		})
	})
	a := time.Date(2024, 3, 1, 0, 0, 1, 500_000_000, time.UTC)
	c := time.Date(2024, 2, 28, 23, 59, 59, 0, time.UTC)
	checkConst(t, Call("diff_seconds", a, c), a.Sub(c).Seconds())
	checkConst(t, Call("diff_days", a, c), int64(2)) // calendar days, as DuckDB's date_diff('day')
	checkConst(t, Call("diff_days", c, a), int64(-2))
}

func TestTimeErrors(t *testing.T) {
	checkTypeError(t, Call("year", Col("s")), "needs a timestamp or date")
	checkTypeError(t, Call("diff_days", Col("ts"), Col("i")), "column i is int64")
	checkTypeError(t, Call("hour", Col("ts"), Col("ts")), "hour takes 1 arguments, not 2")
	mars := arrow.NewSchema([]arrow.Field{{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Mars/Olympus"}}}, nil)
	if _, err := Call("hour", Col("t")).DataType(mars); err == nil || !strings.Contains(err.Error(), `time zone "Mars/Olympus"`) {
		t.Fatalf("hour over a timestamp in an unknown zone: error %v, want one naming the zone", err)
	}
}

func TestTimeRoundTrip(t *testing.T) {
	checkRoundTrip(t, Call("year", Col("tsz")).Mul(100).Add(Call("month", Col("d64"))))
	checkRoundTrip(t, Call("diff_seconds", Col("ts"), time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)))
	checkRoundTrip(t, Call("dayofweek", Col("d32")).Eq(0))
}
