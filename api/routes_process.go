package api

import "net/http"

// processRoutes are the routes that run, attach to and manage sandbox
// processes: patchbay's own and Docker's.
func (s *Server) processRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /sandboxes/{id}/start":   s.sandboxStart,
		"POST /sandboxes/{id}/restart": s.sandboxRestart,
		"POST /sandboxes/{id}/attach":  s.sandboxAttach,

		"POST /containers/{id}/exec":    s.dockerExecCreate,
		"POST /exec/{id}/start":         s.dockerExecStart,
		"POST /exec/{id}/resize":        s.dockerExecResize,
		"GET /exec/{id}/json":           s.dockerExecInspect,
		"POST /containers/{id}/start":   s.dockerStart,
		"POST /containers/{id}/stop":    s.dockerStop,
		"POST /containers/{id}/restart": s.dockerRestart,
		"POST /containers/{id}/kill":    s.dockerKill,
		"POST /containers/{id}/wait":    s.dockerWait,
		"DELETE /containers/{id}":       s.dockerRemove,
		"GET /containers/{id}/logs":     s.dockerLogs,
		"POST /containers/{id}/attach":  s.dockerAttach,
		"POST /containers/{id}/resize":  s.dockerResize,
	}
}
