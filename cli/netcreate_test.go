package cli

import (
	"reflect"
	"testing"

	"github.com/patchbay/patchbay/api/types"
)

func TestIPAMConfigs(t *testing.T) {
	tests := []struct {
		name    string
		in      ipamFlags
		want    []types.IPAMConfig
		wantErr string
	}{
		{name: "none", in: ipamFlags{}, want: []types.IPAMConfig{}},
		{
			name: "one subnet with everything",
			in: ipamFlags{
				subnets: []string{"10.0.0.0/16"}, ipRanges: []string{"10.0.1.0/24"},
				gateways: []string{"10.0.0.254"}, aux: []string{"host1=10.0.0.5", "host2=10.0.0.6"},
			},
			want: []types.IPAMConfig{{
				Subnet: "10.0.0.0/16", IPRange: "10.0.1.0/24", Gateway: "10.0.0.254",
				AuxAddress: map[string]string{"host1": "10.0.0.5", "host2": "10.0.0.6"},
			}},
		},
		{
			name: "grouped by containing subnet, in subnet order",
			in: ipamFlags{
				subnets:  []string{"10.1.0.0/24", "10.2.0.0/24", "fd00::/64"},
				gateways: []string{"fd00::1", "10.2.0.1", "10.1.0.1"},
				ipRanges: []string{"10.2.0.128/25"},
				aux:      []string{"a=10.1.0.9"},
			},
			want: []types.IPAMConfig{
				{Subnet: "10.1.0.0/24", Gateway: "10.1.0.1", AuxAddress: map[string]string{"a": "10.1.0.9"}},
				{Subnet: "10.2.0.0/24", Gateway: "10.2.0.1", IPRange: "10.2.0.128/25"},
				{Subnet: "fd00::/64", Gateway: "fd00::1"},
			},
		},
		{
			name:    "gateway without a subnet",
			in:      ipamFlags{gateways: []string{"10.0.2.1"}},
			wantErr: "no matching subnet for gateway 10.0.2.1",
		},
		{
			name:    "gateway outside the subnet",
			in:      ipamFlags{subnets: []string{"10.0.1.0/24"}, gateways: []string{"10.0.2.1"}},
			wantErr: "no matching subnet for gateway 10.0.2.1",
		},
		{
			name:    "range outside every subnet",
			in:      ipamFlags{subnets: []string{"10.0.1.0/24"}, ipRanges: []string{"10.9.0.0/25"}},
			wantErr: "no matching subnet for range 10.9.0.0/25",
		},
		{
			name:    "aux outside every subnet",
			in:      ipamFlags{subnets: []string{"10.0.1.0/24"}, aux: []string{"x=192.168.0.1"}},
			wantErr: "no matching subnet for aux-address 192.168.0.1",
		},
		{
			name:    "aux without a name",
			in:      ipamFlags{subnets: []string{"10.0.1.0/24"}, aux: []string{"10.0.1.5"}},
			wantErr: "invalid aux-address 10.0.1.5: want name=ip",
		},
		{
			name:    "two gateways for one subnet",
			in:      ipamFlags{subnets: []string{"10.0.1.0/24"}, gateways: []string{"10.0.1.1", "10.0.1.2"}},
			wantErr: "cannot configure multiple gateways (10.0.1.2, 10.0.1.1) for the same subnet (10.0.1.0/24)",
		},
		{
			name:    "two ranges for one subnet",
			in:      ipamFlags{subnets: []string{"10.0.0.0/16"}, ipRanges: []string{"10.0.1.0/24", "10.0.2.0/24"}},
			wantErr: "cannot configure multiple ranges (10.0.2.0/24, 10.0.1.0/24) on the same subnet (10.0.0.0/16)",
		},
		{
			name:    "overlapping subnets",
			in:      ipamFlags{subnets: []string{"10.0.0.0/16", "10.0.1.0/24"}},
			wantErr: "multiple overlapping subnet configuration is not supported (10.0.0.0/16, 10.0.1.0/24)",
		},
		{
			name:    "same subnet twice",
			in:      ipamFlags{subnets: []string{"10.0.1.0/24", "10.0.1.0/24"}},
			wantErr: "multiple overlapping subnet configuration is not supported (10.0.1.0/24, 10.0.1.0/24)",
		},
		{
			name: "bad gateway under the only subnet, for the daemon to report",
			in:   ipamFlags{subnets: []string{"10.0.1.0/24"}, gateways: []string{"10.0.1.x"}},
			want: []types.IPAMConfig{{Subnet: "10.0.1.0/24", Gateway: "10.0.1.x"}},
		},
		{
			name:    "bad gateway with two subnets",
			in:      ipamFlags{subnets: []string{"10.0.1.0/24", "10.0.2.0/24"}, gateways: []string{"bogus"}},
			wantErr: "invalid gateway bogus",
		},
		{
			name:    "bad range with two subnets",
			in:      ipamFlags{subnets: []string{"10.0.1.0/24", "10.0.2.0/24"}, ipRanges: []string{"10.0.1.0/99"}},
			wantErr: "invalid ip-range 10.0.1.0/99",
		},
		{
			name:    "bad gateway without a subnet",
			in:      ipamFlags{gateways: []string{"bogus"}},
			wantErr: "invalid gateway bogus",
		},
		{
			name: "bad subnet keeps its gateway, for the daemon to report",
			in:   ipamFlags{subnets: []string{"10.0.1.0/33"}, gateways: []string{"10.0.1.1"}},
			want: []types.IPAMConfig{{Subnet: "10.0.1.0/33", Gateway: "10.0.1.1"}},
		},
		{
			name:    "bad subnet among others",
			in:      ipamFlags{subnets: []string{"nope", "10.0.2.0/24"}, gateways: []string{"10.0.1.1"}},
			wantErr: "no matching subnet for gateway 10.0.1.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ipamConfigs(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseKV(t *testing.T) {
	tests := []struct {
		in      []string
		want    map[string]string
		wantErr bool
	}{
		{in: nil, want: nil},
		{in: []string{"a=b", "c=d=e"}, want: map[string]string{"a": "b", "c": "d=e"}},
		{in: []string{"flag"}, want: map[string]string{"flag": ""}},
		{in: []string{"empty="}, want: map[string]string{"empty": ""}},
		{in: []string{"a=1", "a=2"}, want: map[string]string{"a": "2"}},
		{in: []string{"=v"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseKV("label", tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("parseKV(%q) err = %v", tt.in, err)
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseKV(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNetworkCreateFlags(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("POST /networks/create", 201, types.NetworkCreateResponse{ID: "abc123"})
	out, _, code := d.run("", "network", "create",
		"-d", "macvlan", "--subnet", "10.5.0.0/24,fd05::/64", "--gateway", "10.5.0.1",
		"--aux-address", "router=10.5.0.2", "--ipam-opt", "x=y", "-o", "parent=eth0",
		"--label", "env=prod", "--label", "team", "--internal", "--attachable", "--ipv6", "n1")
	if code != 0 || out != "abc123\n" {
		t.Fatalf("code %d, out %q", code, out)
	}
	var req types.NetworkCreateRequest
	d.body("POST /networks/create", &req)
	want := types.NetworkCreateRequest{
		Name: "n1", Driver: "macvlan", EnableIPv6: true, Internal: true, Attachable: true,
		IPAM: &types.IPAM{Driver: "default", Options: map[string]string{"x": "y"}, Config: []types.IPAMConfig{
			{Subnet: "10.5.0.0/24", Gateway: "10.5.0.1", AuxAddress: map[string]string{"router": "10.5.0.2"}},
			{Subnet: "fd05::/64"},
		}},
		Options: map[string]string{"parent": "eth0"},
		Labels:  map[string]string{"env": "prod", "team": ""},
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("got  %+v\nwant %+v", req, want)
	}
}

func TestNetworkCreateDefaults(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("POST /networks/create", 201, types.NetworkCreateResponse{ID: "abc123"})
	if _, errOut, code := d.run("", "network", "create", "n2"); code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	var req types.NetworkCreateRequest
	d.body("POST /networks/create", &req)
	if req.Driver != "bridge" || req.IPAM == nil || req.IPAM.Driver != "default" || len(req.IPAM.Config) != 0 {
		t.Errorf("defaults: %+v", req)
	}
}

func TestNetworkCreateGroupingError(t *testing.T) {
	d := newFakeDaemon(t)
	_, errOut, code := d.run("", "network", "create", "--gateway", "10.0.2.1", "n3")
	if code != 1 || errOut != "Error: no matching subnet for gateway 10.0.2.1\n" {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	if d.calls() != 0 {
		t.Error("the daemon was called")
	}
}
