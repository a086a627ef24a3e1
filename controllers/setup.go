package controllers

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// Leader says whether this replica writes status.
type Leader interface {
	IsLeader() bool
}

// Setup registers the tenant compiler and the initial load that gates readiness
// (every replica), and the four status writers (which write only while leader). It
// returns the writers' fan-out, to resync when this replica becomes leader.
// concurrency is how many status patches each kind's writer has in flight (0: 8);
// dryRunPeriod how often DryRun templates' counts are written (0: a minute).
func Setup(mgr ctrl.Manager, store *tenants.Store, leader Leader, shard *Shard, concurrency int, dryRunPeriod time.Duration) (*StatusWriters, error) {
	if concurrency <= 0 {
		concurrency = DefaultStatusWriters
	}
	if dryRunPeriod <= 0 {
		dryRunPeriod = time.Minute
	}
	chans := map[string]nudges{}
	for _, k := range policy.Kinds {
		chans[k] = make(nudges, 1024)
	}
	writers := &StatusWriters{leader: leader, store: store, channels: chans}
	tenant := &TenantReconciler{Reader: mgr.GetClient(), Store: store, Builder: tenants.NewBuilder(), Compiled: writers.Notify, Shard: shard, Informers: mgr.GetCache()}
	if err := tenant.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.Add(&InitialLoad{Cache: mgr.GetCache(), Tenant: tenant, Ready: writers.ResyncIfLeader}); err != nil {
		return nil, err
	}
	if err := mgr.Add(&DryRunStatus{Writers: writers, Period: dryRunPeriod}); err != nil {
		return nil, err
	}
	if err := newPermissionTemplateReconciler(store, chans[policy.KindPermissionTemplate]).setup(mgr, "permissiontemplate", leader, shard, concurrency); err != nil {
		return nil, err
	}
	if err := newSalesGroupReconciler(store, chans[policy.KindSalesGroup]).setup(mgr, "salesgroup", leader, shard, concurrency); err != nil {
		return nil, err
	}
	if err := newLoginPolicyReconciler(store, chans[policy.KindLoginPolicy]).setup(mgr, "loginpolicy", leader, shard, concurrency); err != nil {
		return nil, err
	}
	return writers, newIPAllowlistReconciler(store, chans[policy.KindIPAllowlist]).setup(mgr, "ipallowlist", leader, shard, concurrency)
}
