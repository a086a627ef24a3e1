package validation

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

func pt(name string, at v1alpha1.AppliesTo, e v1alpha1.Entities) *v1alpha1.PermissionTemplate {
	return &v1alpha1.PermissionTemplate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme"},
		Spec: v1alpha1.PermissionTemplateSpec{AppliesTo: at, Entities: e}}
}

func sg(name, parent string) v1alpha1.SalesGroup {
	return v1alpha1.SalesGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme"}, Spec: v1alpha1.SalesGroupSpec{Parent: v1alpha1.GroupName(parent)}}
}

func perm(access v1alpha1.Access, scope v1alpha1.Scope, fields ...v1alpha1.FieldName) *v1alpha1.Permission {
	return &v1alpha1.Permission{Access: access, Scope: scope, Fields: fields}
}

func TestTemplate(t *testing.T) {
	roles := v1alpha1.AppliesTo{Roles: []v1alpha1.Role{v1alpha1.RoleSalesManager}}
	existing := &Namespace{
		Templates: []v1alpha1.PermissionTemplate{*pt("taken", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-1"}, Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}, SalesGroups: []v1alpha1.GroupName{"west"}}, v1alpha1.Entities{})},
		Groups:    []v1alpha1.SalesGroup{sg("west", "")},
	}
	cases := []struct {
		name     string
		t        *v1alpha1.PermissionTemplate
		errs     []string
		warnings []string
	}{
		{"valid", pt("ok", roles, v1alpha1.Entities{Leads: &v1alpha1.RecordPermissions{View: perm("", v1alpha1.ScopeTeam), Edit: perm("", v1alpha1.ScopeOwn)}}), nil, nil},
		{"updating itself is no claim conflict", pt("taken", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-1"}}, v1alpha1.Entities{}), nil, nil},
		{"a user claimed elsewhere", pt("new", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-2", "u-1"}}, v1alpha1.Entities{}),
			[]string{`spec.appliesTo.users[1]: Invalid value: "u-1": already claimed by PermissionTemplate taken: one template per user`}, nil},
		{"a role claimed elsewhere", pt("new", v1alpha1.AppliesTo{Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}}, v1alpha1.Entities{}),
			[]string{`spec.appliesTo.roles[0]: Invalid value: "SalesUser": already claimed by PermissionTemplate taken: one template per role`}, nil},
		{"a group claimed elsewhere, and one missing", pt("new", v1alpha1.AppliesTo{SalesGroups: []v1alpha1.GroupName{"west", "ghost"}}, v1alpha1.Entities{}),
			[]string{`spec.appliesTo.salesGroups[0]: Invalid value: "west": already claimed by PermissionTemplate taken: one template per salesGroup`},
			[]string{"spec.appliesTo.salesGroups[1]: SalesGroup ghost does not exist (yet): the template governs nobody through it until it does"}},
		{"acting unseen (access defaults to Full)", pt("new", roles, v1alpha1.Entities{Tasks: &v1alpha1.TaskPermissions{View: perm(v1alpha1.AccessNone, ""), MarkComplete: perm("", "")}}),
			[]string{`spec.entities.tasks.markComplete.access: Invalid value: "Full": tasks.markComplete cannot be allowed while tasks.view is None`}, nil},
		{"None under None is fine", pt("new", roles, v1alpha1.Entities{Leads: &v1alpha1.RecordPermissions{View: perm(v1alpha1.AccessNone, ""), Delete: perm(v1alpha1.AccessNone, "")}}), nil, nil},
		{"wider than view", pt("new", roles, v1alpha1.Entities{Activities: &v1alpha1.ActivityPermissions{View: perm("", v1alpha1.ScopeShared), Export: perm("", v1alpha1.ScopeAll)}}),
			[]string{`spec.entities.activities.export.scope: Invalid value: "All": scope All is wider than activities.view's scope Shared`}, nil},
		{"a system field", pt("new", roles, v1alpha1.Entities{Opportunities: &v1alpha1.RecordPermissions{Edit: perm(v1alpha1.AccessPartial, "", "Amount", "mx_Custom_2")}}),
			[]string{`spec.entities.opportunities.edit.fields[1]: Invalid value: "mx_Custom_2": mx_Custom_2 is a system field of opportunities`}, nil},
		{"a DryRun template may claim what an Enforce one claims: it is its candidate replacement",
			dryRun(pt("next", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-1"}, Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}}, v1alpha1.Entities{})), nil, nil},
		{"a system field of leads masked is fine (only Partial is refused)", pt("new", roles, v1alpha1.Entities{Leads: &v1alpha1.RecordPermissions{MaskedFields: []v1alpha1.FieldName{"CreatedOn"}}}), nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			r := Template(c.t, existing, true)
			g.Expect(r.Errors).To(HaveLen(len(c.errs)), "%v", r.Errors)
			for i, want := range c.errs {
				g.Expect(r.Errors[i].Error()).To(ContainSubstring(want))
			}
			g.Expect(r.Warnings).To(Equal(c.warnings))
		})
	}
}

func TestTemplateLimit(t *testing.T) {
	g := NewWithT(t)
	ns := &Namespace{}
	for i := 0; i < v1alpha1.MaxTemplates; i++ {
		ns.Templates = append(ns.Templates, *pt(fmt.Sprintf("t%d", i), v1alpha1.AppliesTo{}, v1alpha1.Entities{}))
	}
	r := Template(pt("t50", v1alpha1.AppliesTo{}, v1alpha1.Entities{}), ns, true)
	g.Expect(r.Errors.ToAggregate().Error()).To(Equal("metadata.namespace: Forbidden: namespace acme already has 50 PermissionTemplates, the most a CRM account may have"))
	g.Expect(Template(pt("t49", v1alpha1.AppliesTo{}, v1alpha1.Entities{}), ns, false).Errors).To(BeEmpty(), "updating the 50th")
}

func TestSalesGroup(t *testing.T) {
	g := NewWithT(t)
	ns := &Namespace{Groups: []v1alpha1.SalesGroup{sg("a", ""), sg("b", "a"), sg("c", "b"), sg("x", "y"), sg("y", "x")}}
	r := SalesGroup(ptrTo(sg("a", "c")), ns)
	g.Expect(r.Errors.ToAggregate().Error()).To(Equal(`spec.parent: Invalid value: "c": the parent chain a → c → b → a loops back to a: sales groups must form a tree`))
	g.Expect(SalesGroup(ptrTo(sg("d", "c")), ns).Errors).To(BeEmpty())
	g.Expect(SalesGroup(ptrTo(sg("d", "x")), ns).Errors).To(BeEmpty(), "a loop above that does not include the group is not its to refuse")
	r = SalesGroup(ptrTo(sg("d", "nowhere")), ns)
	g.Expect(r.Errors).To(BeEmpty())
	g.Expect(r.Warnings).To(Equal([]string{"spec.parent: SalesGroup nowhere does not exist (yet): d is a root until it does"}))
}

func TestLoginPolicyAndAllowlist(t *testing.T) {
	g := NewWithT(t)
	ns := &Namespace{LoginPolicies: []v1alpha1.LoginPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "first"}}}}
	second := &v1alpha1.LoginPolicy{ObjectMeta: metav1.ObjectMeta{Name: "second", Namespace: "acme"}}
	g.Expect(LoginPolicy(second, ns, true).Errors.ToAggregate().Error()).To(Equal("metadata.name: Forbidden: namespace acme already has LoginPolicy first: a CRM account has one login policy"))
	g.Expect(LoginPolicy(second, ns, false).Errors).To(BeEmpty())
	al := &v1alpha1.IPAllowlist{Spec: v1alpha1.IPAllowlistSpec{CIDRs: []v1alpha1.CIDR{"10.0.0.0/8", "::/0"}}}
	g.Expect(IPAllowlist(al, nil).Warnings).To(Equal([]string{"spec.cidrs[1]: ::/0 allows every IPv6 address: the allowlist restricts nothing for IPv6"}))

	// A proxy list with no labelled ConfigMap behind it fails closed: say so.
	tor := &v1alpha1.IPAllowlist{Spec: v1alpha1.IPAllowlistSpec{CIDRs: []v1alpha1.CIDR{"10.0.0.0/8"}, BlockAnonymousProxies: true,
		AnonymousProxyList: &v1alpha1.AnonymousProxyList{ConfigMapRef: v1alpha1.ConfigMapKeyRef{Name: "tor", Key: "exits"}}}}
	g.Expect(IPAllowlist(tor, &Namespace{ProxyLists: map[string]bool{}}).Warnings).To(ConsistOf(
		`spec.anonymousProxyList.configMapRef.name: no ConfigMap tor labelled policy.crmauthz.io/anonymous-proxy-list: "true" in the namespace: the anonymous-proxy rule refuses every address on its channels until there is one`))
	g.Expect(IPAllowlist(tor, &Namespace{ProxyLists: map[string]bool{"tor": true}}).Warnings).To(BeEmpty())
	g.Expect(IPAllowlist(tor, nil).Warnings).To(BeEmpty(), "nothing said when the ConfigMaps are not known")
	tor.Spec.BlockAnonymousProxies = false
	g.Expect(IPAllowlist(tor, &Namespace{ProxyLists: map[string]bool{}}).Warnings).To(ConsistOf(
		`spec.anonymousProxyList.configMapRef.name: no ConfigMap tor labelled policy.crmauthz.io/anonymous-proxy-list: "true" in the namespace: the allowlist reports it unreadable (nothing is blocked while blockAnonymousProxies is false)`))
}

func ptrTo[T any](v T) *T { return &v }

func dryRun(t *v1alpha1.PermissionTemplate) *v1alpha1.PermissionTemplate {
	t.Spec.Enforcement = v1alpha1.EnforcementDryRun
	return t
}

// TestDryRunTemplatesConflictAmongThemselves: two DryRun templates claiming one role
// are refused as two Enforce templates are.
func TestDryRunTemplatesConflictAmongThemselves(t *testing.T) {
	g := NewWithT(t)
	ns := &Namespace{Templates: []v1alpha1.PermissionTemplate{*dryRun(pt("next", v1alpha1.AppliesTo{Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}}, v1alpha1.Entities{}))}}
	r := Template(dryRun(pt("other", v1alpha1.AppliesTo{Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}}, v1alpha1.Entities{})), ns, true)
	g.Expect(r.Errors).To(HaveLen(1))
	g.Expect(r.Errors[0].Error()).To(ContainSubstring("already claimed by PermissionTemplate next"))
	g.Expect(Template(pt("enforced", v1alpha1.AppliesTo{Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}}, v1alpha1.Entities{}), ns, true).Errors).To(BeEmpty())
}
