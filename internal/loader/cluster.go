package loader

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// ReadNamespace reads a tenant's objects and the ConfigMaps its allowlists reference:
// what the manager compiles, and what the kubectl plugin compiles to answer offline.
func ReadNamespace(ctx context.Context, reader client.Reader, ns string) (*policy.Input, error) {
	in := &policy.Input{Tenant: ns, ConfigMaps: map[string]map[string]string{}}
	var pts v1alpha1.PermissionTemplateList
	var sgs v1alpha1.SalesGroupList
	var lps v1alpha1.LoginPolicyList
	var als v1alpha1.IPAllowlistList
	for _, l := range []client.ObjectList{&pts, &sgs, &lps, &als} {
		// The cache's own objects, not copies: compiling only reads them (a test holds
		// policy.Compile to that), and a copy of every object of every tenant, kept by
		// the builder's last-good versions, would double the manager's memory.
		if err := reader.List(ctx, l, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing %T in %s: %w", l, ns, err)
		}
	}
	in.Templates, in.Groups, in.LoginPolicies, in.Allowlists = pts.Items, sgs.Items, lps.Items, als.Items
	for _, al := range als.Items {
		if al.Spec.AnonymousProxyList == nil {
			continue
		}
		name := al.Spec.AnonymousProxyList.ConfigMapRef.Name
		if _, done := in.ConfigMaps[name]; done {
			continue
		}
		var cm corev1.ConfigMap
		err := reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &cm)
		switch {
		case apierrors.IsNotFound(err), err == nil && !IsProxyList(&cm):
			// Absent from the input: the compiler makes the allowlist fail closed.
		case err != nil:
			return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, name, err)
		default:
			in.ConfigMaps[name] = cm.Data
		}
	}
	return in, nil
}
