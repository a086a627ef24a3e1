package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/operator"
	"github.com/crmauthz/crmauthz/webhook"
)

// The namespace under test, and another one whose objects must never count.
const (
	acme   = "acme"
	globex = "globex"
)

var errBoom = errors.New("boom: the cache is not reachable")

// ---- objects ----

func objectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

func template(ns, name string, at v1alpha1.AppliesTo) *v1alpha1.PermissionTemplate {
	return &v1alpha1.PermissionTemplate{ObjectMeta: objectMeta(ns, name), Spec: v1alpha1.PermissionTemplateSpec{AppliesTo: at}}
}

func roles(rs ...v1alpha1.Role) v1alpha1.AppliesTo { return v1alpha1.AppliesTo{Roles: rs} }

func users(us ...v1alpha1.UserID) v1alpha1.AppliesTo { return v1alpha1.AppliesTo{Users: us} }

func groups(gs ...v1alpha1.GroupName) v1alpha1.AppliesTo { return v1alpha1.AppliesTo{SalesGroups: gs} }

func salesGroup(ns, name, parent string) *v1alpha1.SalesGroup {
	return &v1alpha1.SalesGroup{ObjectMeta: objectMeta(ns, name), Spec: v1alpha1.SalesGroupSpec{Parent: v1alpha1.GroupName(parent)}}
}

func loginPolicy(ns, name string) *v1alpha1.LoginPolicy {
	return &v1alpha1.LoginPolicy{ObjectMeta: objectMeta(ns, name), Spec: v1alpha1.LoginPolicySpec{AuthProviders: []v1alpha1.AuthProvider{"Password"}}}
}

// allowlist is an IPAllowlist of acme; proxyList, when not empty, names the ConfigMap
// of its anonymous-proxy list.
func allowlist(proxyList string, block bool, cidrs ...v1alpha1.CIDR) *v1alpha1.IPAllowlist {
	a := &v1alpha1.IPAllowlist{ObjectMeta: objectMeta(acme, "office"), Spec: v1alpha1.IPAllowlistSpec{CIDRs: cidrs, BlockAnonymousProxies: block}}
	if proxyList != "" {
		a.Spec.AnonymousProxyList = &v1alpha1.AnonymousProxyList{ConfigMapRef: v1alpha1.ConfigMapKeyRef{Name: proxyList, Key: "list"}}
	}
	return a
}

// configMap is a ConfigMap holding a proxy list; label is the value of the proxy-list
// label, none when empty.
func configMap(ns, name, label string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: objectMeta(ns, name), Data: map[string]string{"list": "198.51.100.7\n"}}
	if label != "" {
		cm.Labels = map[string]string{v1alpha1.ProxyListLabel: label}
	}
	return cm
}

// ---- readers ----

// reader is a fake client holding objs, as the manager's cache would.
func reader(objs ...client.Object) client.Reader {
	return fake.NewClientBuilder().WithScheme(operator.Scheme()).WithObjects(objs...).Build()
}

// failingReader holds objs but fails every List of the same type as failing (every
// List when failing is nil).
func failingReader(failing client.ObjectList, objs ...client.Object) client.Reader {
	return fake.NewClientBuilder().WithScheme(operator.Scheme()).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{
			List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				if failing == nil || sameType(failing)(list) {
					return errBoom
				}
				return c.List(ctx, list, opts...)
			},
			Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return errBoom
			},
		}).Build()
}

// ---- assertions ----

// cause is what a test expects of one cause of an Invalid error.
type cause struct {
	typ     metav1.CauseType
	field   string
	message string // a substring
}

