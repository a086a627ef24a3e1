package e2e

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/operator"
)

// warnings records the admission warnings the API server passes to a client.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	w.list = append(w.list, msg)
	w.mu.Unlock()
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

func object(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.crmauthz.io/v1alpha1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}

type webhookRefusal struct {
	name    string
	obj     *unstructured.Unstructured
	message string
}

const whNS = "webhooks"

// refusalsNeedingTheWebhook are objects the schema accepts and only the webhook (or
// the code behind it) can refuse.
func refusalsNeedingTheWebhook() []webhookRefusal {
	var out []webhookRefusal
	entityActions := map[string][]string{
		"leads":         {"create", "edit", "delete", "export", "import", "reassign"},
		"opportunities": {"create", "edit", "delete", "export", "import", "reassign"},
		"accounts":      {"create", "edit", "delete", "export", "import", "reassign"},
		"activities":    {"create", "edit", "delete", "export", "import"},
		"tasks":         {"create", "edit", "delete", "export", "reassign", "markComplete"},
	}
	entities := make([]string, 0, len(entityActions))
	for e := range entityActions {
		entities = append(entities, e)
	}
	sort.Strings(entities)
	n := 0
	next := func() string { n++; return fmt.Sprintf("bad-%02d", n) }
	// An action allowed while view is None.
	for _, e := range entities {
		for _, a := range entityActions[e] {
			spec := map[string]any{"appliesTo": map[string]any{"roles": []any{"SalesManager"}},
				"entities": map[string]any{e: map[string]any{"view": map[string]any{"access": "None"}, a: map[string]any{"access": "Full"}}}}
			out = append(out, webhookRefusal{"acting on " + e + " unseen: " + a, object("PermissionTemplate", whNS, next(), spec),
				fmt.Sprintf(`spec.entities.%s.%s.access: Invalid value: "Full": %s.%s cannot be allowed while %s.view is None`, e, a, e, a, e)})
		}
	}
	// A scope wider than view's.
	for _, w := range []struct{ view, action, scope string }{{"Own", "edit", "Team"}, {"Shared", "delete", "All"}, {"Team", "export", "All"}, {"Own", "create", "Shared"}} {
		spec := map[string]any{"appliesTo": map[string]any{"roles": []any{"SalesManager"}},
			"entities": map[string]any{"leads": map[string]any{"view": map[string]any{"scope": w.view}, w.action: map[string]any{"scope": w.scope}}}}
		out = append(out, webhookRefusal{"scope " + w.scope + " wider than view " + w.view, object("PermissionTemplate", whNS, next(), spec),
			fmt.Sprintf("spec.entities.leads.%s.scope: Invalid value: %q: scope %s is wider than leads.view's scope %s", w.action, w.scope, w.scope, w.view)})
	}
	// System fields the CRM cannot restrict.
	for entity, fields := range map[string][]string{
		"leads":         {"ConversionReferrerURL", "CreatedOn", "EngagementScore", "LeadConversionDate", "ProspectAutoId", "Origin", "QualityScore01", "Score", "ModifiedOn", "Revenue", "SourceIPAddress", "SourceReferrerURL", "StageRottingFlagMessage", "StageRottingFlagModifiedOn", "StageRottingFlagStatus"},
		"opportunities": {"OwnerId", "Owner", "mx_Custom_1", "mx_Custom_2", "mx_Custom_19"},
	} {
		for i, f := range fields {
			action := []string{"view", "create", "edit"}[i%3]
			spec := map[string]any{"appliesTo": map[string]any{"roles": []any{"SalesManager"}},
				"entities": map[string]any{entity: map[string]any{action: map[string]any{"access": "Partial", "fields": []any{"Notes", f}}}}}
			out = append(out, webhookRefusal{"system field " + entity + "." + f, object("PermissionTemplate", whNS, next(), spec),
				fmt.Sprintf(`spec.entities.%s.%s.fields[1]: Invalid value: %q: %s is a system field of %s that the CRM cannot restrict partially`, entity, action, f, f, entity)})
		}
	}
	// Claims already made at the same level.
	for _, c := range []struct{ list, value string }{{"users", "u-claimed"}, {"roles", "MarketingUser"}, {"salesGroups", "claimed-group"}} {
		spec := map[string]any{"appliesTo": map[string]any{c.list: []any{"other", c.value}}}
		if c.list != "users" {
			spec["appliesTo"] = map[string]any{c.list: []any{c.value}}
		}
		idx := 0
		if c.list == "users" {
			idx = 1
		}
		out = append(out, webhookRefusal{"a " + c.list + " claim already made", object("PermissionTemplate", whNS, next(), spec),
			fmt.Sprintf(`spec.appliesTo.%s[%d]: Invalid value: %q: already claimed by PermissionTemplate claims: one template per %s`, c.list, idx, c.value, strings.TrimSuffix(c.list, "s"))})
	}
	// Sales-group cycles.
	out = append(out,
		webhookRefusal{"a two-group loop", object("SalesGroup", whNS, "root", map[string]any{"parent": "child"}),
			`spec.parent: Invalid value: "child": the parent chain root → child → root loops back to root`},
		webhookRefusal{"a three-group loop", object("SalesGroup", whNS, "root", map[string]any{"parent": "grandchild"}),
			`spec.parent: Invalid value: "grandchild": the parent chain root → grandchild → child → root loops back to root`},
		webhookRefusal{"a second LoginPolicy", object("LoginPolicy", whNS, "second", map[string]any{}),
			`metadata.name: Forbidden: namespace webhooks already has LoginPolicy first`},
	)
	return out
}

