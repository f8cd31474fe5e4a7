package api

import (
	"net/http"

	"github.com/patchbay/patchbay/cnm"
)

// Docker API answers that clients depend on although patchbay has no
// swarm and no images: a node outside any swarm, an empty image store.

// Docker's words for a node that is not in a swarm.
const (
	errNotSwarmManager = `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`
	errNotInSwarm      = "This node is not part of a swarm"
)

// compatRoutes are those answers.
func (s *Server) compatRoutes() map[string]http.HandlerFunc {
	notManager := func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errStatus(http.StatusServiceUnavailable, "%s", errNotSwarmManager))
	}
	notInSwarm := func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errStatus(http.StatusServiceUnavailable, "%s", errNotInSwarm))
	}
	routes := map[string]http.HandlerFunc{
		"GET /swarm":           notManager,
		"POST /swarm/update":   notManager,
		"GET /swarm/unlockkey": notManager,
		"POST /swarm/unlock":   notManager,
		"POST /swarm/leave":    notInSwarm,
		"GET /images/json":     s.imageList,
		// Not DELETE /containers/{id}'s other method: a route of its own.
		"POST /containers/create": func(w http.ResponseWriter, r *http.Request) {
			writeError(w, errStatus(http.StatusNotImplemented,
				"patchbay does not provide containers made from images: %s %s is not supported (run a command in a new sandbox with patchbay run)",
				r.Method, r.URL.Path))
		},
		"GET /images/{name}/json": func(w http.ResponseWriter, r *http.Request) {
			writeError(w, cnm.NotFound("No such image: %s", r.PathValue("name")))
		},
	}
	for _, area := range []string{"/nodes", "/services", "/tasks", "/secrets", "/configs"} {
		routes[area] = notManager
		routes[area+"/"] = notManager
	}
	return routes
}

// imageList is GET /images/json: patchbay runs host binaries and keeps
// no images.
func (s *Server) imageList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []struct{}{})
}
