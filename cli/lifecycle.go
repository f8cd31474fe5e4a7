package cli

import (
	"context"
	"fmt"

	"github.com/patchbay/patchbay/client"
	"github.com/spf13/cobra"
)

// newStartCmd is start: a stopped sandbox's command runs again in the
// same sandbox (same namespace, endpoints, addresses, names and ports).
func newStartCmd(e *env) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] SANDBOX [SANDBOX...]",
		Short: "Start one or more stopped sandboxes' processes again",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (attach || interactive) && len(args) > 1 {
				return fmt.Errorf("you cannot start and attach multiple sandboxes at once")
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			if attach || interactive {
				// Attached first, so the output is seen from its first byte.
				start := func() error { return c.SandboxStart(cmd.Context(), args[0]) }
				return e.attach(cmd.Context(), c, args[0], interactive, detachKeys, true, start)
			}
			return eachRef(args, func(ref string) error {
				if err := c.SandboxStart(cmd.Context(), ref); err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, ref)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&attach, "attach", "a", false, "attach to the process's output")
	fl.BoolVarP(&interactive, "interactive", "i", false, "attach to the process's input too")
	fl.StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching (default \"ctrl-p,ctrl-q\")")
	return cmd
}

// newRestartCmd is restart.
func newRestartCmd(e *env) *cobra.Command {
	var secs int
	cmd := newEachCmd(e, "restart [OPTIONS] SANDBOX [SANDBOX...]", "Restart one or more sandboxes' processes",
		func(ctx context.Context, c *client.Client, ref string) error { return c.SandboxRestart(ctx, ref, secs) })
	cmd.Flags().IntVarP(&secs, "time", "t", 10, "seconds to wait before killing the process")
	return cmd
}

// newAttachCmd is attach: the local terminal shows a running sandbox's
// process until it ends or the user detaches (ctrl-p ctrl-q).
func newAttachCmd(e *env) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] SANDBOX",
		Short: "Attach the local terminal to a running sandbox's process",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			return e.attach(cmd.Context(), c, args[0], !noStdin, detachKeys, sigProxy, nil)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&noStdin, "no-stdin", false, "do not attach STDIN")
	fl.BoolVar(&sigProxy, "sig-proxy", true, "proxy received signals to the process (without a terminal)")
	fl.StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching (default \"ctrl-p,ctrl-q\")")
	return cmd
}

// attach runs an attach session on the local terminal; start, if set,
// runs once attached.
func (e *env) attach(ctx context.Context, c *client.Client, ref string, input bool, detachKeys string, sigProxy bool, start func() error) error {
	sb, err := c.SandboxInspect(ctx, ref)
	if err != nil {
		return err
	}
	if start == nil && !sb.State.Running {
		return fmt.Errorf("you cannot attach to a stopped sandbox, start it first")
	}
	// Without a terminal, ^C and other signals go to the process, as
	// with Docker's attach --sig-proxy.
	ts, err := e.openTerminal(ctx, input && sb.Config.Tty, detachKeys, !sb.Config.Tty && sigProxy)
	if err != nil {
		return err
	}
	defer ts.close()
	if input && !sb.Config.Tty && sb.Config.OpenStdin {
		// A process started with -i and no terminal reads the input as
		// it is (the local terminal stays as it is too).
		ts.tio.In = e.stdin
	}
	if sb.Config.Tty && ts.size != [2]uint16{} {
		// The terminal takes this window's size, as with Docker's attach.
		select {
		case ts.resize <- ts.size:
		default:
		}
	}
	ts.tio.OnAttach = start
	code, err := c.Attach(ts.ctx, ref, ts.tio)
	return sessionEnd(code, err)
}
