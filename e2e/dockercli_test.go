package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// dockerCLIs are the docker client binaries the Docker API tests run:
// the one on PATH (without one, make deps extracts Debian's from the
// docker.io package, and make test adds it to PATH; in CI its absence
// fails the test) plus any listed in PATCHBAY_TEST_DOCKER (colon-separated), so
// several client generations can be checked on one machine.
func dockerCLIs(t *testing.T) []string {
	t.Helper()
	var bins []string
	if p, err := exec.LookPath("docker"); err == nil {
		bins = append(bins, p)
	} else if os.Getenv("CI") == "true" {
		t.Fatal("the docker CLI is not installed, and CI must run every test (make deps extracts it from docker.io)")
	}
	for _, p := range filepath.SplitList(os.Getenv("PATCHBAY_TEST_DOCKER")) {
		if p != "" {
			bins = append(bins, p)
		}
	}
	if len(bins) == 0 {
		t.Skip("no docker CLI on PATH")
	}
	return bins
}

// dockerCLI runs a docker client binary against one patchbay daemon. It
// never talks to a Docker daemon: DOCKER_HOST is patchbay's socket and
// the client configuration is a fresh directory.
type dockerCLI struct {
	t   *testing.T
	d   *daemon
	bin string
	env []string
}

func newDockerCLI(t *testing.T, d *daemon, bin string) *dockerCLI {
	cfg := t.TempDir()
	env := []string{"DOCKER_HOST=unix://" + d.sock, "DOCKER_CONFIG=" + cfg, "DOCKER_CLI_HINTS=false", "HOME=" + cfg}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DOCKER_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return &dockerCLI{t: t, d: d, bin: bin, env: env}
}

func (c *dockerCLI) run(args ...string) result {
	c.t.Helper()
	return c.runEnv(nil, args...)
}

func (c *dockerCLI) runEnv(extra []string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(append([]string{}, c.env...), extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run docker %v: %v", args, err)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("docker %v did not finish within 30s", args)
	}
	return r
}

// ok runs docker and fails the test unless it exits 0.
func (c *dockerCLI) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// fails runs docker, expects a non-zero exit and an error naming want.
func (c *dockerCLI) fails(want string, args ...string) {
	c.t.Helper()
	r := c.run(args...)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		c.t.Errorf("docker %s: want failure mentioning %q, got %s", strings.Join(args, " "), want, r)
	}
}

// TestDockerCLI drives patchbay with the real docker client: every
// network verb, ps and inspect of sandboxes, and the errors a user meets,
// comparing with what patchbay's own CLI prints.
func TestDockerCLI(t *testing.T) {
	for _, bin := range dockerCLIs(t) {
		t.Run("docker-"+dockerVersion(t, bin), func(t *testing.T) {
			testDockerCLI(t, bin)
		})
	}
}

func dockerVersion(t *testing.T, bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(string(out)), ","))
	for i, w := range f {
		if w == "version" && i+1 < len(f) {
			return strings.Trim(f[i+1], ",")
		}
	}
	return "unknown"
}

