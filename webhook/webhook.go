// Package webhook is admission for the four kinds: typed controller-runtime validators
// that load the namespace's other objects and call the shared validation package. The
// schema does what needs only the object; these do what needs the namespace or code.
package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/validation"
)

// namespaceOf reads what validation needs of a namespace, from the manager's cache.
// Admission is not transactional: two concurrent writes may both pass, and the
// controller then settles the outcome deterministically (see the compiler).
func namespaceOf(ctx context.Context, r client.Reader, ns string) (*validation.Namespace, error) {
	var pts v1alpha1.PermissionTemplateList
	var sgs v1alpha1.SalesGroupList
	var lps v1alpha1.LoginPolicyList
	for _, l := range []client.ObjectList{&pts, &sgs, &lps} {
		if err := r.List(ctx, l, client.InNamespace(ns)); err != nil {
			return nil, unavailable(fmt.Errorf("reading namespace %s: %w", ns, err))
		}
	}
	return &validation.Namespace{Templates: pts.Items, Groups: sgs.Items, LoginPolicies: lps.Items}, nil
}

// proxyListsOf names the ConfigMaps of ns labelled as anonymous-proxy lists (the
// only ones the manager's cache holds).
func proxyListsOf(ctx context.Context, r client.Reader, ns string) (map[string]bool, error) {
	var cms corev1.ConfigMapList
	if err := r.List(ctx, &cms, client.InNamespace(ns), client.MatchingLabels{v1alpha1.ProxyListLabel: "true"}); err != nil {
		return nil, unavailable(fmt.Errorf("reading ConfigMaps of %s: %w", ns, err))
	}
	names := map[string]bool{}
	for _, cm := range cms.Items {
		names[cm.Name] = true
	}
	return names, nil
}

// unavailable refuses a write that could not be judged with a 500, not the 403 an
// error gets by default, so that it reads as a failure to retry, not a policy verdict.
func unavailable(err error) error {
	return apierrors.NewInternalError(err)
}

// answer turns a validation result into admission's answer.
func answer(kind, name string, r validation.Result) (admission.Warnings, error) {
	if len(r.Errors) == 0 {
		return r.Warnings, nil
	}
	gk := schema.GroupKind{Group: v1alpha1.GroupVersion.Group, Kind: kind}
	return r.Warnings, apierrors.NewInvalid(gk, name, r.Errors)
}

// +kubebuilder:webhook:path=/validate-policy-crmauthz-io-v1alpha1-permissiontemplate,mutating=false,failurePolicy=fail,sideEffects=None,groups=policy.crmauthz.io,resources=permissiontemplates,verbs=create;update,versions=v1alpha1,name=vpermissiontemplate-v1alpha1.kb.io,admissionReviewVersions=v1,timeoutSeconds=3

// PermissionTemplateValidator refuses a 51st template, claims already made at the same
// level, broken permission structures and unrestrictable system fields.
type PermissionTemplateValidator struct{ Reader client.Reader }

var _ admission.Validator[*v1alpha1.PermissionTemplate] = &PermissionTemplateValidator{}

func (v *PermissionTemplateValidator) validate(ctx context.Context, t *v1alpha1.PermissionTemplate, creating bool) (admission.Warnings, error) {
	ns, err := namespaceOf(ctx, v.Reader, t.Namespace)
	if err != nil {
		return nil, err
	}
	return answer("PermissionTemplate", t.Name, validation.Template(t, ns, creating))
}

// ValidateCreate implements admission.Validator.
func (v *PermissionTemplateValidator) ValidateCreate(ctx context.Context, t *v1alpha1.PermissionTemplate) (admission.Warnings, error) {
	return v.validate(ctx, t, true)
}

// ValidateUpdate implements admission.Validator.
func (v *PermissionTemplateValidator) ValidateUpdate(ctx context.Context, _, t *v1alpha1.PermissionTemplate) (admission.Warnings, error) {
	return v.validate(ctx, t, false)
}

// ValidateDelete implements admission.Validator: deleting is always allowed.
func (v *PermissionTemplateValidator) ValidateDelete(context.Context, *v1alpha1.PermissionTemplate) (admission.Warnings, error) {
	return nil, nil
}

// +kubebuilder:webhook:path=/validate-policy-crmauthz-io-v1alpha1-salesgroup,mutating=false,failurePolicy=fail,sideEffects=None,groups=policy.crmauthz.io,resources=salesgroups,verbs=create;update,versions=v1alpha1,name=vsalesgroup-v1alpha1.kb.io,admissionReviewVersions=v1,timeoutSeconds=3

// SalesGroupValidator refuses parent cycles and warns about missing parents.
type SalesGroupValidator struct{ Reader client.Reader }

var _ admission.Validator[*v1alpha1.SalesGroup] = &SalesGroupValidator{}

