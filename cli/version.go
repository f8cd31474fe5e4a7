package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/patchbay/patchbay/api"
	"github.com/patchbay/patchbay/client"
	"github.com/spf13/cobra"
)

// Version is the version of this CLI.
const Version = "0.1.0"

// newVersionCmd is version: the client's, then the daemon's if it answers.
func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the patchbay version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(e.stdout, 0, 8, 1, ' ', 0)
			fmt.Fprintf(tw, "Client:\n Version:\t%s\n API version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n",
				Version, api.APIVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			c, err := e.client()
			if err == nil {
				err = c.Ping(cmd.Context())
			}
			var v map[string]string
			if err == nil {
				v, err = serverVersion(cmd.Context(), e.host)
			}
			if err != nil {
				_ = tw.Flush()
				return err
			}
			fmt.Fprintf(tw, "\nServer:\n Version:\t%s\n API version:\t%s (minimum version %s)\n OS:\t%s\n",
				v["Version"], v["ApiVersion"], v["MinAPIVersion"], v["Os"])
			return tw.Flush()
		},
	}
}

// serverVersion fetches GET /version. The client package has no call for
// it, so this dials the socket itself; host was validated by e.client.
func serverVersion(ctx context.Context, host string) (map[string]string, error) {
	if host == "" {
		host = client.DefaultHost
	}
	path := strings.TrimPrefix(host, "unix://")
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://patchbay/version", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get server version: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get server version: daemon replied %s", resp.Status)
	}
	var v map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("decode server version: %w", err)
	}
	return v, nil
}
