package cli

import "github.com/spf13/cobra"

func newManagerCmd() *cobra.Command {
	return &cobra.Command{Use: "manager", Short: "Run controllers, webhooks and the decision API in a cluster", Hidden: true,
		RunE: func(*cobra.Command, []string) error { return &exitError{code: 2, msg: "manager: not built yet"} }}
}