var _ = Describe("Admission", Ordered, func() {
	var c client.Client
	var seen = &warnings{}

	BeforeAll(func() {
		wcfg := rest.CopyConfig(cfg)
		wcfg.WarningHandler = seen
		var err error
		c, err = client.New(wcfg, client.Options{Scheme: operator.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: whNS}})).To(Succeed())
		// What the refusals collide with.
		for _, o := range []*unstructured.Unstructured{
			object("PermissionTemplate", whNS, "claims", map[string]any{"appliesTo": map[string]any{
				"users": []any{"u-claimed"}, "roles": []any{"MarketingUser"}, "salesGroups": []any{"claimed-group"}}}),
			object("SalesGroup", whNS, "claimed-group", map[string]any{}),
			object("SalesGroup", whNS, "root", map[string]any{}),
			object("SalesGroup", whNS, "child", map[string]any{"parent": "root"}),
			object("SalesGroup", whNS, "grandchild", map[string]any{"parent": "child"}),
			object("LoginPolicy", whNS, "first", map[string]any{}),
		} {
			Expect(c.Create(ctx(), o)).To(Succeed())
		}
		// The webhook reads the manager's cache: wait until it sees them all.
		Eventually(func() error {
			return c.Create(ctx(), object("LoginPolicy", whNS, "probe", map[string]any{}), client.DryRunAll)
		}, 10*time.Second).Should(MatchError(ContainSubstring("already has LoginPolicy first")))
		Eventually(func() error {
			return c.Create(ctx(), object("PermissionTemplate", whNS, "probe", map[string]any{"appliesTo": map[string]any{"salesGroups": []any{"claimed-group"}}}), client.DryRunAll)
		}, 10*time.Second).Should(MatchError(ContainSubstring("already claimed")))
		Eventually(func() error {
			return c.Create(ctx(), object("SalesGroup", whNS, "probe", map[string]any{"parent": "grandchild"}), client.DryRunAll)
		}, 10*time.Second).Should(Succeed())
		Eventually(func() []string {
			var l v1alpha1.SalesGroupList
			Expect(op.Manager.GetClient().List(ctx(), &l, client.InNamespace(whNS))).To(Succeed())
			var names []string
			for _, g := range l.Items {
				names = append(names, g.Name)
			}
			return names
		}, 10*time.Second).Should(ContainElements("root", "child", "grandchild", "claimed-group"))
	})

	It("refuses at least 40 invalid objects with a message naming the field", func() {
		cases := refusalsNeedingTheWebhook()
		Expect(len(cases)).To(BeNumerically(">=", 40))
		for _, r := range cases {
			var err error
			if r.obj.GetKind() == "SalesGroup" && r.obj.GetName() == "root" {
				existing := object("SalesGroup", whNS, "root", nil)
				Expect(c.Get(ctx(), client.ObjectKeyFromObject(existing), existing)).To(Succeed())
				r.obj.SetResourceVersion(existing.GetResourceVersion())
				err = c.Update(ctx(), r.obj)
			} else {
				err = c.Create(ctx(), r.obj)
			}
			Expect(err).To(HaveOccurred(), "stored: %s", r.name)
			Expect(err.Error()).To(ContainSubstring(r.message), r.name)
		}
	})

	It("passes every warning to the client", func() {
		seen.take()
		Expect(c.Create(ctx(), object("SalesGroup", whNS, "orphan", map[string]any{"parent": "not-yet"}))).To(Succeed())
		Expect(c.Create(ctx(), object("PermissionTemplate", whNS, "future", map[string]any{"appliesTo": map[string]any{"salesGroups": []any{"ghost"}}}))).To(Succeed())
		Expect(c.Create(ctx(), object("IPAllowlist", whNS, "open", map[string]any{"cidrs": []any{"0.0.0.0/0", "::/0"}}))).To(Succeed())
		Expect(seen.take()).To(ConsistOf(
			"spec.parent: SalesGroup not-yet does not exist (yet): orphan is a root until it does",
			"spec.appliesTo.salesGroups[0]: SalesGroup ghost does not exist (yet): the template governs nobody through it until it does",
			"spec.cidrs[0]: 0.0.0.0/0 allows every IPv4 address: the allowlist restricts nothing for IPv4",
			"spec.cidrs[1]: ::/0 allows every IPv6 address: the allowlist restricts nothing for IPv6",
		))
		// kubectl shows them too.
		path := GinkgoT().TempDir() + "/w.yaml"
		Expect(writeFile(path, "apiVersion: policy.crmauthz.io/v1alpha1\nkind: IPAllowlist\nmetadata: {name: open-too, namespace: webhooks}\nspec: {cidrs: [\"::/0\"]}\n")).To(Succeed())
		out := kubectl("apply", "-f", path)
		Expect(out).To(ContainSubstring("Warning: spec.cidrs[0]: ::/0 allows every IPv6 address"))
	})

	It("refuses the 51st template", func() {
		ns := "fifty"
		Expect(c.Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		for i := 0; i < 50; i++ {
			t := object("PermissionTemplate", ns, fmt.Sprintf("t%02d", i), map[string]any{"appliesTo": map[string]any{"users": []any{fmt.Sprintf("u-%d", i)}}})
			Expect(c.Create(ctx(), t)).To(Succeed())
		}
		Eventually(func() error {
			return c.Create(ctx(), object("PermissionTemplate", ns, "t50", map[string]any{"appliesTo": map[string]any{"users": []any{"u-50"}}}))
		}, 10*time.Second).Should(MatchError(ContainSubstring("metadata.namespace: Forbidden: namespace fifty already has 50 PermissionTemplates, the most a CRM account may have")))
	})

	It("settles templates created concurrently past admission deterministically", func() {
		ns := "race"
		Expect(c.Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		// 48 templates, then 12 more at once, all claiming the same role: admission
		// reads a cache, so several may pass the 50 limit and the one-claimant rule.
		for i := 0; i < 48; i++ {
			Expect(c.Create(ctx(), object("PermissionTemplate", ns, fmt.Sprintf("base-%02d", i), map[string]any{"appliesTo": map[string]any{"users": []any{fmt.Sprintf("u-%d", i)}}}))).To(Succeed())
		}
		Eventually(func() int {
			var l v1alpha1.PermissionTemplateList
			Expect(op.Manager.GetClient().List(ctx(), &l, client.InNamespace(ns))).To(Succeed())
			return len(l.Items)
		}, 10*time.Second).Should(Equal(48))
		var wg sync.WaitGroup
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_ = c.Create(ctx(), object("PermissionTemplate", ns, fmt.Sprintf("rush-%02d", i), map[string]any{"appliesTo": map[string]any{"roles": []any{"SalesUser"}}, "restrictedFeatures": []any{"Dashboard"}}))
			}(i)
		}
		wg.Wait()

		var l v1alpha1.PermissionTemplateList
		Expect(c.List(ctx(), &l, client.InNamespace(ns))).To(Succeed())
		var rushed []v1alpha1.PermissionTemplate
		for _, t := range l.Items {
			if strings.HasPrefix(t.Name, "rush-") {
				rushed = append(rushed, t)
			}
		}
		sort.Slice(rushed, func(i, j int) bool { return rushed[i].Name < rushed[j].Name })
		Expect(rushed).NotTo(BeEmpty())
		AddReportEntry("templates past admission", fmt.Sprintf("%d of 12 concurrent creates stored (total %d)", len(rushed), len(l.Items)))
		// The oldest 50 stay: the first two rushed (by creation time, then name) fit.
		inForce := map[string]bool{}
		byAge := append([]v1alpha1.PermissionTemplate(nil), l.Items...)
		sort.Slice(byAge, func(i, j int) bool {
			a, b := byAge[i], byAge[j]
			if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				return a.CreationTimestamp.Before(&b.CreationTimestamp)
			}
			return a.Name < b.Name
		})
		for i, t := range byAge {
			inForce[t.Name] = i < 50
		}
		var winner string // the role claim goes to the in-force rushed template that sorts first
		for _, t := range rushed {
			if inForce[t.Name] {
				winner = t.Name
				break
			}
		}
		Expect(winner).NotTo(BeEmpty())
		Eventually(func(g Gomega) {
			for _, t := range rushed {
				var got v1alpha1.PermissionTemplate
				g.Expect(c.Get(ctx(), client.ObjectKeyFromObject(&t), &got)).To(Succeed())
				ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
				g.Expect(ready).NotTo(BeNil(), t.Name)
				switch {
				case !inForce[t.Name]:
					g.Expect(ready.Status).To(Equal(metav1.ConditionFalse), t.Name)
					g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonTemplateLimit), t.Name)
				case t.Name == winner:
					g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), t.Name)
				default:
					g.Expect(ready.Status).To(Equal(metav1.ConditionFalse), t.Name)
					g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonTie), t.Name)
					g.Expect(ready.Message).To(ContainSubstring("role SalesUser is also claimed by template " + winner))
				}
			}
		}, 20*time.Second).Should(Succeed())
		d := check(feature(ns, "u-any", "SalesUser", "Dashboard"))
		Expect(d.Allowed).To(BeFalse())
		Expect(d.Template).To(Equal(winner))
	})
})
