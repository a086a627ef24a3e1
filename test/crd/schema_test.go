package crd_test

import (
	"context"
	"errors"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crmauthz/crmauthz/internal/testenv"
)

const ns = "schema-tests"

// obj builds an unstructured crmauthz object of kind with the given spec.
func obj(kind, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.crmauthz.io/v1alpha1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       spec,
	}}
	return u
}

// Valid fixtures; each malformed case starts from one of these and breaks one thing.
func template() *unstructured.Unstructured {
	return obj("PermissionTemplate", "t", map[string]any{
		"appliesTo": map[string]any{"roles": []any{"SalesUser"}},
		"entities": map[string]any{
			"leads": map[string]any{"view": map[string]any{"access": "Full", "scope": "Team"}},
		},
	})
}

func group() *unstructured.Unstructured {
	return obj("SalesGroup", "west", map[string]any{"managers": []any{"u-1"}, "members": []any{"u-2"}})
}

func loginPolicy() *unstructured.Unstructured {
	return obj("LoginPolicy", "login", map[string]any{
		"session":        map[string]any{"loginExpiration": "12h", "idleTimeout": "30m"},
		"passwordPolicy": map[string]any{"minLength": int64(10)},
	})
}

func allowlist() *unstructured.Unstructured {
	return obj("IPAllowlist", "office", map[string]any{"cidrs": []any{"203.0.113.0/24"}})
}

// with sets path (dot-separated under the object) to value.
func with(u *unstructured.Unstructured, path string, value any) *unstructured.Unstructured {
	if err := unstructured.SetNestedField(u.Object, value, strings.Split(path, ".")...); err != nil {
		panic(err) // a fixture bug, not a finding
	}
	return u
}

// without removes path.
func without(u *unstructured.Unstructured, path string) *unstructured.Unstructured {
	unstructured.RemoveNestedField(u.Object, strings.Split(path, ".")...)
	return u
}

type refusal struct {
	obj     *unstructured.Unstructured
	field   string // the field path the API server must name
	message string // a part of the message that only this rule produces
}

