package api

import (
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// The filters the server applies to engine objects; parsing and the
// generic matchers live with the Filters type in api/types.

// networkFilterKeys are the filters GET /networks accepts.
var networkFilterKeys = []string{"dangling", "driver", "id", "label", "name", "scope", "type"}

// checkNetworkFilters refuses network filters Docker refuses: unknown
// keys, a type other than custom or builtin, a dangling value that is
// not one boolean.
func checkNetworkFilters(f types.Filters) error {
	if err := f.Validate(networkFilterKeys...); err != nil {
		return err
	}
	for _, v := range f["type"] {
		if v != "custom" && v != "builtin" {
			return cnm.Invalid("invalid filter: 'type'='%s'", v)
		}
	}
	if _, ok := f["dangling"]; ok {
		if _, err := f.Bool("dangling"); err != nil {
			return err
		}
	}
	return nil
}

// matchNetwork reports whether a network passes every filter, with
// Docker's rules: name and id match as unanchored regular expressions,
// driver and scope exactly, every label filter must hold, type is custom
// or builtin, dangling selects networks without endpoints (never the
// built-in ones) or, false, the others.
func matchNetwork(f types.Filters, n engine.NetworkInfo) (bool, error) {
	if err := checkNetworkFilters(f); err != nil {
		return false, err
	}
	_, checkDangling := f["dangling"]
	dangling, _ := f.Bool("dangling")
	switch {
	case len(f["driver"]) > 0 && !slices.Contains(f["driver"], n.Driver),
		len(f["name"]) > 0 && !f.Match("name", n.Name),
		len(f["id"]) > 0 && !f.Match("id", n.ID),
		len(f["label"]) > 0 && !f.MatchLabels("label", n.Labels),
		len(f["scope"]) > 0 && !slices.Contains(f["scope"], n.Scope),
		checkDangling && dangling != (len(n.Endpoints) == 0 && !n.Builtin):
		return false, nil
	}
	if kinds := f["type"]; len(kinds) > 0 {
		want := "custom"
		if n.Builtin {
			want = "builtin"
		}
		return slices.Contains(kinds, want), nil
	}
	return true, nil
}

// pruneMatcher returns the test POST /networks/prune applies: "until"
// (a time or a duration before now) keeps networks created after it,
// "label" filters must all hold and "label!" filters must all fail.
func pruneMatcher(f types.Filters, now time.Time) (func(engine.NetworkInfo) bool, error) {
	if err := f.Validate("until", "label", "label!"); err != nil {
		return nil, err
	}
	var until time.Time
	if vals := f["until"]; len(vals) > 0 {
		if len(vals) > 1 {
			return nil, cnm.Invalid("more than one until filter specified")
		}
		t, err := types.ParseTimestamp(vals[0], now)
		if err != nil {
			return nil, err
		}
		until = t
	}
	return func(n engine.NetworkInfo) bool {
		if !until.IsZero() && n.Created.After(until) {
			return false
		}
		if !f.MatchLabels("label", n.Labels) {
			return false
		}
		for _, v := range f["label!"] {
			k, want, hasVal := strings.Cut(v, "=")
			if got, has := n.Labels[k]; has && (!hasVal || got == want) {
				return false
			}
		}
		return true
	}, nil
}
