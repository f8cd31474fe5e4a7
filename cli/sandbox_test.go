package cli

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
)

func TestSandboxRow(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	sb := types.Sandbox{
		ID: "4f7e2a1b9c0d8e7f6a5b4c3d", Name: "web", Created: now.Add(-2 * time.Minute),
		State:  types.State{Status: cnm.StateRunning, Running: true, Pid: 42, StartedAt: now.Add(-time.Minute)},
		Config: types.SandboxConfig{Cmd: []string{"busybox", "httpd", "-f", "-p", "8080"}},
		NetworkSettings: types.NetworkSettings{Networks: map[string]types.EndpointSettingsOut{
			"front": {}, "back": {}, "bridge": {},
		}},
	}
	got := sandboxRowOf(sb, true, now)
	want := sandboxRow{
		ID: "4f7e2a1b9c0d", Names: "web", Command: `"busybox httpd -f -p…"`,
		CreatedAt: got.CreatedAt, RunningFor: "2 minutes ago", Status: "Up About a minute",
		State: "running", Networks: "back,bridge,front", Pid: 42,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if full := sandboxRowOf(sb, false, now); full.ID != sb.ID || full.Command != `"busybox httpd -f -p 8080"` {
		t.Errorf("no-trunc: %+v", full)
	}
}

func TestPs(t *testing.T) {
	d := newFakeDaemon(t)
	old := time.Now().Add(-3 * time.Hour)
	d.reply("GET /sandboxes", http.StatusOK, []types.Sandbox{
		{ID: "aaaaaaaaaaaaaaaa", Name: "old", Created: old, State: types.State{Status: cnm.StateCreated}},
		{ID: "bbbbbbbbbbbbbbbb", Name: "new", Created: old.Add(time.Hour), State: types.State{Status: cnm.StateCreated}},
	})
	out, errOut, code := d.run("", "ps", "-q")
	if code != 0 || out != "bbbbbbbbbbbb\naaaaaaaaaaaa\n" {
		t.Errorf("ps -q: code %d out %q err %q", code, out, errOut)
	}
	if q := d.query("GET /sandboxes"); q[0].Get("all") != "false" {
		t.Errorf("ps asked all=%s", q[0].Get("all"))
	}
	out, _, _ = d.run("", "sandbox", "ls", "--format", "{{.Names}} {{.Status}} {{.RunningFor}}")
	if out != "new Created 2 hours ago\nold Created 3 hours ago\n" {
		t.Errorf("sandbox ls: %q", out)
	}
	if q := d.query("GET /sandboxes"); q[1].Get("all") != "true" {
		t.Errorf("sandbox ls asked all=%s", q[1].Get("all"))
	}
	out, _, _ = d.run("", "ps", "-a")
	want := "SANDBOX ID     COMMAND   CREATED       STATUS    NETWORKS   NAMES\n" +
		"bbbbbbbbbbbb   \"\"        2 hours ago   Created              new\n" +
		"aaaaaaaaaaaa   \"\"        3 hours ago   Created              old\n"
	if out != want {
		t.Errorf("ps -a:\n got %q\nwant %q", out, want)
	}
}

func TestSandboxInspect(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("GET /sandboxes/web", http.StatusOK, types.Sandbox{ID: "abc", Name: "web", NetworkSettings: types.NetworkSettings{
		Networks: map[string]types.EndpointSettingsOut{"mynet": {IPAddress: "10.0.0.2"}},
	}})
	d.notFound("GET /sandboxes/x", "no such sandbox x")
	out, errOut, code := d.run("", "inspect", "-f", "{{.NetworkSettings.Networks.mynet.IPAddress}}", "x", "web")
	if code != 1 || out != "10.0.0.2\n" || errOut != "Error: No such sandbox: x\n" {
		t.Errorf("code %d out %q err %q", code, out, errOut)
	}
}

func TestSandboxVerbs(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("POST /sandboxes/a/stop", http.StatusNoContent, nil)
	d.reply("POST /sandboxes/a/kill", http.StatusNoContent, nil)
	d.reply("DELETE /sandboxes/a", http.StatusNoContent, nil)
	d.reply("POST /sandboxes/a/wait", http.StatusOK, map[string]int{"StatusCode": 3})
	tests := []struct {
		args            []string
		out, errOut     string
		code            int
		route, query, v string
	}{
		{[]string{"stop", "-t", "2", "a", "b"}, "a\n", "Error: no such route POST /sandboxes/b/stop\n", 1, "POST /sandboxes/a/stop", "t", "2"},
		{[]string{"kill", "-s", "HUP", "a"}, "a\n", "", 0, "POST /sandboxes/a/kill", "signal", "HUP"},
		{[]string{"kill", "a"}, "a\n", "", 0, "POST /sandboxes/a/kill", "signal", "KILL"},
		{[]string{"rm", "-f", "a"}, "a\n", "", 0, "DELETE /sandboxes/a", "force", "true"},
		{[]string{"sandbox", "rm", "a"}, "a\n", "", 0, "DELETE /sandboxes/a", "force", "false"},
		{[]string{"wait", "a"}, "3\n", "", 0, "", "", ""},
	}
	for _, tt := range tests {
		out, errOut, code := d.run("", tt.args...)
		if out != tt.out || errOut != tt.errOut || code != tt.code {
			t.Errorf("%q: code %d out %q err %q", tt.args, code, out, errOut)
		}
		if tt.route != "" {
			q := d.query(tt.route)
			if got := q[len(q)-1].Get(tt.query); got != tt.v {
				t.Errorf("%q: %s=%q, want %q", tt.args, tt.query, got, tt.v)
			}
		}
	}
}

func TestSandboxCreate(t *testing.T) {
	d := newFakeDaemon(t)
	d.reply("POST /sandboxes/create", http.StatusCreated, types.SandboxCreateResponse{ID: "cafe"})
	out, errOut, code := d.run("", "sandbox", "create", "--name", "ext", "-h", "box", "--network", "n", "--mac-address", "02:00:00:00:00:01", "--pid", "1234")
	if code != 0 || out != "cafe\n" {
		t.Fatalf("code %d out %q err %q", code, out, errOut)
	}
	var req types.SandboxCreateRequest
	d.body("POST /sandboxes/create", &req)
	want := types.SandboxCreateRequest{Name: "ext", Hostname: "box", Network: "n", AdoptPID: 1234,
		Endpoint: &types.EndpointSettings{MacAddress: "02:00:00:00:00:01"}}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("got %+v", req)
	}
	if _, _, code := d.run("", "sandbox", "create", "--pid", "1", "--netns", "/run/netns/x"); code != 1 {
		t.Errorf("--pid with --netns: code %d", code)
	}
}
