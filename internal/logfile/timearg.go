package logfile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dateLayouts are the dates a since or until value may be, as the docker
// CLI accepts them; those without a zone are local time.
var dateLayouts = []string{
	time.RFC3339Nano,
	time.RFC3339,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02Z07:00",
	"2006-01-02",
}

// ParseTime reads a since or until value as docker logs does: Unix
// seconds with an optional fraction ("1700000000.5"), a date (RFC 3339,
// with or without a zone, or just the day), or a Go duration counted
// back from now ("10m"). Empty and "0" are the zero time (no limit), as
// Docker's API has it.
func ParseTime(v string, now time.Time) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	if t, ok := parseUnix(v); ok {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range dateLayouts {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want Unix seconds, an RFC 3339 date or a duration such as 10m", v)
}

// parseUnix reads "seconds" or "seconds.fraction".
func parseUnix(v string) (time.Time, bool) {
	secs, frac, hasFrac := strings.Cut(v, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || secs == "" || secs[0] == '+' {
		return time.Time{}, false
	}
	var ns int64
	if hasFrac {
		if frac == "" || len(frac) > 9 || strings.ContainsAny(frac, "+-") {
			return time.Time{}, false
		}
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		ns = n
	}
	return time.Unix(s, ns), true
}

// FormatUnix writes t as "seconds.nanoseconds", how a client sends a
// since or until value; zero is "".
func FormatUnix(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// TimestampLayout is how a record's time prefixes its line with
// timestamps: RFC 3339 in UTC with nanoseconds always nine digits, as
// Docker prints them.
const TimestampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Timestamp is the prefix of rec's line with timestamps (the time and a
// space).
func Timestamp(rec Record) string {
	return rec.Time.UTC().Format(TimestampLayout) + " "
}
