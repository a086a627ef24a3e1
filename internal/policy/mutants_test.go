package policy_test

// Compile statuses and compiled facts that the decision cases do not pin down, each
// found by mutation testing (make mutate): a limit's edge, a check only objects that
// never went through the API server reach, an order the report promises. Messages
// are matched on field paths and key words, not whole sentences.

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/policy"
)

var compileNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// compileYAML compiles the objects of a YAML stream (apiVersion defaulted) as one
// tenant's policy, as the loader hands them over, without the CRD schema in between.
func compileYAML(t *testing.T, docs string) (*policy.Snapshot, *policy.Report) {
	t.Helper()
	objs, err := loader.Decode([]byte(docs), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	in := loader.Tenants(objs, "acme")["acme"]
	if in == nil {
		in = &policy.Input{Tenant: "acme"}
	}
	in.Now = compileNow
	return policy.Compile(*in)
}

func obj(kind, name, spec string) string {
	return fmt.Sprintf("apiVersion: policy.crmauthz.io/v1alpha1\nkind: %s\nmetadata: {name: %s}\nspec: %s\n---\n", kind, name, spec)
}

func status(t *testing.T, rep *policy.Report, kind, name string) *policy.ObjectStatus {
	t.Helper()
	st := rep.Find(kind, name)
	if st == nil {
		t.Fatalf("no status for %s/%s in %+v", kind, name, rep.Objects)
	}
	return st
}

// wantInForce fails unless the object compiled, ready.
func wantInForce(t *testing.T, rep *policy.Report, kind, name string) {
	t.Helper()
	if st := status(t, rep, kind, name); !st.InForce || !st.Ready {
		t.Errorf("%s/%s: want in force and ready, got %s: %s", kind, name, st.Reason, st.Message)
	}
}

// wantRejected fails unless the object was left out with reason, its message naming
// every one of parts (a field path, a value).
func wantRejected(t *testing.T, rep *policy.Report, kind, name, reason string, parts ...string) {
	t.Helper()
	st := status(t, rep, kind, name)
	if st.InForce || st.Ready || st.Reason != reason {
		t.Errorf("%s/%s: want left out with reason %s, got inForce=%v ready=%v %s: %s", kind, name, reason, st.InForce, st.Ready, st.Reason, st.Message)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message, p) {
			t.Errorf("%s/%s: message %q does not name %q", kind, name, st.Message, p)
		}
	}
}

// The report lists every object by kind then name, and the snapshot its objects in
// force in the same order, whatever order they were given in.
func TestReportAndSnapshotListObjectsByKindThenName(t *testing.T) {
	var docs string
	for _, n := range []string{"g-5", "g-2", "g-7", "g-1", "g-4", "g-6", "g-3"} {
		docs += obj("SalesGroup", n, "{members: [u-1]}")
	}
	for _, n := range []string{"ip-3", "ip-1", "ip-6", "ip-2", "ip-5", "ip-4"} {
		docs += obj("IPAllowlist", n, `{cidrs: ["203.0.113.0/24"]}`)
	}
	for _, n := range []string{"t-4", "t-2", "t-6", "t-1", "t-5", "t-3"} {
		docs += obj("PermissionTemplate", n, "{appliesTo: {users: [u-"+n+"]}}")
	}
	docs += obj("LoginPolicy", "login", "{authProviders: [Password]}")
	snap, rep := compileYAML(t, docs)
	if len(rep.Objects) != 20 || len(snap.Objects) != 20 {
		t.Fatalf("want 20 objects in the report and in force, got %d and %d", len(rep.Objects), len(snap.Objects))
	}
	if !sort.SliceIsSorted(rep.Objects, func(i, j int) bool {
		a, b := rep.Objects[i], rep.Objects[j]
		return a.Kind < b.Kind || a.Kind == b.Kind && a.Name < b.Name
	}) {
		t.Errorf("report not in kind, name order: %+v", rep.Objects)
	}
	for i, o := range snap.Objects {
		if want := rep.Objects[i]; o.Kind != want.Kind || o.Name != want.Name {
			t.Fatalf("snapshot object %d is %s/%s, want %s/%s (kind, name order)", i, o.Kind, o.Name, want.Kind, want.Name)
		}
	}
}