// expectInvalid asserts err is admission's refusal of kind/name, a 422 Invalid
// StatusError, with exactly the causes want (in order).
func expectInvalid(g Gomega, err error, kind, name string, want ...cause) {
	g.Expect(err).To(HaveOccurred())
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "not an Invalid error: %v", err)
	var se *apierrors.StatusError
	g.Expect(errors.As(err, &se)).To(BeTrue(), "not a StatusError: %T", err)
	st := se.Status()
	g.Expect(st.Code).To(BeEquivalentTo(http.StatusUnprocessableEntity))
	g.Expect(st.Reason).To(Equal(metav1.StatusReasonInvalid))
	g.Expect(st.Details).NotTo(BeNil())
	g.Expect(st.Details.Group).To(Equal(v1alpha1.GroupVersion.Group))
	g.Expect(st.Details.Kind).To(Equal(kind))
	g.Expect(st.Details.Name).To(Equal(name))
	g.Expect(st.Details.Causes).To(HaveLen(len(want)), "%v", st.Details.Causes)
	for i, w := range want {
		c := st.Details.Causes[i]
		g.Expect(c.Type).To(Equal(w.typ), "cause %d: %v", i, c)
		g.Expect(c.Field).To(Equal(w.field), "cause %d: %v", i, c)
		g.Expect(c.Message).To(ContainSubstring(w.message), "cause %d: %v", i, c)
		g.Expect(err.Error()).To(ContainSubstring(w.field))
	}
}

// expectWarnings asserts warnings are exactly as many as want, each starting with the
// field path and containing the substring of its entry: want is path, substring pairs.
func expectWarnings(g Gomega, warnings admission.Warnings, want ...string) {
	g.Expect(warnings).To(HaveLen(len(want)/2), "%q", warnings)
	for i := 0; i+1 < len(want); i += 2 {
		g.Expect(warnings[i/2]).To(HavePrefix(want[i]+": "), "%q", warnings)
		g.Expect(warnings[i/2]).To(ContainSubstring(want[i+1]), "%q", warnings)
	}
}

// ---- PermissionTemplate ----

// templateNamespace: acme's template "sales" claims user u-1, role SalesUser and
// group west (which exists); globex's template "foreign" claims user u-9, role
// SalesManager and group east, and globex holds group ghost.
func templateNamespace() client.Reader {
	sales := template(acme, "sales", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-1"},
		Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}, SalesGroups: []v1alpha1.GroupName{"west"}})
	foreign := template(globex, "foreign", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-9"},
		Roles: []v1alpha1.Role{v1alpha1.RoleSalesManager}, SalesGroups: []v1alpha1.GroupName{"east"}})
	return reader(sales, foreign, salesGroup(acme, "west", ""), salesGroup(acme, "east", ""), salesGroup(globex, "ghost", ""))
}

func claimed(field, what string) cause {
	return cause{metav1.CauseTypeFieldValueInvalid, field, "already claimed by PermissionTemplate sales: one template per " + what}
}

// TestPermissionTemplateClaims: a second template claiming a user, role or sales group
// another template of the namespace claims is refused, naming the field and the
// other template; claims in another namespace do not count.
func TestPermissionTemplateClaims(t *testing.T) {
	cases := []struct {
		name string
		at   v1alpha1.AppliesTo
		want []cause
	}{
		{"role claimed", roles(v1alpha1.RoleSalesUser), []cause{claimed("spec.appliesTo.roles[0]", "role")}},
		{"role claimed, second in the list", roles(v1alpha1.RoleAdministrator, v1alpha1.RoleSalesUser),
			[]cause{claimed("spec.appliesTo.roles[1]", "role")}},
		{"user claimed", users("u-2", "u-1"), []cause{claimed("spec.appliesTo.users[1]", "user")}},
		{"sales group claimed", groups("west"), []cause{claimed("spec.appliesTo.salesGroups[0]", "salesGroup")}},
		{"every claim is reported", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-1"}, Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}},
			[]cause{claimed("spec.appliesTo.users[0]", "user"), claimed("spec.appliesTo.roles[0]", "role")}},
		{"unclaimed role", roles(v1alpha1.RoleMarketingUser), nil},
		{"claims made only in another namespace", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-9"},
			Roles: []v1alpha1.Role{v1alpha1.RoleSalesManager}, SalesGroups: []v1alpha1.GroupName{"east"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			v := &webhook.PermissionTemplateValidator{Reader: templateNamespace()}
			tmpl := template(acme, "newcomer", c.at)
			for op, call := range map[string]func() (admission.Warnings, error){
				"create": func() (admission.Warnings, error) { return v.ValidateCreate(t.Context(), tmpl) },
				"update": func() (admission.Warnings, error) { return v.ValidateUpdate(t.Context(), tmpl, tmpl) },
			} {
				warnings, err := call()
				g.Expect(warnings).To(BeEmpty(), op)
				if c.want == nil {
					g.Expect(err).NotTo(HaveOccurred(), op)
					continue
				}
				expectInvalid(g, err, "PermissionTemplate", "newcomer", c.want...)
			}
		})
	}
}

