package ops

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Temporal functions over timestamps (any unit; read in the timestamp's
// time zone when it has one, else as UTC), date32 and date64. Fields are
// computed from day numbers with integer arithmetic (Hinnant's civil
// calendar), not a time.Time per row; a zone's offset is looked up once
// per stretch of time it holds (ZoneBounds), not per row.

// timeParts names the fields year() ... dayofweek() take.
var timeParts = []string{"year", "month", "day", "hour", "minute", "dayofweek"}

func init() {
	partType := timeResult(arrow.PrimitiveTypes.Int64)
	for _, name := range timeParts {
		part := name
		registerFunc(&ScalarFunc{Name: part, MinArgs: 1, MaxArgs: 1, Type: dictAware(partType),
			Eval: columnwise(partType, strictTotal, func(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
				return partKernel(ec, part, args[0], out, n)
			})})
	}
	secType := timeResult(arrow.PrimitiveTypes.Float64)
	registerFunc(&ScalarFunc{Name: "diff_seconds", MinArgs: 2, MaxArgs: 2, Type: dictAware(secType), Eval: columnwise(secType, strictTotal, diffSecondsKernel)})
	dayType := timeResult(arrow.PrimitiveTypes.Int64)
	registerFunc(&ScalarFunc{Name: "diff_days", MinArgs: 2, MaxArgs: 2, Type: dictAware(dayType), Eval: columnwise(dayType, strictTotal, diffDaysKernel)})
}

// timeResult checks that every argument is a timestamp or a date.
func timeResult(out arrow.DataType) func([]arrow.DataType) (arrow.DataType, error) {
	return func(ts []arrow.DataType) (arrow.DataType, error) {
		for _, t := range ts {
			if t.ID() != arrow.NULL && !isTimeType(t) {
				return nil, errNeed("a timestamp or date")
			}
			if tt, ok := t.(*arrow.TimestampType); ok && tt.TimeZone != "" {
				if _, err := zone(tt.TimeZone); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
}

// perSecond is how many of a unit make a second.
var perSecond = [...]int64{arrow.Second: 1, arrow.Millisecond: 1e3, arrow.Microsecond: 1e6, arrow.Nanosecond: 1e9}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// instants is a time argument's values as seconds and nanoseconds since
// the epoch (UTC; a date is its midnight).
func instants(a fnArg) (secs, nanos []int64) {
	n := a.arr.Len()
	secs, nanos = make([]int64, n), make([]int64, n)
	seconds(a, secs, nanos)
	return secs, nanos
}

// seconds fills secs (and nanos, unless nil) with a time argument's
// instants.
func seconds(a fnArg, secs, nanos []int64) {
	switch x := a.arr.(type) {
	case *array.Timestamp:
		per := perSecond[x.DataType().(*arrow.TimestampType).Unit]
		vals := x.TimestampValues()
		// A constant divisor per unit: the compiler turns each division
		// into a multiplication.
		switch per {
		case 1:
			for i, v := range vals {
				secs[i] = int64(v)
			}
		case 1e3:
			for i, v := range vals {
				secs[i] = floorDiv(int64(v), 1e3)
			}
		case 1e6:
			for i, v := range vals {
				secs[i] = floorDiv(int64(v), 1e6)
			}
		default:
			for i, v := range vals {
				secs[i] = floorDiv(int64(v), 1e9)
			}
		}
		if nanos != nil {
			for i, v := range vals {
				nanos[i] = (int64(v) - secs[i]*per) * (1e9 / per)
			}
		}
	case *array.Date32:
		for i, v := range x.Date32Values() {
			secs[i] = int64(v) * 86400
		}
	case *array.Date64:
		for i, v := range x.Date64Values() {
			secs[i] = floorDiv(int64(v), 1000)
			if nanos != nil {
				nanos[i] = (int64(v) - secs[i]*1000) * 1e6
			}
		}
	}
}

// localDays is a time argument's values as days since the epoch and
// seconds into the day, on the wall clock of the timestamp's zone.
func localDays(a fnArg) (days, secOfDay []int64, err error) {
	secs := make([]int64, a.arr.Len())
	seconds(a, secs, nil)
	if ts, ok := a.arr.DataType().(*arrow.TimestampType); ok && ts.TimeZone != "" {
		loc, err := zone(ts.TimeZone)
		if err != nil {
			return nil, nil, err
		}
		shiftToZone(secs, loc)
	}
	days = make([]int64, len(secs))
	for i, s := range secs {
		days[i] = floorDiv(s, 86400)
		secs[i] = s - days[i]*86400
	}
	return days, secs, nil
}

// zones caches loaded time zones: a zone is checked at plan time and for
// every block, and loading one reads the zone database.
var zones sync.Map // name -> *time.Location

// zone is an arrow time zone: a name from the zone database or a fixed
// offset "+05:30".
func zone(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := loadZone(name)
	if err == nil {
		zones.Store(name, loc)
	}
	return loc, err
}

func loadZone(name string) (*time.Location, error) {
	if len(name) == 6 && (name[0] == '+' || name[0] == '-') && name[3] == ':' {
		h, errH := strconv.Atoi(name[1:3])
		m, errM := strconv.Atoi(name[4:])
		if errH == nil && errM == nil {
			off := h*3600 + m*60
			if name[0] == '-' {
				off = -off
			}
			return time.FixedZone(name, off), nil
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}

// shiftToZone adds loc's UTC offset to each instant (seconds). Instants
// in the years the zone's offset table covers find their offset by binary
// search; others look it up once per run of instants in one stretch.
func shiftToZone(secs []int64, loc *time.Location) {
	tab := offsetTable(loc)
	var from, to int64 = 1, 0 // empty: the first instant outside looks up
	var off int64
	for i, s := range secs {
		if s >= tab.starts[0] && s < tab.end {
			j, found := slices.BinarySearch(tab.starts, s)
			if !found {
				j--
			}
			secs[i] = s + tab.offs[j]
			continue
		}
		if s < from || s >= to {
			off, from, to = zoneAt(s, loc)
		}
		secs[i] = s + off
	}
}

// zoneTable is a zone's UTC offsets over [starts[0], end): offs[j] holds
// from starts[j] to starts[j+1].
type zoneTable struct {
	starts, offs []int64
	end          int64
}

// tableSpan is the instants offset tables cover: 1800 to 2200. Building one
// takes a few milliseconds (the rules past the zone database's last
// transition are parsed on each lookup), once per zone and process.
var tableSpan = [2]int64{-5364662400, 7258118400}

var zoneTables sync.Map // *time.Location -> *zoneTable

func offsetTable(loc *time.Location) *zoneTable {
	if t, ok := zoneTables.Load(loc); ok {
		return t.(*zoneTable)
	}
	t := &zoneTable{end: tableSpan[0]}
	for t.end < tableSpan[1] {
		off, _, end := zoneAt(t.end, loc)
		if end <= t.end {
			// Past the zone database's last transition Go's ZoneBounds can
			// answer an empty stretch at a year's end; the offset a day
			// later, if the same, tells where the stretch ends.
			next, _, end2 := zoneAt(t.end+86400, loc)
			if next != off || end2 <= t.end+86400 {
				break // leave the rest to lookups
			}
			end = end2
		}
		t.starts, t.offs = append(t.starts, t.end), append(t.offs, off)
		t.end = end
	}
	if len(t.starts) == 0 {
		t.starts = []int64{math.MaxInt64}
	}
	zoneTables.Store(loc, t)
	return t
}

// zoneAt is loc's offset at instant s (seconds) and the stretch [from, to)
// it holds for.
func zoneAt(s int64, loc *time.Location) (off, from, to int64) {
	t := time.Unix(s, 0).In(loc)
	_, o := t.Zone()
	start, end := t.ZoneBounds()
	from, to = math.MinInt64, math.MaxInt64
	if !start.IsZero() {
		from = start.Unix()
	}
	if !end.IsZero() {
		to = end.Unix()
	}
	return int64(o), from, to
}

// civil is the proleptic Gregorian date of a day number (days since
// 1970-01-01), by Howard Hinnant's days-to-civil algorithm.
func civil(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := uint64(z - era*146097) // in [0, 146096]: unsigned divisions are cheaper
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int64(doy - (153*mp+2)/5 + 1)
	m = int64(mp) + 3
	if mp >= 10 {
		m = int64(mp) - 9
	}
	y = int64(yoe) + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// partKernel extracts one field. dayofweek is DuckDB's: 0 for Sunday to
// 6 for Saturday.
func partKernel(ec *evalCtx, part string, a fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	days, sod, err := localDays(a)
	if err != nil {
		return nil, err
	}
	buf, vals := newFixed[int64](ec.mem, n)
	switch part {
	case "hour":
		for i := range vals {
			vals[i] = sod[a.at(i)] / 3600
		}
	case "minute":
		for i := range vals {
			vals[i] = sod[a.at(i)] % 3600 / 60
		}
	case "dayofweek": // 1970-01-01 was a Thursday
		for i := range vals {
			vals[i] = (days[a.at(i)]%7 + 11) % 7
		}
	case "year":
		for i := range vals {
			vals[i], _, _ = civil(days[a.at(i)])
		}
	case "month":
		for i := range vals {
			_, vals[i], _ = civil(days[a.at(i)])
		}
	default:
		for i := range vals {
			_, _, vals[i] = civil(days[a.at(i)])
		}
	}
	return makeFixed(out, n, buf, argValidity(ec.mem, n, a)), nil
}

// diffSecondsKernel is a - b in seconds, with fractions.
func diffSecondsKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	as, an := instants(args[0])
	bs, bn := instants(args[1])
	buf, vals := newFixed[float64](ec.mem, n)
	for i := range vals {
		j, k := args[0].at(i), args[1].at(i)
		vals[i] = float64(as[j]) - float64(bs[k]) + float64(an[j]-bn[k])/1e9
	}
	return makeFixed(out, n, buf, argValidity(ec.mem, n, args...)), nil
}

// diffDaysKernel is the calendar days from b's date to a's, each on its
// own zone's wall clock, as DuckDB's date_diff('day', b, a).
func diffDaysKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	ad, _, err := localDays(args[0])
	if err != nil {
		return nil, err
	}
	bd, _, err := localDays(args[1])
	if err != nil {
		return nil, err
	}
	buf, vals := newFixed[int64](ec.mem, n)
	for i := range vals {
		vals[i] = ad[args[0].at(i)] - bd[args[1].at(i)]
	}
	return makeFixed(out, n, buf, argValidity(ec.mem, n, args...)), nil
}
