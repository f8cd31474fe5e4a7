package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/client"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/vishvananda/netlink"
)

// The soak's knobs. PATCHBAY_SOAK_SEED replays a run: the same seed gives
// the same operations and the same kill delays (where the kill lands
// still depends on the machine's speed).
const (
	soakSeedEnv   = "PATCHBAY_SOAK_SEED"
	soakRoundsEnv = "PATCHBAY_SOAK_ROUNDS" // default 6
	soakOpsPerRun = 40                     // operations generated per round
)

// soakOp is one generated operation; ref indexes the names made earlier
// in the round, so later operations act on earlier ones.
type soakOp struct {
	kind  string // sb, run, net, conn, disc, rmnet, rm
	name  string
	ref   int
	ports bool
}

func soakOps(rng *rand.Rand, round int) []soakOp {
	kinds := []string{"sb", "run", "run", "net", "conn", "disc", "rmnet", "rm", "rm"}
	var ops []soakOp
	for i := range soakOpsPerRun {
		op := soakOp{kind: kinds[rng.IntN(len(kinds))], ref: rng.IntN(i + 1), ports: rng.IntN(3) == 0}
		op.name = fmt.Sprintf("k%d-%d", round, i)
		ops = append(ops, op)
	}
	return ops
}

// soakCounts tallies what the soak did.
type soakCounts struct {
	ops, ok, refused, cut, kills int
}

// runSoakOps runs ops until stop is closed or the daemon dies. A 4xx is
// an expected refusal (ops act on names that may not exist); a 5xx is a
// failure.
func runSoakOps(c *client.Client, ops []soakOp, stop <-chan struct{}, n *soakCounts) error {
	ctx := context.Background()
	var sbs, nets []string
	pick := func(names []string, ref int) string {
		if len(names) == 0 {
			return "none-yet"
		}
		return names[ref%len(names)]
	}
	for _, op := range ops {
		select {
		case <-stop:
			return nil
		default:
		}
		var err error
		switch op.kind {
		case "sb", "run":
			req := types.SandboxCreateRequest{Name: op.name, Network: "soak"}
			if op.ports {
				req.Ports = []string{"80"}
			}
			if op.kind == "run" {
				req.Process = &types.ProcessRequest{Args: []string{"sleep", "600"}, Detached: true}
			}
			_, err = c.SandboxCreate(ctx, req)
			sbs = append(sbs, op.name)
		case "net":
			_, err = c.NetworkCreate(ctx, types.NetworkCreateRequest{Name: op.name})
			nets = append(nets, op.name)
		case "conn":
			err = c.NetworkConnect(ctx, pick(append([]string{"bridge"}, nets...), op.ref), types.NetworkConnectRequest{Container: pick(sbs, op.ref)})
		case "disc":
			err = c.NetworkDisconnect(ctx, pick(append([]string{"bridge"}, nets...), op.ref), types.NetworkDisconnectRequest{Container: pick(sbs, op.ref), Force: op.ports})
		case "rmnet":
			err = c.NetworkRemove(ctx, pick(nets, op.ref))
		case "rm":
			err = c.SandboxRemove(ctx, pick(sbs, op.ref), true)
		}
		n.ops++
		var apiErr *client.APIError
		switch {
		case err == nil:
			n.ok++
		case errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500:
			n.refused++
		case isGone(err):
			n.cut++
			return nil
		default:
			return fmt.Errorf("%s %s: %w", op.kind, op.name, err)
		}
	}
	return nil
}

