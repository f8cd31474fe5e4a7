package cli

import (
	"fmt"
	"runtime"
	"text/tabwriter"

	"github.com/patchbay/patchbay/api/types"
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
				Version, types.APIVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			c, err := e.client()
			var v types.VersionResponse
			if err == nil {
				v, err = c.Version(cmd.Context())
			}
			if err != nil {
				_ = tw.Flush()
				return err
			}
			fmt.Fprintf(tw, "\nServer:\n Version:\t%s\n API version:\t%s (minimum version %s)\n OS:\t%s\n",
				v.Version, v.APIVersion, v.MinAPIVersion, v.Os)
			return tw.Flush()
		},
	}
}
