// Package tenantgen generates realistic tenants of a given size (the benchmark tenant: 50
// templates, 200 sales groups in a 4-level forest, 10,000 users) for benchmarks and
// the OPA comparison. The same seed gives the same tenant.
package tenantgen

import (
	"fmt"
	"math/rand/v2"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// Size says how big a tenant to make.
type Size struct {
	Templates int
	// Roots and Fanout shape the forest: Roots groups at level 1, each with Fanout
	// children, down to Levels levels (Groups = Roots·(1+F+F²+…)).
	Roots, Fanout, Levels int
	Users                 int
}

// SpecSize is the benchmark tenant: 50 templates, 5·(1+3+9+27)=200 groups, 10,000 users.
var SpecSize = Size{Templates: 50, Roots: 5, Fanout: 3, Levels: 4, Users: 10000}

// Tenant is a generated tenant and what the benchmarks need to know about it.
type Tenant struct {
	Input policy.Input
	// Users are every user id; Groups[i] lists group i's members; Managers[i] its
	// manager; TopManager manages a root group (the widest Team).
	Users      []string
	Members    [][]string
	Managers   []string
	TopManager string
	// Depth[i] is group i's level, Parent[i] its parent (-1 for a root).
	Depth, Parent []int
	GroupNames    []string
}

// Fields used by the generated templates.
var (
	LeadFields = []string{"Name", "Email", "Phone", "Mobile", "Stage", "Source", "AnnualIncome", "Budget", "City", "Notes"}
)

// Generate builds a tenant named ns.
func Generate(ns string, size Size, seed uint64) *Tenant {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	t := &Tenant{Input: policy.Input{Tenant: ns, ConfigMaps: map[string]map[string]string{}}}
	t.addForest(size)
	t.addPeople(size, r)
	t.addTemplates(size)
	t.addAccess()
	return t
}

func (t *Tenant) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: t.Input.Tenant, Generation: 1}
}

// addForest names the groups breadth first: groups of one level, then their children.
func (t *Tenant) addForest(size Size) {
	level := []int{}
	for i := 0; i < size.Roots; i++ {
		t.addGroup(fmt.Sprintf("g%d", len(t.GroupNames)), -1, 1)
		level = append(level, len(t.GroupNames)-1)
	}
	for d := 2; d <= size.Levels; d++ {
		var next []int
		for _, p := range level {
			for k := 0; k < size.Fanout; k++ {
				t.addGroup(fmt.Sprintf("g%d", len(t.GroupNames)), p, d)
				next = append(next, len(t.GroupNames)-1)
			}
		}
		level = next
	}
}

// addPeople makes one manager per group and spreads the other users over the groups
// as members, one in twenty in a second group too; then the SalesGroup objects.
func (t *Tenant) addPeople(size Size, r *rand.Rand) {
	groups := len(t.GroupNames)
	for i := 0; i < size.Users; i++ {
		t.Users = append(t.Users, fmt.Sprintf("u-%05d", i))
	}
	t.Managers = make([]string, groups)
	t.Members = make([][]string, groups)
	for g := 0; g < groups; g++ {
		t.Managers[g] = t.Users[g]
	}
	for i := groups; i < size.Users; i++ {
		g := (i - groups) % groups
		t.Members[g] = append(t.Members[g], t.Users[i])
		if i%20 == 0 {
			g2 := r.IntN(groups)
			if g2 != g {
				t.Members[g2] = append(t.Members[g2], t.Users[i])
			}
		}
	}
	t.TopManager = t.Managers[0]
	for g := 0; g < groups; g++ {
		sg := v1alpha1.SalesGroup{ObjectMeta: t.meta(t.GroupNames[g]), Spec: v1alpha1.SalesGroupSpec{
			DisplayName: "Group " + t.GroupNames[g],
			Managers:    []v1alpha1.UserID{v1alpha1.UserID(t.Managers[g])},
			Members:     userIDs(t.Members[g]),
		}}
		if t.Parent[g] >= 0 {
			sg.Spec.Parent = v1alpha1.GroupName(t.GroupNames[t.Parent[g]])
		}
		t.Input.Groups = append(t.Input.Groups, sg)
	}
}

// addTemplates makes one template per claimable role, then group templates on
// distinct groups, then user templates on distinct users, each with a different mix
// of rules.
func (t *Tenant) addTemplates(size Size) {
	groups := len(t.GroupNames)
	roles := []v1alpha1.Role{v1alpha1.RoleAdministrator, v1alpha1.RoleSalesManager, v1alpha1.RoleSalesUser, v1alpha1.RoleMarketingUser}
	for i := 0; i < size.Templates; i++ {
		pt := v1alpha1.PermissionTemplate{ObjectMeta: t.meta(fmt.Sprintf("t%02d", i))}
		switch {
		case i < len(roles):
			pt.Spec.AppliesTo.Roles = []v1alpha1.Role{roles[i]}
		case i < len(roles)+(size.Templates-len(roles))*2/3:
			pt.Spec.AppliesTo.SalesGroups = []v1alpha1.GroupName{v1alpha1.GroupName(t.GroupNames[(i*7)%groups])}
		default:
			for k := 0; k < 20; k++ {
				pt.Spec.AppliesTo.Users = append(pt.Spec.AppliesTo.Users, v1alpha1.UserID(t.Users[(i*97+k*31)%size.Users]))
			}
		}
		pt.Spec.Entities = templateEntities(i)
		if i%3 == 0 {
			pt.Spec.RestrictedFeatures = []v1alpha1.Feature{v1alpha1.FeatureDashboard, v1alpha1.FeatureAPI}
		}
		if pt.Spec.AppliesTo.Roles == nil || pt.Spec.AppliesTo.Roles[0] != v1alpha1.RoleSalesUser {
			pt.Spec.UserAccess = v1alpha1.UserAccessSalesGroupUsers
		}
		t.Input.Templates = append(t.Input.Templates, pt)
	}
}

