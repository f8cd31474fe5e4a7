package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/spf13/cobra"
)

const (
	defaultNetworkTable  = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
	pruneNetworksWarning = "WARNING! This will remove all custom networks not used by at least one sandbox.\n" +
		"Are you sure you want to continue? [y/N] "
)

// networkHeaders are the table headers that are not just the field name.
var networkHeaders = map[string]string{"ID": "NETWORK ID", "CreatedAt": "CREATED AT"}

// newNetworkCmd is the network command group.
func newNetworkCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newNetworkCreateCmd(e),
		newNetworkLsCmd(e),
		newNetworkInspectCmd(e),
		newNetworkRmCmd(e),
		newNetworkConnectCmd(e),
		newNetworkDisconnectCmd(e),
		newNetworkPruneCmd(e),
	)
	return cmd
}

// networkRow is what a network ls --format template sees.
type networkRow struct {
	ID        string
	Name      string
	Driver    string
	Scope     string
	IPv6      bool
	Internal  bool
	Labels    string
	CreatedAt string
	labels    map[string]string
}

// Label returns the value of one label of the network.
func (r networkRow) Label(key string) string { return r.labels[key] }

// networkRowOf renders a network for network ls.
func networkRowOf(n types.NetworkResource, trunc bool) networkRow {
	return networkRow{
		ID: shortID(n.ID, trunc), Name: n.Name, Driver: n.Driver, Scope: n.Scope,
		IPv6: n.EnableIPv6, Internal: n.Internal, Labels: joinLabels(n.Labels),
		CreatedAt: n.Created.String(), labels: n.Labels,
	}
}

// joinLabels renders labels as "k=v,k2=v2", sorted by key.
func joinLabels(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// parseFilters reads -f name=value flags, as Docker does.
func parseFilters(vals []string) (types.Filters, error) {
	f := types.Filters{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, errors.New("bad format of filter (expected name=value)")
		}
		k = strings.ToLower(strings.TrimSpace(k))
		f[k] = append(f[k], strings.TrimSpace(val))
	}
	return f, nil
}

// newNetworkLsCmd is network ls: a table sorted by name, or --format.
func newNetworkLsCmd(e *env) *cobra.Command {
	var (
		quiet, noTrunc bool
		filters        []string
		format         string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			nets, err := c.NetworkList(cmd.Context(), f)
			if err != nil {
				return err
			}
			slices.SortFunc(nets, func(a, b types.NetworkResource) int { return strings.Compare(a.Name, b.Name) })
			rows := make([]networkRow, len(nets))
			for i, n := range nets {
				rows[i] = networkRowOf(n, !noTrunc)
			}
			if quiet && (format == "" || format == tableKey) {
				format = "{{.ID}}"
			}
			return writeList(e.stdout, format, defaultNetworkTable, networkHeaders, rows)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&quiet, "quiet", "q", false, "only display network IDs")
	fl.BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	fl.StringArrayVarP(&filters, "filter", "f", nil, "provide filter values (e.g. driver=bridge)")
	fl.StringVar(&format, "format", "", "format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'")
	return cmd
}

// newNetworkInspectCmd is network inspect.
func newNetworkInspectCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			get := func(ref string) (types.NetworkResource, error) { return c.NetworkInspect(cmd.Context(), ref) }
			return inspectAll(e.stdout, format, "network", args, get)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template, or 'json'")
	return cmd
}

// newNetworkRmCmd is network rm: it prints each removed network.
func newNetworkRmCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			return eachRef(args, func(ref string) error {
				err := c.NetworkRemove(cmd.Context(), ref)
				if force && errors.Is(err, cnm.ErrNotFound) {
					return nil
				}
				if err == nil {
					fmt.Fprintln(e.stdout, ref)
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not error if the network does not exist")
	return cmd
}

// newNetworkConnectCmd is network connect.
func newNetworkConnectCmd(e *env) *cobra.Command {
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK SANDBOX",
		Short: "Connect a sandbox to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			return c.NetworkConnect(cmd.Context(), args[0], types.NetworkConnectRequest{
				Container: args[1], EndpointConfig: ep.settings(),
			})
		},
	}
	ep.register(cmd, "alias")
	return cmd
}

// newNetworkDisconnectCmd is network disconnect.
func newNetworkDisconnectCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK SANDBOX",
		Short: "Disconnect a sandbox from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			return c.NetworkDisconnect(cmd.Context(), args[0], types.NetworkDisconnectRequest{Container: args[1], Force: force})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force the sandbox to disconnect from the network")
	return cmd
}

// newNetworkPruneCmd is network prune.
func newNetworkPruneCmd(e *env) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			return runNetworkPrune(cmd.Context(), e, force, f)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `provide filter values (e.g. "until=24h", "label=k=v", "label!=k")`)
	return cmd
}

// runNetworkPrune asks for confirmation unless forced, then prunes.
func runNetworkPrune(ctx context.Context, e *env, force bool, f types.Filters) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	if !force {
		fmt.Fprint(e.stdout, pruneNetworksWarning)
		if !confirmed(e.stdin) {
			return nil
		}
	}
	rep, err := c.NetworkPrune(ctx, f)
	if err != nil {
		return err
	}
	if len(rep.NetworksDeleted) > 0 {
		// Docker ends the list with an empty line.
		fmt.Fprintln(e.stdout, "Deleted Networks:\n"+strings.Join(rep.NetworksDeleted, "\n")+"\n")
	}
	return nil
}

// confirmed reads one answer line: y or yes, in any case, means yes.
func confirmed(in io.Reader) bool {
	if in == nil {
		return false
	}
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
