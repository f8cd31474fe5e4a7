package cli

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/portspec"
)

// newPortCmd is port: a sandbox's published ports, as Docker prints them.
func newPortCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "port SANDBOX [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the sandbox",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			want := ""
			if len(args) == 2 {
				r, proto, err := portspec.ParseExpose(args[1])
				if err != nil {
					return err
				}
				if r.Len() != 1 {
					return fmt.Errorf("port %s: give one port, not a range", args[1])
				}
				want = portspec.Key(r.Start, proto)
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			sb, err := c.SandboxInspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			keys := make([]string, 0, len(sb.NetworkSettings.Ports))
			for k := range sb.NetworkSettings.Ports {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, func(a, b string) int { return portOrder(a) - portOrder(b) })
			found := false
			for _, k := range keys {
				if want != "" && k != want {
					continue
				}
				for _, b := range sb.NetworkSettings.Ports[k] {
					found = true
					host := net.JoinHostPort(b.HostIP, b.HostPort)
					if want != "" {
						fmt.Fprintln(e.stdout, host)
					} else {
						fmt.Fprintf(e.stdout, "%s -> %s\n", k, host)
					}
				}
			}
			if want != "" && !found {
				return fmt.Errorf("no public port '%s' published for %s", want, args[0])
			}
			return nil
		},
	}
}

// portOrder sorts "80/tcp" keys by port, then protocol.
func portOrder(key string) int {
	port, proto, _ := strings.Cut(key, "/")
	n, _ := strconv.Atoi(port)
	return n*4 + len(proto)%4
}

// newFirewallCmd is the firewall command group.
func newFirewallCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "firewall", Short: "Inspect the firewall rules patchbay installs"}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the nftables table patchbay installed, with every set and map element",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			rules, err := c.FirewallRules(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprint(e.stdout, rules)
			return nil
		},
	})
	return cmd
}
