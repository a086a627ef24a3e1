package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Shard is the share of tenants a manager serves: the namespaces whose labels match
// Selector. Several manager Deployments with disjoint selectors split the tenants
// between them, with the namespaces' labels as the only coordinator. A nil Selector
// (or a nil *Shard) serves every tenant.
type Shard struct {
	Selector labels.Selector
	// Reader reads namespaces (the manager's cache).
	Reader client.Reader
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=list;watch

// Owns says whether tenant ns is in this manager's share. A namespace that does not
// exist is nobody's: its tenant is simply unknown.
func (s *Shard) Owns(ctx context.Context, ns string) bool {
	owns, exists, err := s.match(ctx, ns)
	return owns || (!exists && err != nil) // unreadable: keep it rather than drop it
}

// Misdirected says whether a request about tenant belongs to another shard, and
// this one's selector (for the caller's error). A tenant without a namespace, or one
// that cannot be read now, is decided here (as unknown, or on what is held).
func (s *Shard) Misdirected(tenant string) (selector string, misdirected bool) {
	owns, exists, _ := s.match(context.Background(), tenant)
	if !exists || owns {
		return "", false
	}
	return s.Selector.String(), true
}

// match reads namespace ns from the cache and says whether its labels match; exists
// is false when it is not found or cannot be read (err says which).
func (s *Shard) match(ctx context.Context, ns string) (matches, exists bool, err error) {
	if s == nil || s.Selector == nil {
		return true, true, nil
	}
	var n corev1.Namespace
	if err := s.Reader.Get(ctx, types.NamespacedName{Name: ns}, &n); err != nil {
		return false, false, client.IgnoreNotFound(err)
	}
	return s.Selector.Matches(labels.Set(n.Labels)), true, nil
}
