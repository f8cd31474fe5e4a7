package client_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/archtest"
)

// forbiddenDeps are what a program linking the client must not link:
// the daemon's packages and the kernel, DNS and storage libraries.
// A trailing "/..." also covers the packages below.
var forbiddenDeps = []string{
	archtest.Module + "/api", // the server; api/types is the client's
	archtest.Module + "/daemon",
	archtest.Module + "/engine/...",
	archtest.Module + "/firewall/...",
	archtest.Module + "/sandbox/...",
	archtest.Module + "/store/...",
	archtest.Module + "/dns/...",
	archtest.Module + "/driver/...",
	archtest.Module + "/drivers/...",
	archtest.Module + "/internal/nl/...",
	"github.com/vishvananda/...",
	"github.com/google/nftables/...",
	"go.etcd.io/bbolt/...",
	"go.etcd.io/etcd/...",
	"github.com/miekg/dns/...",
}

func forbidden(dep string) bool {
	for _, bad := range forbiddenDeps {
		if tree, ok := strings.CutSuffix(bad, "/..."); ok {
			if dep == tree || strings.HasPrefix(dep, tree+"/") {
				return true
			}
		} else if dep == bad {
			return true
		}
	}
	return false
}

// allowedImports are the only patchbay packages the client imports.
var allowedImports = []string{archtest.Module + "/api/types", archtest.Module + "/cnm"}

// TestClientDeps checks that the Go client stays light: it imports only
// the wire types and cnm of patchbay's packages, and nothing it links
// reaches the engine, the kernel or the store.
func TestClientDeps(t *testing.T) {
	pkgs, err := archtest.GoList(".", "./client", "./api/types")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{archtest.Module + "/client", archtest.Module + "/api/types"} {
		p, ok := pkgs[path]
		if !ok {
			t.Fatalf("go list did not report %s", path)
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, archtest.Module+"/") && !slices.Contains(allowedImports, imp) {
				t.Errorf("package %s imports %s: only api/types and cnm are allowed", p.Rel(), archtest.Rel(imp))
			}
		}
		for _, dep := range p.Deps {
			if forbidden(dep) {
				t.Errorf("package %s depends on %s, which a client must not link", p.Rel(), archtest.Rel(dep))
			}
		}
	}
}
