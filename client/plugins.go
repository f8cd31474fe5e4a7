package client

import (
	"context"
	"net/http"

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
