package dns

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"empty", "", nil},
		{"one", "nameserver 127.0.0.53\n", []string{"127.0.0.53:53"}},
		{"order, IPv6, zone", "nameserver 10.0.0.1\nnameserver 2001:db8::1\nnameserver fe80::1%eth0\n",
			[]string{"10.0.0.1:53", "[2001:db8::1]:53", "[fe80::1%eth0]:53"}},
		{"comments and other lines", "# nameserver 1.1.1.1\n; nameserver 1.0.0.1\nsearch example.com\noptions ndots:2\nnameserver 192.0.2.53 # trailing\n",
			[]string{"192.0.2.53:53"}},
		{"tabs and spaces", "  nameserver\t192.0.2.1  \n", []string{"192.0.2.1:53"}},
		{"invalid", "nameserver\nnameserver example.com\nnameserver 300.1.1.1\nnameservers 192.0.2.9\n", nil},
		{"v4-mapped", "nameserver ::ffff:192.0.2.7\n", []string{"192.0.2.7:53"}},
		{"no final newline", "nameserver 192.0.2.8", []string{"192.0.2.8:53"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ap := range ParseResolvConf([]byte(tc.content)) {
				got = append(got, ap.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWatcher(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	w := NewWatcher(path, 10*time.Millisecond)
	if ups := w.Upstreams(); len(ups) != 0 {
		t.Fatalf("missing file: %v", ups)
	}
	steps := []struct {
		content string
		want    []netip.AddrPort
	}{
		{"nameserver 192.0.2.1\n", []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53")}},
		// Same size, so only the times or the inode tell the change.
		{"nameserver 192.0.2.2\n", []netip.AddrPort{netip.MustParseAddrPort("192.0.2.2:53")}},
		{"nameserver 192.0.2.3\nnameserver 127.0.0.53\n", []netip.AddrPort{
			netip.MustParseAddrPort("192.0.2.3:53"), netip.MustParseAddrPort("127.0.0.53:53")}},
		{"", nil},
	}
	_, lastVersion := w.Content()
	for i, st := range steps {
		// Replace the file as editors and resolvconf do: write and rename.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(st.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for !slices.Equal(w.Upstreams(), st.want) {
			if time.Now().After(deadline) {
				t.Fatalf("step %d: upstreams %v, want %v", i, w.Upstreams(), st.want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		content, version := w.Content()
		if string(content) != st.content || version == lastVersion {
			t.Errorf("step %d: content %q version %d, want %q and a new version", i, content, version, st.content)
		}
		lastVersion = version
	}
	// Overwritten in place.
	if err := os.WriteFile(path, []byte("nameserver 192.0.2.4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.4:53")}; !slices.Equal(w.Upstreams(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("in-place write: upstreams %v, want %v", w.Upstreams(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if ups := w.Upstreams(); len(ups) != 0 {
		t.Errorf("removed file: %v", ups)
	}
}

// TestWatcherAsUpstreams checks that a re-read resolv.conf changes where
// queries go.
func TestWatcherAsUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(path, 10*time.Millisecond)
	good := answering(t)
	// Port 53 is not ours to use: point the watcher's servers at the test
	// upstream's port.
	ups := func() []netip.AddrPort {
		var out []netip.AddrPort
		for _, ap := range w.Upstreams() {
			out = append(out, netip.AddrPortFrom(ap.Addr(), good.Port()))
		}
		return out
	}
	s := serve(t, Config{Upstreams: ups, Timeout: 200 * time.Millisecond}, testView())
	if resp := ask(t, "udp", s.addr, question("example.com", 1)); len(resp.Answer) != 1 {
		t.Fatalf("with 127.0.0.1: %v", resp)
	}
	if err := os.WriteFile(path, []byte("nameserver 127.0.0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if resp := ask(t, "udp", s.addr, question("example.com", 1)); resp.Rcode != 2 {
		t.Fatalf("with 127.0.0.2 (nobody there): %v, want SERVFAIL", resp)
	}
}
