package engine

import (
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// find resolves ref by full ID, then exact name, then unique ID prefix,
// as Docker does.
func find[T any](kind, ref string, items map[string]*T, name func(*T) string) (*T, error) {
	if ref == "" {
		return nil, cnm.Invalid("%s name or ID is required", kind)
	}
	if it, ok := items[ref]; ok {
		return it, nil
	}
	for _, it := range items {
		if name(it) == ref {
			return it, nil
		}
	}
	var found *T
	n := 0
	for id, it := range items {
		if strings.HasPrefix(id, ref) {
			found = it
			n++
		}
	}
	switch n {
	case 0:
		return nil, cnm.NotFound("%s %s not found", kind, ref)
	case 1:
		return found, nil
	default:
		return nil, cnm.Invalid("%s %s is ambiguous (%d matches)", kind, ref, n)
	}
}

func (e *Engine) findNetwork(ref string) (*network, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return find("network", ref, e.networks, func(n *network) string { return n.Name })
}

func (e *Engine) findSandbox(ref string) (*sbox, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return find("sandbox", ref, e.sandboxes, func(s *sbox) string { return s.Name })
}
