package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/patchbay/patchbay/api/types"
)

// PluginLister is what the plugin routes serve: the legacy plugins the
// daemon can find, each checked to answer (within ctx).
type PluginLister interface {
	// List lists every plugin the plugin directories name.
	List(ctx context.Context) []types.Plugin
	// Inspect reports one plugin; one no file names is an error of kind
	// cnm.ErrNotFound.
	Inspect(ctx context.Context, name string) (types.Plugin, error)
}

// pluginRoutes adds the plugin routes: patchbay's own for legacy
// plugins, and Docker's for managed ones.
func (s *Server) pluginRoutes() {
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /plugins/legacy":             s.pluginList,
		"GET /plugins/legacy/{name}/json": s.pluginInspect,
		"GET /plugins":                    s.managedPluginList,
		"GET /plugins/{name}/json":        s.managedPluginInspect,
	} {
		s.mux.HandleFunc(pattern, h)
	}
}

// SetPlugins gives the server what GET /plugins/legacy lists. Without it
// the list is empty.
func (s *Server) SetPlugins(l PluginLister) { s.plugins = l }

// pluginList is GET /plugins/legacy, patchbay's own: the legacy plugins
// found in the plugin directories (Docker's GET /plugins lists managed
// plugins only).
func (s *Server) pluginList(w http.ResponseWriter, r *http.Request) {
	out := []types.Plugin{}
	if s.plugins != nil {
		out = append(out, s.plugins.List(r.Context())...)
	}
	writeJSON(w, http.StatusOK, out)
}

// pluginInspect is GET /plugins/legacy/{name}/json: one legacy plugin,
// with the networks that use it.
func (s *Server) pluginInspect(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.plugins == nil {
		writeError(w, errStatus(http.StatusNotFound, "plugin %q not found", name))
		return
	}
	p, err := s.plugins.Inspect(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	for _, n := range s.eng.Networks() {
		if n.Driver == name || n.IPAM.Driver == name {
			p.Networks = append(p.Networks, n.Name)
		}
	}
	slices.Sort(p.Networks)
	writeJSON(w, http.StatusOK, p)
}

// managedPluginFilters are the filters Docker's GET /plugins accepts.
var managedPluginFilters = []string{"capability", "enabled"}

// managedPluginList is Docker's GET /plugins: the managed (v2) plugins,
// installed with `docker plugin install`. patchbay manages none, and
// Docker never lists legacy plugins there either, so the list is empty
// (`docker plugin ls` prints its header); patchbay's own GET
// /plugins/legacy lists the legacy ones. Filters are checked as Docker
// checks them.
func (s *Server) managedPluginList(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.Validate(managedPluginFilters...)
	}
	if _, ok := f["enabled"]; ok && err == nil {
		_, err = f.Bool("enabled")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, []struct{}{})
}

// managedPluginInspect is Docker's GET /plugins/{name}/json: no managed
// plugin exists, so every name is not found, as Docker answers for a
// legacy plugin's name.
func (s *Server) managedPluginInspect(w http.ResponseWriter, r *http.Request) {
	writeError(w, errStatus(http.StatusNotFound,
		"plugin %q not found: patchbay manages no plugins (a legacy plugin is found in the plugin directories: patchbay plugin inspect)", r.PathValue("name")))
}