var refusals = map[string]func() refusal{
	// PermissionTemplate
	"appliesTo names nobody": func() refusal {
		return refusal{with(template(), "spec.appliesTo", map[string]any{}), "spec.appliesTo", "appliesTo must name at least one user, role or sales group"}
	},
	"Partial view without fields": func() refusal {
		return refusal{with(template(), "spec.entities.leads.view", map[string]any{"access": "Partial"}), "spec.entities.leads.view.fields", "fields is required when access is Partial"}
	},
	"fields with Full access": func() refusal {
		return refusal{with(template(), "spec.entities.leads.view", map[string]any{"access": "Full", "fields": []any{"Phone"}}), "spec.entities.leads.view.fields", "fields may be set only when access is Partial, not Full"}
	},
	"Partial delete": func() refusal {
		return refusal{with(template(), "spec.entities.leads.delete", map[string]any{"access": "Partial", "fields": []any{"Phone"}}), "spec.entities.leads.delete.access", "Partial access is allowed only on view, create and edit"}
	},
	"Partial export": func() refusal {
		return refusal{with(template(), "spec.entities.opportunities.export", map[string]any{"access": "Partial", "fields": []any{"Amount"}}), "spec.entities.opportunities.export.access", "Partial access is allowed only on view, create and edit"}
	},
	"Partial import": func() refusal {
		return refusal{with(template(), "spec.entities.accounts.import", map[string]any{"access": "Partial", "fields": []any{"Name"}}), "spec.entities.accounts.import.access", "Partial access is allowed only on view, create and edit"}
	},
	"Partial reassign": func() refusal {
		return refusal{with(template(), "spec.entities.tasks.reassign", map[string]any{"access": "Partial", "fields": []any{"Due"}}), "spec.entities.tasks.reassign.access", "Partial access is allowed only on view, create and edit"}
	},
	"Partial markComplete": func() refusal {
		return refusal{with(template(), "spec.entities.tasks.markComplete", map[string]any{"access": "Partial", "fields": []any{"Due"}}), "spec.entities.tasks.markComplete.access", "Partial access is allowed only on view, create and edit"}
	},
	"Partial activity delete": func() refusal {
		return refusal{with(template(), "spec.entities.activities.delete", map[string]any{"access": "Partial", "fields": []any{"Notes"}}), "spec.entities.activities.delete.access", "Partial access is allowed only on view, create and edit"}
	},
	"bulk on view": func() refusal {
		return refusal{with(template(), "spec.entities.leads.view.bulk", "Deny"), "spec.entities.leads.view.bulk", "bulk is allowed only on create, edit and delete"}
	},
	"bulk on export": func() refusal {
		return refusal{with(template(), "spec.entities.activities.export", map[string]any{"bulk": "Deny"}), "spec.entities.activities.export.bulk", "bulk is allowed only on create, edit and delete"}
	},
	"bulk on markComplete": func() refusal {
		return refusal{with(template(), "spec.entities.tasks.markComplete", map[string]any{"bulk": "Deny"}), "spec.entities.tasks.markComplete.bulk", "bulk is allowed only on create, edit and delete"}
	},
	"unknown access": func() refusal {
		return refusal{with(template(), "spec.entities.leads.view.access", "Some"), "spec.entities.leads.view.access", `Unsupported value: "Some"`}
	},
	"unknown scope": func() refusal {
		return refusal{with(template(), "spec.entities.leads.view.scope", "Region"), "spec.entities.leads.view.scope", `Unsupported value: "Region"`}
	},
	"unknown bulk": func() refusal {
		return refusal{with(template(), "spec.entities.leads.edit", map[string]any{"bulk": "Sometimes"}), "spec.entities.leads.edit.bulk", `Unsupported value: "Sometimes"`}
	},
	"unknown feature": func() refusal {
		return refusal{with(template(), "spec.restrictedFeatures", []any{"Telepathy"}), "spec.restrictedFeatures[0]", `Unsupported value: "Telepathy"`}
	},
	"feature listed twice": func() refusal {
		return refusal{with(template(), "spec.restrictedFeatures", []any{"API", "API"}), "spec.restrictedFeatures[1]", `Duplicate value: "API"`}
	},
	"unknown userAccess": func() refusal {
		return refusal{with(template(), "spec.userAccess", "Everyone"), "spec.userAccess", `Unsupported value: "Everyone"`}
	},
	"unknown reportsWithHiddenFields": func() refusal {
		return refusal{with(template(), "spec.reportsWithHiddenFields", "Maybe"), "spec.reportsWithHiddenFields", `Unsupported value: "Maybe"`}
	},
	"description too long": func() refusal {
		return refusal{with(template(), "spec.description", strings.Repeat("x", 501)), "spec.description", "Too long"}
	},
	"template for SuperAdmin": func() refusal {
		return refusal{with(template(), "spec.appliesTo.roles", []any{"SuperAdmin"}), "spec.appliesTo.roles", "SuperAdmin is never governed by a template"}
	},
	"unknown role": func() refusal {
		return refusal{with(template(), "spec.appliesTo.roles", []any{"Intern"}), "spec.appliesTo.roles[0]", `Unsupported value: "Intern"`}
	},
	"user administration restricted for SalesUser": func() refusal {
		return refusal{with(template(), "spec.restrictedFeatures", []any{"CreateUsers"}), "spec.restrictedFeatures", "cannot be restricted for role SalesUser"}
	},
	"admin-only feature for SalesManager": func() refusal {
		u := with(template(), "spec.appliesTo.roles", []any{"SalesManager"})
		return refusal{with(u, "spec.restrictedFeatures", []any{"SupportAccess"}), "spec.restrictedFeatures", "are admin-only"}
	},
	"admin-only feature for a sales group": func() refusal {
		u := with(template(), "spec.appliesTo", map[string]any{"roles": []any{"Administrator"}, "salesGroups": []any{"west"}})
		return refusal{with(u, "spec.restrictedFeatures", []any{"OrganizationSwitch"}), "spec.restrictedFeatures", "are admin-only"}
	},
	"user id with a space": func() refusal {
		return refusal{with(template(), "spec.appliesTo.users", []any{"u 17"}), "spec.appliesTo.users[0]", "should match"}
	},
	"sales group name in capitals": func() refusal {
		return refusal{with(template(), "spec.appliesTo.salesGroups", []any{"West"}), "spec.appliesTo.salesGroups[0]", "should match"}
	},
	"field name with a space": func() refusal {
		return refusal{with(template(), "spec.entities.leads.maskedFields", []any{"Phone Number"}), "spec.entities.leads.maskedFields[0]", "should match"}
	},
	"hiddenTypes on leads": func() refusal {
		return refusal{with(template(), "spec.entities.leads.hiddenTypes", []any{"Call"}), "", `unknown field "spec.entities.leads.hiddenTypes"`}
	},
	"markComplete on leads": func() refusal {
		return refusal{with(template(), "spec.entities.leads.markComplete", map[string]any{"access": "None"}), "", `unknown field "spec.entities.leads.markComplete"`}
	},
	"import on tasks": func() refusal {
		return refusal{with(template(), "spec.entities.tasks.import", map[string]any{"access": "None"}), "", `unknown field "spec.entities.tasks.import"`}
	},
	"view on users": func() refusal {
		return refusal{with(template(), "spec.entities.users.view", map[string]any{"access": "None"}), "", `unknown field "spec.entities.users.view"`}
	},
	"users edit with Team scope": func() refusal {
		return refusal{with(template(), "spec.entities.users.edit", map[string]any{"scope": "Team"}), "spec.entities.users.edit.scope", "users have no owner"}
	},
	"too many masked fields": func() refusal {
		fields := make([]any, 201)
		for i := range fields {
			fields[i] = "F" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
		}
		return refusal{with(template(), "spec.entities.leads.maskedFields", fields), "spec.entities.leads.maskedFields", "must have at most 200 items"}
	},
	"appliesTo missing": func() refusal {
		return refusal{without(template(), "spec.appliesTo"), "spec.appliesTo", "Required value"}
	},

	// SalesGroup
	"group is its own parent": func() refusal {
		return refusal{with(group(), "spec.parent", "west"), "spec.parent", "spec.parent may not name the group itself"}
	},
	"member listed twice": func() refusal {
		return refusal{with(group(), "spec.members", []any{"u-2", "u-2"}), "spec.members[1]", `Duplicate value: "u-2"`}
	},
	"parent not an object name": func() refusal {
		return refusal{with(group(), "spec.parent", "West Coast"), "spec.parent", "should match"}
	},
	"display name too long": func() refusal {
		return refusal{with(group(), "spec.displayName", strings.Repeat("W", 257)), "spec.displayName", "Too long"}
	},

	// LoginPolicy
	"idle timeout longer than login expiration": func() refusal {
		return refusal{with(loginPolicy(), "spec.session.idleTimeout", "13h"), "spec.session.idleTimeout", "idleTimeout may not be longer than loginExpiration"}
	},
	"2FA users without PerUser": func() refusal {
		u := with(loginPolicy(), "spec.twoFactor", map[string]any{"mode": "Required", "users": []any{"u-9"}})
		return refusal{u, "spec.twoFactor.users", "users may be set only with mode PerUser, not Required"}
	},
	"password shorter than 6": func() refusal {
		return refusal{with(loginPolicy(), "spec.passwordPolicy.minLength", int64(5)), "spec.passwordPolicy.minLength", "should be greater than or equal to 6"}
	},
	"password longer than 128": func() refusal {
		return refusal{with(loginPolicy(), "spec.passwordPolicy.minLength", int64(129)), "spec.passwordPolicy.minLength", "should be less than or equal to 128"}
	},
	"character minimums exceed the length": func() refusal {
		u := with(loginPolicy(), "spec.passwordPolicy", map[string]any{"minLength": int64(8), "minDigits": int64(4), "minUppercase": int64(4), "minSpecialChars": int64(1)})
		return refusal{u, "spec.passwordPolicy", "minSpecialChars + minDigits + minUppercase may not exceed minLength"}
	},
	"duration in words": func() refusal {
		return refusal{with(loginPolicy(), "spec.session.loginExpiration", "12 hours"), "spec.session.loginExpiration", "should match"}
	},
	"zero duration": func() refusal {
		u := with(loginPolicy(), "spec.session", map[string]any{"idleTimeout": "0s"})
		return refusal{u, "spec.session.idleTimeout", "must be a positive duration"}
	},
	"trusted devices without validFor": func() refusal {
		u := with(loginPolicy(), "spec.twoFactor", map[string]any{"mode": "Required", "trustedDevices": map[string]any{"enabled": true}})
		return refusal{u, "spec.twoFactor.trustedDevices.validFor", "validFor is required when trusted devices are enabled"}
	},
	"unknown auth provider": func() refusal {
		return refusal{with(loginPolicy(), "spec.authProviders", []any{"Okta"}), "spec.authProviders[0]", `Unsupported value: "Okta"`}
	},
	"no auth provider": func() refusal {
		return refusal{with(loginPolicy(), "spec.authProviders", []any{}), "spec.authProviders", "should have at least 1 items"}
	},
	"unknown 2FA mode": func() refusal {
		return refusal{with(loginPolicy(), "spec.twoFactor", map[string]any{"mode": "Sometimes"}), "spec.twoFactor.mode", `Unsupported value: "Sometimes"`}
	},
	"revocation not a timestamp": func() refusal {
		return refusal{with(loginPolicy(), "spec.session.revokeSessionsBefore", "yesterday"), "spec.session.revokeSessionsBefore", "date-time"}
	},

	// IPAllowlist
	"no cidrs": func() refusal {
		return refusal{without(allowlist(), "spec.cidrs"), "spec.cidrs", "Required value"}
	},
	"empty cidrs": func() refusal {
		return refusal{with(allowlist(), "spec.cidrs", []any{}), "spec.cidrs", "should have at least 1 items"}
	},
	"IPv4 host bits set": func() refusal {
		return refusal{with(allowlist(), "spec.cidrs", []any{"203.0.113.5/24"}), "spec.cidrs[0]", "has host bits set"}
	},
	"IPv6 host bits set": func() refusal {
		return refusal{with(allowlist(), "spec.cidrs", []any{"2001:db8::1/32"}), "spec.cidrs[0]", "has host bits set"}
	},
	"address out of range": func() refusal {
		return refusal{with(allowlist(), "spec.cidrs", []any{"300.1.1.0/24"}), "spec.cidrs[0]", "is not a CIDR"}
	},
	"address without prefix": func() refusal {
		return refusal{with(allowlist(), "spec.cidrs", []any{"203.0.113.5"}), "spec.cidrs[0]", "is not a CIDR"}
	},
	"prefix too long": func() refusal {
		return refusal{with(allowlist(), "spec.cidrs", []any{"203.0.113.0/33"}), "spec.cidrs[0]", "is not a CIDR"}
	},
	"unknown channel": func() refusal {
		return refusal{with(allowlist(), "spec.channels", []any{"UI"}), "spec.channels[0]", `Unsupported value: "UI"`}
	},
	"allowlist role unknown": func() refusal {
		return refusal{with(allowlist(), "spec.roles", []any{"Boss"}), "spec.roles[0]", `Unsupported value: "Boss"`}
	},
	"proxy list without key": func() refusal {
		return refusal{with(allowlist(), "spec.anonymousProxyList", map[string]any{"configMapRef": map[string]any{"name": "tor"}}), "spec.anonymousProxyList.configMapRef.key", "Required value"}
	},
}

