package e2e

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	mobyclient "github.com/moby/moby/client"
)

// sdkClient is moby's Go client pointed at a patchbay daemon, with API
// version negotiation as applications use it.
func sdkClient(t *testing.T, d *daemon) *mobyclient.Client {
	t.Helper()
	c, err := mobyclient.New(mobyclient.WithHost("unix://"+d.sock), mobyclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDockerSDK drives patchbay with moby's Go client: negotiation, every
// network call, the container list and inspect of sandboxes, and the
// error kinds the SDK derives from status codes.
func TestDockerSDK(t *testing.T) {
	d := startDaemon(t)
	c := sdkClient(t, d)
	ctx := context.Background()

	ping, err := c.Ping(ctx, mobyclient.PingOptions{NegotiateAPIVersion: true})
	if err != nil || ping.APIVersion != "1.51" || ping.OSType != "linux" {
		t.Fatalf("ping: %+v %v", ping, err)
	}
	if got := c.ClientVersion(); got != "1.51" {
		t.Errorf("negotiated API version %s, want 1.51", got)
	}
	v, err := c.ServerVersion(ctx, mobyclient.ServerVersionOptions{})
	if err != nil || v.Platform.Name != "patchbay" || len(v.Components) == 0 || v.Components[0].Name != "patchbay" || v.APIVersion != "1.51" {
		t.Errorf("server version: %+v %v", v, err)
	}
	info, err := c.Info(ctx, mobyclient.InfoOptions{})
	if err != nil || info.Info.OperatingSystem != "patchbay" || !slices.Contains(info.Info.Plugins.Network, "bridge") {
		t.Errorf("info: %+v %v", info.Info, err)
	}

	// Create, with the IPAM config and flags the SDK sends.
	enable := true
	created, err := c.NetworkCreate(ctx, "sdknet", mobyclient.NetworkCreateOptions{
		Driver: "bridge", EnableIPv4: &enable,
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{
			Subnet: netip.MustParsePrefix("10.0.5.0/24"), IPRange: netip.MustParsePrefix("10.0.5.128/25"),
			Gateway: netip.MustParsePrefix("10.0.5.1/32").Addr(), AuxAddress: map[string]netip.Addr{"spare": netip.MustParseAddr("10.0.5.200")},
		}}},
		Internal: true, Attachable: true, Labels: map[string]string{"app": "sdk"},
		Options: map[string]string{"com.docker.network.bridge.name": "pbsdk0"},
	})
	if err != nil || len(created.ID) != 64 || len(created.Warning) != 0 {
		t.Fatalf("network create: %+v %v", created, err)
	}
	_, err = c.NetworkCreate(ctx, "sdknet", mobyclient.NetworkCreateOptions{})
	if !cerrdefs.IsConflict(err) {
		t.Errorf("duplicate create: want a conflict, got %v", err)
	}
	_, err = c.NetworkCreate(ctx, "v6only", mobyclient.NetworkCreateOptions{EnableIPv4: new(bool)})
	if !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("IPv6-only create: want invalid argument, got %v", err)
	}

	// Inspect decodes into the SDK's types with every field where Docker
	// puts it, and the raw JSON is what patchbay network inspect prints.
	insp, err := c.NetworkInspect(ctx, "sdknet", mobyclient.NetworkInspectOptions{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	n := insp.Network
	cfg := n.IPAM.Config
	if n.ID != created.ID || n.Driver != "bridge" || n.Scope != "local" || !n.Internal || !n.Attachable || !n.EnableIPv4 ||
		n.Labels["app"] != "sdk" || n.Options["com.docker.network.bridge.name"] != "pbsdk0" || n.IPAM.Driver != "default" ||
		len(cfg) != 1 || cfg[0].Subnet.String() != "10.0.5.0/24" || cfg[0].IPRange.String() != "10.0.5.128/25" ||
		cfg[0].Gateway.String() != "10.0.5.1" || cfg[0].AuxAddress["spare"].String() != "10.0.5.200" || n.Created.IsZero() {
		t.Errorf("network inspect: %+v", n)
	}
	var fromCLI []json.RawMessage
	if err := json.Unmarshal([]byte(d.ok("network", "inspect", "sdknet")), &fromCLI); err != nil || len(fromCLI) != 1 {
		t.Fatalf("patchbay network inspect: %v", err)
	}
	if a, b := compactJSON(t, insp.Raw), compactJSON(t, fromCLI[0]); a != b {
		t.Errorf("SDK raw inspect differs from patchbay network inspect:\n%s\n%s", a, b)
	}
	for _, ref := range []string{created.ID, created.ID[:7]} {
		if got, err := c.NetworkInspect(ctx, ref, mobyclient.NetworkInspectOptions{}); err != nil || got.Network.Name != "sdknet" {
			t.Errorf("inspect by %s: %v", ref, err)
		}
	}
	if _, err := c.NetworkInspect(ctx, "sdknet", mobyclient.NetworkInspectOptions{Scope: "swarm"}); !cerrdefs.IsNotFound(err) {
		t.Errorf("inspect in another scope: want not found, got %v", err)
	}
	if _, err := c.NetworkInspect(ctx, "nosuchnet", mobyclient.NetworkInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("inspect of a missing network: want not found, got %v", err)
	}

	// List with filters.
	list := func(f mobyclient.Filters) []string {
		t.Helper()
		res, err := c.NetworkList(ctx, mobyclient.NetworkListOptions{Filters: f})
		if err != nil {
			t.Fatalf("network list %v: %v", f, err)
		}
		var names []string
		for _, it := range res.Items {
			names = append(names, it.Name)
		}
		slices.Sort(names)
		return names
	}
	for _, tt := range []struct {
		f    mobyclient.Filters
		want []string
	}{
		{nil, []string{"bridge", "host", "none", "sdknet"}},
		{make(mobyclient.Filters).Add("label", "app=sdk"), []string{"sdknet"}},
		{make(mobyclient.Filters).Add("label", "app=other"), nil},
		{make(mobyclient.Filters).Add("driver", "null", "host"), []string{"host", "none"}},
		{make(mobyclient.Filters).Add("type", "builtin"), []string{"bridge", "host", "none"}},
		{make(mobyclient.Filters).Add("name", "^sdk"), []string{"sdknet"}},
		{make(mobyclient.Filters).Add("id", created.ID[:10]), []string{"sdknet"}},
		{make(mobyclient.Filters).Add("scope", "local").Add("dangling", "true"), []string{"sdknet"}},
		{make(mobyclient.Filters).Add("dangling", "false"), []string{"bridge", "host", "none"}},
	} {
		if got := list(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("network list %v: %v, want %v", tt.f, got, tt.want)
		}
	}
	if _, err := c.NetworkList(ctx, mobyclient.NetworkListOptions{Filters: make(mobyclient.Filters).Add("color", "red")}); !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("unknown filter: want invalid argument, got %v", err)
	}

	// Connect a sandbox with a static address and an alias, see it in the
	// container views, disconnect it.
	d.ok("run", "-d", "--name", "app", "--", "sleep", "300")
	_, err = c.NetworkConnect(ctx, "sdknet", mobyclient.NetworkConnectOptions{
		Container: "app",
		EndpointConfig: &network.EndpointSettings{
			IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.0.5.130")},
			Aliases:    []string{"api"},
		},
	})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	_, err = c.NetworkConnect(ctx, "sdknet", mobyclient.NetworkConnectOptions{Container: "nosuchbox"})
	if !cerrdefs.IsNotFound(err) {
		t.Errorf("connect of a missing container: want not found, got %v", err)
	}
	insp, err = c.NetworkInspect(ctx, "sdknet", mobyclient.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	appID := strings.TrimSpace(d.ok("inspect", "-f", "{{.ID}}", "app"))
	ep, ok := insp.Network.Containers[appID]
	if !ok || ep.Name != "app" || ep.IPv4Address.String() != "10.0.5.130/24" || len(ep.MacAddress) != 6 || ep.EndpointID == "" {
		t.Errorf("sdknet containers: %+v", insp.Network.Containers)
	}

	ps, err := c.ContainerList(ctx, mobyclient.ContainerListOptions{Filters: make(mobyclient.Filters).Add("network", "sdknet")})
	if err != nil || len(ps.Items) != 1 {
		t.Fatalf("container list: %+v %v", ps, err)
	}
	it := ps.Items[0]
	if it.ID != appID || !slices.Equal(it.Names, []string{"/app"}) || it.State != "running" || !strings.HasPrefix(it.Status, "Up ") ||
		it.Command != "sleep 300" || it.HostConfig.NetworkMode != "bridge" || it.NetworkSettings.Networks["sdknet"].IPAddress.String() != "10.0.5.130" {
		t.Errorf("container list entry: %+v", it)
	}
	ci, err := c.ContainerInspect(ctx, "app", mobyclient.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es := ci.Container.NetworkSettings.Networks["sdknet"]
	// sdknet is internal: as with Docker's bridge driver, its endpoints
	// get no gateway.
	if ci.Container.ID != appID || ci.Container.Name != "/app" || !ci.Container.State.Running || es == nil ||
		es.IPAddress.String() != "10.0.5.130" || es.IPPrefixLen != 24 || es.Gateway.IsValid() ||
		!slices.Contains(es.Aliases, "api") || es.NetworkID != created.ID || ci.Container.HostConfig.NetworkMode != "bridge" {
		t.Errorf("container inspect: %+v %+v", ci.Container, es)
	}
	if _, err := c.ContainerInspect(ctx, "nosuchbox", mobyclient.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("inspect of a missing container: want not found, got %v", err)
	}

	// Removing a network in use or a default one is forbidden.
	if _, err := c.NetworkRemove(ctx, "sdknet", mobyclient.NetworkRemoveOptions{}); !cerrdefs.IsPermissionDenied(err) {
		t.Errorf("remove of a network in use: want forbidden, got %v", err)
	}
	if _, err := c.NetworkRemove(ctx, "host", mobyclient.NetworkRemoveOptions{}); !cerrdefs.IsPermissionDenied(err) {
		t.Errorf("remove of a default network: want forbidden, got %v", err)
	}
	if _, err := c.NetworkDisconnect(ctx, "sdknet", mobyclient.NetworkDisconnectOptions{Container: "app"}); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	if got := list(make(mobyclient.Filters).Add("dangling", "1")); !slices.Equal(got, []string{"sdknet"}) {
		t.Errorf("dangling after disconnect: %v", got)
	}

	// Prune with filters, then without.
	if _, err := c.NetworkCreate(ctx, "other", mobyclient.NetworkCreateOptions{Labels: map[string]string{"app": "other"}}); err != nil {
		t.Fatal(err)
	}
	pr, err := c.NetworkPrune(ctx, mobyclient.NetworkPruneOptions{Filters: make(mobyclient.Filters).Add("label", "app=other")})
	if err != nil || !slices.Equal(pr.Report.NetworksDeleted, []string{"other"}) {
		t.Errorf("prune label=app=other: %+v %v", pr, err)
	}
	if _, err := c.NetworkPrune(ctx, mobyclient.NetworkPruneOptions{Filters: make(mobyclient.Filters).Add("until", "yesterday")}); !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("prune with a bad until: want invalid argument, got %v", err)
	}
	pr, err = c.NetworkPrune(ctx, mobyclient.NetworkPruneOptions{})
	if err != nil || !slices.Equal(pr.Report.NetworksDeleted, []string{"sdknet"}) {
		t.Errorf("prune: %+v %v", pr, err)
	}
	if _, err := c.NetworkRemove(ctx, "sdknet", mobyclient.NetworkRemoveOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("remove of a pruned network: want not found, got %v", err)
	}
}

func compactJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
