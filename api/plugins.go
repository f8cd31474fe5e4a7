package api

import (
	"context"
	"net/http"

	"github.com/patchbay/patchbay/api/types"
)

// PluginLister lists the plugins the daemon can find, checking that each
// answers (within ctx).
type PluginLister func(ctx context.Context) []types.Plugin

// SetPlugins gives the server what GET /plugins/legacy lists. Without it
// the list is empty.
func (s *Server) SetPlugins(l PluginLister) { s.plugins = l }

// pluginList is GET /plugins/legacy, patchbay's own: the legacy plugins
// found in the plugin directories (Docker's GET /plugins lists managed
// plugins only).
func (s *Server) pluginList(w http.ResponseWriter, r *http.Request) {
	out := []types.Plugin{}
	if s.plugins != nil {
		out = append(out, s.plugins(r.Context())...)
	}
	writeJSON(w, http.StatusOK, out)
}
