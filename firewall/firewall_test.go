package firewall_test

import (
	"context"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/firewall"
	"github.com/patchbay/patchbay/internal/netnstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func newFirewall(t *testing.T) (*firewall.Firewall, *netnstest.Host) { return newFirewallB(t) }

func newFirewallB(t testing.TB) (*firewall.Firewall, *netnstest.Host) {
	t.Helper()
	h := netnstest.NewHost(t)
	ns, _ := netnstest.Open(t, h.Path)
	fw, err := firewall.New(ns, "patchbay-test", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	return fw, h
}

// countRules counts the rules in the host namespace's ruleset.
func countRules(t testing.TB, h *netnstest.Host) int {
	out, err := exec.Command("nsenter", "--net="+h.Path, "nft", "-a", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if strings.Contains(l, "# handle") && !strings.HasPrefix(l, "chain") && !strings.HasPrefix(l, "set") && !strings.HasPrefix(l, "map") && !strings.HasPrefix(l, "table") {
			n++
		}
	}
	return n
}

// nft lists a table of the host namespace as nft prints it.
func nft(t *testing.T, h *netnstest.Host, args ...string) string {
	t.Helper()
	all := append([]string{"--net=" + h.Path, "nft"}, args...)
	out, err := exec.Command("nsenter", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sortElements puts the elements of every set in a listing in order (nft
// lists a hash set in its buckets' order).
func sortElements(listing string) string {
	var out []string
	lines := strings.Split(listing, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if !strings.Contains(line, "elements = {") {
			out = append(out, line)
			continue
		}
		for !strings.HasSuffix(line, "}") && i+1 < len(lines) {
			i++
			line += " " + strings.TrimSpace(lines[i])
		}
		head, body, _ := strings.Cut(line, "{ ")
		items := strings.Split(strings.TrimSuffix(body, " }"), ", ")
		slices.Sort(items)
		out = append(out, head+"{ "+strings.Join(items, ", ")+" }")
	}
	return strings.Join(out, "\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the installed ruleset:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var representative = firewall.State{
	Networks: []firewall.Network{
		{Bridge: "patchbay0", Masquerade: true, ICC: true},
		{Bridge: "br-internal", Internal: true, ICC: true},
		{Bridge: "br-nomasq", ICC: true},
		{Bridge: "br-noicc", Masquerade: true},
	},
	Mappings: []firewall.Mapping{
		{HostPort: 8080, Proto: "tcp", Addr: netip.MustParseAddr("172.17.0.2"), Port: 80},
		{HostPort: 5353, Proto: "udp", Addr: netip.MustParseAddr("172.17.0.2"), Port: 53},
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 9000, Proto: "sctp", Addr: netip.MustParseAddr("172.17.0.3"), Port: 9},
		{HostPort: 8080, Proto: "tcp", Addr: netip.MustParseAddr("fd00::2"), Port: 80},
		{HostIP: netip.MustParseAddr("::1"), HostPort: 8443, Proto: "tcp", Addr: netip.MustParseAddr("fd00::3"), Port: 443},
		{HostPort: 20000, Count: 1000, Proto: "tcp", Addr: netip.MustParseAddr("172.17.0.3"), Port: 7000},
		{HostIP: netip.MustParseAddr("192.0.2.2"), HostPort: 8000, Count: 101, Proto: "udp", Addr: netip.MustParseAddr("172.17.0.3"), Port: 80},
	},
}

// The installed ruleset of a representative configuration, as nft
// lists it, matches the golden file, and so does patchbay's own rendering.
func TestGoldenRuleset(t *testing.T) {
	fw, h := newFirewall(t)
	if err := fw.Sync(representative); err != nil {
		t.Fatal(err)
	}
	golden(t, "representative.nft", sortElements(nft(t, h, "list", "table", "inet", "patchbay-test")))
	golden(t, "representative.render", firewall.Render("patchbay-test", representative))
}

// Adding and removing mappings and networks changes set elements only:
// the rules stay the same, and removing everything leaves empty sets.
func TestUpdateTouchesElementsOnly(t *testing.T) {
	fw, h := newFirewall(t)
	if err := fw.Sync(firewall.State{}); err != nil {
		t.Fatal(err)
	}
	empty := nft(t, h, "list", "table", "inet", "patchbay-test")
	if err := fw.Update(representative.Networks, nil, representative.Mappings, nil); err != nil {
		t.Fatal(err)
	}
	withoutElements := func(listing string) string {
		var keep []string
		for _, l := range strings.Split(sortElements(listing), "\n") {
			if !strings.Contains(l, "elements = {") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if got := nft(t, h, "list", "table", "inet", "patchbay-test"); withoutElements(got) != withoutElements(empty) {
		t.Errorf("adding networks and mappings changed more than set elements:\n%s\nwas:\n%s", got, empty)
	}
	var bridges []string
	for _, n := range representative.Networks {
		bridges = append(bridges, n.Bridge)
	}
	if err := fw.Update(nil, bridges, nil, representative.Mappings); err != nil {
		t.Fatal(err)
	}
	if got := nft(t, h, "list", "table", "inet", "patchbay-test"); got != empty {
		t.Errorf("after removing everything:\n%s\nwant:\n%s", got, empty)
	}
	// A bad mapping changes nothing.
	bad := firewall.Mapping{HostPort: 1, Proto: "icmp", Addr: netip.MustParseAddr("10.0.0.1"), Port: 1}
	if err := fw.Update(nil, nil, []firewall.Mapping{bad}, nil); err == nil || !strings.Contains(err.Error(), "icmp") {
		t.Errorf("bad protocol: err = %v", err)
	}
}

// The administrator's chain keeps its rules when patchbay re-installs.
func TestUserChainSurvivesSync(t *testing.T) {
	fw, h := newFirewall(t)
	if err := fw.Sync(representative); err != nil {
		t.Fatal(err)
	}
	nft(t, h, "add", "rule", "inet", "patchbay-test", "user-forward", "ip", "saddr", "198.51.100.0/24", "drop")
	if err := fw.Sync(representative); err != nil {
		t.Fatal(err)
	}
	if out := nft(t, h, "list", "chain", "inet", "patchbay-test", "user-forward"); !strings.Contains(out, "198.51.100.0/24") {
		t.Errorf("the administrator's rule was lost:\n%s", out)
	}
}

// Someone flushing the whole ruleset (or deleting patchbay's table) gets
// everything back within two seconds, without a restart.
func TestWatchRestoresFlushedRuleset(t *testing.T) {
	fw, h := newFirewall(t)
	if err := fw.Sync(representative); err != nil {
		t.Fatal(err)
	}
	want := sortElements(nft(t, h, "list", "table", "inet", "patchbay-test"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fw.Watch(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(100 * time.Millisecond) // let the watch subscribe
	for _, how := range [][]string{{"flush", "ruleset"}, {"delete", "chain", "inet", "patchbay-test", "postrouting"}} {
		nft(t, h, how...)
		deadline := time.Now().Add(2 * time.Second)
		for {
			out, _ := exec.Command("nsenter", "--net="+h.Path, "nft", "list", "table", "inet", "patchbay-test").CombinedOutput()
			if sortElements(string(out)) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after nft %s, not restored within 2s:\n%s", strings.Join(how, " "), out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// A table left by a patchbay whose DNAT maps held one element per port is
// converted in place: the maps are replaced, the administrator's chain
// kept.
func TestSyncReplacesOldMaps(t *testing.T) {
	fw, h := newFirewall(t)
	old := `table inet patchbay-test {
	map pub4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; elements = { 127.0.0.1 . tcp . 80 : 10.0.0.2 . 80 } }
	map pub4any { type inet_proto . inet_service : ipv4_addr . inet_service; }
	map pub6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
	map pub6any { type inet_proto . inet_service : ipv6_addr . inet_service; }
	chain user-forward { ip saddr 198.51.100.0/24 drop; }
	chain publish { meta nfproto ipv4 meta l4proto tcp dnat ip to ip daddr . meta l4proto . th dport map @pub4; }
}
`
	f := filepath.Join(t.TempDir(), "old.nft")
	if err := os.WriteFile(f, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	nft(t, h, "-f", f)
	if err := fw.Sync(representative); err != nil {
		t.Fatal(err)
	}
	out := nft(t, h, "list", "table", "inet", "patchbay-test")
	for _, want := range []string{"interval ipv4_addr . inet_service", "tcp . 20000-20999 : 172.17.0.3 . 7000-7999", "198.51.100.0/24"} {
		if !strings.Contains(out, want) {
			t.Errorf("after Sync the table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "10.0.0.2") {
		t.Errorf("the old map's element survived:\n%s", out)
	}
}

// Sync is one transaction: a state the kernel refuses (two runs of host
// ports that overlap) leaves the previous ruleset exactly as it was,
// filter sets included, and the firewall's idea of what is installed too.
func TestSyncIsAtomic(t *testing.T) {
	fw, h := newFirewall(t)
	if err := fw.Sync(representative); err != nil {
		t.Fatal(err)
	}
	want := sortElements(nft(t, h, "list", "table", "inet", "patchbay-test"))
	bad := firewall.State{
		Networks: []firewall.Network{{Bridge: "br-other", Masquerade: true, ICC: true}},
		Mappings: []firewall.Mapping{
			{HostPort: 30000, Count: 100, Proto: "tcp", Addr: netip.MustParseAddr("172.18.0.2"), Port: 80},
			{HostPort: 30050, Count: 100, Proto: "tcp", Addr: netip.MustParseAddr("172.18.0.3"), Port: 80},
		},
	}
	if err := fw.Sync(bad); err == nil {
		t.Fatal("Sync of overlapping runs succeeded")
	}
	if got := sortElements(nft(t, h, "list", "table", "inet", "patchbay-test")); got != want {
		t.Errorf("a failed Sync changed the ruleset:\n%s\nwant:\n%s", got, want)
	}
	st := fw.State()
	if len(st.Networks) != len(representative.Networks) || len(st.Mappings) != len(representative.Mappings) {
		t.Errorf("after a failed Sync the firewall reports %+v", st)
	}
	// The firewall goes on working: the kernel's answers to the refused
	// transaction are not taken for the next one's.
	extra := firewall.Mapping{HostPort: 4000, Proto: "tcp", Addr: netip.MustParseAddr("172.17.0.9"), Port: 40}
	if err := fw.Update(nil, nil, []firewall.Mapping{extra}, nil); err != nil {
		t.Fatalf("update after a failed Sync: %v", err)
	}
	if out := nft(t, h, "list", "map", "inet", "patchbay-test", "pub4any"); !strings.Contains(out, "tcp . 4000 : 172.17.0.9 . 40") {
		t.Errorf("the update after a failed Sync is missing:\n%s", out)
	}
}

// Remove deletes the table; removing it again is no error.
func TestRemove(t *testing.T) {
	fw, h := newFirewall(t)
	if err := fw.Sync(representative); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := fw.Remove(); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	if out := nft(t, h, "list", "tables"); strings.Contains(out, "patchbay-test") {
		t.Errorf("the table is still there:\n%s", out)
	}
	if err := fw.Sync(representative); err != nil {
		t.Fatalf("Sync after Remove: %v", err)
	}
}