func (v *SalesGroupValidator) validate(ctx context.Context, g *v1alpha1.SalesGroup) (admission.Warnings, error) {
	ns, err := namespaceOf(ctx, v.Reader, g.Namespace)
	if err != nil {
		return nil, err
	}
	return answer("SalesGroup", g.Name, validation.SalesGroup(g, ns))
}

// ValidateCreate implements admission.Validator.
func (v *SalesGroupValidator) ValidateCreate(ctx context.Context, g *v1alpha1.SalesGroup) (admission.Warnings, error) {
	return v.validate(ctx, g)
}

// ValidateUpdate implements admission.Validator.
func (v *SalesGroupValidator) ValidateUpdate(ctx context.Context, _, g *v1alpha1.SalesGroup) (admission.Warnings, error) {
	return v.validate(ctx, g)
}

// ValidateDelete implements admission.Validator: deleting is always allowed.
func (v *SalesGroupValidator) ValidateDelete(context.Context, *v1alpha1.SalesGroup) (admission.Warnings, error) {
	return nil, nil
}

// +kubebuilder:webhook:path=/validate-policy-crmauthz-io-v1alpha1-loginpolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=policy.crmauthz.io,resources=loginpolicies,verbs=create;update,versions=v1alpha1,name=vloginpolicy-v1alpha1.kb.io,admissionReviewVersions=v1,timeoutSeconds=3

// LoginPolicyValidator refuses a second LoginPolicy in a namespace.
type LoginPolicyValidator struct{ Reader client.Reader }

var _ admission.Validator[*v1alpha1.LoginPolicy] = &LoginPolicyValidator{}

// ValidateCreate implements admission.Validator.
func (v *LoginPolicyValidator) ValidateCreate(ctx context.Context, l *v1alpha1.LoginPolicy) (admission.Warnings, error) {
	ns, err := namespaceOf(ctx, v.Reader, l.Namespace)
	if err != nil {
		return nil, err
	}
	return answer("LoginPolicy", l.Name, validation.LoginPolicy(l, ns, true))
}

// ValidateUpdate implements admission.Validator: an update cannot add a policy.
func (v *LoginPolicyValidator) ValidateUpdate(context.Context, *v1alpha1.LoginPolicy, *v1alpha1.LoginPolicy) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete implements admission.Validator: deleting is always allowed.
func (v *LoginPolicyValidator) ValidateDelete(context.Context, *v1alpha1.LoginPolicy) (admission.Warnings, error) {
	return nil, nil
}

// +kubebuilder:webhook:path=/validate-policy-crmauthz-io-v1alpha1-ipallowlist,mutating=false,failurePolicy=fail,sideEffects=None,groups=policy.crmauthz.io,resources=ipallowlists,verbs=create;update,versions=v1alpha1,name=vipallowlist-v1alpha1.kb.io,admissionReviewVersions=v1,timeoutSeconds=3

// IPAllowlistValidator warns about allow-all networks (CIDR syntax is the schema's)
// and about an anonymous-proxy list with no labelled ConfigMap behind it.
type IPAllowlistValidator struct{ Reader client.Reader }

var _ admission.Validator[*v1alpha1.IPAllowlist] = &IPAllowlistValidator{}

func (v *IPAllowlistValidator) validate(ctx context.Context, a *v1alpha1.IPAllowlist) (admission.Warnings, error) {
	lists, err := proxyListsOf(ctx, v.Reader, a.Namespace)
	if err != nil {
		return nil, err
	}
	return answer("IPAllowlist", a.Name, validation.IPAllowlist(a, &validation.Namespace{ProxyLists: lists}))
}

// ValidateCreate implements admission.Validator.
func (v *IPAllowlistValidator) ValidateCreate(ctx context.Context, a *v1alpha1.IPAllowlist) (admission.Warnings, error) {
	return v.validate(ctx, a)
}

// ValidateUpdate implements admission.Validator.
func (v *IPAllowlistValidator) ValidateUpdate(ctx context.Context, _, a *v1alpha1.IPAllowlist) (admission.Warnings, error) {
	return v.validate(ctx, a)
}

// ValidateDelete implements admission.Validator: deleting is always allowed.
func (v *IPAllowlistValidator) ValidateDelete(context.Context, *v1alpha1.IPAllowlist) (admission.Warnings, error) {
	return nil, nil
}

// Setup registers the four validating webhooks with the manager's webhook server.
func Setup(mgr ctrl.Manager) error {
	r := mgr.GetClient()
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.PermissionTemplate{}).WithValidator(&PermissionTemplateValidator{Reader: r}).Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.SalesGroup{}).WithValidator(&SalesGroupValidator{Reader: r}).Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.LoginPolicy{}).WithValidator(&LoginPolicyValidator{Reader: r}).Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.IPAllowlist{}).WithValidator(&IPAllowlistValidator{Reader: r}).Complete()
}
