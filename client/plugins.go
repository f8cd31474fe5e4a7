package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/patchbay/patchbay/api/types"
)

// Plugins lists the legacy plugins the daemon finds in its plugin
// directories (GET /plugins/legacy).
func (c *Client) Plugins(ctx context.Context) ([]types.Plugin, error) {
	var out []types.Plugin
	if err := c.do(ctx, http.MethodGet, "/plugins/legacy", nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// PluginInspect reports one legacy plugin, with the networks that use it
// (GET /plugins/legacy/{name}/json).
func (c *Client) PluginInspect(ctx context.Context, name string) (types.Plugin, error) {
	var out types.Plugin
	err := c.do(ctx, http.MethodGet, "/plugins/legacy/"+url.PathEscape(name)+"/json", nil, nil, &out)
	return out, err
}