// Each group on a loop names it from itself round to itself, as the webhook does,
// whichever group the walk met first.
func TestParentCycleIsNamedFromEachGroup(t *testing.T) {
	_, rep := compileYAML(t, obj("SalesGroup", "west", "{parent: east, members: [u-1]}")+obj("SalesGroup", "east", "{parent: west, members: [u-2]}"))
	wantRejected(t, rep, "SalesGroup", "east", v1alpha1.ReasonCycle, "spec.parent", "east → west → east loops back to east")
	wantRejected(t, rep, "SalesGroup", "west", v1alpha1.ReasonCycle, "spec.parent", "west → east → west loops back to west")
}

// Fifty templates may be in force; the newest beyond them is refused.
func TestTemplateLimit(t *testing.T) {
	var docs string
	for i := range v1alpha1.MaxTemplates + 1 {
		docs += fmt.Sprintf("apiVersion: policy.crmauthz.io/v1alpha1\nkind: PermissionTemplate\n"+
			"metadata: {name: t-%02d, creationTimestamp: %q}\nspec: {appliesTo: {users: [u-%d]}}\n---\n",
			v1alpha1.MaxTemplates-i, compileNow.Add(time.Duration(i-100)*time.Minute).Format(time.RFC3339), i)
	}
	snap, rep := compileYAML(t, docs)
	if got := snap.Templates(); got != v1alpha1.MaxTemplates {
		t.Errorf("%d templates in force, want %d", got, v1alpha1.MaxTemplates)
	}
	// t-00 is the newest (and sorts first: age decides, not the name).
	wantRejected(t, rep, "PermissionTemplate", "t-00", v1alpha1.ReasonTemplateLimit, fmt.Sprint(v1alpha1.MaxTemplates))
	wantInForce(t, rep, "PermissionTemplate", "t-01")
	wantInForce(t, rep, "PermissionTemplate", fmt.Sprintf("t-%02d", v1alpha1.MaxTemplates))
}

// appliesTo may combine users, roles and sales groups; it must name at least one.
func TestAppliesToCombinations(t *testing.T) {
	_, rep := compileYAML(t, obj("SalesGroup", "west", "{members: [u-1]}")+
		obj("PermissionTemplate", "users-roles", "{appliesTo: {users: [u-9], roles: [SalesUser]}}")+
		obj("PermissionTemplate", "roles-groups", "{appliesTo: {roles: [MarketingUser], salesGroups: [west]}}")+
		obj("PermissionTemplate", "users-groups", "{appliesTo: {users: [u-8], salesGroups: [east]}}")+
		obj("PermissionTemplate", "nobody", "{appliesTo: {}}"))
	for _, n := range []string{"users-roles", "roles-groups", "users-groups"} {
		wantInForce(t, rep, "PermissionTemplate", n)
	}
	wantRejected(t, rep, "PermissionTemplate", "nobody", v1alpha1.ReasonInvalid, "spec.appliesTo")
}

// Of two templates claiming a role, the one whose name sorts first governs it; the
// other loses a tie.
func TestRoleClaimedTwiceGoesToTheFirstName(t *testing.T) {
	snap, rep := compileYAML(t, obj("PermissionTemplate", "b-reps", "{appliesTo: {roles: [SalesUser]}}")+
		obj("PermissionTemplate", "a-reps", "{appliesTo: {roles: [SalesUser]}}"))
	wantInForce(t, rep, "PermissionTemplate", "a-reps")
	st := status(t, rep, "PermissionTemplate", "b-reps")
	if !st.InForce || st.Ready || st.Reason != v1alpha1.ReasonTie || len(st.Conflicts) != 1 || !strings.Contains(st.Conflicts[0], "SalesUser") {
		t.Errorf("b-reps: want in force, losing a tie on role SalesUser; got ready=%v %s %q", st.Ready, st.Reason, st.Conflicts)
	}
	if got := snap.Governing("u-1", policy.RoleSalesUser).Template; got != "a-reps" {
		t.Errorf("a SalesUser is governed by %q, want a-reps", got)
	}
}

