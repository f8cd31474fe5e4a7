package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/client"
	"github.com/patchbay/patchbay/internal/logfile"
	"github.com/spf13/cobra"
)

const defaultPsTable = "table {{.ID}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Networks}}\t{{.Names}}"

// psHeaders are the table headers that are not just the field name.
var psHeaders = map[string]string{"ID": "SANDBOX ID", "RunningFor": "CREATED", "CreatedAt": "CREATED AT"}

// sandboxRow is what a ps --format template sees.
type sandboxRow struct {
	ID         string
	Names      string
	Command    string
	CreatedAt  string
	RunningFor string
	Status     string
	State      string
	Networks   string
	Pid        int
}

// sandboxRowOf renders a sandbox for ps as of now.
func sandboxRowOf(sb types.Sandbox, trunc bool, now time.Time) sandboxRow {
	return sandboxRow{
		ID:         shortID(sb.ID, trunc),
		Names:      strings.TrimPrefix(sb.Name, "/"),
		Command:    quoteCommand(commandOf(sb), trunc),
		CreatedAt:  sb.Created.Local().Truncate(time.Second).String(),
		RunningFor: runningFor(sb.Created, now),
		Status:     statusOf(sb.State, now),
		State:      sb.State.Status,
		Networks:   strings.Join(slices.Sorted(maps.Keys(sb.NetworkSettings.Networks)), ","),
		Pid:        sb.State.Pid,
	}
}

// newPsCmd lists sandboxes; all is the default of -a (set for sandbox ls).
func newPsCmd(e *env, use string, all bool, aliases ...string) *cobra.Command {
	var (
		quiet, noTrunc bool
		format         string
	)
	cmd := &cobra.Command{
		Use:     use + " [OPTIONS]",
		Aliases: aliases,
		Short:   "List sandboxes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			sbs, err := c.SandboxList(cmd.Context(), all)
			if err != nil {
				return err
			}
			// Newest first, as Docker lists containers.
			slices.SortStableFunc(sbs, func(a, b types.Sandbox) int { return b.Created.Compare(a.Created) })
			now := time.Now()
			rows := make([]sandboxRow, len(sbs))
			for i, sb := range sbs {
				rows[i] = sandboxRowOf(sb, !noTrunc, now)
			}
			if quiet && (format == "" || format == tableKey) {
				format = "{{.ID}}"
			}
			return writeList(e.stdout, format, defaultPsTable, psHeaders, rows)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", all, "show all sandboxes (default shows just running)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "only display sandbox IDs")
	fl.BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	fl.StringVar(&format, "format", "", "format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'")
	return cmd
}

// newInspectCmd is inspect (of sandboxes).
func newInspectCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SANDBOX [SANDBOX...]",
		Short: "Display detailed information on one or more sandboxes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			get := func(ref string) (types.Sandbox, error) { return c.SandboxInspect(cmd.Context(), ref) }
			return inspectAll(e.stdout, format, "sandbox", args, get)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template, or 'json'")
	return cmd
}

// newEachCmd builds a verb that makes one call per sandbox named, goes
// on after failures, prints each ref it succeeded on, and returns the
// failures joined.
func newEachCmd(e *env, use, short string, call func(ctx context.Context, c *client.Client, ref string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			return eachRef(args, func(ref string) error {
				if err := call(cmd.Context(), c, ref); err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, ref)
				return nil
			})
		},
	}
}

// newStopCmd is stop.
func newStopCmd(e *env) *cobra.Command {
	var secs int
	cmd := newEachCmd(e, "stop [OPTIONS] SANDBOX [SANDBOX...]", "Stop one or more running sandboxes (SIGTERM, then SIGKILL)",
		func(ctx context.Context, c *client.Client, ref string) error { return c.SandboxStop(ctx, ref, secs) })
	cmd.Flags().IntVarP(&secs, "time", "t", 10, "seconds to wait before killing the process")
	return cmd
}

// newKillCmd is kill.
func newKillCmd(e *env) *cobra.Command {
	var sig string
	cmd := newEachCmd(e, "kill [OPTIONS] SANDBOX [SANDBOX...]", "Send a signal to one or more running sandboxes",
		func(ctx context.Context, c *client.Client, ref string) error { return c.SandboxKill(ctx, ref, sig) })
	cmd.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send")
	return cmd
}

