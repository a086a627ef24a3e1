package policy

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// Kind names, as in the API.
const (
	KindPermissionTemplate = "PermissionTemplate"
	KindSalesGroup         = "SalesGroup"
	KindLoginPolicy        = "LoginPolicy"
	KindIPAllowlist        = "IPAllowlist"
)

// Kinds are the four policy kinds, in the order an Input holds them. This file is the
// one place that maps a kind to its Go type and to its list in an Input.
var Kinds = [...]string{KindPermissionTemplate, KindSalesGroup, KindLoginPolicy, KindIPAllowlist}

// New returns an empty object of kind; nil for a kind that is not one of the four.
func New(kind string) metav1.Object {
	switch kind {
	case KindPermissionTemplate:
		return &v1alpha1.PermissionTemplate{}
	case KindSalesGroup:
		return &v1alpha1.SalesGroup{}
	case KindLoginPolicy:
		return &v1alpha1.LoginPolicy{}
	case KindIPAllowlist:
		return &v1alpha1.IPAllowlist{}
	}
	return nil
}

// KindOf names o's kind; "" when o is not one of the four.
func KindOf(o any) string {
	switch o.(type) {
	case *v1alpha1.PermissionTemplate:
		return KindPermissionTemplate
	case *v1alpha1.SalesGroup:
		return KindSalesGroup
	case *v1alpha1.LoginPolicy:
		return KindLoginPolicy
	case *v1alpha1.IPAllowlist:
		return KindIPAllowlist
	}
	return ""
}

// Add appends a copy of o to in's list of its kind; false when o is not one of the four.
func (in *Input) Add(o any) bool {
	switch t := o.(type) {
	case *v1alpha1.PermissionTemplate:
		in.Templates = append(in.Templates, *t)
	case *v1alpha1.SalesGroup:
		in.Groups = append(in.Groups, *t)
	case *v1alpha1.LoginPolicy:
		in.LoginPolicies = append(in.LoginPolicies, *t)
	case *v1alpha1.IPAllowlist:
		in.Allowlists = append(in.Allowlists, *t)
	default:
		return false
	}
	return true
}

// Replace puts a copy of o in place of in's object of the same kind and name; false
// when there is none.
func (in *Input) Replace(o any) bool {
	switch t := o.(type) {
	case *v1alpha1.PermissionTemplate:
		return replaceIn(in.Templates, t)
	case *v1alpha1.SalesGroup:
		return replaceIn(in.Groups, t)
	case *v1alpha1.LoginPolicy:
		return replaceIn(in.LoginPolicies, t)
	case *v1alpha1.IPAllowlist:
		return replaceIn(in.Allowlists, t)
	}
	return false
}

// Each calls fn with every policy object of in (in's own, not copies) and its kind,
// kind by kind in the order of Kinds.
func (in *Input) Each(fn func(kind string, o metav1.Object)) {
	for i := range in.Templates {
		fn(KindPermissionTemplate, &in.Templates[i])
	}
	for i := range in.Groups {
		fn(KindSalesGroup, &in.Groups[i])
	}
	for i := range in.LoginPolicies {
		fn(KindLoginPolicy, &in.LoginPolicies[i])
	}
	for i := range in.Allowlists {
		fn(KindIPAllowlist, &in.Allowlists[i])
	}
}

// Len is the number of policy objects in in.
func (in *Input) Len() int {
	return len(in.Templates) + len(in.Groups) + len(in.LoginPolicies) + len(in.Allowlists)
}

func replaceIn[T any, PT interface {
	*T
	GetName() string
}](list []T, o PT) bool {
	for i := range list {
		if PT(&list[i]).GetName() == o.GetName() {
			list[i] = *o
			return true
		}
	}
	return false
}
