// Command kubectl-crmauthz is the kubectl plugin: `kubectl crmauthz can-i`,
// `kubectl crmauthz access`, and the crmauthz validate, test and check commands.
package main

import (
	"os"

	"github.com/crmauthz/crmauthz/internal/cli"
)

func main() { os.Exit(cli.Execute(cli.NewKubectlPlugin())) }