// newRmCmd is rm.
func newRmCmd(e *env, aliases ...string) *cobra.Command {
	var force bool
	cmd := newEachCmd(e, "rm [OPTIONS] SANDBOX [SANDBOX...]", "Remove one or more sandboxes",
		func(ctx context.Context, c *client.Client, ref string) error { return c.SandboxRemove(ctx, ref, force) })
	cmd.Aliases = aliases
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force the removal of a running sandbox (uses SIGKILL)")
	return cmd
}

// newLogsCmd is logs: what the process wrote to stdout goes to stdout,
// to stderr to stderr. --since and --until are read here, as the docker
// CLI does, so a duration counts back from this machine's clock.
func newLogsCmd(e *env) *cobra.Command {
	var opts client.LogsOptions
	var since, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SANDBOX",
		Short: "Fetch the output of a sandbox's process",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			for _, t := range []struct {
				flag, v string
				out     *string
			}{{"since", since, &opts.Since}, {"until", until, &opts.Until}} {
				at, err := logfile.ParseTime(t.v, now)
				if err != nil {
					return fmt.Errorf("--%s: %w", t.flag, err)
				}
				*t.out = logfile.FormatUnix(at)
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			return c.SandboxLogs(cmd.Context(), args[0], opts, e.stdout, e.stderr)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.Follow, "follow", "f", false, "follow log output")
	f.BoolVarP(&opts.Timestamps, "timestamps", "t", false, "show timestamps")
	f.StringVar(&since, "since", "", `show logs since a time (e.g. "2026-12-01T10:00:00Z", Unix seconds) or for a duration back from now (e.g. "10m")`)
	f.StringVar(&until, "until", "", `show logs before a time (e.g. "2026-12-01T10:00:00Z", Unix seconds) or a duration back from now (e.g. "10m")`)
	f.StringVarP(&opts.Tail, "tail", "n", "all", "number of lines to show from the end of the logs")
	return cmd
}

// newWaitCmd is wait: it prints each exit code.
func newWaitCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "wait SANDBOX [SANDBOX...]",
		Short: "Block until one or more sandboxes' processes stop, then print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			return eachRef(args, func(ref string) error {
				code, err := c.SandboxWait(cmd.Context(), ref)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, code)
				return nil
			})
		},
	}
}

// newSandboxCmd is the sandbox command group.
func newSandboxCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Manage sandboxes (network namespaces)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newSandboxCreateCmd(e),
		newPsCmd(e, "ls", true, "list", "ps"),
		newRmCmd(e, "remove"),
		newInspectCmd(e),
	)
	return cmd
}

// sandboxCreateOpts are the flags of sandbox create.
type sandboxCreateOpts struct {
	name, hostname string
	network        string
	ep             endpointFlags
	pid            int
	netns          string
	names          nameFlags
}

// newSandboxCreateCmd is sandbox create: a fresh namespace or an adopted one.
func newSandboxCreateCmd(e *env) *cobra.Command {
	var o sandboxCreateOpts
	cmd := &cobra.Command{
		Use:   "create [OPTIONS]",
		Short: "Create a sandbox: a fresh namespace, or adopt a running process's (--pid) or a named one (--netns)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			req := types.SandboxCreateRequest{
				Name: o.name, Hostname: o.hostname, Network: o.network, Endpoint: o.ep.settings(),
				AdoptPID: o.pid, AdoptNetns: o.netns,
			}
			o.names.apply(&req)
			resp, err := c.SandboxCreate(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, resp.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.name, "name", "", "assign a name to the sandbox")
	fl.StringVarP(&o.hostname, "hostname", "h", "", "sandbox host name")
	fl.Bool("help", false, "help for create") // -h is --hostname, as in Docker
	fl.IntVar(&o.pid, "pid", 0, "adopt the network namespace of this running process")
	fl.StringVar(&o.netns, "netns", "", "adopt the network namespace at this path (e.g. /run/netns/NAME)")
	registerNetwork(cmd, &o.network, nil)
	o.ep.register(cmd, "network-alias")
	o.names.register(cmd)
	cmd.MarkFlagsMutuallyExclusive("pid", "netns")
	return cmd
}
