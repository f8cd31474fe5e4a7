package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// These tests hold patchbay's wire types to moby's API type module (the
// types the docker CLI and Go SDK decode with): every reply decodes into
// Docker's type, every field Docker sends is in ours, and every request
// body a Docker client can send decodes under our strict decoder.

func sampleNetwork() engine.NetworkInfo {
	return engine.NetworkInfo{
		Network: cnm.Network{
			ID: strings.Repeat("ab", 32), Name: "mynet", Driver: "bridge", Scope: cnm.ScopeLocal,
			Created: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), EnableIPv6: true, Internal: true,
			IPAM: cnm.IPAM{Driver: "default", Config: []cnm.IPAMConfig{
				{
					Subnet: netip.MustParsePrefix("10.0.1.0/24"), IPRange: netip.MustParsePrefix("10.0.1.128/25"),
					Gateway: netip.MustParseAddr("10.0.1.1"), AuxAddresses: map[string]netip.Addr{"a": netip.MustParseAddr("10.0.1.9")},
				},
				{Subnet: netip.MustParsePrefix("fd00::/64"), Gateway: netip.MustParseAddr("fd00::1")},
			}},
			Options: map[string]string{"com.docker.network.bridge.name": "br0"},
			Labels:  map[string]string{"a": "<b>&"},
		},
		Endpoints: []engine.EndpointInfo{{
			Endpoint: cnm.Endpoint{
				ID: strings.Repeat("cd", 32), NetworkID: strings.Repeat("ab", 32), SandboxID: strings.Repeat("ef", 32),
				IfName: "eth0", MAC: "02:42:ac:11:00:02", IPv4: netip.MustParsePrefix("10.0.1.2/24"),
				IPv6: netip.MustParsePrefix("fd00::2/64"), Gateway4: netip.MustParseAddr("10.0.1.1"),
				Gateway6: netip.MustParseAddr("fd00::1"), Aliases: []string{"db"},
			},
			NetworkName: "mynet", SandboxName: "web",
		}},
	}
}

func sampleSandbox() engine.SandboxInfo {
	n := sampleNetwork()
	return engine.SandboxInfo{
		Sandbox: cnm.Sandbox{
			ID: strings.Repeat("ef", 32), Name: "web", Hostname: "web", Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
			NetnsPath: "/run/patchbay/netns/efefefefefef",
			Process: &cnm.Process{
				Args: []string{"sleep", "60"}, State: cnm.StateRunning, Pid: 42,
				Started: time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
			},
			Ports: []cnm.PortMapping{{HostPort: 8080, Proto: "tcp", Addr: netip.MustParseAddr("10.0.1.2"), Port: 80}},
		},
		Endpoints: n.Endpoints,
	}
}

// keys returns the JSON object keys of v, recursively, as dotted paths;
// map-typed objects (Options, Labels, Networks, Containers...) are
// entered with "*" so their keys do not count.
func keys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, v := range x {
				name := k
				if isMapField(prefix) {
					name = "*"
				}
				p := strings.TrimPrefix(prefix+"."+name, ".")
				out = append(out, p)
				walk(p, v)
			}
		case []any:
			for _, v := range x {
				walk(prefix+"[]", v)
			}
		}
	}
	walk("", m)
	slices.Sort(out)
	return slices.Compact(out)
}

func isMapField(path string) bool {
	last := path[strings.LastIndex(path, ".")+1:]
	switch strings.TrimSuffix(last, "[]") {
	case "Options", "Labels", "Containers", "Networks", "Ports", "AuxiliaryAddresses", "Details", "DriverOpts":
		return true
	}
	return false
}

// checkCompat decodes ours into theirs strictly (so every field we send
// exists in Docker's type with a compatible JSON type, or is one of
// extras) and checks that every key Docker would send for the same value
// is in ours.
func checkCompat(t *testing.T, ours, theirs any, extras ...string) {
	t.Helper()
	checkCompatUnder(t, ours, theirs, nil, extras...)
}

// checkCompatUnder is checkCompat where only Docker's keys under one of
// the prefixes must be in ours (Docker's container config has dozens of
// fields with no meaning for a sandbox).
func checkCompatUnder(t *testing.T, ours, theirs any, prefixes []string, extras ...string) {
	t.Helper()
	b, err := json.Marshal(ours)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(theirs); err != nil {
		// Unknown fields are checked below against the allowed extras;
		// any other error is a type mismatch.
		if !strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("%T does not decode into %T: %v\n%s", ours, theirs, err, b)
		}
		if err := json.Unmarshal(b, theirs); err != nil {
			t.Fatalf("%T does not decode into %T: %v", ours, theirs, err)
		}
	}
	ourKeys, theirKeys := keys(t, ours), keys(t, theirs)
	for _, k := range theirKeys {
		under := prefixes == nil || slices.ContainsFunc(prefixes, func(p string) bool { return k == p || strings.HasPrefix(k, p+".") })
		if under && !slices.Contains(ourKeys, k) {
			t.Errorf("%T lacks Docker's field %s", ours, k)
		}
	}
	for _, k := range ourKeys {
		if !slices.Contains(theirKeys, k) && !slices.Contains(extras, k) {
			t.Errorf("%T sends %s, which Docker's %T does not have", ours, k, theirs)
		}
	}
}

