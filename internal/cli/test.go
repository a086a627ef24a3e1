package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crmauthz/crmauthz/internal/policytest"
)

func newTestCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test DIR|FILE...",
		Short: "Run policy test suites offline (YAML: policy objects and expected decisions)",
		Long: `test runs policy test suites, like opa test: each YAML file holds policy objects
(inline under policy:, or files under policyFiles:) and cases, each a request to the
decision API (check, checks, filter, visible, login, session, password) with the
answer wanted. Decisions are made offline by the same code as the server. It prints
PASS or FAIL per case and exits 1 when any case fails.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			results, err := policytest.RunPaths(args...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, r := range results {
				if !r.Passed() {
					failed++
					fmt.Fprintf(out, "FAIL %s: %s\n     %v\n", r.File, r.Case, r.Err)
				} else if verbose {
					fmt.Fprintf(out, "PASS %s: %s\n", r.File, r.Case)
				}
			}
			if failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d of %d cases failed", failed, len(results))}
			}
			fmt.Fprintf(out, "PASS: %d cases\n", len(results))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print passing cases too")
	return cmd
}
