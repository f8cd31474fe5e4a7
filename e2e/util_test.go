package e2e

import (
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
