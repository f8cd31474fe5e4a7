package cli

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/patchbay/patchbay/api/types"
)

// TestRunSeveralNetworks: --network repeats (Docker 25+); the first is
// Network, the others Networks, in order; --net is the same flag.
func TestRunSeveralNetworks(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("POST /sandboxes/create", http.StatusCreated, types.SandboxCreateResponse{ID: "f00d", Name: "web"})
	args := []string{"run", "-d", "--network", "a", "--net", "b", "--network", "c", "--", "true"}
	if out, errOut, code := d.run("", args...); code != 0 {
		t.Fatalf("run: code %d out %q err %q", code, out, errOut)
	}
	var got types.SandboxCreateRequest
	d.body("POST /sandboxes/create", &got)
	if got.Network != "a" || !reflect.DeepEqual(got.Networks, []string{"b", "c"}) {
		t.Fatalf("request networks %q then %q", got.Network, got.Networks)
	}
}
