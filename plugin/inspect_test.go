package plugin

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/cnm"
)

// Inspect reports a plugin that answers with what it implements, one
// that does not as unavailable (not an error), a .json spec's TLS, and a
// name no file names as not found.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	serveUnix(t, filepath.Join(dir, "up.sock"), &fake{replies: map[string]reply{
		"Plugin.Activate": {status: http.StatusOK, body: `{"Implements":["NetworkDriver"]}`},
	}})
	specs := map[string]string{
		"down.spec":   "unix://" + filepath.Join(dir, "nobody.sock"),
		"secure.json": `{"Name":"secure","Addr":"tcp://127.0.0.1:1","TLSConfig":{"CAFile":"/nonexistent/ca.pem"}}`,
	}
	for name, body := range specs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := NewManager([]string{dir})
	ctx := context.Background()

	up, err := m.Inspect(ctx, "up")
	if err != nil || up.Status != "active" || !slices.Equal(up.Implements, []string{"NetworkDriver"}) ||
		up.File != filepath.Join(dir, "up.sock") || up.TLS != nil {
		t.Fatalf("inspect up: %+v, %v", up, err)
	}
	down, err := m.Inspect(ctx, "down")
	if err != nil || down.Status == "active" || len(down.Implements) != 0 || down.Addr != "unix://"+filepath.Join(dir, "nobody.sock") {
		t.Fatalf("inspect down: %+v, %v", down, err)
	}
	sec, err := m.Inspect(ctx, "secure")
	if err != nil || sec.TLS == nil || sec.TLS.CAFile != "/nonexistent/ca.pem" || sec.TLS.InsecureSkipVerify {
		t.Fatalf("inspect secure: %+v, %v", sec, err)
	}
	if _, err := m.Inspect(ctx, "nope"); !errors.Is(err, cnm.ErrNotFound) {
		t.Fatalf("inspect nope: %v, want not found", err)
	}
	if _, err := m.Inspect(ctx, "../up"); !errors.Is(err, cnm.ErrInvalid) {
		t.Fatalf("inspect ../up: %v, want invalid", err)
	}
	if got := m.List(ctx); len(got) != 3 {
		t.Fatalf("list: %+v", got)
	}
}
