package formats

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// A timestamp column of a large CSV file parses millions of values, and
// time.Parse (with the copy parseTimestampText makes to canonicalize a
// space or a missing zone) was 7% of a CSV → Parquet conversion. The
// shapes nearly every file uses are parsed here by hand; anything else
// (and any field out of range) goes to parseTimestampText, so both agree
// on every value this accepts (TestFastTimestampAgrees).

// fastTimestamp parses YYYY-MM-DD, 'T' or a space, hh:mm:ss, an optional
// fraction of 1 to 9 digits and an optional "Z" or ±hh:mm (none: UTC),
// to seconds and nanoseconds since the epoch.
func fastTimestamp(s []byte) (sec, nsec int64, ok bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return 0, 0, false
	}
	year, ok1 := digitsN(s[0:4])
	month, ok2 := digitsN(s[5:7])
	day, ok3 := digitsN(s[8:10])
	hour, ok4 := digitsN(s[11:13])
	minute, ok5 := digitsN(s[14:16])
	second, ok6 := digitsN(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || year < 1 || year > 9998 || month < 1 || month > 12 ||
		day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || second > 59 {
		return 0, 0, false
	}
	rest := s[19:]
	n := fractionLen(rest)
	if n < 0 {
		return 0, 0, false
	}
	if n > 0 {
		frac, _ := digitsN(rest[1:n])
		for range 10 - n {
			frac *= 10
		}
		nsec = frac
		rest = rest[n:]
	}
	var offset int64
	switch {
	case len(rest) == 0 || len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digitsN(rest[1:3])
		om, okm := digitsN(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, 0, false
	}
	sec = daysFromCivil(year, month, day)*86400 + hour*3600 + minute*60 + second - offset
	return sec, nsec, true
}

// fractionLen is the length of the fraction of seconds rest starts with,
// its '.' included: 0 when there is none, -1 when it has no digit or more
// than nine.
func fractionLen[S ~string | ~[]byte](rest S) int {
	if len(rest) == 0 || rest[0] != '.' {
		return 0
	}
	n := 1
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 1 || n > 10 {
		return -1
	}
	return n
}

// digitsN reads an unsigned decimal of only digits.
func digitsN(b []byte) (int64, bool) {
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the days from 1970-01-01 to a proleptic Gregorian
// date (Howard Hinnant's algorithm), for years from 1.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// parseTimestampUnit parses s (as parseTimestampText does without
// strictness) to a timestamp of unit.
func parseTimestampUnit(s []byte, unit arrow.TimeUnit) (arrow.Timestamp, bool) {
	if sec, nsec, ok := fastTimestamp(s); ok {
		if ts, err := arrow.TimestampFromTime(time.Unix(sec, nsec), unit); err == nil {
			return ts, true
		}
		return 0, false
	}
	tm, ok := parseTimestampText(bytesView(s), false)
	if !ok {
		return 0, false
	}
	ts, err := arrow.TimestampFromTime(tm, unit)
	return ts, err == nil
}

// timeGuess collects whether the sampled text values of a column (CSV
// fields, JSON strings) could all be dates or timestamps. Its zero value
// has seen nothing and rules nothing out.
type timeGuess struct {
	notDate, notTS, notNaiveTS bool // notTS: not a timestamp with a zone
}

// notTime is a guess that rules every time type out.
var notTime = timeGuess{true, true, true}

// observe narrows the guess by one value.
func (g *timeGuess) observe(s string) {
	if g.notDate && g.notTS && g.notNaiveTS {
		return
	}
	if _, ok := parseDateText(s); ok {
		return // a date is midnight to a timestamp column too
	}
	g.notDate = true
	if !g.notTS || !g.notNaiveTS {
		zoned, ok := timestampShape(s)
		g.notTS = g.notTS || !ok || !zoned
		g.notNaiveTS = g.notNaiveTS || !ok || zoned
	}
}

// typ is the time type every value observed fits, or nil.
func (g *timeGuess) typ() arrow.DataType {
	switch {
	case !g.notDate:
		return arrow.FixedWidthTypes.Date32
	case !g.notTS:
		return timestampUTCus
	case !g.notNaiveTS:
		return timestampNaiveUs
	}
	return nil
}