// Users whose groups two templates claim are listed on the loser's conflicts, five at
// most, then how many more.
func TestMemberConflictsListFiveUsers(t *testing.T) {
	for _, tc := range []struct {
		users    int
		want     []string
		wantNone []string
	}{
		{5, []string{"u-1, u-2, u-3, u-4, u-5 belong"}, []string{"more"}},
		{6, []string{"u-1, u-2, u-3, u-4, u-5 and 1 more"}, []string{"u-6"}},
		{8, []string{"u-1, u-2, u-3, u-4, u-5 and 3 more"}, []string{"u-6"}},
	} {
		t.Run(fmt.Sprint(tc.users), func(t *testing.T) {
			var users []string
			for i := 1; i <= tc.users; i++ {
				users = append(users, fmt.Sprintf("u-%d", i))
			}
			members := "[" + strings.Join(users, ", ") + "]"
			_, rep := compileYAML(t, obj("SalesGroup", "east", "{members: "+members+"}")+
				obj("SalesGroup", "west", "{members: "+members+"}")+
				obj("PermissionTemplate", "a-east", "{appliesTo: {salesGroups: [east]}}")+
				obj("PermissionTemplate", "b-west", "{appliesTo: {salesGroups: [west]}}"))
			st := status(t, rep, "PermissionTemplate", "b-west")
			if len(st.Conflicts) != 1 {
				t.Fatalf("want one conflict on b-west, got %q", st.Conflicts)
			}
			for _, w := range tc.want {
				if !strings.Contains(st.Conflicts[0], w) {
					t.Errorf("conflict %q does not say %q", st.Conflicts[0], w)
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(st.Conflicts[0], w) {
					t.Errorf("conflict %q says %q", st.Conflicts[0], w)
				}
			}
		})
	}
}

// LoginPolicy limits, at their edges; objects that never went through the schema.
func TestLoginPolicyLimits(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		// bad is the field path of the error wanted; "" means in force.
		bad   string
		check func(*testing.T, *policy.LoginPolicy)
	}{
		{name: "no provider named keeps Password", spec: "{}", check: func(t *testing.T, l *policy.LoginPolicy) {
			if got := l.ProviderNames(); !l.Allows(policy.ProviderPassword) || l.Allows(policy.ProviderGoogle) || len(got) != 1 || got[0] != "Password" {
				t.Errorf("providers %v, want only Password", got)
			}
		}},
		{name: "providers in their order", spec: "{authProviders: [API, Google, ADFS]}", check: func(t *testing.T, l *policy.LoginPolicy) {
			if got := strings.Join(l.ProviderNames(), ","); got != "Google,ADFS,API" || l.Allows(policy.ProviderPassword) {
				t.Errorf("providers %s, want Google,ADFS,API", got)
			}
		}},
		{name: "idle timeout as long as the expiration", spec: "{session: {loginExpiration: 12h, idleTimeout: 12h}}"},
		{name: "idle timeout longer than the expiration", spec: "{session: {loginExpiration: 12h, idleTimeout: 13h}}", bad: "spec.session.idleTimeout"},
		{name: "idle timeout without expiration", spec: "{session: {idleTimeout: 30m}}", check: func(t *testing.T, l *policy.LoginPolicy) {
			if l.IdleTimeout != 30*time.Minute || l.LoginExpiration != 0 {
				t.Errorf("idle %s, expiration %s; want 30m and none", l.IdleTimeout, l.LoginExpiration)
			}
		}},
		{name: "a zero duration", spec: "{session: {loginExpiration: 0s}}", bad: "spec.session.loginExpiration"},
		{name: "a negative duration", spec: "{passwordPolicy: {maxAge: -1h}}", bad: "spec.passwordPolicy.maxAge"},
		{name: "minLength defaults to 8", spec: "{passwordPolicy: {minDigits: 1}}", check: minLength(8)},
		{name: "minLength 6", spec: "{passwordPolicy: {minLength: 6}}", check: minLength(6)},
		{name: "minLength 5", spec: "{passwordPolicy: {minLength: 5}}", bad: "spec.passwordPolicy.minLength"},
		{name: "minLength 128", spec: "{passwordPolicy: {minLength: 128}}", check: minLength(128)},
		{name: "minLength 129", spec: "{passwordPolicy: {minLength: 129}}", bad: "spec.passwordPolicy.minLength"},
		{name: "counts of 0 and 128", spec: "{passwordPolicy: {minSpecialChars: 0, minDigits: 128, minUppercase: 128, minLength: 128}}"},
		{name: "minDigits 129", spec: "{passwordPolicy: {minDigits: 129}}", bad: "spec.passwordPolicy.minDigits"},
		{name: "minSpecialChars -1", spec: "{passwordPolicy: {minSpecialChars: -1}}", bad: "spec.passwordPolicy.minSpecialChars"},
		{name: "minUppercase 129", spec: "{passwordPolicy: {minUppercase: 129}}", bad: "spec.passwordPolicy.minUppercase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, rep := compileYAML(t, obj("LoginPolicy", "login", tc.spec))
			if tc.bad != "" {
				wantRejected(t, rep, "LoginPolicy", "login", v1alpha1.ReasonInvalid, tc.bad)
				if snap.Login.Name != "" {
					t.Errorf("LoginPolicy %q in force, want the defaults", snap.Login.Name)
				}
				return
			}
			wantInForce(t, rep, "LoginPolicy", "login")
			if tc.check != nil {
				tc.check(t, &snap.Login)
			}
		})
	}
}