// TestPermissionTemplateOwnClaims: a template's own claims, as stored, do not refuse
// its update; claiming what another template holds still does.
func TestPermissionTemplateOwnClaims(t *testing.T) {
	g := NewWithT(t)
	v := &webhook.PermissionTemplateValidator{Reader: templateNamespace()}
	old := template(acme, "sales", v1alpha1.AppliesTo{Users: []v1alpha1.UserID{"u-1"},
		Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}, SalesGroups: []v1alpha1.GroupName{"west"}})

	updated := old.DeepCopy()
	updated.Spec.AppliesTo.Roles = append(updated.Spec.AppliesTo.Roles, v1alpha1.RoleAdministrator)
	warnings, err := v.ValidateUpdate(t.Context(), old, updated)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(warnings).To(BeEmpty())

	// A create under the name of a stored template (a cache that has not yet seen
	// its delete) does not see that template's claims either.
	warnings, err = v.ValidateCreate(t.Context(), old)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(warnings).To(BeEmpty())
}

// TestPermissionTemplateMissingSalesGroup: naming a sales group that does not exist in
// the namespace is a warning, not a refusal; one of that name in another namespace
// does not make it exist. Warnings come back with a refusal too.
func TestPermissionTemplateMissingSalesGroup(t *testing.T) {
	g := NewWithT(t)
	v := &webhook.PermissionTemplateValidator{Reader: templateNamespace()}

	warnings, err := v.ValidateCreate(t.Context(), template(acme, "newcomer", groups("east", "ghost")))
	g.Expect(err).NotTo(HaveOccurred())
	expectWarnings(g, warnings, "spec.appliesTo.salesGroups[1]", "SalesGroup ghost does not exist (yet)")

	warnings, err = v.ValidateCreate(t.Context(), template(acme, "newcomer", groups("west", "nowhere")))
	expectInvalid(g, err, "PermissionTemplate", "newcomer", claimed("spec.appliesTo.salesGroups[0]", "salesGroup"))
	expectWarnings(g, warnings, "spec.appliesTo.salesGroups[1]", "SalesGroup nowhere does not exist (yet)")
}

// TestPermissionTemplateLimit: the 51st template of a namespace is refused on create;
// updating a template is not, even in a namespace that already holds 51 (two
// creates admitted concurrently), and templates of another namespace do not count.
func TestPermissionTemplateLimit(t *testing.T) {
	g := NewWithT(t)
	var objs []client.Object
	for i := range v1alpha1.MaxTemplates {
		objs = append(objs, template(acme, fmt.Sprintf("t-%02d", i), v1alpha1.AppliesTo{}))
		objs = append(objs, template(globex, fmt.Sprintf("g-%02d", i), v1alpha1.AppliesTo{}))
	}
	full := &webhook.PermissionTemplateValidator{Reader: reader(objs...)}
	almost := &webhook.PermissionTemplateValidator{Reader: reader(objs[1:]...)} // 49 in acme, 50 in globex
	overfull := &webhook.PermissionTemplateValidator{Reader: reader(append(objs, template(acme, "t-50", v1alpha1.AppliesTo{}))...)}

	_, err := full.ValidateCreate(t.Context(), template(acme, "one-too-many", roles(v1alpha1.RoleSalesUser)))
	expectInvalid(g, err, "PermissionTemplate", "one-too-many", cause{metav1.CauseTypeForbidden,
		"metadata.namespace", "namespace acme already has 50 PermissionTemplates, the most a CRM account may have"})

	existing := template(acme, "t-07", roles(v1alpha1.RoleSalesUser))
	for name, v := range map[string]*webhook.PermissionTemplateValidator{"50": full, "51": overfull} {
		_, err = v.ValidateUpdate(t.Context(), existing, existing)
		g.Expect(err).NotTo(HaveOccurred(), "updating one of %s", name)
	}

	_, err = almost.ValidateCreate(t.Context(), template(acme, "fiftieth", roles(v1alpha1.RoleSalesUser)))
	g.Expect(err).NotTo(HaveOccurred())
}

