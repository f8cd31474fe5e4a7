package sandbox

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestHostsFile(t *testing.T) {
	tests := []struct {
		name        string
		self, extra []HostEntry
		want        string
	}{
		{name: "empty", want: hostsHeader},
		{
			name: "self and extra",
			self: []HostEntry{
				{Addr: netip.MustParseAddr("172.18.0.2"), Names: []string{"web", "web.app"}},
				{Addr: netip.MustParseAddr("fd00::2"), Names: []string{"web"}},
			},
			extra: []HostEntry{{Addr: netip.MustParseAddr("10.0.0.1"), Names: []string{"db"}}},
			want: hostsHeader +
				"172.18.0.2\tweb web.app\n" +
				"fd00::2\tweb\n" +
				"10.0.0.1\tdb\n",
		},
		{
			name: "skips invalid",
			self: []HostEntry{
				{Names: []string{"noaddr"}},
				{Addr: netip.MustParseAddr("10.0.0.2")},
			},
			want: hostsHeader,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(HostsFile(tt.self, tt.extra)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	if !strings.HasPrefix(hostsHeader, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n") {
		t.Errorf("unexpected localhost lines:\n%s", hostsHeader)
	}
}

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name, host, want string
	}{
		{
			name: "keeps servers, search and options",
			host: "# comment\nnameserver 10.0.0.53\nsearch example.com\noptions ndots:2\n",
			want: "nameserver 10.0.0.53\nsearch example.com\noptions ndots:2\n",
		},
		{
			name: "loopback servers are kept for the caller to judge",
			host: "nameserver 127.0.0.53\n; other comment\nnameserver 1.1.1.1\n",
			want: "nameserver 127.0.0.53\nnameserver 1.1.1.1\n",
		},
		{
			name: "a later search wins, options add up, other lines stay",
			host: "search a.example\noptions edns0\nsearch b.example\noptions trust-ad\nsortlist 10.0.0.0/8\n",
			want: "search b.example\noptions edns0 trust-ad\nsortlist 10.0.0.0/8\n",
		},
		{
			name: "ipv6, zone and a bad line",
			host: "nameserver fe80::1%eth0\n  nameserver 2001:db8::1  \nnameserver\nnameserver bogus\n",
			want: "nameserver fe80::1%eth0\nnameserver 2001:db8::1\n",
		},
		{name: "empty", host: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(ParseResolvConf([]byte(tt.host)).Render(""))
			if want := resolvHeader + tt.want; got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestWriteFileInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	if err := WriteFile(path, []byte("first, longer content\n")); err != nil {
		t.Fatal(err)
	}
	before := inode(t, path)
	if err := WriteFile(path, []byte("second\n")); err != nil {
		t.Fatal(err)
	}
	if inode(t, path) != before {
		t.Errorf("WriteFile replaced the file instead of rewriting it")
	}
	if b, _ := os.ReadFile(path); string(b) != "second\n" {
		t.Errorf("content = %q", b)
	}
	if err := WriteFile(filepath.Join(path, "x"), nil); err == nil {
		t.Errorf("WriteFile under a file succeeded")
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