func TestNetworkInspectCompat(t *testing.T) {
	checkCompat(t, NetworkFrom(sampleNetwork()), &network.Inspect{})
}

func TestNetworkListCompat(t *testing.T) {
	nr := NetworkFrom(sampleNetwork())
	nr.Containers = map[string]types.EndpointResource{}
	checkCompat(t, []types.NetworkResource{nr}, &[]network.Inspect{})
}

func TestContainerInspectCompat(t *testing.T) {
	checkCompatUnder(t, ContainerJSONOf(SandboxFrom(sampleSandbox())), &container.InspectResponse{},
		[]string{"Id", "Created", "Path", "Args", "State", "Image", "LogPath", "Name", "RestartCount", "Platform",
			"Mounts", "Config.Hostname", "Config.Cmd", "Config.Env", "HostConfig.NetworkMode", "HostConfig.AutoRemove", "NetworkSettings"},
		// patchbay's own: the adopted flag and the interface name.
		"HostConfig.Adopted", "NetworkSettings.Networks.*.InterfaceName")
}

func TestContainerSummaryCompat(t *testing.T) {
	s := ContainerSummaryOf(SandboxFrom(sampleSandbox()), time.Now())
	checkCompat(t, []types.ContainerSummary{s}, &[]container.Summary{}, "[].NetworkSettings.Networks.*.InterfaceName")
	if len(s.Ports) != 1 || s.Ports[0] != (types.PortSummary{IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp"}) {
		t.Errorf("ports %+v", s.Ports)
	}
}

func TestVersionCompat(t *testing.T) {
	checkCompat(t, VersionInfo(), &system.VersionResponse{})
}

func TestInfoCompat(t *testing.T) {
	var in types.Info
	in.Plugins.Network = []string{"bridge"}
	in.Swarm.LocalNodeState = "inactive"
	var theirs system.Info
	b, _ := json.Marshal(in)
	if err := json.Unmarshal(b, &theirs); err != nil {
		t.Fatalf("info does not decode into Docker's: %v", err)
	}
	if theirs.Swarm.LocalNodeState != "inactive" || theirs.Swarm.ControlAvailable || theirs.Plugins.Network[0] != "bridge" {
		t.Errorf("decoded %+v", theirs)
	}
}

// TestRequestsDecodeStrictly sends every field of Docker's request types
// (as the SDK marshals them) through the strict decoder.
func TestRequestsDecodeStrictly(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		body any
		into any
	}{
		{"create", network.CreateRequest{
			Name: "n", Driver: "bridge", Scope: "local", EnableIPv4: &yes, EnableIPv6: &yes,
			IPAM: &network.IPAM{Driver: "default", Options: map[string]string{"a": "b"}, Config: []network.IPAMConfig{{
				Subnet: netip.MustParsePrefix("10.0.0.0/24"), IPRange: netip.MustParsePrefix("10.0.0.0/25"),
				Gateway: netip.MustParseAddr("10.0.0.1"), AuxAddress: map[string]netip.Addr{"x": netip.MustParseAddr("10.0.0.5")},
			}}},
			Internal: true, Attachable: true, Ingress: true, ConfigOnly: true, ConfigFrom: &network.ConfigReference{Network: "c"},
			Options: map[string]string{"o": "v"}, Labels: map[string]string{"l": "v"},
		}, &types.NetworkCreateRequest{}},
		{"connect", network.ConnectRequest{Container: "c", EndpointConfig: &network.EndpointSettings{
			IPAMConfig: &network.EndpointIPAMConfig{
				IPv4Address: netip.MustParseAddr("10.0.0.2"), IPv6Address: netip.MustParseAddr("fd00::2"),
				LinkLocalIPs: []netip.Addr{netip.MustParseAddr("169.254.0.1")},
			},
			Links: []string{"a:b"}, Aliases: []string{"x"}, DriverOpts: map[string]string{"k": "v"}, GwPriority: 1,
			NetworkID: "n", EndpointID: "e", Gateway: netip.MustParseAddr("10.0.0.1"), IPAddress: netip.MustParseAddr("10.0.0.2"),
			MacAddress: network.HardwareAddr{2, 0, 0, 0, 0, 1}, IPPrefixLen: 24, IPv6Gateway: netip.MustParseAddr("fd00::1"),
			GlobalIPv6Address: netip.MustParseAddr("fd00::2"), GlobalIPv6PrefixLen: 64, DNSNames: []string{"c"},
		}}, &types.NetworkConnectRequest{}},
		{"disconnect", network.DisconnectRequest{Container: "c", Force: true}, &types.NetworkDisconnectRequest{}},
		// Clients before API 1.44 also send CheckDuplicate.
		{"create 1.41", map[string]any{"Name": "n", "CheckDuplicate": true, "Driver": "bridge"}, &types.NetworkCreateRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(tt.into); err != nil {
				t.Fatalf("strict decode of %s: %v", b, err)
			}
		})
	}
	// And the keys of the full create request all land in ours.
	var theirs map[string]any
	b, _ := json.Marshal(tests[0].body)
	_ = json.Unmarshal(b, &theirs)
	ours := keys(t, tests[0].into)
	for _, k := range slices.Sorted(maps.Keys(theirs)) {
		if !slices.Contains(ours, k) {
			t.Errorf("create request field %s is lost", k)
		}
	}
}