func minLength(n int) func(*testing.T, *policy.LoginPolicy) {
	return func(t *testing.T, l *policy.LoginPolicy) {
		if l.Password.MinLength != n {
			t.Errorf("minLength %d, want %d", l.Password.MinLength, n)
		}
	}
}

// A user a template names is governed by it: the templates claiming the user's groups
// do not compete for them, so none of them reports a conflict over the user.
func TestUserNamedByATemplateRaisesNoGroupConflict(t *testing.T) {
	snap, rep := compileYAML(t, obj("SalesGroup", "east", "{members: [u-1]}")+
		obj("SalesGroup", "west", "{members: [u-1]}")+
		obj("PermissionTemplate", "a-user", "{appliesTo: {users: [u-1]}}")+
		obj("PermissionTemplate", "b-east", "{appliesTo: {salesGroups: [east]}}")+
		obj("PermissionTemplate", "c-west", "{appliesTo: {salesGroups: [west]}}"))
	for _, n := range []string{"a-user", "b-east", "c-west"} {
		wantInForce(t, rep, "PermissionTemplate", n)
		if st := status(t, rep, "PermissionTemplate", n); len(st.Conflicts) > 0 {
			t.Errorf("%s: conflicts %q, want none", n, st.Conflicts)
		}
	}
	if got := snap.Governing("u-1", policy.RoleSalesUser).Template; got != "a-user" {
		t.Errorf("u-1 is governed by %q, want a-user", got)
	}
}

// An IPv4-mapped IPv6 network is the IPv4 network it maps, down to ::ffff:0:0/96 (all
// of IPv4).
func TestIPv4MappedNetworksAreIPv4(t *testing.T) {
	snap, rep := compileYAML(t, obj("IPAllowlist", "mapped", `{cidrs: ["::ffff:0.0.0.0/96"], roles: [SalesUser]}`))
	wantInForce(t, rep, "IPAllowlist", "mapped")
	if !snap.IPRestricted(policy.IPChannelLogin, policy.RoleSalesUser) || snap.IPRestricted(policy.IPChannelLogin, policy.RoleSalesManager) {
		t.Error("the allowlist restricts SalesUser only")
	}
	for _, a := range []string{"10.1.2.3", "255.255.255.255", "::ffff:192.0.2.1"} {
		if !snap.IPAllowed(policy.IPChannelLogin, policy.RoleSalesUser, netip.MustParseAddr(a)) {
			t.Errorf("%s not allowed by ::ffff:0.0.0.0/96", a)
		}
	}
	if snap.IPAllowed(policy.IPChannelLogin, policy.RoleSalesUser, netip.MustParseAddr("2001:db8::1")) {
		t.Error("2001:db8::1 allowed by ::ffff:0.0.0.0/96")
	}
}

