// Command gen writes the benchmark's inputs: a tenant of the benchmark size as crmauthz
// objects (for `crmauthz serve`), the same tenant as OPA data beside an equivalent Rego
// policy, and requests in both services' formats.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
)

func main() {
	out := flag.String("out", "out", "output directory")
	n := flag.Int("requests", 1000, "requests to generate")
	seed := flag.Uint64("seed", 1, "seed of the tenant and the requests")
	flag.Parse()
	t := tenantgen.Generate("acme", tenantgen.SpecSize, *seed)
	must(os.MkdirAll(filepath.Join(*out, "objects"), 0o755))
	must(os.MkdirAll(filepath.Join(*out, "opa"), 0o755))
	must(writeObjects(filepath.Join(*out, "objects"), t))
	must(writeJSON(filepath.Join(*out, "opa", "data.json"), opaData(t)))
	reqs := tenantgen.Requests(t, *n, *seed)
	must(writeLines(filepath.Join(*out, "requests.jsonl"), reqs, false))
	must(writeLines(filepath.Join(*out, "requests-opa.jsonl"), reqs, true))
	fmt.Printf("wrote %d templates, %d groups, %d users and %d requests to %s\n",
		len(t.Input.Templates), len(t.Input.Groups), len(t.Users), len(reqs), *out)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func writeObjects(dir string, t *tenantgen.Tenant) error {
	var docs []byte
	add := func(kind string, o any) error {
		b, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		docs = append(docs, []byte("---\napiVersion: policy.crmauthz.io/v1alpha1\nkind: "+kind+"\n")...)
		docs = append(docs, b...)
		return nil
	}
	in := t.Input
	for i := range in.Groups {
		in.Groups[i].Generation = 0
		if err := add("SalesGroup", clean(&in.Groups[i])); err != nil {
			return err
		}
	}
	for i := range in.Templates {
		if err := add("PermissionTemplate", clean(&in.Templates[i])); err != nil {
			return err
		}
	}
	for i := range in.LoginPolicies {
		if err := add("LoginPolicy", clean(&in.LoginPolicies[i])); err != nil {
			return err
		}
	}
	for i := range in.Allowlists {
		if err := add("IPAllowlist", clean(&in.Allowlists[i])); err != nil {
			return err
		}
	}
	for name, data := range in.ConfigMaps {
		b, _ := yaml.Marshal(map[string]any{"data": data})
		docs = append(docs, []byte(fmt.Sprintf("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: acme, labels: {policy.crmauthz.io/anonymous-proxy-list: \"true\"}}\n", name))...)
		docs = append(docs, b...)
	}
	return os.WriteFile(filepath.Join(dir, "tenant.yaml"), docs, 0o644)
}

// clean keeps metadata to name and namespace and drops status.
func clean(o any) map[string]any {
	b, _ := json.Marshal(o)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	md := m["metadata"].(map[string]any)
	m["metadata"] = map[string]any{"name": md["name"], "namespace": md["namespace"]}
	delete(m, "status")
	return m
}

// opaData is the tenant as OPA data: templates as written, claims resolved by the spec's
// tie rule (the name that sorts first), users' groups, and each group's ancestors.
func opaData(t *tenantgen.Tenant) map[string]any {
	templates := map[string]any{}
	claims := map[string]map[string]string{"users": {}, "groups": {}, "roles": {}}
	claim := func(kind, key, tmpl string) {
		if cur, ok := claims[kind][key]; !ok || tmpl < cur {
			claims[kind][key] = tmpl
		}
	}
	for _, pt := range t.Input.Templates {
		b, _ := json.Marshal(pt.Spec)
		var spec map[string]any
		_ = json.Unmarshal(b, &spec)
		templates[pt.Name] = spec
		for _, u := range pt.Spec.AppliesTo.Users {
			claim("users", string(u), pt.Name)
		}
		for _, g := range pt.Spec.AppliesTo.SalesGroups {
			claim("groups", string(g), pt.Name)
		}
		for _, r := range pt.Spec.AppliesTo.Roles {
			claim("roles", string(r), pt.Name)
		}
	}
	type userData struct {
		Groups  []string `json:"groups"`
		Managed []string `json:"managed"`
	}
	users := map[string]*userData{}
	get := func(u string) *userData {
		if users[u] == nil {
			users[u] = &userData{Groups: []string{}, Managed: []string{}}
		}
		return users[u]
	}
	groups := map[string]any{}
	for gi, g := range t.GroupNames {
		var anc []string
		for p := gi; p >= 0; p = t.Parent[p] {
			anc = append(anc, t.GroupNames[p])
		}
		groups[g] = map[string]any{"ancestors": anc}
		m := get(t.Managers[gi])
		m.Groups = append(m.Groups, g)
		m.Managed = append(m.Managed, g)
		for _, u := range t.Members[gi] {
			get(u).Groups = append(get(u).Groups, g)
		}
	}
	return map[string]any{"crm": map[string]any{"templates": templates, "claims": claims, "users": users, "groups": groups,
		"allowlists": allowlists(t)}}
}

// allowlists writes the IP allowlists with the schema's defaults applied (both
// channels, every role) and each anonymous-proxy list read from its ConfigMap, entries
// as CIDRs.
func allowlists(t *tenantgen.Tenant) []map[string]any {
	out := []map[string]any{}
	for _, al := range t.Input.Allowlists {
		channels := []string{"Login", "API"}
		if len(al.Spec.Channels) > 0 {
			channels = nil
			for _, c := range al.Spec.Channels {
				channels = append(channels, string(c))
			}
		}
		roles, cidrs, proxies := []string{}, []string{}, []string{}
		for _, r := range al.Spec.Roles {
			roles = append(roles, string(r))
		}
		for _, c := range al.Spec.CIDRs {
			cidrs = append(cidrs, string(c))
		}
		if ref := al.Spec.AnonymousProxyList; ref != nil {
			for _, line := range strings.Fields(t.Input.ConfigMaps[ref.ConfigMapRef.Name][ref.ConfigMapRef.Key]) {
				if !strings.Contains(line, "/") {
					line += map[bool]string{true: "/128", false: "/32"}[strings.Contains(line, ":")]
				}
				proxies = append(proxies, line)
			}
		}
		out = append(out, map[string]any{"channels": channels, "roles": roles, "cidrs": cidrs,
			"block": al.Spec.BlockAnonymousProxies && al.Spec.AnonymousProxyList != nil, "proxies": proxies})
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func writeLines(path string, reqs []service.CheckRequest, opa bool) error {
	var buf []byte
	for _, q := range reqs {
		var v any = q
		if opa {
			v = map[string]any{"input": q}
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	return os.WriteFile(path, buf, 0o644)
}
