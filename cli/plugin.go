package cli

import (
	"strings"

	"github.com/patchbay/patchbay/api/types"
	"github.com/spf13/cobra"
)

// pluginRow is one row of `plugin ls`.
type pluginRow struct {
	Name, Implements, Address, Status, File string
}

const defaultPluginTable = "table {{.Name}}\t{{.Implements}}\t{{.Address}}\t{{.Status}}"

func newPluginCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "plugin", Short: "List and inspect the Docker network and IPAM plugins the daemon finds"}
	var format string
	ls := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List the legacy plugins in the daemon's plugin directories, and whether each answers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ps, err := c.Plugins(cmd.Context())
			if err != nil {
				return err
			}
			return writeList(e.stdout, format, defaultPluginTable, nil, pluginRows(ps))
		},
	}
	ls.Flags().StringVar(&format, "format", "", "format the output: table, json, or a Go template")
	cmd.AddCommand(ls, newPluginInspectCmd(e))
	return cmd
}

// newPluginInspectCmd is plugin inspect: each plugin as JSON, checked to
// answer, with the networks that use it.
func newPluginInspectCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] PLUGIN [PLUGIN...]",
		Short: "Display detailed information on one or more legacy plugins",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			get := func(name string) (types.Plugin, error) { return c.PluginInspect(cmd.Context(), name) }
			return inspectAll(e.stdout, format, "plugin", args, get)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template, or 'json'")
	return cmd
}

func pluginRows(ps []types.Plugin) []pluginRow {
	rows := make([]pluginRow, 0, len(ps))
	for _, p := range ps {
		impl := strings.Join(p.Implements, ",")
		if impl == "" {
			impl = "-"
		}
		rows = append(rows, pluginRow{Name: p.Name, Implements: impl, Address: p.Address, Status: p.Status, File: p.File})
	}
	return rows
}