// TestPermissionTemplateBrokenStructure: what the template alone gets wrong beyond its
// schema is refused at admission too.
func TestPermissionTemplateBrokenStructure(t *testing.T) {
	g := NewWithT(t)
	v := &webhook.PermissionTemplateValidator{Reader: reader()}
	tmpl := template(acme, "blind", roles(v1alpha1.RoleSalesUser))
	tmpl.Spec.Entities.Leads = &v1alpha1.RecordPermissions{
		View: &v1alpha1.Permission{Access: v1alpha1.AccessNone},
		Edit: &v1alpha1.Permission{Access: v1alpha1.AccessFull},
	}
	_, err := v.ValidateCreate(t.Context(), tmpl)
	expectInvalid(g, err, "PermissionTemplate", "blind", cause{metav1.CauseTypeFieldValueInvalid,
		"spec.entities.leads.edit.access", "leads.edit cannot be allowed while leads.view is None"})
}

// ---- SalesGroup ----

// TestSalesGroupParents: acme holds emea ← west ← north; globex holds kiev with parent
// odesa. A parent chain that loops back to the group is refused; a missing parent
// is a warning; groups of another namespace neither exist nor loop.
func TestSalesGroupParents(t *testing.T) {
	ns := reader(salesGroup(acme, "emea", ""), salesGroup(acme, "west", "emea"), salesGroup(acme, "north", "west"),
		salesGroup(globex, "kiev", "odesa"), salesGroup(globex, "odesa", ""))
	loop := func(chain, name string) cause {
		return cause{metav1.CauseTypeFieldValueInvalid, "spec.parent", "the parent chain " + chain + " loops back to " + name}
	}
	cases := []struct {
		name     string
		g        *v1alpha1.SalesGroup
		errs     []cause
		warnings []string
	}{
		{"a root", salesGroup(acme, "apac", ""), nil, nil},
		{"an existing parent", salesGroup(acme, "south", "north"), nil, nil},
		{"its own parent", salesGroup(acme, "solo", "solo"), []cause{loop("solo → solo", "solo")}, nil},
		{"its own parent, already stored", salesGroup(acme, "west", "west"), []cause{loop("west → west", "west")}, nil},
		{"a cycle through the namespace", salesGroup(acme, "emea", "north"), []cause{loop("emea → north → west → emea", "emea")}, nil},
		{"a missing parent", salesGroup(acme, "south", "ghost"), nil,
			[]string{"spec.parent", "SalesGroup ghost does not exist (yet): south is a root until it does"}},
		{"a parent only in another namespace", salesGroup(acme, "south", "odesa"), nil,
			[]string{"spec.parent", "SalesGroup odesa does not exist (yet)"}},
		{"a cycle only with another namespace's groups", salesGroup(acme, "odesa", "kiev"), nil,
			[]string{"spec.parent", "SalesGroup kiev does not exist (yet): odesa is a root until it does"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			v := &webhook.SalesGroupValidator{Reader: ns}
			old := salesGroup(acme, c.g.Name, "")
			for op, call := range map[string]func() (admission.Warnings, error){
				"create": func() (admission.Warnings, error) { return v.ValidateCreate(t.Context(), c.g) },
				"update": func() (admission.Warnings, error) { return v.ValidateUpdate(t.Context(), old, c.g) },
			} {
				warnings, err := call()
				expectWarnings(g, warnings, c.warnings...)
				if c.errs == nil {
					g.Expect(err).NotTo(HaveOccurred(), op)
					continue
				}
				expectInvalid(g, err, "SalesGroup", c.g.Name, c.errs...)
			}
		})
	}
}

