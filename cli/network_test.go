package cli

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
)

func TestParseFilters(t *testing.T) {
	tests := []struct {
		in      []string
		want    types.Filters
		wantErr bool
	}{
		{in: nil, want: types.Filters{}},
		{in: []string{"driver=bridge"}, want: types.Filters{"driver": {"bridge"}}},
		{in: []string{"label=a=b", "label=c"}, want: types.Filters{"label": {"a=b", "c"}}},
		{in: []string{" Name = web "}, want: types.Filters{"name": {"web"}}},
		{in: []string{"dangling="}, want: types.Filters{"dangling": {""}}},
		{in: []string{"driver"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseFilters(tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("parseFilters(%q) err = %v", tt.in, err)
		}
		if tt.wantErr {
			if err.Error() != "bad format of filter (expected name=value)" {
				t.Errorf("error %q", err)
			}
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseFilters(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

var testNets = []types.NetworkResource{
	{
		Name: "web", ID: "2b1c0f6a9e33d7f1a0c5b3e4d2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3",
		Driver: "bridge", Scope: "local", Labels: map[string]string{"team": "a", "env": "prod"},
		Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	},
	{Name: "bridge", ID: "7fca4eb8c647aa", Driver: "bridge", Scope: "local"},
	{Name: "host", ID: "0123456789abcdef", Driver: "host", Scope: "local", EnableIPv6: true},
}

func TestNetworkLs(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("GET /networks", http.StatusOK, testNets)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "" +
			"NETWORK ID     NAME      DRIVER    SCOPE\n" +
			"7fca4eb8c647   bridge    bridge    local\n" +
			"0123456789ab   host      host      local\n" +
			"2b1c0f6a9e33   web       bridge    local\n"},
		{[]string{"-q"}, "7fca4eb8c647\n0123456789ab\n2b1c0f6a9e33\n"},
		{[]string{"-q", "--no-trunc"}, "7fca4eb8c647aa\n0123456789abcdef\n" + testNets[0].ID + "\n"},
		{[]string{"--format", "{{.Name}}:{{.IPv6}}"}, "bridge:false\nhost:true\nweb:false\n"},
		{[]string{"--format", `table {{.Name}}\t{{.Labels}}\t{{.Label "team"}}`}, "" +
			"NAME      LABELS            TEAM\n" +
			"bridge                      \n" +
			"host                        \n" +
			"web       env=prod,team=a   a\n"},
		{[]string{"--format", "json", "-f", "name=host"}, "" +
			`{"ID":"7fca4eb8c647","Name":"bridge","Driver":"bridge","Scope":"local","IPv6":false,"Internal":false,"Labels":"","CreatedAt":"0001-01-01 00:00:00 +0000 UTC"}` + "\n" +
			`{"ID":"0123456789ab","Name":"host","Driver":"host","Scope":"local","IPv6":true,"Internal":false,"Labels":"","CreatedAt":"0001-01-01 00:00:00 +0000 UTC"}` + "\n" +
			`{"ID":"2b1c0f6a9e33","Name":"web","Driver":"bridge","Scope":"local","IPv6":false,"Internal":false,"Labels":"env=prod,team=a","CreatedAt":"2024-01-02 03:04:05 +0000 UTC"}` + "\n"},
	}
	for _, tt := range tests {
		out, errOut, code := d.run("", append([]string{"network", "ls"}, tt.args...)...)
		if code != 0 {
			t.Fatalf("%v: code %d: %s", tt.args, code, errOut)
		}
		if out != tt.want {
			t.Errorf("network ls %v:\n got %q\nwant %q", tt.args, out, tt.want)
		}
	}
	q := d.query("GET /networks")
	if got := q[len(q)-1].Get("filters"); got != `{"name":{"host":true}}` {
		t.Errorf("filters sent: %q", got)
	}
}

func TestNetworkInspectMissing(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("GET /networks/web", http.StatusOK, types.NetworkResource{Name: "web", ID: "abc", IPAM: types.IPAM{Config: []types.IPAMConfig{{Subnet: "10.0.0.0/24"}}}})
	d.notFound("GET /networks/nope", "network nope not found")
	out, errOut, code := d.run("", "network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", "web", "nope")
	if code != 1 || out != "web 10.0.0.0/24\n" || errOut != "Error: No such network: nope\n" {
		t.Errorf("code %d out %q err %q", code, out, errOut)
	}
	out, _, code = d.run("", "network", "inspect", "nope")
	if code != 1 || out != "[]\n" {
		t.Errorf("code %d out %q", code, out)
	}
	out, _, _ = d.run("", "network", "inspect", "web")
	if !strings.HasPrefix(out, "[\n    {\n        \"Name\": \"web\",\n        \"Id\": \"abc\",") {
		t.Errorf("indent: %q", out)
	}
}

func TestNetworkRm(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("DELETE /networks/a", http.StatusNoContent, nil)
	d.reply("DELETE /networks/c", http.StatusNoContent, nil)
	d.notFound("DELETE /networks/b", "network b not found")
	d.reply("DELETE /networks/busy", http.StatusForbidden, map[string]string{"message": "network busy has active endpoints"})
	out, errOut, code := d.run("", "network", "rm", "a", "b", "busy", "c")
	if code != 1 || out != "a\nc\n" || errOut != "Error: network b not found\nnetwork busy has active endpoints\n" {
		t.Errorf("code %d out %q err %q", code, out, errOut)
	}
	out, errOut, code = d.run("", "network", "rm", "-f", "a", "b")
	if code != 0 || out != "a\n" {
		t.Errorf("-f: code %d out %q err %q", code, out, errOut)
	}
}

func TestNetworkConnect(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("POST /networks/n/connect", http.StatusOK, nil)
	_, errOut, code := d.run("", "network", "connect", "--ip", "10.0.0.9", "--alias", "db", "--alias", "pg", "n", "sb1")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	var req types.NetworkConnectRequest
	d.body("POST /networks/n/connect", &req)
	want := types.NetworkConnectRequest{Container: "sb1", EndpointConfig: &types.EndpointSettings{
		IPAMConfig: &types.EndpointIPAMConfig{IPv4Address: "10.0.0.9"}, Aliases: []string{"db", "pg"},
	}}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("got %+v", req)
	}
}

func TestNetworkPrune(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("POST /networks/prune", http.StatusOK, types.NetworksPruneReport{NetworksDeleted: []string{"n1", "n2"}})
	out, _, code := d.run("no\n", "network", "prune")
	if code != 0 || out != pruneNetworksWarning || d.calls() != 0 {
		t.Errorf("declined: code %d out %q calls %d", code, out, d.calls())
	}
	out, _, code = d.run("y\n", "network", "prune")
	if want := pruneNetworksWarning + "Deleted Networks:\nn1\nn2\n\n"; code != 0 || out != want {
		t.Errorf("accepted: code %d out %q", code, out)
	}
	out, _, _ = d.run("", "network", "prune", "-f")
	if out != "Deleted Networks:\nn1\nn2\n\n" {
		t.Errorf("forced: out %q", out)
	}
}
