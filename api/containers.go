package api

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// Docker's container routes, for sandboxes: list and inspect. Both render
// through SandboxFrom, the conversion patchbay's own sandbox routes use.

// containerFilterKeys are the filters GET /containers/json accepts;
// containerFiltersUnsupported are Docker's others, refused by name.
var (
	containerFilterKeys         = []string{"before", "exited", "id", "label", "name", "network", "since", "status"}
	containerFiltersUnsupported = []string{"ancestor", "expose", "health", "isolation", "is-task", "publish", "volume"}
	containerStates             = []string{"created", "restarting", "running", "removing", "paused", "exited", "dead"}
)

// containerList is GET /containers/json: running sandboxes, or all with
// all=1, a status or exited filter, or a limit; newest first.
func (s *Server) containerList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := types.ParseFilters(q.Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	all := boolParam(r, "all")
	limit := 0
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			writeError(w, cnm.Invalid("invalid limit %q: not a number", v))
			return
		}
		if limit > 0 {
			all = true
		}
	}
	sbs := s.eng.Sandboxes()
	match, implyAll, err := sandboxMatcher(f, sbs)
	if err != nil {
		writeError(w, err)
		return
	}
	all = all || implyAll
	now := time.Now()
	out := []types.ContainerSummary{}
	for _, info := range sbs {
		if !all && !info.Running() {
			continue
		}
		sb := SandboxFrom(info)
		if !match(info, sb) {
			continue
		}
		out = append(out, ContainerSummaryOf(sb, now))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// containerInspect is GET /containers/{id}/json.
func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) {
	info, err := s.eng.Sandbox(containerRef(r.PathValue("id")))
	if err != nil {
		writeError(w, noSuchContainer(err, r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, ContainerJSONOf(SandboxFrom(info)))
}

// noSuchContainer words a not-found error as Docker does, so clients
// that match on it ("No such container") recognise it.
func noSuchContainer(err error, ref string) error {
	if StatusOf(err) == http.StatusNotFound {
		return cnm.NotFound("No such container: %s", ref)
	}
	return err
}

// ContainerJSONOf renders a sandbox as Docker's container inspect.
func ContainerJSONOf(sb types.Sandbox) types.ContainerJSON {
	sb.PortConflicts = nil // patchbay's own field
	return types.ContainerJSON{
		Sandbox: sb, Name: "/" + sb.Name, Created: sb.Created.UTC().Format(time.RFC3339Nano), RestartCount: sb.RestartCount,
		Platform: "linux", Mounts: []types.MountPoint{},
	}
}

// ContainerSummaryOf renders a sandbox as an entry of Docker's container
// list as of now.
func ContainerSummaryOf(sb types.Sandbox, now time.Time) types.ContainerSummary {
	c := types.ContainerSummary{
		ID: sb.ID, Names: []string{"/" + sb.Name}, Command: strings.Join(sb.Config.Cmd, " "),
		Created: sb.Created.Unix(), Ports: []types.PortSummary{}, Labels: map[string]string{},
		State: sb.State.Status, Status: types.StatusText(sb.State, now),
		HostConfig:      types.SummaryHostConfig{NetworkMode: sb.HostConfig.NetworkMode},
		NetworkSettings: types.SummaryNetworkSettings{Networks: sb.NetworkSettings.Networks},
		Mounts:          []types.MountPoint{},
	}
	for _, key := range slices.Sorted(maps.Keys(sb.NetworkSettings.Ports)) {
		port, proto, _ := strings.Cut(key, "/")
		p, _ := strconv.ParseUint(port, 10, 16)
		for _, b := range sb.NetworkSettings.Ports[key] {
			hp, _ := strconv.ParseUint(b.HostPort, 10, 16)
			c.Ports = append(c.Ports, types.PortSummary{IP: b.HostIP, PrivatePort: uint16(p), PublicPort: uint16(hp), Type: proto})
		}
	}
	return c
}

// sandboxMatcher checks container filters and returns the test they
// make, and whether they select stopped sandboxes too (status, exited).
func sandboxMatcher(f types.Filters, sbs []engine.SandboxInfo) (func(engine.SandboxInfo, types.Sandbox) bool, bool, error) {
	for _, k := range slices.Sorted(maps.Keys(f)) {
		if slices.Contains(containerFiltersUnsupported, k) {
			return nil, false, cnm.Invalid("filter '%s' is not supported by patchbay", k)
		}
	}
	if err := f.Validate(containerFilterKeys...); err != nil {
		return nil, false, err
	}
	for _, v := range f["status"] {
		if !slices.Contains(containerStates, v) {
			return nil, false, cnm.Invalid("invalid filter 'status=%s'", v)
		}
	}
	var exited []int
	for _, v := range f["exited"] {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, false, cnm.Invalid("invalid filter 'exited=%s'", v)
		}
		exited = append(exited, n)
	}
	created := func(key string) (time.Time, error) {
		vals := f[key]
		if len(vals) == 0 {
			return time.Time{}, nil
		}
		for _, info := range sbs {
			if info.ID == vals[0] || info.Name == containerRef(vals[0]) || strings.HasPrefix(info.ID, vals[0]) {
				return info.Created, nil
			}
		}
		return time.Time{}, cnm.NotFound("No such container: %s", vals[0])
	}
	before, err := created("before")
	if err != nil {
		return nil, false, err
	}
	since, err := created("since")
	if err != nil {
		return nil, false, err
	}
	match := func(info engine.SandboxInfo, sb types.Sandbox) bool {
		switch {
		case len(f["id"]) > 0 && !f.Match("id", sb.ID),
			len(f["name"]) > 0 && !f.Match("name", "/"+sb.Name),
			len(f["status"]) > 0 && !slices.Contains(f["status"], sb.State.Status),
			len(exited) > 0 && (sb.State.Status != cnm.StateExited || !slices.Contains(exited, sb.State.ExitCode)),
			len(f["label"]) > 0 && !f.MatchLabels("label", nil),
			!before.IsZero() && !info.Created.Before(before),
			!since.IsZero() && !info.Created.After(since):
			return false
		}
		if nets := f["network"]; len(nets) > 0 {
			return slices.ContainsFunc(info.Endpoints, func(ep engine.EndpointInfo) bool {
				return slices.Contains(nets, ep.NetworkName) || slices.Contains(nets, ep.NetworkID)
			})
		}
		return true
	}
	return match, len(f["status"]) > 0 || len(exited) > 0, nil
}
