// Command patchbay is the container network engine: `patchbay daemon`
// runs the engine, every other verb is a client of it.
package main

import (
	"os"

	"github.com/patchbay/patchbay/cli"
	"github.com/patchbay/patchbay/sandbox"
)

func main() {
	sandbox.InitMain() // the re-exec'd process starter never returns
	os.Exit(cli.Main(os.Args[1:]))
}