// TestSoakKill9 kills the daemon at random moments of a seeded stream of
// operations and, after every restart, checks records against the
// kernel: no unknown process, link, mount, address or nftables element,
// and every record's kernel objects present. Bounded: a few rounds of
// at most soakOpsPerRun operations, each cut within half a second.
func TestSoakKill9(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(soakSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", soakSeedEnv, s, err)
		}
		seed = v
	}
	rounds := 6
	if s := os.Getenv(soakRoundsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 100 {
			t.Fatalf("%s=%q: want 1 to 100", soakRoundsEnv, s)
		}
		rounds = v
	}
	t.Logf("soak seed %d: rerun with %s=%d", seed, soakSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x50a4))

	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.80.0/24", "soak")
	var n soakCounts
	for round := range rounds {
		ops := soakOps(rng, round)
		delay := time.Duration(rng.IntN(500)) * time.Millisecond
		stop := make(chan struct{})
		errc := make(chan error, 1)
		c := d.client()
		go func() { errc <- runSoakOps(c, ops, stop, &n) }()
		time.Sleep(delay)
		d.kill9()
		close(stop)
		if err := <-errc; err != nil {
			t.Fatalf("seed %d round %d: %v", seed, round, err)
		}
		n.kills++
		d.start()
		checkConsistent(t, d)
		checkSoak(t, d)
		if t.Failed() {
			t.Fatalf("seed %d: inconsistent after round %d (kill after %v)", seed, round, delay)
		}
	}
	t.Logf("soak seed %d: %d kills and restarts checked; %d operations: %d done, %d refused (4xx), %d cut by a kill",
		seed, n.kills, n.ops, n.ok, n.refused, n.cut)
}

// checkSoak adds to checkConsistent: processes, mounts, bridge addresses
// and nftables elements against the records.
func checkSoak(t *testing.T, d *daemon) {
	t.Helper()
	ctx := context.Background()
	c := d.client()
	sbs, err := c.SandboxList(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	// Processes: in a sandbox's namespace, only its recorded process (or
	// its session).
	keys := map[sandbox.NetnsKey]types.Sandbox{}
	for _, sb := range sbs {
		if sb.NetworkSettings.SandboxKey == "" {
			continue
		}
		key, err := sandbox.NetnsKeyOf(sb.NetworkSettings.SandboxKey)
		if err != nil {
			t.Errorf("sandbox %s: namespace %s: %v", sb.Name, sb.NetworkSettings.SandboxKey, err)
			continue
		}
		keys[key] = sb
	}
	want := map[sandbox.NetnsKey]bool{}
	for k := range keys {
		want[k] = true
	}
	procs, err := sandbox.ProcessesIn(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.State == 'Z' || p.State == 'X' {
			continue
		}
		sb := keys[p.Netns]
		if pid := sb.State.Pid; pid == 0 || (p.Pid != pid && p.Session != pid) {
			t.Errorf("unknown process %d in sandbox %s's namespace (recorded pid %d)", p.Pid, sb.Name, sb.State.Pid)
		}
	}
	for _, sb := range sbs {
		if sb.State.Running && sb.State.Pid != 0 {
			if _, err := sandbox.ReadProcStat(sb.State.Pid); err != nil {
				t.Errorf("sandbox %s records running pid %d: %v", sb.Name, sb.State.Pid, err)
			}
		}
	}
	// Mounts: under the namespace directory, exactly the records'.
	nsDir := filepath.Join(d.dir, "exec", "netns")
	var mounts []string
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], nsDir+"/") {
			mounts = append(mounts, fields[4])
		}
	}
	f.Close()
	var wantMounts []string
	for _, sb := range sbs {
		if k := sb.NetworkSettings.SandboxKey; k != "" && !slices.Contains(wantMounts, k) {
			wantMounts = append(wantMounts, k)
		}
	}
	slices.Sort(mounts)
	mounts = slices.Compact(mounts)
	slices.Sort(wantMounts)
	if !slices.Equal(mounts, wantMounts) {
		t.Errorf("namespace mounts %v, records %v", mounts, wantMounts)
	}
	checkBridgeAddrs(t, d, c)
	checkNftElements(t, d, c, sbs)
}