// ---- LoginPolicy ----

// TestLoginPolicyOnePerNamespace: a second LoginPolicy in a namespace is refused on
// create; one in another namespace does not count; updating the one policy is
// allowed.
func TestLoginPolicyOnePerNamespace(t *testing.T) {
	g := NewWithT(t)
	v := &webhook.LoginPolicyValidator{Reader: reader(loginPolicy(acme, "default"))}

	warnings, err := v.ValidateCreate(t.Context(), loginPolicy(acme, "second"))
	g.Expect(warnings).To(BeEmpty())
	expectInvalid(g, err, "LoginPolicy", "second", cause{metav1.CauseTypeForbidden,
		"metadata.name", "namespace acme already has LoginPolicy default: a CRM account has one login policy"})

	warnings, err = v.ValidateCreate(t.Context(), loginPolicy(globex, "second"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(warnings).To(BeEmpty())

	policy := loginPolicy(acme, "default")
	changed := policy.DeepCopy()
	changed.Spec.PasswordEncryption = true
	warnings, err = v.ValidateUpdate(t.Context(), policy, changed)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(warnings).To(BeEmpty())
}

// ---- IPAllowlist ----

// TestIPAllowlistWarnings: an anonymous-proxy list with no ConfigMap labelled as one
// in the namespace, and allow-all networks, are warnings and never refusals.
func TestIPAllowlistWarnings(t *testing.T) {
	ns := reader(configMap(acme, "tor-exits", "true"), configMap(acme, "plain", ""), configMap(acme, "disabled", "false"),
		configMap(globex, "foreign", "true"))
	const proxyPath = "spec.anonymousProxyList.configMapRef.name"
	unlabelled := func(name string) string {
		return fmt.Sprintf("no ConfigMap %s labelled %s: \"true\" in the namespace", name, v1alpha1.ProxyListLabel)
	}
	cases := []struct {
		name     string
		a        *v1alpha1.IPAllowlist
		warnings []string
	}{
		{"no proxy list", allowlist("", false, "203.0.113.0/24"), nil},
		{"a labelled proxy list", allowlist("tor-exits", true, "203.0.113.0/24"), nil},
		{"an unlabelled ConfigMap", allowlist("plain", false, "203.0.113.0/24"),
			[]string{proxyPath, unlabelled("plain") + ": the allowlist reports it unreadable"}},
		{"an unlabelled ConfigMap, blocking", allowlist("plain", true, "203.0.113.0/24"),
			[]string{proxyPath, unlabelled("plain") + ": the anonymous-proxy rule refuses every address"}},
		{"a ConfigMap labelled false", allowlist("disabled", true, "203.0.113.0/24"), []string{proxyPath, unlabelled("disabled")}},
		{"a missing ConfigMap", allowlist("nowhere", true, "203.0.113.0/24"), []string{proxyPath, unlabelled("nowhere")}},
		{"a labelled ConfigMap in another namespace", allowlist("foreign", true, "203.0.113.0/24"),
			[]string{proxyPath, unlabelled("foreign")}},
		{"allow-all networks", allowlist("", false, "203.0.113.0/24", "0.0.0.0/0", "::/0"),
			[]string{"spec.cidrs[1]", "0.0.0.0/0 allows every IPv4 address", "spec.cidrs[2]", "::/0 allows every IPv6 address"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			v := &webhook.IPAllowlistValidator{Reader: ns}
			warnings, err := v.ValidateCreate(t.Context(), c.a)
			g.Expect(err).NotTo(HaveOccurred())
			expectWarnings(g, warnings, c.warnings...)

			warnings, err = v.ValidateUpdate(t.Context(), allowlist("", false, "192.0.2.0/24"), c.a)
			g.Expect(err).NotTo(HaveOccurred())
			expectWarnings(g, warnings, c.warnings...)
		})
	}
}

// ---- failures and deletes ----

// call is one admission call of one validator, and the lists it reads.
type call struct {
	name  string
	reads []client.ObjectList
	do    func(context.Context, client.Reader) (admission.Warnings, error)
}

// sameType matches lists of the same type as l.
func sameType(l client.ObjectList) func(client.ObjectList) bool {
	return func(o client.ObjectList) bool { return reflect.TypeOf(o) == reflect.TypeOf(l) }
}

// readingCalls are the admission calls that read the namespace, each on an object it
// would otherwise admit.
func readingCalls() []call {
	tmpl, grp, pol := template(acme, "t", roles(v1alpha1.RoleSalesUser)), salesGroup(acme, "g", ""), loginPolicy(acme, "p")
	list := allowlist("tor-exits", true, "203.0.113.0/24")
	namespace := []client.ObjectList{&v1alpha1.PermissionTemplateList{}, &v1alpha1.SalesGroupList{}, &v1alpha1.LoginPolicyList{}}
	configMaps := []client.ObjectList{&corev1.ConfigMapList{}}
	return []call{
		{"PermissionTemplate create", namespace, func(ctx context.Context, r client.Reader) (admission.Warnings, error) {
			return (&webhook.PermissionTemplateValidator{Reader: r}).ValidateCreate(ctx, tmpl)
		}},
		{"PermissionTemplate update", namespace, func(ctx context.Context, r client.Reader) (admission.Warnings, error) {
			return (&webhook.PermissionTemplateValidator{Reader: r}).ValidateUpdate(ctx, tmpl, tmpl)
		}},
		{"SalesGroup create", namespace, func(ctx context.Context, r client.Reader) (admission.Warnings, error) {
			return (&webhook.SalesGroupValidator{Reader: r}).ValidateCreate(ctx, grp)
		}},
		{"SalesGroup update", namespace, func(ctx context.Context, r client.Reader) (admission.Warnings, error) {
			return (&webhook.SalesGroupValidator{Reader: r}).ValidateUpdate(ctx, grp, grp)
		}},
		{"LoginPolicy create", namespace, func(ctx context.Context, r client.Reader) (admission.Warnings, error) {
			return (&webhook.LoginPolicyValidator{Reader: r}).ValidateCreate(ctx, pol)
		}},
		{"IPAllowlist create", configMaps, func(ctx context.Context, r client.Reader) (admission.Warnings, error) {
			return (&webhook.IPAllowlistValidator{Reader: r}).ValidateCreate(ctx, list)
		}},
		{"IPAllowlist update", configMaps, func(ctx context.Context, r client.Reader) (admission.Warnings, error) {
			return (&webhook.IPAllowlistValidator{Reader: r}).ValidateUpdate(ctx, list, list)
		}},
	}
}

// TestListFailureFailsClosed: when reading any of the lists a check needs fails,
// admission fails with that error and no warnings instead of admitting. The same
// calls admit with a working reader, and with one failing only lists they do not
// read, so it is the failure that refuses.
func TestListFailureFailsClosed(t *testing.T) {
	proxyList := configMap(acme, "tor-exits", "true")
	all := []client.ObjectList{&v1alpha1.PermissionTemplateList{}, &v1alpha1.SalesGroupList{},
		&v1alpha1.LoginPolicyList{}, &corev1.ConfigMapList{}}
	for _, c := range readingCalls() {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			warnings, err := c.do(t.Context(), reader(proxyList))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(warnings).To(BeEmpty())

			for _, l := range all {
				warnings, err := c.do(t.Context(), failingReader(l, proxyList))
				if !slices.ContainsFunc(c.reads, sameType(l)) {
					g.Expect(err).NotTo(HaveOccurred(), "%T is not read", l)
					continue
				}
				g.Expect(warnings).To(BeNil(), "%T", l)
				g.Expect(apierrors.IsInternalError(err)).To(BeTrue(), "a failing %T: %v", l, err)
				g.Expect(err.Error()).To(MatchRegexp(`reading (namespace|ConfigMaps of) acme: boom`))
			}
		})
	}
}