// addAccess adds the IP allowlists (one with an anonymous-proxy list) and a
// LoginPolicy.
func (t *Tenant) addAccess() {
	t.Input.Allowlists = []v1alpha1.IPAllowlist{
		{ObjectMeta: t.meta("offices"), Spec: v1alpha1.IPAllowlistSpec{CIDRs: []v1alpha1.CIDR{"203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32"}}},
		{ObjectMeta: t.meta("proxies"), Spec: v1alpha1.IPAllowlistSpec{
			CIDRs: []v1alpha1.CIDR{"192.0.2.0/24"}, Channels: []v1alpha1.Channel{v1alpha1.ChannelLogin},
			BlockAnonymousProxies: true,
			AnonymousProxyList:    &v1alpha1.AnonymousProxyList{ConfigMapRef: v1alpha1.ConfigMapKeyRef{Name: "tor", Key: "exits"}},
		}},
	}
	t.Input.ConfigMaps["tor"] = map[string]string{"exits": "203.0.113.66\n185.220.101.0/24\n"}
	t.Input.LoginPolicies = []v1alpha1.LoginPolicy{{ObjectMeta: t.meta("login"), Spec: v1alpha1.LoginPolicySpec{
		AuthProviders: []v1alpha1.AuthProvider{v1alpha1.ProviderPassword, v1alpha1.ProviderGoogle},
		Session:       &v1alpha1.SessionPolicy{LoginExpiration: "12h", IdleTimeout: "30m"},
	}}}
}

func (t *Tenant) addGroup(name string, parent, depth int) {
	t.GroupNames = append(t.GroupNames, name)
	t.Parent = append(t.Parent, parent)
	t.Depth = append(t.Depth, depth)
}

func userIDs(ids []string) []v1alpha1.UserID {
	out := make([]v1alpha1.UserID, len(ids))
	for i, id := range ids {
		out[i] = v1alpha1.UserID(id)
	}
	return out
}

func fields(names ...string) []v1alpha1.FieldName {
	out := make([]v1alpha1.FieldName, len(names))
	for i, n := range names {
		out[i] = v1alpha1.FieldName(n)
	}
	return out
}

// templateEntities varies the rules by template number so the tenant exercises every
// kind of rule: scopes, Partial, masked and owner-only fields, hidden types, bulk.
func templateEntities(i int) v1alpha1.Entities {
	scopes := []v1alpha1.Scope{v1alpha1.ScopeOwn, v1alpha1.ScopeShared, v1alpha1.ScopeTeam, v1alpha1.ScopeAll}
	view := v1alpha1.ScopeTeam // the role templates of Administrator, SalesManager, SalesUser
	if i%4 == 3 {
		view = v1alpha1.ScopeAll
	}
	edit := scopes[i%3]
	e := v1alpha1.Entities{
		Leads: &v1alpha1.RecordPermissions{
			View:            &v1alpha1.Permission{Access: v1alpha1.AccessPartial, Scope: view, Fields: fields(LeadFields[6+i%3])},
			Edit:            &v1alpha1.Permission{Access: v1alpha1.AccessFull, Scope: edit, Bulk: v1alpha1.BulkDeny},
			Delete:          &v1alpha1.Permission{Access: v1alpha1.AccessNone},
			Export:          &v1alpha1.Permission{Access: v1alpha1.AccessFull, Scope: v1alpha1.ScopeOwn},
			MaskedFields:    fields("Phone", "Mobile"),
			OwnerOnlyFields: fields("Stage"),
		},
		Opportunities: &v1alpha1.RecordPermissions{
			View: &v1alpha1.Permission{Access: v1alpha1.AccessFull, Scope: view},
			Edit: &v1alpha1.Permission{Access: v1alpha1.AccessPartial, Scope: edit, Fields: fields("Amount")},
		},
		Activities: &v1alpha1.ActivityPermissions{HiddenTypes: []v1alpha1.RecordType{"SalesCall", "Payment"}},
		Tasks:      &v1alpha1.TaskPermissions{MarkComplete: &v1alpha1.Permission{Access: v1alpha1.AccessFull, Scope: v1alpha1.ScopeOwn}},
	}
	if i%4 == 0 {
		e.Accounts = &v1alpha1.RecordPermissions{View: &v1alpha1.Permission{Access: v1alpha1.AccessNone}}
	}
	return e
}
