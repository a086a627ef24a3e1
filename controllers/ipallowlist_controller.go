package controllers

import (
	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// newIPAllowlistReconciler writes IPAllowlist status: Ready (False, failing closed,
// when its anonymous-proxy ConfigMap is missing or unreadable) and the number of
// proxy entries loaded.
func newIPAllowlistReconciler(store *tenants.Store, events nudges) *statusReconciler[*v1alpha1.IPAllowlist] {
	return &statusReconciler[*v1alpha1.IPAllowlist]{
		store: store, kind: policy.KindIPAllowlist, events: events,
		newObj: func() *v1alpha1.IPAllowlist { return &v1alpha1.IPAllowlist{} },
		apply: func(al *v1alpha1.IPAllowlist, st *policy.ObjectStatus) {
			al.Status.AnonymousProxyCount = st.ProxyEntries
		},
	}
}