var _ = Describe("The CRD schema", Ordered, func() {
	ctx := context.Background()

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	})

	It("accepts every valid fixture", func() {
		for _, u := range []*unstructured.Unstructured{template(), group(), loginPolicy(), allowlist()} {
			Expect(k8sClient.Create(ctx, u)).To(Succeed(), "%s", u.GetKind())
			Expect(k8sClient.Delete(ctx, u)).To(Succeed())
		}
	})

	It("fills in the documented defaults", func() {
		u := obj("IPAllowlist", "defaults", map[string]any{"cidrs": []any{"10.0.0.0/8"}})
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		Expect(u.Object["spec"]).To(HaveKeyWithValue("channels", ConsistOf("Login", "API")))

		lp := obj("LoginPolicy", "defaults", map[string]any{"passwordPolicy": map[string]any{}, "twoFactor": map[string]any{}})
		Expect(k8sClient.Create(ctx, lp)).To(Succeed())
		Expect(lp.Object["spec"]).To(HaveKeyWithValue("authProviders", ConsistOf("Password")))
		Expect(lp.Object["spec"]).To(HaveKeyWithValue("passwordPolicy", HaveKeyWithValue("minLength", BeEquivalentTo(8))))
		Expect(lp.Object["spec"]).To(HaveKeyWithValue("twoFactor", HaveKeyWithValue("mode", "Disabled")))

		pt := template()
		pt.SetName("defaults")
		Expect(k8sClient.Create(ctx, pt)).To(Succeed())
		Expect(pt.Object["spec"]).To(HaveKeyWithValue("userAccess", "AllUsers"))
		Expect(pt.Object["spec"]).To(HaveKeyWithValue("reportsWithHiddenFields", "Restrict"))
	})

	It("refuses at least 20 kinds of malformed object", func() {
		Expect(len(refusals)).To(BeNumerically(">=", 20))
	})

	for name, build := range refusals {
		It("refuses: "+name, func() {
			r := build()
			err := k8sClient.Create(ctx, r.obj)
			Expect(err).To(HaveOccurred(), "the API server stored a malformed %s", r.obj.GetKind())
			var status apierrors.APIStatus
			Expect(errors.As(err, &status)).To(BeTrue(), "not an API status error: %v", err)
			Expect(err.Error()).To(ContainSubstring(r.message))
			if r.field == "" {
				return // strict field validation names the field inside the message
			}
			details := status.Status().Details
			Expect(details).NotTo(BeNil(), "no details in %v", err)
			Expect(details.Causes).To(ContainElement(And(
				HaveField("Field", r.field),
				HaveField("Message", ContainSubstring(r.message)),
			)), "no cause naming %s with %q in %v", r.field, r.message, err)
		})
	}
})

