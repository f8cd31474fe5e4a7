package archtest

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// rule forbids importing a library (or a package tree) outside the
// packages that own it.
type rule struct {
	// imports are import paths; each also covers the packages below it.
	imports []string
	// in are the module packages the rule applies to ("x/..." is x and
	// everything below); empty means every package of the module.
	in []string
	// allowed are the packages exempt from it.
	allowed []string
	why     string
}

var rules = []rule{
	{
		imports: []string{"github.com/vishvananda/netlink", "github.com/vishvananda/netns"},
		// internal/testplugin is a network plugin written for the tests:
		// a separate process that, like any plugin, makes its own links.
		allowed: []string{"internal/nl", "internal/netnstest", "sandbox", "driver", "driver/drivertest", "drivers/...", "firewall", "internal/testplugin/..."},
		why:     "netlink and netns are used only by internal/nl, internal/netnstest, sandbox, driver, driver/drivertest, drivers/*, firewall and the test plugin",
	},
	{
		imports: []string{"github.com/google/nftables"},
		allowed: []string{"firewall"},
		why:     "nftables is used only by firewall",
	},
	{
		imports: []string{"go.etcd.io/bbolt"},
		allowed: []string{"store"},
		why:     "bbolt is used only by store",
	},
	{
		imports: []string{"go.etcd.io/etcd"},
		allowed: []string{"store/etcd", "internal/etcdtest/..."},
		why:     "etcd is used only by store/etcd (and internal/etcdtest, its test server); the rest sees cluster.Store",
	},
	{
		imports: []string{"github.com/docker/go-plugins-helpers"},
		allowed: []string{"internal/testplugin/helpersplugin"},
		why:     "go-plugins-helpers is a test dependency: only the test plugin written with it (internal/testplugin/helpersplugin) uses it",
	},
	{
		imports: []string{Module + "/drivers"},
		in:      []string{"engine/..."},
		why:     "the engine names no concrete driver; daemon/ registers them",
	},
}

// exception lets one package keep one forbidden import for now.
type exception struct {
	pkg, imports string
}

// temporaryExceptions are known breaches being removed. The test fails
// when one is no longer needed, so the list only shrinks.
var temporaryExceptions = []exception{}

// under reports whether path is prefix or a package below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// matches reports whether a module-relative package matches a pattern
// ("x" or "x/...").
func matches(rel string, patterns []string) bool {
	for _, p := range patterns {
		if base, ok := strings.CutSuffix(p, "/..."); ok {
			if under(rel, base) {
				return true
			}
		} else if rel == p {
			return true
		}
	}
	return false
}

func listModule(t *testing.T) map[string]Package {
	t.Helper()
	pkgs, err := GoList(".", "./...")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list ./... found no packages")
	}
	return pkgs
}

// TestImportBoundaries checks every rule against the non-test imports of
// every package (tests may import what they need).
func TestImportBoundaries(t *testing.T) {
	pkgs := listModule(t)
	used := make([]bool, len(temporaryExceptions))
	for _, path := range slices.Sorted(maps.Keys(pkgs)) {
		p := pkgs[path]
		rel := p.Rel()
		for _, imp := range p.Imports {
			for _, r := range rules {
				if !r.forbids(rel, imp) {
					continue
				}
				if i := exceptionFor(rel, imp); i >= 0 {
					used[i] = true
					continue
				}
				t.Errorf("package %s imports %s: %s", rel, imp, r.why)
			}
		}
	}
	for i, e := range temporaryExceptions {
		if !used[i] {
			t.Errorf("temporary exception %s → %s is no longer needed: remove it from temporaryExceptions", e.pkg, e.imports)
		}
	}
}

func (r rule) forbids(rel, imp string) bool {
	if len(r.in) > 0 && !matches(rel, r.in) {
		return false
	}
	if matches(rel, r.allowed) {
		return false
	}
	for _, lib := range r.imports {
		if under(imp, lib) {
			return true
		}
	}
	return false
}

func exceptionFor(rel, imp string) int {
	for i, e := range temporaryExceptions {
		if rel == e.pkg && under(imp, e.imports) {
			return i
		}
	}
	return -1
}

// TestWireTypesLeaf checks that api/types imports nothing of patchbay's
// but cnm, so the client it serves stays light.
func TestWireTypesLeaf(t *testing.T) {
	pkgs := listModule(t)
	p, ok := pkgs[Module+"/api/types"]
	if !ok {
		t.Fatal("go list did not report api/types")
	}
	for _, imp := range p.Imports {
		if under(imp, Module) && imp != Module+"/cnm" {
			t.Errorf("package api/types imports %s: the wire types import only cnm of patchbay's packages", Rel(imp))
		}
	}
}

// TestRules checks the matchers the rules rely on.
func TestRules(t *testing.T) {
	tests := []struct {
		rel, imp string
		want     bool
	}{
		{"engine", "github.com/vishvananda/netlink", true},
		{"engine", "github.com/vishvananda/netlink/nl", true},
		{"api", "github.com/vishvananda/netns", true},
		{"internal/nl", "github.com/vishvananda/netlink/nl", false},
		{"drivers/bridge", "github.com/vishvananda/netlink", false},
		{"drivers", "github.com/vishvananda/netlink", false},
		{"driverx", "github.com/vishvananda/netlink", true},
		{"firewall", "github.com/google/nftables/expr", false},
		{"engine", "github.com/google/nftables/expr", true},
		{"engine", "github.com/google/nftablesx", false},
		{"store", "go.etcd.io/bbolt", false},
		{"engine", "go.etcd.io/bbolt", true},
		{"store/etcd", "go.etcd.io/etcd/client/v3", false},
		{"internal/etcdtest/etcdmain", "go.etcd.io/etcd/server/v3/embed", false},
		{"daemon", "go.etcd.io/etcd/client/v3", true},
		{"store", "go.etcd.io/etcd/api/v3/mvccpb", true},
		{"store/etcd", "go.etcd.io/bbolt", true},
		{"engine", Module + "/drivers/bridge", true},
		{"daemon", Module + "/drivers/bridge", false},
		{"engine", Module + "/driver", false},
	}
	for _, tt := range tests {
		got := false
		for _, r := range rules {
			got = got || r.forbids(tt.rel, tt.imp)
		}
		if got != tt.want {
			t.Errorf("%s importing %s: forbidden %v, want %v", tt.rel, tt.imp, got, tt.want)
		}
	}
}
