package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crmauthz/crmauthz/internal/diff"
	"github.com/crmauthz/crmauthz/internal/pipeline"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// diffOptions are the flags `crmauthz diff` and `kubectl crmauthz diff` share.
type diffOptions struct {
	namespace, roster, output, failOn string
}

func (o *diffOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.roster, "roster", "", "CSV of user,role (a CRM export) to compare; default: every user either side names, in each governable role")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text (grouped by user) or json")
	cmd.Flags().StringVar(&o.failOn, "fail-on", "", "exit 1 when a change of this class is found: loss, gain or any")
}

const diffLong = `diff compares what every subject — a user in a role — may do under two versions
of a policy, and lists each difference: an action's scope, a field hidden, withheld,
masked or owner-only, a feature restricted, a record type hidden, bulk allowed, whom
the user sees in owner pickers, how they may log in (providers, second factor, IP
rules per channel), and which template governs; each a gain or a loss. Both sides are
checked first as validate checks them (problems: exit 2). Exit 0, or 1 when --fail-on
finds a change of its class.`

func newDiffCmd() *cobra.Command {
	o := &diffOptions{}
	k := &kubeFlags{}
	var cluster bool
	cmd := &cobra.Command{
		Use:   "diff BEFORE AFTER | diff --cluster -n TENANT AFTER",
		Short: "Show who gains and who loses which access between two versions of a policy",
		Long: diffLong + "\n\nBEFORE and AFTER are policy files or directories, as validate reads them; with --cluster,\n" +
			"BEFORE is the policy in force in the cluster of your kubeconfig for tenant --namespace.",
		Example: `  crmauthz diff policy-main/ policy-branch/
  crmauthz diff --roster users.csv --fail-on loss -o json old/ new/
  crmauthz diff --cluster --namespace acme policy/acme/`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cluster {
				if len(args) != 1 {
					return &exitError{code: 2, msg: "with --cluster, give AFTER alone: BEFORE is the cluster's policy"}
				}
				k.namespace = o.namespace
				return o.clusterVsFiles(cmd, k, args)
			}
			if len(args) != 2 {
				return &exitError{code: 2, msg: "give BEFORE and AFTER (or --cluster and AFTER)"}
			}
			before, err := loadSide(cmd.Context(), "BEFORE", args[0], o.namespace)
			if err != nil {
				return err
			}
			after, err := loadSide(cmd.Context(), "AFTER", args[1], o.namespace)
			if err != nil {
				return err
			}
			return o.run(cmd.OutOrStdout(), before, after)
		},
	}
	cmd.Flags().StringVar(&o.namespace, "namespace", "default", "tenant of objects without a namespace (with --cluster, the tenant compared)")
	cmd.Flags().BoolVar(&cluster, "cluster", false, "compare the policy in force in the cluster (BEFORE) with AFTER")
	cmd.Flags().StringVar(&k.kubeconfig, "kubeconfig", "", "with --cluster: path to the kubeconfig file")
	cmd.Flags().StringVar(&k.context, "context", "", "with --cluster: kubeconfig context to use")
	o.addFlags(cmd)
	return cmd
}

// newKubectlDiffCmd is `kubectl crmauthz diff -f DIR -n TENANT`: the cluster's policy
// in force against the files, like kubectl diff.
func newKubectlDiffCmd(k *kubeFlags) *cobra.Command {
	o := &diffOptions{}
	var files []string
	cmd := &cobra.Command{
		Use:     "diff -f FILE|DIR",
		Short:   "Show who gains and who loses which access if the files replaced the tenant's policy in the cluster",
		Long:    diffLong + "\n\nBEFORE is the tenant's policy in the cluster (-n), AFTER the files (-f).",
		Example: `  kubectl crmauthz diff -f policy/acme/ -n acme --fail-on loss`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return &exitError{code: 2, msg: "-f: the policy files to compare with the cluster's are required"}
			}
			return o.clusterVsFiles(cmd, k, files)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "policy files or directories (the new version)")
	o.addFlags(cmd)
	return cmd
}

// clusterVsFiles compares the tenant's policy in the cluster (k) with the files.
func (o *diffOptions) clusterVsFiles(cmd *cobra.Command, k *kubeFlags, files []string) error {
	ns, t, err := k.tenant(cmd.Context())
	if err != nil {
		return err
	}
	after, err := loadSide(cmd.Context(), "AFTER", strings.Join(files, ","), ns)
	if err != nil {
		return err
	}
	before := map[string]*policy.Snapshot{}
	if t != nil {
		before[ns] = t.Snapshot
		// The objects are compared as written; the manager keeps enforcing the last good
		// generation of one that stopped compiling, which is not in the cluster to read.
		for _, st := range t.Report.Objects {
			if !st.Ready && !st.InForce {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s %s/%s does not compile as written (%s: %s): compared without it; the cluster may still enforce an older generation of it\n",
					st.Kind, ns, st.Name, st.Reason, st.Message)
			}
		}
	}
	for name := range after {
		if name != ns {
			return &exitError{code: 2, msg: fmt.Sprintf("the files hold objects of namespace %s: compare one tenant (-n %s) at a time", name, ns)}
		}
	}
	return o.run(cmd.OutOrStdout(), before, after)
}

