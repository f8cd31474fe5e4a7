package types

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

// Filters are Docker's list filters: key → accepted values.
type Filters map[string][]string

// ParseFilters decodes the filters query parameter, in the current form
// {"k":{"v":true}} or the legacy {"k":["v"]}.
func ParseFilters(s string) (Filters, error) {
	f := Filters{}
	if s == "" {
		return f, nil
	}
	var cur map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &cur); err == nil {
		for k, vs := range cur {
			f[k] = []string{}
			for _, v := range slices.Sorted(maps.Keys(vs)) {
				f[k] = append(f[k], v)
			}
		}
		return f, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(s), &legacy); err != nil {
		return nil, cnm.Invalid("invalid filters %q: want {\"key\":{\"value\":true}}", s)
	}
	return legacy, nil
}

// Encode renders filters in the current JSON form.
func (f Filters) Encode() string {
	m := map[string]map[string]bool{}
	for k, vs := range f {
		m[k] = map[string]bool{}
		for _, v := range vs {
			m[k][v] = true
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Validate refuses keys outside accepted, as Docker does.
func (f Filters) Validate(accepted ...string) error {
	for _, k := range slices.Sorted(maps.Keys(f)) {
		if !slices.Contains(accepted, k) {
			return cnm.Invalid("invalid filter '%s'", k)
		}
	}
	return nil
}

// Match reports whether any value matches s exactly or as an unanchored
// regular expression (Docker's Args.Match, used for names and IDs).
func (f Filters) Match(key, s string) bool {
	for _, v := range f[key] {
		if v == s {
			return true
		}
		if ok, err := regexp.MatchString(v, s); err == nil && ok {
			return true
		}
	}
	return false
}

// MatchLabels reports whether every label filter ("k" or "k=v") holds
// for labels (Docker's MatchKVList: all must match).
func (f Filters) MatchLabels(key string, labels map[string]string) bool {
	for _, v := range f[key] {
		k, want, hasVal := strings.Cut(v, "=")
		got, has := labels[k]
		if !has || (hasVal && got != want) {
			return false
		}
	}
	return true
}

// Bool reads a filter that takes one boolean ("true"/"1" or
// "false"/"0").
func (f Filters) Bool(key string) (bool, error) {
	vals := f[key]
	if len(vals) != 1 {
		return false, cnm.Invalid("got more than one value for filter key %q", key)
	}
	switch vals[0] {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, cnm.Invalid("invalid value for filter '%s', must be \"true\" (or \"1\"), or \"false\" (or \"0\")", key)
}

// ParseTimestamp reads Docker's time filter values: a Go duration
// meaning that long before now ("24h", "90m"), Unix seconds with an
// optional fraction, or an RFC 3339 date or date-time.
func ParseTimestamp(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(v, "."); ok || sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			var ns int64
			if ok {
				f, err := strconv.ParseFloat("0."+frac, 64)
				if err != nil {
					return time.Time{}, cnm.Invalid("invalid timestamp %q", v)
				}
				ns = int64(f * 1e9)
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, cnm.Invalid("invalid timestamp %q: want a duration (24h), Unix seconds or an RFC 3339 time", v)
}
