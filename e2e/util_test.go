package e2e

import (
	"os/exec"
	"testing"

	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func openNS(t *testing.T, path string) (netns.NsHandle, *netlink.Handle) {
	return netnstest.Open(t, path)
}

func linkNames(t testing.TB, h *netnstest.Host) []string {
	return netnstest.LinkNames(t, h.Handle)
}

// must runs a command and returns its output; a non-zero exit is not an
// error (pgrep exits 1 when nothing matches).
func must(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, _ := exec.Command(name, args...).Output()
	return out
}