// loadSide compiles the policy in paths (comma-separated) through the offline
// pipeline; any problem refuses the diff (exit 2), naming the side.
func loadSide(ctx context.Context, side, paths, namespace string) (map[string]*policy.Snapshot, error) {
	files := pipeline.NewFiles(strings.Split(paths, ","), namespace)
	store := files.Store
	_, problems, err := files.Load(ctx)
	if err != nil {
		return nil, &exitError{code: 2, msg: side + ": " + err.Error()}
	}
	if problems.Errors() > 0 {
		var lines []string
		for _, p := range problems {
			if p.Severity == pipeline.Error {
				lines = append(lines, p.String())
			}
		}
		return nil, &exitError{code: 2, msg: side + " is not valid policy:\n" + strings.Join(lines, "\n")}
	}
	out := map[string]*policy.Snapshot{}
	for _, name := range store.Names() {
		out[name] = store.Snapshot(name)
	}
	return out, nil
}

func (o *diffOptions) run(w io.Writer, before, after map[string]*policy.Snapshot) error {
	switch o.failOn {
	case "", diff.Loss, diff.Gain, "any":
	default:
		return &exitError{code: 2, msg: "--fail-on " + o.failOn + ": want loss, gain or any"}
	}
	if o.output != "text" && o.output != "json" {
		return &exitError{code: 2, msg: "-o " + o.output + ": want text or json"}
	}
	var roster []diff.Subject
	if o.roster != "" {
		var err error
		if roster, err = readRoster(o.roster); err != nil {
			return &exitError{code: 2, msg: "--roster: " + err.Error()}
		}
	}
	var names []string
	for n := range before {
		names = append(names, n)
	}
	for n := range after {
		names = append(names, n)
	}
	slices.Sort(names)
	res := diff.Result{Changes: []diff.Change{}}
	for _, name := range slices.Compact(names) {
		subjects := roster
		if subjects == nil {
			subjects = diff.Subjects(before[name], after[name])
		}
		r := diff.Compare(name, before[name], after[name], subjects)
		res.Changes = append(res.Changes, r.Changes...)
		res.Summary.Subjects += r.Summary.Subjects
		res.Summary.Gains += r.Summary.Gains
		res.Summary.Losses += r.Summary.Losses
	}
	if o.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printDiff(w, res)
	}
	if (o.failOn == diff.Loss && res.Summary.Losses > 0) || (o.failOn == diff.Gain && res.Summary.Gains > 0) ||
		(o.failOn == "any" && len(res.Changes) > 0) {
		return &exitError{code: 1}
	}
	return nil
}

// printDiff writes the changes grouped by tenant, user and role.
func printDiff(w io.Writer, res diff.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	last := ""
	for _, c := range res.Changes {
		if head := c.Tenant + "/" + c.User + "/" + c.Role; head != last {
			if last != "" {
				fmt.Fprintln(tw)
			}
			fmt.Fprintf(tw, "%s: %s (%s)\n", c.Tenant, c.User, c.Role)
			last = head
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s → %s\n", c.Effect, c.Kind, what(c), c.Before, c.After)
	}
	if last != "" {
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d subject(s) compared: %d gain(s), %d loss(es)\n", res.Summary.Subjects, res.Summary.Gains, res.Summary.Losses)
}

// what names what a change is about: entity.action field, a feature, a login rule.
func what(c diff.Change) string {
	s := c.Entity
	if c.Action != "" {
		s += "." + c.Action
	}
	for _, x := range []string{c.Field, c.Feature} {
		if x != "" {
			s = strings.TrimSpace(s + " " + x)
		}
	}
	if s == "" {
		return "-"
	}
	return s
}

// readRoster reads user,role lines (a header line user,role is skipped).
func readRoster(path string) ([]diff.Subject, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	r.TrimLeadingSpace = true
	var out []diff.Subject
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if line == 1 && strings.EqualFold(rec[0], "user") && strings.EqualFold(rec[1], "role") {
			continue
		}
		role, ok := policy.ParseRole(rec[1])
		if !ok || role == policy.RoleSuperAdmin {
			return nil, fmt.Errorf("line %d: role %q is not one a template governs (Administrator, SalesManager, SalesUser, MarketingUser)", line, rec[1])
		}
		if rec[0] == "" {
			return nil, fmt.Errorf("line %d: no user", line)
		}
		out = append(out, diff.Subject{User: rec[0], Role: role})
	}
	if len(out) == 0 {
		return nil, errors.New("no user,role lines")
	}
	return out, nil
}
