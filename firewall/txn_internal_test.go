package firewall

import (
	"encoding/json"
	"log/slog"
	"os/exec"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/patchbay/patchbay/internal/netnstest"
)

// setElements lists the elements of an interface-name set of the table
// in the namespace at path, as nft -j prints them.
func setElements(t *testing.T, path, table, set string) []string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+path, "nft", "-j", "list", "set", "inet", table, set).Output()
	if err != nil {
		t.Fatalf("nft list set %s: %v\n%s", set, err, out)
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []string `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("nft -j: %v\n%s", err, out)
	}
	var els []string
	for _, o := range doc.Nftables {
		if o.Set != nil {
			els = append(els, o.Set.Elem...)
		}
	}
	slices.Sort(els)
	return els
}

// An encoding error in the middle of a transaction, after some of its
// messages were built, leaves nothing behind: the next transaction sends
// only its own messages.
func TestFailedUpdateLeavesNothingQueued(t *testing.T) {
	h := netnstest.NewHost(t)
	ns, _ := netnstest.Open(t, h.Path)
	fw, err := New(ns, "patchbay-test", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	if err := fw.Sync(State{Networks: []Network{{Bridge: "patchbay0"}}}); err != nil {
		t.Fatal(err)
	}
	// The bridges set comes before masq in a transaction, so its element
	// is encoded before masq's fails: a key this long does not fit a
	// netlink attribute.
	bad := map[*nftables.Set][]nftables.SetElement{
		fw.s.bridges: {{Key: ifnameBytes("leak0")}},
		fw.s.masq:    {{Key: make([]byte, 65532)}},
	}
	if err := fw.apply(nil, bad); err == nil {
		t.Fatal("an element too long to encode was accepted")
	}
	if err := fw.Update([]Network{{Bridge: "br-next"}}, nil, nil, nil); err != nil {
		t.Fatalf("update after a failed one: %v", err)
	}
	want := []string{"br-next", "patchbay0"}
	if got := setElements(t, h.Path, "patchbay-test", "bridges"); !slices.Equal(got, want) {
		t.Errorf("bridges = %q, want %q", got, want)
	}
	if got := setElements(t, h.Path, "patchbay-test", "masq"); len(got) != 0 {
		t.Errorf("masq = %q, want it empty", got)
	}
}
