// Package cli holds patchbay's cobra commands: Docker-like verbs, flags
// and output for networks and sandboxes, and the daemon itself.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/patchbay/patchbay/client"
	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// env is what every command shares: the streams and the client.
type env struct {
	host   string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (e *env) client() (*client.Client, error) { return client.New(e.host) }

// Main runs the CLI with args and returns the process exit code.
func Main(args []string) int {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	root := newRoot(e)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(e.stderr, "Error:", err)
		return 1
	}
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "patchbay",
		Short:         "A container network engine: Docker's network model as a daemon, CLI and library",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def := os.Getenv("PATCHBAY_HOST")
	if def == "" {
		def = client.DefaultHost
	}
	root.PersistentFlags().StringVarP(&e.host, "host", "H", def, "daemon socket (env PATCHBAY_HOST)")
	root.AddCommand(newDaemonCmd(e))
	addClientCommands(root, e)
	return root
}
