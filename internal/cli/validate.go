package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crmauthz/crmauthz/internal/pipeline"
	"github.com/crmauthz/crmauthz/internal/schema"
)

// validateReport is `validate -o json`: for CI tools and editors.
type validateReport struct {
	Problems pipeline.Problems `json:"problems"`
	Errors   int               `json:"errors"`
	Objects  int               `json:"objects"`
	Tenants  int               `json:"tenants"`
}

func newValidateCmd() *cobra.Command {
	var namespace, output string
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check policy files offline as the API server and the webhook would",
		Long: `validate reads policy objects from files and directories and checks each one
against the CRD schema (OpenAPI, CEL rules, unknown fields), the admission webhook's
checks (as if the objects were created one by one in name order) and the compiler:
what kubectl apply, the webhook and the controller would refuse. It prints every
problem with the same message the webhook gives, naming the file, the object and
the field, and exits 1 if there is any. Warnings are printed but pass. With -o json
it prints {"problems":[{"severity","kind","namespace","name","source","field",
"message"}],"errors","objects","tenants"} instead.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			validator, err := schema.New()
			if err != nil {
				return err
			}
			files := pipeline.NewFiles(args, namespace)
			files.Validator = validator
			store := files.Store
			_, problems, err := files.Load(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			errs := problems.Errors()
			objects := 0
			for _, name := range store.Names() {
				objects += len(store.Get(name).Snapshot.Objects)
			}
			switch output {
			case "json":
				if problems == nil {
					problems = pipeline.Problems{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(validateReport{Problems: problems, Errors: errs, Objects: objects, Tenants: len(store.Names())}); err != nil {
					return err
				}
				if errs > 0 {
					return &exitError{code: 1}
				}
				return nil
			case "text":
			default:
				return &exitError{code: 2, msg: fmt.Sprintf("-o %s: want text or json", output)}
			}
			for _, p := range problems {
				fmt.Fprintln(out, p)
			}
			if errs > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d problem(s); %d object(s) valid", errs, objects)}
			}
			fmt.Fprintf(out, "%d object(s) in %d tenant(s): all valid\n", objects, len(store.Names()))
			return nil
		},
	}
	cmd.Flags().StringVar(&namespace, "namespace", "default", "tenant of objects without a namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
