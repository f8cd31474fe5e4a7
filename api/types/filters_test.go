package types

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

func TestParseFilters(t *testing.T) {
	tests := []struct {
		in   string
		want Filters
		bad  bool
	}{
		{in: "", want: Filters{}},
		{in: `{"name":{"web":true,"db":true}}`, want: Filters{"name": {"db", "web"}}},
		{in: `{"label":["a=b"]}`, want: Filters{"label": {"a=b"}}},
		{in: `["name"]`, bad: true},
	}
	for _, tt := range tests {
		got, err := ParseFilters(tt.in)
		if tt.bad {
			if !errors.Is(err, cnm.ErrInvalid) {
				t.Errorf("%s: err %v, want invalid", tt.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.in, got, err, tt.want)
		}
		back, err := ParseFilters(got.Encode())
		if err != nil || !reflect.DeepEqual(back, tt.want) {
			t.Errorf("%s: encoded and parsed again %v, %v", tt.in, back, err)
		}
	}
}

func TestFilterMatchers(t *testing.T) {
	f := Filters{"name": {"^we"}, "label": {"a=b", "c"}, "dangling": {"true"}}
	if !f.Match("name", "web") || f.Match("name", "db") {
		t.Error("Match")
	}
	if !f.MatchLabels("label", map[string]string{"a": "b", "c": ""}) || f.MatchLabels("label", map[string]string{"a": "x", "c": ""}) {
		t.Error("MatchLabels")
	}
	if b, err := f.Bool("dangling"); err != nil || !b {
		t.Errorf("Bool: %v, %v", b, err)
	}
	if err := f.Validate("name", "label"); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("Validate: %v, want invalid", err)
	}
}

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"24h", now.Add(-24 * time.Hour)},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		{"2026-01-01T00:00:00Z", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := ParseTimestamp(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseTimestamp("yesterday", now); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("yesterday: %v, want invalid", err)
	}
}
