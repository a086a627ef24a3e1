package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/operator"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// NewKubectlPlugin is `kubectl crmauthz`: can-i and the access matrix against the
// policy in the current cluster, plus validate, test and check.
func NewKubectlPlugin() *cobra.Command {
	k := &kubeFlags{}
	root := &cobra.Command{
		Use:   "kubectl-crmauthz",
		Short: "Ask what the crmauthz policy in a cluster lets a CRM user do, and why",
		Long: `kubectl crmauthz reads a tenant's policy (the namespace's PermissionTemplates,
SalesGroups, LoginPolicy, IPAllowlists and the ConfigMaps they reference) from the
cluster of your kubeconfig and decides with the same engine as the service — like
kubectl auth can-i and rakkess do for RBAC. Use --server to ask a running service
instead.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file")
	root.PersistentFlags().StringVar(&k.context, "context", "", "kubeconfig context to use")
	root.PersistentFlags().StringVarP(&k.namespace, "namespace", "n", "", "tenant namespace (default: the context's)")
	root.AddCommand(newCanICmd(k), newAccessCmd(k), newValidateCmd(), newTestCmd(), newCheckCmd(), newKubectlDiffCmd(k), newVersionCmd("kubectl-crmauthz"))
	return root
}

type kubeFlags struct{ kubeconfig, context, namespace string }

// tenant reads and compiles the tenant in the chosen namespace.
func (k *kubeFlags) tenant(ctx context.Context) (string, *tenants.Tenant, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
	ns := k.namespace
	if ns == "" {
		var err error
		if ns, _, err = cc.Namespace(); err != nil {
			return "", nil, err
		}
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return "", nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return "", nil, err
	}
	in, err := loader.ReadNamespace(ctx, c, ns)
	if err != nil {
		return "", nil, err
	}
	if len(in.Templates)+len(in.Groups)+len(in.LoginPolicies)+len(in.Allowlists) == 0 {
		return ns, nil, nil
	}
	return ns, tenants.NewBuilder().Build(*in), nil
}

// one is a tenant source holding one tenant, for deciding locally.
type one struct {
	name string
	t    *tenants.Tenant
}

func (o one) Snapshot(n string) *policy.Snapshot {
	if o.t == nil || n != o.name {
		return nil
	}
	return o.t.Snapshot
}
func (one) Ready() bool { return true }

func newCanICmd(k *kubeFlags) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "can-i ACTION ENTITY[/ID] | can-i access FEATURE",
		Short: "Say whether a CRM user may do something under the cluster's policy, and why",
		Long: `can-i decides one question on the tenant's policy read from the cluster, with the
service's engine, and prints the decision. Exit 0 allowed, 1 denied, 2 error.
--server asks a running service instead.`,
		Example: `  kubectl crmauthz can-i edit leads/L-1 --user u-17 --role SalesUser --owner u-3 -n acme
  kubectl crmauthz can-i edit leads/L-1 --user u-17 --role SalesUser --owner u-17 --field Stage --explain -n acme
  kubectl crmauthz can-i access Dashboard --user u-17 --role SalesUser -n acme`,
		Args: cobra.ExactArgs(2),
	}
	o.addFlags(cmd)
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if c.Flags().Changed("server") {
			return o.run(c, args) // ask a running service
		}
		ns, t, err := k.tenant(c.Context())
		if err != nil {
			return err
		}
		o.q.Tenant = ns
		o.fillRequest(args)
		var out service.Reply
		if err := service.New(one{ns, t}, nil).Check(&o.q, &out); err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		resp := &service.CheckResponse{}
		if err := json.Unmarshal(out.Body, resp); err != nil {
			return err
		}
		printDecision(c.OutOrStdout(), resp)
		if !resp.Allowed {
			return &exitError{code: 1}
		}
		return nil
	}
	return cmd
}

func newAccessCmd(k *kubeFlags) *cobra.Command {
	var user, role string
	cmd := &cobra.Command{
		Use:     "access --user USER --role ROLE",
		Aliases: []string{"matrix"},
		Short:   "Show the access matrix of a CRM user: the scope of every action on every entity",
		Example: `  kubectl crmauthz access --user u-17 --role SalesUser -n acme`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, ok := policy.ParseRole(role)
			if !ok {
				return &exitError{code: 2, msg: fmt.Sprintf("--role: unknown role %q", role)}
			}
			if user == "" {
				return &exitError{code: 2, msg: "--user is required"}
			}
			ns, t, err := k.tenant(c.Context())
			if err != nil {
				return err
			}
			if t == nil {
				return &exitError{code: 1, msg: fmt.Sprintf("namespace %s has no crmauthz policy: every request is denied (UnknownTenant)", ns)}
			}
			printMatrix(c.OutOrStdout(), ns, user, r, t.Snapshot)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "CRM user id")
	cmd.Flags().StringVar(&role, "role", "", "the user's role")
	return cmd
}

// printMatrix prints entities × actions with the scope each action reaches.
func printMatrix(w io.Writer, ns, user string, role policy.Role, s *policy.Snapshot) {
	p := s.Governing(user, role)
	gov := "the " + role.String() + " baseline (no template)"
	if p.Template != "" {
		gov = "template " + p.Template
	}
	fmt.Fprintf(w, "%s (%s) in tenant %s, governed by %s, revision %s\n\n", user, role, ns, gov, s.Revision)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"ENTITY"}
	for a := policy.Action(0); a < policy.NumRecordActions; a++ {
		header = append(header, strings.ToUpper(a.String()))
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	accounts, _ := policy.ParseFeature("Accounts")
	var notes []string
	for e := policy.Entity(0); e < policy.NumEntities; e++ {
		row := []string{e.String()}
		ep := p.Entities[e]
		for a := policy.Action(0); a < policy.NumRecordActions; a++ {
			perm := ep.Perms[a]
			cell := "-"
			switch {
			case !e.Accepts(a):
				cell = ""
			case e == policy.EntityAccounts && p.Restricted.Has(accounts):
				cell = "-"
			case perm.Scope == policy.ScopeNone:
			case e == policy.EntityUsers:
				cell = "yes"
			default:
				cell = perm.Scope.String()
			}
			if cell != "" && cell != "-" && (perm.Fields.Len() > 0 || perm.BulkDeny) {
				cell += "*"
				var what []string
				if perm.Fields.Len() > 0 {
					verb := "may not set"
					if a == policy.ActionView {
						verb = "hides"
					}
					what = append(what, verb+" "+strings.Join(perm.Fields.Items(), ", "))
				}
				if perm.BulkDeny {
					what = append(what, "no bulk")
				}
				notes = append(notes, fmt.Sprintf("  %s.%s: %s", e, a, strings.Join(what, "; ")))
			}
			row = append(row, cell)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
		if ep.Masked.Len() > 0 || ep.OwnerOnly.Len() > 0 || ep.HiddenTypes.Len() > 0 {
			var what []string
			if ep.Masked.Len() > 0 {
				what = append(what, "masked "+strings.Join(ep.Masked.Items(), ", "))
			}
			if ep.OwnerOnly.Len() > 0 {
				what = append(what, "owner-only "+strings.Join(ep.OwnerOnly.Items(), ", "))
			}
			if ep.HiddenTypes.Len() > 0 {
				what = append(what, "hidden types "+strings.Join(ep.HiddenTypes.Items(), ", "))
			}
			notes = append(notes, fmt.Sprintf("  %s: %s", e, strings.Join(what, "; ")))
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nScopes: Own ⊂ Shared ⊂ Team ⊂ All; - denied.")
	if len(notes) > 0 {
		fmt.Fprintln(w, "Field rules (*):")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	if f := p.Restricted.List(); len(f) > 0 {
		fmt.Fprintf(w, "Restricted features: %s\n", strings.Join(f, ", "))
	} else {
		fmt.Fprintln(w, "Restricted features: none")
	}
}
