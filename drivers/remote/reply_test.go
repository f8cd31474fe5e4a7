package remote

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/plugin/wire"
)

// canned answers every call with one JSON body and records the methods.
type canned struct {
	body  string
	calls []string
}

func (c *canned) Call(_ context.Context, method string, _, ret any) error {
	c.calls = append(c.calls, method)
	if ret == nil {
		return nil
	}
	return json.Unmarshal([]byte(c.body), ret)
}

// CreateEndpoint replies that contradict the engine, or hand out an
// address outside the network, are refused naming the plugin and the
// call, and the endpoint is deleted again.
func TestCreateEndpointReplies(t *testing.T) {
	nw := driver.Network{ID: "n1", Subnets: []driver.Subnet{{Prefix: netip.MustParsePrefix("10.0.1.0/24")}}}
	mac := ipam.RandomMAC()
	for _, tt := range []struct {
		name string
		ep   driver.Endpoint
		body string
		want string // "" means success
	}{
		{"fills the address", driver.Endpoint{ID: "e"}, `{"Interface":{"Address":"10.0.1.5/24","MacAddress":"02:42:0a:00:01:05"}}`, ""},
		{"outside", driver.Endpoint{ID: "e"}, `{"Interface":{"Address":"10.9.9.9/24"}}`, "outside the network's subnets"},
		{"contradicts the address", driver.Endpoint{ID: "e", IPv4: netip.MustParsePrefix("10.0.1.2/24")}, `{"Interface":{"Address":"10.0.1.3/24"}}`, "contradicts"},
		{"contradicts the MAC", driver.Endpoint{ID: "e", MAC: mac}, `{"Interface":{"MacAddress":"02:42:0a:00:01:05"}}`, "contradicts"},
		{"bad MAC", driver.Endpoint{ID: "e"}, `{"Interface":{"MacAddress":"nope"}}`, "invalid MacAddress"},
		{"IPv6 as IPv4", driver.Endpoint{ID: "e"}, `{"Interface":{"Address":"fd00::1/64"}}`, "invalid Address"},
		{"null", driver.Endpoint{ID: "e"}, `null`, ""},
	} {
		c := &canned{body: tt.body}
		d := New("kuryr", c)
		res, err := d.CreateEndpoint(context.Background(), driver.Host{}, nw, tt.ep)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			if tt.name == "fills the address" && (res.IPv4 != netip.MustParsePrefix("10.0.1.5/24") || res.MAC.String() != "02:42:0a:00:01:05") {
				t.Errorf("%s: %+v", tt.name, res)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "plugin kuryr: NetworkDriver.CreateEndpoint") {
			t.Errorf("%s: %v; want an error naming the plugin, the call and %q", tt.name, err, tt.want)
		}
		if c.calls[len(c.calls)-1] != "DeleteEndpoint" {
			t.Errorf("%s: calls %v; want the endpoint deleted again", tt.name, c.calls)
		}
	}
}

// Join replies are checked before anything is moved.
func TestJoinReplies(t *testing.T) {
	d := New("kuryr", nil)
	for _, tt := range []struct {
		body, want string
	}{
		{`{}`, "names no interface"},
		{`{"InterfaceName":{"SrcName":"x","DstPrefix":"eth"},"Gateway":"nope"}`, "invalid Gateway"},
		{`{"InterfaceName":{"SrcName":"x"},"Gateway":"fd00::1"}`, "invalid Gateway"},
		{`{"InterfaceName":{"SrcName":"x"},"StaticRoutes":[{"Destination":"10.1.0.0/16","RouteType":0}]}`, "invalid next hop"},
		{`{"InterfaceName":{"SrcName":"x"},"StaticRoutes":[{"Destination":"10.1.0.0/16","RouteType":7}]}`, "unknown route type"},
		{`{"InterfaceName":{"SrcName":"x","DstPrefix":"eth"},"Gateway":"10.0.1.1","GatewayIPv6":"fd00::1","StaticRoutes":[{"Destination":"10.1.0.0/16","RouteType":0,"NextHop":"10.0.1.254"},{"Destination":"10.2.0.0/16","RouteType":1}],"DisableGatewayService":true}`, ""},
	} {
		var r wire.JoinResponse
		if err := json.Unmarshal([]byte(tt.body), &r); err != nil {
			t.Fatal(err)
		}
		info, err := d.joinInfo(r)
		if tt.want == "" {
			if err != nil || info.Gateway4 != netip.MustParseAddr("10.0.1.1") || len(info.StaticRoutes) != 2 || info.StaticRoutes[1].NextHop.IsValid() || !info.DisableGatewayService {
				t.Errorf("%s: %+v, %v", tt.body, info, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "plugin kuryr: NetworkDriver.Join") {
			t.Errorf("%s: %v; want %q", tt.body, err, tt.want)
		}
	}
}

// FuzzJoinReply: no Join reply makes the driver panic, and an accepted
// one always names an interface.
func FuzzJoinReply(f *testing.F) {
	f.Add(`{"InterfaceName":{"SrcName":"x","DstPrefix":"eth"},"Gateway":"10.0.1.1","StaticRoutes":[{"Destination":"10.1.0.0/16","RouteType":0,"NextHop":"10.0.1.254"}]}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, body string) {
		var r wire.JoinResponse
		if json.Unmarshal([]byte(body), &r) != nil {
			return
		}
		info, err := New("p", nil).joinInfo(r)
		if err == nil && (info.Interface == nil || info.Interface.SrcName == "") {
			t.Fatalf("accepted %s without an interface", body)
		}
	})
}
