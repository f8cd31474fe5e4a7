package api

import (
	"encoding/json"
	"strings"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
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
			for v := range vs {
				f[k] = append(f[k], v)
			}
		}
		return f, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(s), &legacy); err != nil {
		return nil, cnm.Invalid("invalid filters %q: %v", s, err)
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

// MatchNetwork reports whether a network passes every filter: within a
// key any value may match, across keys all must.
func (f Filters) MatchNetwork(n engine.NetworkInfo) (bool, error) {
	for key, vals := range f {
		ok := false
		for _, v := range vals {
			switch key {
			case "name":
				ok = ok || strings.Contains(n.Name, v)
			case "id":
				ok = ok || strings.HasPrefix(n.ID, v)
			case "driver":
				ok = ok || n.Driver == v
			case "scope":
				ok = ok || n.Scope == v
			case "label":
				k, want, hasVal := strings.Cut(v, "=")
				got, has := n.Labels[k]
				ok = ok || (has && (!hasVal || got == want))
			case "type":
				switch v {
				case "custom":
					ok = ok || !n.Builtin
				case "builtin":
					ok = ok || n.Builtin
				default:
					return false, cnm.Invalid("invalid filter 'type=%s': want custom or builtin", v)
				}
			case "dangling":
				ok = ok || (v == "true") == (len(n.Endpoints) == 0 && !n.Builtin)
			default:
				return false, cnm.Invalid("invalid filter %q", key)
			}
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}
