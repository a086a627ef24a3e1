package controllers

import (
	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// newLoginPolicyReconciler writes LoginPolicy status: Ready (False for a second
// LoginPolicy in the namespace).
func newLoginPolicyReconciler(store *tenants.Store, events nudges) *statusReconciler[*v1alpha1.LoginPolicy] {
	return &statusReconciler[*v1alpha1.LoginPolicy]{
		store: store, kind: policy.KindLoginPolicy, events: events,
		newObj: func() *v1alpha1.LoginPolicy { return &v1alpha1.LoginPolicy{} },
		apply:  func(*v1alpha1.LoginPolicy, *policy.ObjectStatus) {},
	}
}