// checkBridgeAddrs: each bridge network's bridge holds its gateway and
// no other IPv4 address.
func checkBridgeAddrs(t *testing.T, d *daemon, c *client.Client) {
	t.Helper()
	ctx := context.Background()
	nets, err := c.NetworkList(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	links, err := d.host.Handle.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		if n.Driver != "bridge" {
			continue
		}
		var want []string
		for _, cfg := range n.IPAM.Config {
			if cfg.Gateway != "" && !strings.Contains(cfg.Gateway, ":") {
				bits := strings.SplitN(cfg.Subnet, "/", 2)
				want = append(want, cfg.Gateway+"/"+bits[1])
			}
		}
		var br netlink.Link
		for _, l := range links {
			if strings.HasSuffix(l.Attrs().Alias, ":net:"+n.ID) {
				br = l
			}
		}
		if br == nil {
			t.Errorf("network %s has no bridge", n.Name)
			continue
		}
		addrs, err := d.host.Handle.AddrList(br, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range addrs {
			got = append(got, a.IPNet.String())
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("bridge of %s holds %v, want %v", n.Name, got, want)
		}
	}
}

// nftElements parses "elements = { ... }" of each set and map in nft's
// listing, which may wrap long lists over several lines.
func nftElements(ruleset string) map[string][]string {
	out := map[string][]string{}
	var name string
	var buf strings.Builder
	in := false
	for _, line := range strings.Split(ruleset, "\n") {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "set" || f[0] == "map") {
			name = f[1]
		}
		if rest, ok := strings.CutPrefix(line, "elements = {"); ok {
			in = true
			buf.Reset()
			line = rest
		}
		if !in {
			continue
		}
		body, done := strings.CutSuffix(line, "}")
		buf.WriteString(" " + body)
		if done {
			in = false
			var els []string
			for _, e := range strings.Split(buf.String(), ",") {
				if e = strings.Join(strings.Fields(e), " "); e != "" {
					els = append(els, e)
				}
			}
			slices.Sort(els)
			out[name] = els
		}
	}
	return out
}

// checkNftElements: the kernel's sets hold exactly what the records
// imply: the bridges of the bridge networks (none is internal in the
// soak, so all masquerade) and the sandboxes' published ports (each on
// the soak network) with their addresses.
func checkNftElements(t *testing.T, d *daemon, c *client.Client, sbs []types.Sandbox) {
	t.Helper()
	nets, err := c.NetworkList(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	links, err := d.host.Handle.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nsenter", "--net="+d.host.Path, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	kernel := nftElements(string(out))
	want := map[string][]string{}
	for _, n := range nets {
		if n.Driver != "bridge" {
			continue
		}
		for _, l := range links {
			if strings.HasSuffix(l.Attrs().Alias, ":net:"+n.ID) {
				q := strconv.Quote(l.Attrs().Name)
				want["bridges"] = append(want["bridges"], q)
				want["masq"] = append(want["masq"], q)
				want["same"] = append(want["same"], q+" . "+q)
			}
		}
	}
	for _, sb := range sbs {
		addr := sb.NetworkSettings.Networks["soak"].IPAddress
		for port, bs := range sb.NetworkSettings.Ports {
			num, proto, _ := strings.Cut(port, "/")
			for _, b := range bs {
				if b.HostIP == "" || b.HostIP == "0.0.0.0" {
					want["pub4any"] = append(want["pub4any"], fmt.Sprintf("%s . %s : %s . %s", proto, b.HostPort, addr, num))
				}
			}
			if self := addr + " . " + addr; len(bs) > 0 && !slices.Contains(want["self4"], self) {
				want["self4"] = append(want["self4"], self)
			}
		}
	}
	for _, name := range []string{"bridges", "masq", "same", "self4", "pub4any"} {
		slices.Sort(want[name])
		if !slices.Equal(kernel[name], want[name]) {
			t.Errorf("nftables %s: kernel %v, records %v", name, kernel[name], want[name])
		}
	}
	for name, els := range kernel {
		if _, checked := want[name]; !checked && len(els) > 0 && name != "internal" {
			t.Errorf("nftables %s holds %v: the soak makes none", name, els)
		}
	}
}
