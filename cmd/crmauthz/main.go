// Command crmauthz is the crmauthz operator, decision server and CLI.
package main

import (
	"os"

	"github.com/crmauthz/crmauthz/internal/cli"
)

func main() { os.Exit(cli.Execute(cli.NewRoot())) }