// TestDeleteAlwaysAllowed: deleting is allowed for every kind, even objects that
// would be refused on create and with a reader that fails everything.
func TestDeleteAlwaysAllowed(t *testing.T) {
	g := NewWithT(t)
	r := failingReader(nil)
	deletes := map[string]func() (admission.Warnings, error){
		"PermissionTemplate": func() (admission.Warnings, error) {
			return (&webhook.PermissionTemplateValidator{Reader: r}).ValidateDelete(t.Context(), template(acme, "t", roles(v1alpha1.RoleSalesUser)))
		},
		"SalesGroup": func() (admission.Warnings, error) {
			return (&webhook.SalesGroupValidator{Reader: r}).ValidateDelete(t.Context(), salesGroup(acme, "solo", "solo"))
		},
		"LoginPolicy": func() (admission.Warnings, error) {
			return (&webhook.LoginPolicyValidator{Reader: r}).ValidateDelete(t.Context(), loginPolicy(acme, "second"))
		},
		"IPAllowlist": func() (admission.Warnings, error) {
			return (&webhook.IPAllowlistValidator{Reader: r}).ValidateDelete(t.Context(), allowlist("nowhere", true, "0.0.0.0/0"))
		},
	}
	for kind, del := range deletes {
		warnings, err := del()
		g.Expect(err).NotTo(HaveOccurred(), kind)
		g.Expect(warnings).To(BeEmpty(), kind)
	}
}

