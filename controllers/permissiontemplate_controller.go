package controllers

import (
	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// newPermissionTemplateReconciler writes PermissionTemplate status: Ready, Conflict
// (the users, groups and roles it loses to a template whose name sorts first) and the
// features it restricts in effect.
func newPermissionTemplateReconciler(store *tenants.Store, events nudges) *statusReconciler[*v1alpha1.PermissionTemplate] {
	return &statusReconciler[*v1alpha1.PermissionTemplate]{
		store: store, kind: policy.KindPermissionTemplate, events: events,
		newObj: func() *v1alpha1.PermissionTemplate { return &v1alpha1.PermissionTemplate{} },
		apply: func(pt *v1alpha1.PermissionTemplate, st *policy.ObjectStatus) {
			pt.Status.EffectiveRestrictedFeatures = nil
			for _, f := range st.EffectiveRestrictedFeatures {
				pt.Status.EffectiveRestrictedFeatures = append(pt.Status.EffectiveRestrictedFeatures, v1alpha1.Feature(f))
			}
			pt.Status.DryRunDifferences = 0
			if st.Reason == policy.ReasonDryRun {
				pt.Status.DryRunDifferences = store.DryRunCount(pt.Namespace, pt.Name)
			}
		},
	}
}
