package sandbox

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestNetnsPool(t *testing.T) {
	requireRoot(t)
	p := NewNetnsPool(2)
	defer p.Close()
	dir := t.TempDir()
	seen := map[string]bool{}
	for i := range 5 {
		path := filepath.Join(dir, "ns", string(rune('a'+i)))
		if err := p.Create(path); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		t.Cleanup(func() { _ = RemoveNetns(path) })
		if !IsNetns(path) {
			t.Fatalf("%s is not a namespace", path)
		}
		ino := nsLink(t, path)
		if seen[ino] {
			t.Fatalf("namespace %s handed out twice", ino)
		}
		seen[ino] = true
		ns, err := OpenNetns(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			t.Fatal(err)
		}
		links, _ := h.LinkList()
		h.Close()
		ns.Close()
		if len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("pooled namespace has links %v, want only lo, up", links)
		}
	}
}