// A proxy list of IPv4 or of IPv6 entries alone is enforced like a mixed one.
func TestProxyListsOfOneFamily(t *testing.T) {
	for _, tc := range []struct{ list, proxy, other string }{
		{"203.0.113.66\n", "203.0.113.66", "203.0.113.67"},
		{"2001:db8:dead::/48\n", "2001:db8:dead:1::9", "2001:db8:beef::1"},
	} {
		t.Run(tc.proxy, func(t *testing.T) {
			snap, rep := compileYAML(t, obj("IPAllowlist", "office", `{cidrs: ["0.0.0.0/0", "::/0"], blockAnonymousProxies: true, anonymousProxyList: {configMapRef: {name: exits, key: list}}}`)+
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: exits, labels: {policy.crmauthz.io/anonymous-proxy-list: \"true\"}}\ndata:\n  list: |\n    "+tc.list)
			wantInForce(t, rep, "IPAllowlist", "office")
			if proxy, sources := snap.AnonymousProxy(policy.IPChannelLogin, netip.MustParseAddr(tc.proxy)); !proxy || len(sources) != 1 || sources[0] != "office" {
				t.Errorf("%s: proxy=%v sources=%v, want refused by office", tc.proxy, proxy, sources)
			}
			if proxy, _ := snap.AnonymousProxy(policy.IPChannelAPI, netip.MustParseAddr(tc.other)); proxy {
				t.Errorf("%s refused as a proxy", tc.other)
			}
		})
	}
}

// A user in no group reaches only themself; an empty list holds nobody.
func TestListOfOneUser(t *testing.T) {
	snap, _ := compileYAML(t, obj("SalesGroup", "west", "{members: [u-1]}"))
	for _, l := range []policy.UserList{snap.TeamOwners("u-9"), snap.VisibleUsers("u-9"), policy.OnlyUser("u-9")} {
		if l.Len() != 1 || l.At(0) != "u-9" || len(l.AppendTo(nil)) != 1 {
			t.Errorf("want the list of u-9 alone, got %d: %v", l.Len(), l.AppendTo(nil))
		}
	}
	var none policy.UserList
	if none.Len() != 0 || len(none.AppendTo(nil)) != 0 {
		t.Errorf("the zero list holds %d users", none.Len())
	}
}

// Team owners come straight from the snapshot, without allocating, when one group's
// subtree holds them all: a manager's other groups inside the subtree they manage add
// nothing (snapshot.TeamOwners).
func TestTeamOwnersOfOneSubtreeDoNotAllocate(t *testing.T) {
	// zulu (manages: boss) ├── whiskey (boss, u-w)
	//                      └── yankee (manages: boss; u-y) ── xray (boss, u-x)
	snap, _ := compileYAML(t, obj("SalesGroup", "zulu", "{managers: [boss], members: [u-z]}")+
		obj("SalesGroup", "whiskey", "{parent: zulu, members: [boss, u-w]}")+
		obj("SalesGroup", "yankee", "{parent: zulu, managers: [boss], members: [u-y]}")+
		obj("SalesGroup", "xray", "{parent: yankee, members: [boss, u-x]}")+
		obj("SalesGroup", "other", "{members: [u-o]}"))
	want := "boss u-w u-x u-y u-z"
	if got := strings.Join(snap.TeamOwners("boss").AppendTo(nil), " "); got != want {
		t.Fatalf("team owners %q, want %q", got, want)
	}
	if got := strings.Join(snap.VisibleUsers("boss").AppendTo(nil), " "); got != want {
		t.Fatalf("visible users %q, want %q", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { snap.TeamOwners("boss") }); n != 0 {
		t.Errorf("TeamOwners allocates %.0f times", n)
	}
	if n := testing.AllocsPerRun(100, func() { snap.TeamOwners("u-x") }); n != 0 {
		t.Errorf("TeamOwners of one group's member allocates %.0f times", n)
	}
}

// A proxy list that cannot be read names the line it stopped at.
func TestProxyListLineTooLong(t *testing.T) {
	_, err := policy.ParseProxyList("203.0.113.66\n" + strings.Repeat("1", 2<<20) + "\n")
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("want an error naming line 2, got %v", err)
	}
}