// ---- through controller-runtime's admission handler ----

func createRequest(g Gomega, obj runtime.Object) admission.Request {
	raw, err := json.Marshal(obj)
	g.Expect(err).NotTo(HaveOccurred())
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: admissionv1.Create, Namespace: acme,
		Kind:   metav1.GroupVersionKind{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Kind: "PermissionTemplate"},
		Object: runtime.RawExtension{Raw: raw},
	}}
}

// TestAdmissionResponses: the handler Setup registers turns a reader failure into a
// 500 denial, a refusal into a 422 denial, and warnings into an allowed response that
// carries them.
func TestAdmissionResponses(t *testing.T) {
	g := NewWithT(t)
	handle := func(r client.Reader, obj runtime.Object) admission.Response {
		h := admission.WithValidator[*v1alpha1.PermissionTemplate](operator.Scheme(), &webhook.PermissionTemplateValidator{Reader: r})
		return h.Handle(t.Context(), createRequest(g, obj))
	}

	resp := handle(failingReader(nil), template(acme, "t", roles(v1alpha1.RoleSalesUser)))
	g.Expect(resp.Allowed).To(BeFalse())
	g.Expect(resp.Result.Code).To(BeEquivalentTo(http.StatusInternalServerError), "a failure to retry, not a policy verdict")
	g.Expect(resp.Result.Message).To(ContainSubstring("boom"))

	resp = handle(templateNamespace(), template(acme, "t", roles(v1alpha1.RoleSalesUser)))
	g.Expect(resp.Allowed).To(BeFalse())
	g.Expect(resp.Result.Code).To(BeEquivalentTo(http.StatusUnprocessableEntity))
	g.Expect(resp.Result.Message).To(ContainSubstring("spec.appliesTo.roles[0]"))

	resp = handle(templateNamespace(), template(acme, "t", groups("ghost")))
	g.Expect(resp.Allowed).To(BeTrue())
	g.Expect(resp.Warnings).To(ConsistOf(HavePrefix("spec.appliesTo.salesGroups[0]: SalesGroup ghost does not exist")))
}
