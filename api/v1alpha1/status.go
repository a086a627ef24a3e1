/*
Copyright 2026 The crmauthz Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CommonStatus returns the status fields every kind shares (for the status
// writers).
func (p *PermissionTemplate) CommonStatus() *Status { return &p.Status.Status }

// CommonStatus returns the status fields every kind shares.
func (g *SalesGroup) CommonStatus() *Status { return &g.Status.Status }

// CommonStatus returns the status fields every kind shares.
func (l *LoginPolicy) CommonStatus() *Status { return &l.Status.Status }

// CommonStatus returns the status fields every kind shares.
func (a *IPAllowlist) CommonStatus() *Status { return &a.Status.Status }

// StatusOnly returns a copy of the object's name, namespace and status, without the
// spec: the status writers diff and patch only what they write, which for a template
// or a group naming thousands of users is a small part of the object.
func (p *PermissionTemplate) StatusOnly() *PermissionTemplate {
	return &PermissionTemplate{ObjectMeta: nameOnly(p.ObjectMeta), Status: *p.Status.DeepCopy()}
}

// StatusOnly returns a copy of the object's name, namespace and status.
func (g *SalesGroup) StatusOnly() *SalesGroup {
	return &SalesGroup{ObjectMeta: nameOnly(g.ObjectMeta), Status: *g.Status.DeepCopy()}
}

// StatusOnly returns a copy of the object's name, namespace and status.
func (l *LoginPolicy) StatusOnly() *LoginPolicy {
	return &LoginPolicy{ObjectMeta: nameOnly(l.ObjectMeta), Status: *l.Status.DeepCopy()}
}

// StatusOnly returns a copy of the object's name, namespace and status.
func (a *IPAllowlist) StatusOnly() *IPAllowlist {
	return &IPAllowlist{ObjectMeta: nameOnly(a.ObjectMeta), Status: *a.Status.DeepCopy()}
}

func nameOnly(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace}
}