var _ = Describe("The samples", func() {
	It("apply to a real API server with kubectl", func() {
		out, err := testenv.Kubectl(kubeconfig, "apply", "-k", testenv.Path("config", "samples"))
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("permissiontemplate.policy.crmauthz.io/inside-sales created"))
		Expect(out).To(ContainSubstring("salesgroup.policy.crmauthz.io/west-smb created"))
		Expect(out).To(ContainSubstring("loginpolicy.policy.crmauthz.io/acme-login created"))
		Expect(out).To(ContainSubstring("ipallowlist.policy.crmauthz.io/office-network created"))

		out, err = testenv.Kubectl(kubeconfig, "get", "crmauthz", "-n", "acme", "-o", "name")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(strings.Fields(out)).To(HaveLen(14)) // 5 templates, 6 groups, 1 login policy, 2 allowlists
	})

	It("install with the operator's manifests (config/default, server-side dry run)", func() {
		// A dry run: the webhook configuration would send this suite's writes to a
		// manager that is not running here. The namespace must exist for it.
		Expect(k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "crmauthz-system"}})).To(Succeed())
		out, err := testenv.Kubectl(kubeconfig, "apply", "--dry-run=server", "-k", testenv.Path("config", "default"))
		Expect(err).NotTo(HaveOccurred(), out)
		for _, want := range []string{
			"deployment.apps/crmauthz-controller-manager created (server dry run)",
			"clusterrole.rbac.authorization.k8s.io/crmauthz-manager-role created (server dry run)",
			"role.rbac.authorization.k8s.io/crmauthz-manager-role created (server dry run)",
			"service/crmauthz-api created (server dry run)",
			"service/crmauthz-webhook-service created (server dry run)",
			"validatingwebhookconfiguration.admissionregistration.k8s.io/crmauthz-validating-webhook-configuration created (server dry run)",
		} {
			Expect(out).To(ContainSubstring(want))
		}
	})

	It("explain themselves with kubectl explain", func() {
		out, err := testenv.Kubectl(kubeconfig, "explain", "permissiontemplate.spec.entities.leads.view")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("view is who may see records"))
		Expect(out).To(ContainSubstring("scope"))
		Expect(out).To(ContainSubstring("Own"))

		out, err = testenv.Kubectl(kubeconfig, "get", "sg", "-n", "acme")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("PARENT"))
	})
})
