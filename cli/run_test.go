package cli

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/patchbay/patchbay/api/types"
)

func TestParseEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"HOME": "/root", "EMPTY": ""}[k]
		return v, ok
	}
	tests := []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: nil, want: nil},
		{in: []string{"A=1", "B=x=y", "C="}, want: []string{"A=1", "B=x=y", "C="}},
		{in: []string{"HOME"}, want: []string{"HOME=/root"}},
		{in: []string{"EMPTY"}, want: []string{"EMPTY="}},
		{in: []string{"UNSET", "A=1"}, want: []string{"A=1"}},
		{in: []string{"=x"}, wantErr: "invalid environment variable: =x"},
	}
	for _, tt := range tests {
		got, err := parseEnv(tt.in, lookup)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parseEnv(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestRunDetached(t *testing.T) {
	tests := []struct {
		args []string
		want types.SandboxCreateRequest
	}{
		{
			args: []string{"-d", "--rm", "--name", "web", "-h", "box", "--net", "front", "--ip", "10.1.0.5",
				"--network-alias", "www", "-e", "A=1", "--", "sh", "-c", "echo -d"},
			want: types.SandboxCreateRequest{
				Name: "web", Hostname: "box", Network: "front",
				Endpoint: &types.EndpointSettings{IPAMConfig: &types.EndpointIPAMConfig{IPv4Address: "10.1.0.5"}, Aliases: []string{"www"}},
				Process:  &types.ProcessRequest{Args: []string{"sh", "-c", "echo -d"}, Env: []string{"A=1"}, Detached: true, AutoRemove: true},
			},
		},
		{
			// Without --, flags after the command are the command's.
			args: []string{"-d", "--network", "none", "ping", "-c", "1", "--rm", "x"},
			want: types.SandboxCreateRequest{
				Network: "none",
				Process: &types.ProcessRequest{Args: []string{"ping", "-c", "1", "--rm", "x"}, Detached: true},
			},
		},
	}
	for _, tt := range tests {
		d := newFakeDaemon(t)
		d.reply("POST /sandboxes/create", http.StatusCreated, types.SandboxCreateResponse{ID: "f00d", Name: "web"})
		out, errOut, code := d.run("", append([]string{"run"}, tt.args...)...)
		if code != 0 || out != "f00d\n" {
			t.Fatalf("run %q: code %d out %q err %q", tt.args, code, out, errOut)
		}
		var got types.SandboxCreateRequest
		d.body("POST /sandboxes/create", &got)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("run %q:\n got %+v\nwant %+v", tt.args, got, tt.want)
		}
	}
}

func TestRunNeedsCommand(t *testing.T) {
	d := newFakeDaemon(t)
	if _, _, code := d.run("", "run", "-d"); code != 1 || d.calls() != 0 {
		t.Errorf("code %d, calls %d", code, d.calls())
	}
}

func TestExecArgs(t *testing.T) {
	d := newFakeDaemon(t)
	// The fake cannot upgrade, so the exec fails after its request is sent.
	d.notFound("POST /sandboxes/sb1/exec", "sandbox sb1 is not running")
	_, errOut, code := d.run("", "exec", "-e", "X=1", "sb1", "--", "ls", "-l", "--", "-e")
	if code != 1 || errOut != "Error: sandbox sb1 is not running\n" {
		t.Fatalf("code %d err %q", code, errOut)
	}
	var req types.ExecRequest
	d.body("POST /sandboxes/sb1/exec", &req)
	want := types.ExecRequest{Args: []string{"ls", "-l", "--", "-e"}, Env: []string{"X=1"}}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("got %+v", req)
	}
}

func TestEndpointSettings(t *testing.T) {
	if (&endpointFlags{}).settings() != nil {
		t.Error("no flags should send no endpoint settings")
	}
	got := (&endpointFlags{ip6: "fd00::5", mac: "02:42:ac:11:00:02"}).settings()
	want := &types.EndpointSettings{IPAMConfig: &types.EndpointIPAMConfig{IPv6Address: "fd00::5"}, MacAddress: "02:42:ac:11:00:02"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
}
