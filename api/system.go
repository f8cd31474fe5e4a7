package api

import (
	"github.com/patchbay/patchbay/api/types"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ping answers HEAD and GET /_ping with the headers a Docker client
// negotiates from (API-Version, OSType, Docker-Experimental, Swarm).
func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Api-Version", types.APIVersion)
	h.Set("Ostype", "linux")
	h.Set("Docker-Experimental", "false")
	h.Set("Swarm", "inactive")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodGet {
		_, _ = io.WriteString(w, "OK")
	}
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// VersionInfo is what GET /version reports.
func VersionInfo() types.VersionResponse {
	v := types.VersionResponse{
		Version: Version, APIVersion: types.APIVersion, MinAPIVersion: MinAPIVersion,
		GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH,
		KernelVersion: kernelVersion(),
	}
	v.Platform.Name = "patchbay"
	v.Components = []types.ComponentVersion{{
		Name: "patchbay", Version: Version,
		Details: map[string]string{
			"ApiVersion": types.APIVersion, "MinAPIVersion": MinAPIVersion, "GoVersion": v.GoVersion,
			"Os": v.Os, "Arch": v.Arch, "KernelVersion": v.KernelVersion,
		},
	}}
	return v
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, VersionInfo())
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	name, _ := os.Hostname()
	in := types.Info{
		ID: s.eng.Tag(), DockerRootDir: s.eng.RootDir(),
		Plugins: types.InfoPlugins{
			Volume: []string{}, Network: s.eng.DriverNames(), Authorization: []string{}, Log: []string{},
		},
		SystemTime:    time.Now().Format(time.RFC3339Nano),
		KernelVersion: kernelVersion(), OperatingSystem: "patchbay", OSType: runtime.GOOS,
		Architecture: runtime.GOARCH, NCPU: runtime.NumCPU(), Name: name, ServerVersion: Version,
		Swarm:           types.InfoSwarm{LocalNodeState: "inactive"},
		SecurityOptions: []string{}, Warnings: []string{},
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		in.MemTotal = int64(si.Totalram) * int64(si.Unit)
	}
	for _, sb := range s.eng.Sandboxes() {
		in.Containers++
		if sb.Running() {
			in.ContainersRunning++
		} else {
			in.ContainersStopped++
		}
	}
	writeJSON(w, http.StatusOK, in)
}

// dockerAreas are the first path segments of Docker Engine API routes
// patchbay does not serve (beyond the network and container subset),
// with what a user would call them.
var dockerAreas = map[string]string{
	"containers": "containers beyond list, inspect, exec and the lifecycle verbs (create, pause, export...)",
	"images":     "images", "build": "image builds", "commit": "image commits",
	"volumes": "volumes", "exec": "exec instances", "events": "events",
	"system": "system data usage", "plugins": "managed plugins (legacy plugins are found in the plugin directories: patchbay plugin ls)", "auth": "registry login",
	"distribution": "registry distribution", "session": "build sessions", "grpc": "build sessions",
	"swarm": "swarm", "nodes": "swarm nodes", "services": "swarm services", "tasks": "swarm tasks",
	"secrets": "swarm secrets", "configs": "swarm configs",
}

// unrouted answers what no route serves, in Docker's error shape: 405
// for a known path with another method, 501 for a Docker API area
// patchbay does not provide, 404 otherwise.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := s.mux.Handler(r2); pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, errStatus(http.StatusMethodNotAllowed, "method %s is not allowed for %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
		return
	}
	area, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if what, ok := dockerAreas[area]; ok {
		writeError(w, errStatus(http.StatusNotImplemented,
			"patchbay does not provide %s: %s %s is not supported (patchbay is a network engine: it serves the Docker API's network routes and lists and inspects its sandboxes as containers)",
			what, r.Method, r.URL.Path))
		return
	}
	writeError(w, errStatus(http.StatusNotFound, "page not found: patchbay has no route %s %s", r.Method, r.URL.Path))
}
