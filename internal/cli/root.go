// Package cli is the crmauthz command line: manager, serve, validate, test and check.
// cmd/crmauthz and the kubectl plugin are thin mains over it.
package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code (1: a denial or a failed test; 2: misuse).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Execute runs the command line and returns the exit code.
func Execute(root *cobra.Command) int {
	if err := root.Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(root.ErrOrStderr(), ee.msg)
			}
			return ee.code
		}
		fmt.Fprintln(root.ErrOrStderr(), "Error:", err)
		return 2
	}
	return 0
}

// NewRoot is the `crmauthz` command.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "crmauthz",
		Short: "CRM access-control policy as Kubernetes resources, served as an authorization API",
		Long: `crmauthz turns CRM permission templates, sales groups, login policies and IP
allowlists — kept as Kubernetes custom resources or YAML files — into an
authorization service that CRM workloads ask on every request.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newManagerCmd(), newServeCmd(), newValidateCmd(), newTestCmd(), newCheckCmd(), newDiffCmd(), newVersionCmd("crmauthz"))
	return root
}