func testDockerCLI(t *testing.T, bin string) {
	d := startDaemon(t)
	dk := newDockerCLI(t, d, bin)

	// Negotiation: docker version names patchbay as the server.
	out := dk.ok("version")
	if !strings.Contains(out, "Server: patchbay") || !strings.Contains(out, "patchbay:") {
		t.Errorf("docker version does not name patchbay as the server:\n%s", out)
	}
	if v := strings.TrimSpace(dk.ok("version", "--format", "{{.Server.APIVersion}}")); v != "1.51" {
		t.Errorf("server API version %q, want 1.51", v)
	}
	dk.ok("info")

	// network ls: the same table as patchbay's.
	if got, want := dk.ok("network", "ls"), d.ok("network", "ls"); got != want {
		t.Errorf("docker network ls:\n%s\npatchbay network ls:\n%s", got, want)
	}

	// network create with a subnet, gateway and labels; and --internal.
	id := strings.TrimSpace(dk.ok("network", "create", "-d", "bridge", "--subnet", "10.0.1.0/24",
		"--gateway", "10.0.1.1", "--label", "team=blue", "--label", "tier=web", "--label", "note=<a & b>", "mynet"))
	if len(id) != 64 {
		t.Fatalf("network create printed %q, want a 64-character ID", id)
	}
	dk.ok("network", "create", "--internal", "--subnet", "10.0.2.0/24", "--label", "team=red", "intnet")
	if got := d.ok("network", "inspect", "-f", "{{.ID}} {{.Internal}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.team}}", "mynet"); got != id+" false 10.0.1.0/24 10.0.1.1 blue\n" {
		t.Errorf("patchbay sees mynet as %q", got)
	}
	if got := d.ok("network", "inspect", "-f", "{{.Internal}}", "intnet"); got != "true\n" {
		t.Errorf("intnet internal = %q, want true", got)
	}
	dk.fails("already exists", "network", "create", "mynet")
	dk.fails("overlaps", "network", "create", "--subnet", "10.0.1.128/25", "other")

	// ls filters and formats agree with patchbay's.
	for _, args := range [][]string{
		{"-q", "--no-trunc"},
		{"--filter", "label=team=blue", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"},
		{"--filter", "driver=bridge", "--filter", "type=custom", "--format", "{{.Name}}"},
		{"--filter", "name=net", "--format", "{{.Name}} {{.ID}}"},
		{"--filter", "dangling=true", "--format", "{{.Name}}"},
	} {
		if got, want := dk.ok(append([]string{"network", "ls"}, args...)...), d.ok(append([]string{"network", "ls"}, args...)...); got != want {
			t.Errorf("network ls %v: docker printed\n%s\npatchbay printed\n%s", args, got, want)
		}
	}
	if got := dk.ok("network", "ls", "--filter", "label=team", "--format", "{{.Name}}"); got != "intnet\nmynet\n" {
		t.Errorf("label=team filter: %q", got)
	}

	// network inspect: byte for byte what patchbay prints, by name, ID
	// and ID prefix, and for several networks at once.
	for _, ref := range []string{"mynet", id, id[:5]} {
		if got, want := dk.ok("network", "inspect", ref), d.ok("network", "inspect", ref); got != want {
			t.Errorf("network inspect %s: docker printed\n%s\npatchbay printed\n%s", ref, got, want)
		}
	}
	if got, want := dk.ok("network", "inspect", "bridge", "host", "none"), d.ok("network", "inspect", "bridge", "host", "none"); got != want {
		t.Errorf("network inspect of the defaults: docker printed\n%s\npatchbay printed\n%s", got, want)
	}
	if got, want := dk.ok("network", "inspect", "-v", "mynet"), d.ok("network", "inspect", "mynet"); got != want {
		t.Errorf("network inspect -v: docker printed\n%s\npatchbay printed\n%s", got, want)
	}
	dk.fails("nosuchnet", "network", "inspect", "nosuchnet")

	// connect and disconnect patchbay sandboxes.
	d.ok("run", "-d", "--name", "web", "--", "sleep", "300")
	d.ok("sandbox", "create", "--name", "idle", "--network", "intnet")
	dk.ok("network", "connect", "mynet", "web")
	dk.ok("network", "connect", "--ip", "10.0.1.50", "--alias", "db", "mynet", "idle")
	if got := d.ok("inspect", "-f", "{{.NetworkSettings.Networks.mynet.IPAddress}} {{.NetworkSettings.Networks.mynet.Aliases}}", "idle"); got != "10.0.1.50 [db]\n" {
		t.Errorf("idle on mynet: %q", got)
	}
	webIP := strings.TrimSpace(d.ok("inspect", "-f", "{{.NetworkSettings.Networks.mynet.IPAddress}}", "web"))
	if !strings.HasPrefix(webIP, "10.0.1.") {
		t.Errorf("web's mynet address %q", webIP)
	}
	if got, want := dk.ok("network", "inspect", "mynet"), d.ok("network", "inspect", "mynet"); got != want {
		t.Errorf("network inspect with containers: docker printed\n%s\npatchbay printed\n%s", got, want)
	}
	members := strings.Fields(dk.ok("network", "inspect", "-f", "{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}", "mynet"))
	slices.Sort(members)
	if got := strings.Join(members, " "); got != "idle=10.0.1.50/24 web="+webIP+"/24" {
		t.Errorf("mynet containers: %q", got)
	}
	dk.fails("already", "network", "connect", "mynet", "web")
	dk.fails("nosuchbox", "network", "connect", "mynet", "nosuchbox")
	dk.fails("links are not supported", "network", "connect", "--link", "web:w", "intnet", "web")

	// ps and inspect show sandboxes as containers.
	out = dk.ok("ps", "--format", "{{.Names}}|{{.Status}}|{{.Networks}}|{{.Command}}")
	// (docker 20.10 lists a container's networks in map order)
	if !strings.HasPrefix(out, "web|Up ") || !strings.Contains(out, "|bridge,mynet|") && !strings.Contains(out, "|mynet,bridge|") || strings.Contains(out, "idle") {
		t.Errorf("docker ps:\n%s", out)
	}
	out = dk.ok("ps", "-a", "--format", "{{.Names}} {{.State}}")
	if !strings.Contains(out, "idle created") || !strings.Contains(out, "web running") {
		t.Errorf("docker ps -a:\n%s", out)
	}
	if got := dk.ok("ps", "-a", "--filter", "network=mynet", "--filter", "name=id", "--format", "{{.Names}}"); got != "idle\n" {
		t.Errorf("docker ps filters: %q", got)
	}
	if got := dk.ok("ps", "-q", "--no-trunc"); got != d.ok("ps", "-q", "--no-trunc") {
		t.Errorf("docker ps -q: %q, patchbay ps -q: %q", got, d.ok("ps", "-q", "--no-trunc"))
	}
	var insp []struct {
		ID    string `json:"Id"`
		Name  string
		State struct {
			Status  string
			Running bool
			Pid     int
		}
		HostConfig      struct{ NetworkMode string }
		NetworkSettings struct {
			Networks map[string]struct {
				IPAddress, Gateway, MacAddress, NetworkID, EndpointID string
				IPPrefixLen                                           int
			}
		}
	}
	if err := json.Unmarshal([]byte(dk.ok("inspect", "web")), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("docker inspect web: %v %v", err, insp)
	}
	w := insp[0]
	mynet := w.NetworkSettings.Networks["mynet"]
	if w.Name != "/web" || !w.State.Running || w.State.Status != "running" || w.State.Pid == 0 ||
		w.HostConfig.NetworkMode != "bridge" || mynet.IPAddress != webIP || mynet.IPPrefixLen != 24 ||
		mynet.Gateway != "10.0.1.1" || mynet.NetworkID != id || mynet.MacAddress == "" || mynet.EndpointID == "" {
		t.Errorf("docker inspect web: %+v", w)
	}
	if got, want := dk.ok("inspect", "-f", "{{.Id}} {{.NetworkSettings.Networks.bridge.IPAddress}}", "web"),
		d.ok("inspect", "-f", "{{.ID}} {{.NetworkSettings.Networks.bridge.IPAddress}}", "web"); got != want {
		t.Errorf("docker inspect -f: %q, patchbay inspect -f: %q", got, want)
	}
	// docker inspect finds networks too, through the same lookup.
	if got := dk.ok("inspect", "-f", "{{.Name}} {{.Id}}", "intnet"); got != "intnet "+strings.TrimSpace(d.ok("network", "inspect", "-f", "{{.ID}}", "intnet"))+"\n" {
		t.Errorf("docker inspect intnet: %q", got)
	}
	dk.fails("nosuchthing", "inspect", "nosuchthing")

	// rm refuses networks in use and the defaults; disconnect then rm.
	dk.fails("active endpoints", "network", "rm", "mynet")
	dk.fails("pre-defined", "network", "rm", "bridge")
	dk.ok("network", "disconnect", "mynet", "web")
	dk.ok("network", "disconnect", "--force", "mynet", "idle")
	if got := d.ok("inspect", "-f", "{{len .NetworkSettings.Networks}}", "web"); got != "1\n" {
		t.Errorf("web after disconnect has %s networks", got)
	}
	dk.fails("not connected", "network", "disconnect", "mynet", "web")
	if got := dk.ok("network", "rm", "mynet"); got != "mynet\n" {
		t.Errorf("network rm printed %q", got)
	}
	dk.fails("mynet", "network", "rm", "mynet")
	d.ok("rm", "-f", "idle")

	// prune: only unused custom networks, with label and until filters.
	d.ok("network", "create", "keep1")
	d.ok("network", "connect", "keep1", "web")
	dk.ok("network", "create", "--label", "old=yes", "old1")
	if got := dk.ok("network", "prune", "-f", "--filter", "label=team=none"); strings.Contains(got, "intnet") || strings.Contains(got, "old1") {
		t.Errorf("prune with a label nothing has removed: %q", got)
	}
	if got := dk.ok("network", "prune", "-f", "--filter", "until=1h"); strings.Contains(got, "old1") {
		t.Errorf("prune until=1h removed a new network: %q", got)
	}
	out = dk.ok("network", "prune", "-f", "--filter", "label!=team")
	if !strings.Contains(out, "old1") || strings.Contains(out, "intnet") {
		t.Errorf("prune label!=team: %q", out)
	}
	out = dk.ok("network", "prune", "-f")
	if !strings.Contains(out, "Deleted Networks:") || !strings.Contains(out, "intnet") || strings.Contains(out, "keep1") {
		t.Errorf("network prune -f: %q", out)
	}
	if got := d.ok("network", "ls", "--format", "{{.Name}}"); got != "bridge\nhost\nkeep1\nnone\n" {
		t.Errorf("networks after prune: %q", got)
	}

	// What patchbay does not provide fails clearly, without hanging.
	dk.fails("patchbay does not provide", "run", "--rm", "busybox", "true")
	dk.fails("patchbay does not provide", "pull", "busybox")
	if out := dk.ok("images", "-q"); out != "" {
		t.Errorf("docker images -q: %q", out)
	}
	dk.fails("patchbay does not provide", "volume", "ls")

	// An older API version prefix works too.
	r := dk.runEnv([]string{"DOCKER_API_VERSION=1.41"}, "network", "ls", "--format", "{{.Name}}")
	if r.code != 0 || r.stdout != "bridge\nhost\nkeep1\nnone\n" {
		t.Errorf("network ls at API 1.41: %s", r)
	}
}
