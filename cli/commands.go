package cli

import (
	"errors"

	"github.com/patchbay/patchbay/client"
	"github.com/spf13/cobra"
)

// addClientCommands registers every client verb.
func addClientCommands(root *cobra.Command, e *env) {
	root.AddCommand(
		newNetworkCmd(e),
		newSandboxCmd(e),
		newRunCmd(e),
		newExecCmd(e),
		newPsCmd(e, "ps", false),
		newInspectCmd(e),
		newStartCmd(e),
		newStopCmd(e),
		newRestartCmd(e),
		newAttachCmd(e),
		newKillCmd(e),
		newRmCmd(e),
		newLogsCmd(e),
		newWaitCmd(e),
		newPortCmd(e),
		newFirewallCmd(e),
		newPluginCmd(e),
		newVersionCmd(e),
	)
	// Usage lines carry their own [OPTIONS], as Docker's do.
	var plain func(*cobra.Command)
	plain = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		for _, sub := range c.Commands() {
			plain(sub)
		}
	}
	for _, c := range root.Commands() {
		plain(c)
	}
}

// eachRef runs fn on every ref, going on after failures, and returns
// them all joined. It stops at once when the daemon cannot be reached.
func eachRef(refs []string, fn func(ref string) error) error {
	var errs []error
	for _, ref := range refs {
		err := fn(ref)
		var de *client.DaemonError
		if errors.As(err, &de) {
			return err
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
