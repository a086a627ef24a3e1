package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmauthz/crmauthz/internal/service"
)

type checkOptions struct {
	server, token, tokenFile string
	q                        service.CheckRequest
}

func newCheckCmd() *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check ACTION ENTITY[/ID] | check access FEATURE",
		Short: "Ask a running service whether a user may do something, and why",
		Long: `check asks a running crmauthz (manager or serve) one question and prints the
decision. It exits 0 when allowed and 1 when denied (2 on error).`,
		Example: `  crmauthz check --tenant acme --user u-17 --role SalesUser edit leads/L-1 --owner u-3
  crmauthz check --tenant acme --user u-17 --role SalesUser edit leads/L-1 --owner u-17 --field Stage --explain
  crmauthz check --tenant acme --user u-17 --role SalesUser access Dashboard`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	o.addFlags(cmd)
	return cmd
}

// addFlags binds the question's flags (shared by check and kubectl crmauthz can-i).
func (o *checkOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.server, "server", envOr("CRMAUTHZ_SERVER", "http://127.0.0.1:8080"), "decision API base URL (env CRMAUTHZ_SERVER)")
	f.StringVar(&o.token, "token", os.Getenv("CRMAUTHZ_TOKEN"), "bearer token (env CRMAUTHZ_TOKEN)")
	f.StringVar(&o.tokenFile, "token-file", "", "read the bearer token from a file")
	f.StringVar(&o.q.Tenant, "tenant", "", "tenant (namespace)")
	f.StringVar(&o.q.Subject.User, "user", "", "asking user id")
	f.StringVar(&o.q.Subject.Role, "role", "", "asking user's role")
	f.StringVar(&o.q.Resource.Owner, "owner", "", "record owner (for create: intended owner)")
	f.StringSliceVar(&o.q.Resource.SharedWith, "shared-with", nil, "users the record is shared with")
	f.StringVar(&o.q.Resource.Type, "type", "", "activity or task type")
	f.StringSliceVar(&o.q.Fields, "field", nil, "fields the action sets (repeatable)")
	f.StringSliceVar(&o.q.EmptyFields, "empty-field", nil, "fields whose stored value is empty")
	f.BoolVar(&o.q.Bulk, "bulk", false, "a bulk operation")
	f.StringVar(&o.q.Context.IP, "ip", "", "client IP address")
	f.StringVar(&o.q.Context.Channel, "channel", "", "UI, API or Mobile (default UI)")
	f.BoolVar(&o.q.Explain, "explain", false, "print the evaluation trace")
}

// fillRequest completes the request from the arguments: ACTION ENTITY[/ID] or
// access FEATURE.
func (o *checkOptions) fillRequest(args []string) {
	o.q.Action = args[0]
	if o.q.Action == "access" {
		o.q.Resource.Feature = args[1]
	} else {
		entity, id, _ := strings.Cut(args[1], "/")
		o.q.Resource.Entity, o.q.Resource.ID = entity, id
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (o *checkOptions) run(cmd *cobra.Command, args []string) error {
	o.fillRequest(args)
	token := o.token
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	body, _ := json.Marshal(&o.q)
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(o.server, "/")+"/v1/check", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("could not reach %s: %v", o.server, err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return &exitError{code: 2, msg: fmt.Sprintf("%s (%d %s)", e.Error.Message, resp.StatusCode, e.Error.Code)}
		}
		return &exitError{code: 2, msg: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, data)}
	}
	var d service.CheckResponse
	if err := json.Unmarshal(data, &d); err != nil {
		return &exitError{code: 2, msg: "unreadable answer: " + err.Error()}
	}
	printDecision(cmd.OutOrStdout(), &d)
	if !d.Allowed {
		return &exitError{code: 1}
	}
	return nil
}

func printDecision(w io.Writer, d *service.CheckResponse) {
	verdict := "ALLOWED"
	if !d.Allowed {
		verdict = "DENIED"
	}
	fmt.Fprintf(w, "%s (%s): %s\n", verdict, d.Reason, d.Message)
	if d.Template != "" {
		fmt.Fprintf(w, "  template:      %s\n", d.Template)
	}
	if len(d.DeniedFields) > 0 {
		fmt.Fprintf(w, "  denied fields: %s\n", strings.Join(d.DeniedFields, ", "))
	}
	if len(d.Fields.Hidden) > 0 {
		fmt.Fprintf(w, "  hide fields:   %s\n", strings.Join(d.Fields.Hidden, ", "))
	}
	if len(d.Fields.Masked) > 0 {
		fmt.Fprintf(w, "  mask fields:   %s\n", strings.Join(d.Fields.Masked, ", "))
	}
	fmt.Fprintf(w, "  revision:      %s   decision: %s\n", d.Revision, d.DecisionID)
	if len(d.Trace) > 0 {
		fmt.Fprintln(w, "  trace:")
		for i, s := range d.Trace {
			line := fmt.Sprintf("    %d. %-12s %s", i+1, s.Step, s.Outcome)
			if s.Detail != "" {
				line += " — " + s.Detail
			}
			fmt.Fprintln(w, line)
		}
	}
}
