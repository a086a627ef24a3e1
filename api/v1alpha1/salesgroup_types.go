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

// SalesGroupSpec is a team of sales users and its managers.
type SalesGroupSpec struct {
	// displayName is the group's name as the CRM shows it, e.g. `West Coast`.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// managers are user ids that lead the group. A manager reaches the records of
	// the group's members and managers and of every group below this one (Team
	// scope).
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Managers []UserID `json:"managers,omitempty"`

	// members are user ids in the group. Members with Team scope reach the records
	// of everyone in the group.
	// +listType=set
	// +kubebuilder:validation:MaxItems=5000
	// +optional
	Members []UserID `json:"members,omitempty"`

	// parent is the name of the SalesGroup directly above this one in the same
	// namespace. Groups form a forest: a parent chain may not loop.
	// +optional
	Parent GroupName `json:"parent,omitempty"`
}

// SalesGroupStatus is the observed state of a SalesGroup.
type SalesGroupStatus struct {
	Status `json:",inline"`

	// memberCount is the number of distinct users (members and managers) in the
	// group.
	// +optional
	MemberCount int32 `json:"memberCount,omitempty"`

	// depth is the group's level in its tree: 1 for a root, 2 for its children,
	// ...
	// +optional
	Depth int32 `json:"depth,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sg,categories=crmauthz
// +kubebuilder:validation:XValidation:rule="!has(self.spec.parent) || self.spec.parent != self.metadata.name",message="spec.parent may not name the group itself",fieldPath=".spec.parent"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Parent",type=string,JSONPath=`.spec.parent`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.memberCount`
// +kubebuilder:printcolumn:name="Depth",type=integer,JSONPath=`.status.depth`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// SalesGroup is a CRM sales group: a team of users with managers, placed in a
// hierarchy through parent. Templates may apply to a group, and Team scope
// follows the groups.
type SalesGroup struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the group's managers, members and parent.
	// +required
	Spec SalesGroupSpec `json:"spec"`

	// status is what the operator observed: Ready, member count, depth.
	// +optional
	Status SalesGroupStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SalesGroupList contains a list of SalesGroup.
type SalesGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SalesGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SalesGroup{}, &SalesGroupList{})
}
