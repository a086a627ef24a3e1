package controllers

import (
	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// newSalesGroupReconciler writes SalesGroup status: Ready (False on a parent cycle),
// member count and depth in the forest.
func newSalesGroupReconciler(store *tenants.Store, events nudges) *statusReconciler[*v1alpha1.SalesGroup] {
	return &statusReconciler[*v1alpha1.SalesGroup]{
		store: store, kind: policy.KindSalesGroup, events: events,
		newObj: func() *v1alpha1.SalesGroup { return &v1alpha1.SalesGroup{} },
		apply: func(sg *v1alpha1.SalesGroup, st *policy.ObjectStatus) {
			sg.Status.MemberCount, sg.Status.Depth = st.MemberCount, st.Depth
		},
	}
}
