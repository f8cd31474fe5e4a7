package api

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
)

// A published port refused as a conflict is shown in patchbay's sandbox
// JSON only, and not as a binding in force.
func TestSandboxPortConflict(t *testing.T) {
	info := sampleSandbox()
	info.Ports = append(info.Ports, cnm.PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8443, Proto: "tcp",
		Addr: netip.MustParseAddr("10.0.1.2"), Port: 443, Conflict: "host port 127.0.0.1:8443/tcp is already in use"})
	sb := SandboxFrom(info)
	want := []types.PortConflict{{Port: "443/tcp", HostIP: "127.0.0.1", HostPort: "8443", Error: "host port 127.0.0.1:8443/tcp is already in use"}}
	if len(sb.PortConflicts) != 1 || sb.PortConflicts[0] != want[0] {
		t.Errorf("PortConflicts = %+v, want %+v", sb.PortConflicts, want)
	}
	if _, ok := sb.NetworkSettings.Ports["443/tcp"]; ok {
		t.Errorf("the refused binding is listed in force: %+v", sb.NetworkSettings.Ports)
	}
	if len(sb.NetworkSettings.Ports["80/tcp"]) != 1 {
		t.Errorf("the binding in force is missing: %+v", sb.NetworkSettings.Ports)
	}
	b, err := json.Marshal(ContainerJSONOf(sb))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "PortConflicts") {
		t.Errorf("Docker's container JSON carries PortConflicts: %s", b)
	}
	if len(sb.PortConflicts) != 1 {
		t.Errorf("ContainerJSONOf changed its argument's PortConflicts")
	}
}
