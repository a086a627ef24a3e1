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

// Access says how much of an action a permission grants.
// +kubebuilder:validation:Enum=Full;Partial;None
type Access string

const (
	AccessFull    Access = "Full"
	AccessPartial Access = "Partial"
	AccessNone    Access = "None"
)

// Scope says which records an action reaches: Own ⊂ Shared ⊂ Team ⊂ All.
// +kubebuilder:validation:Enum=Own;Shared;Team;All
type Scope string

const (
	ScopeOwn    Scope = "Own"
	ScopeShared Scope = "Shared"
	ScopeTeam   Scope = "Team"
	ScopeAll    Scope = "All"
)

// Bulk says whether an action may be done as a bulk operation.
// +kubebuilder:validation:Enum=Allow;Deny
type Bulk string

const (
	BulkAllow Bulk = "Allow"
	BulkDeny  Bulk = "Deny"
)

// UserAccess says whom a user sees in user and owner pickers.
// +kubebuilder:validation:Enum=AllUsers;SalesGroupUsers
type UserAccess string

const (
	UserAccessAllUsers        UserAccess = "AllUsers"
	UserAccessSalesGroupUsers UserAccess = "SalesGroupUsers"
)

// Enforcement says whether a template decides (Enforce) or is only tried (DryRun).
// +kubebuilder:validation:Enum=Enforce;DryRun
type Enforcement string

const (
	EnforcementEnforce Enforcement = "Enforce"
	EnforcementDryRun  Enforcement = "DryRun"
)

// ReportsPolicy says what happens to Reports and CustomApps when the template
// hides lead or opportunity fields.
// +kubebuilder:validation:Enum=Restrict;Allow
type ReportsPolicy string

const (
	ReportsRestrict ReportsPolicy = "Restrict"
	ReportsAllow    ReportsPolicy = "Allow"
)

// FieldName is the API name of a CRM field, e.g. `AnnualIncome` or
// `mx_Custom_7`.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_]*$`
type FieldName string

// RecordType is the name of an activity or task type, e.g. `SalesFollowUp`.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_ .-]*$`
type RecordType string

// Permission grants one action on one entity.
// +kubebuilder:validation:XValidation:rule="self.access != 'Partial' || (has(self.fields) && size(self.fields) > 0)",message="fields is required when access is Partial: list the fields to hide or protect",fieldPath=".fields"
// +kubebuilder:validation:XValidation:rule="!has(self.fields) || size(self.fields) == 0 || self.access == 'Partial'",messageExpression="'fields may be set only when access is Partial, not ' + self.access",fieldPath=".fields"
type Permission struct {
	// access is how much of the action is granted. `Full`: the action on every
	// field. `Partial`: the action, except on the fields listed in `fields`
	// (hidden for view; may not be set for create and edit); only view, create and
	// edit accept it. `None`: the action is denied.
	// +kubebuilder:default=Full
	// +optional
	Access Access `json:"access,omitempty"`

	// scope is which records the action reaches. `Own`: records the user owns.
	// `Shared`: also records shared with the user. `Team`: also records owned by
	// members and managers of the user's sales groups and, for a group manager, of
	// every group below. `All`: every record. When omitted, the role baseline's
	// scope for this action applies (or `Own` where the baseline grants none).
	// +optional
	Scope Scope `json:"scope,omitempty"`

	// fields are the fields Partial access withholds: hidden from view, or not
	// settable on create and edit. Required with `access: Partial`, refused
	// otherwise.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	Fields []FieldName `json:"fields,omitempty"`

	// bulk is whether the action may be done as a bulk operation (bulk update,
	// bulk delete, bulk create): `Allow` (the default) or `Deny`. Only create,
	// edit and delete accept it.
	// +optional
	Bulk Bulk `json:"bulk,omitempty"`
}

// RecordPermissions are the permissions on leads, opportunities or accounts.
// +kubebuilder:validation:XValidation:rule="!has(self.delete) || self.delete.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".delete.access"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || self.export.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".export.access"
// +kubebuilder:validation:XValidation:rule="!has(self.__import__) || self.__import__.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".import.access"
// +kubebuilder:validation:XValidation:rule="!has(self.reassign) || self.reassign.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".reassign.access"
// +kubebuilder:validation:XValidation:rule="!has(self.view) || !has(self.view.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".view.bulk"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || !has(self.export.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".export.bulk"
// +kubebuilder:validation:XValidation:rule="!has(self.__import__) || !has(self.__import__.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".import.bulk"
// +kubebuilder:validation:XValidation:rule="!has(self.reassign) || !has(self.reassign.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".reassign.bulk"
type RecordPermissions struct {
	// view is who may see records and search for them. Every other action is
	// capped by it: nobody acts on what they cannot see.
	// +optional
	View *Permission `json:"view,omitempty"`
	// create is who may add records; for create the record's scope is judged on
	// its intended owner.
	// +optional
	Create *Permission `json:"create,omitempty"`
	// edit is who may change existing records.
	// +optional
	Edit *Permission `json:"edit,omitempty"`
	// delete is who may delete records. Full or None only.
	// +optional
	Delete *Permission `json:"delete,omitempty"`
	// export is who may export records. Full or None only.
	// +optional
	Export *Permission `json:"export,omitempty"`
	// import is who may import records. Full or None only.
	// +optional
	Import *Permission `json:"import,omitempty"`
	// reassign is who may change a record's owner. Full or None only.
	// +optional
	Reassign *Permission `json:"reassign,omitempty"`

	// maskedFields are shown masked (e.g. `98******21`) and may not be edited,
	// unless the stored value is empty: a user who learns a masked phone number
	// may fill it in.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	MaskedFields []FieldName `json:"maskedFields,omitempty"`
	// ownerOnlyFields may be edited only by the record's owner; others may still
	// see them.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	OwnerOnlyFields []FieldName `json:"ownerOnlyFields,omitempty"`
}

// ActivityPermissions are the permissions on activities (calls, emails,
// meetings, form submissions...).
// +kubebuilder:validation:XValidation:rule="!has(self.delete) || self.delete.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".delete.access"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || self.export.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".export.access"
// +kubebuilder:validation:XValidation:rule="!has(self.__import__) || self.__import__.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".import.access"
// +kubebuilder:validation:XValidation:rule="!has(self.view) || !has(self.view.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".view.bulk"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || !has(self.export.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".export.bulk"
// +kubebuilder:validation:XValidation:rule="!has(self.__import__) || !has(self.__import__.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".import.bulk"
type ActivityPermissions struct {
	// view is who may see activities. Every other action is capped by it.
	// +optional
	View *Permission `json:"view,omitempty"`
	// create is who may post activities.
	// +optional
	Create *Permission `json:"create,omitempty"`
	// edit is who may change activities.
	// +optional
	Edit *Permission `json:"edit,omitempty"`
	// delete is who may delete activities. Full or None only.
	// +optional
	Delete *Permission `json:"delete,omitempty"`
	// export is who may export activities. Full or None only.
	// +optional
	Export *Permission `json:"export,omitempty"`
	// import is who may import activities. Full or None only.
	// +optional
	Import *Permission `json:"import,omitempty"`

	// maskedFields are shown masked and may not be edited unless empty.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	MaskedFields []FieldName `json:"maskedFields,omitempty"`
	// ownerOnlyFields may be edited only by the activity's owner.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	OwnerOnlyFields []FieldName `json:"ownerOnlyFields,omitempty"`
	// hiddenTypes are activity types the user may not see at all (e.g. sales
	// activities hidden from marketing users): every action on them is denied.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	HiddenTypes []RecordType `json:"hiddenTypes,omitempty"`
}

// TaskPermissions are the permissions on tasks (to-dos and appointments).
// +kubebuilder:validation:XValidation:rule="!has(self.delete) || self.delete.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".delete.access"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || self.export.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".export.access"
// +kubebuilder:validation:XValidation:rule="!has(self.reassign) || self.reassign.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".reassign.access"
// +kubebuilder:validation:XValidation:rule="!has(self.markComplete) || self.markComplete.access != 'Partial'",message="Partial access is allowed only on view, create and edit",fieldPath=".markComplete.access"
// +kubebuilder:validation:XValidation:rule="!has(self.view) || !has(self.view.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".view.bulk"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || !has(self.export.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".export.bulk"
// +kubebuilder:validation:XValidation:rule="!has(self.reassign) || !has(self.reassign.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".reassign.bulk"
// +kubebuilder:validation:XValidation:rule="!has(self.markComplete) || !has(self.markComplete.bulk)",message="bulk is allowed only on create, edit and delete",fieldPath=".markComplete.bulk"
type TaskPermissions struct {
	// view is who may see tasks. Every other action is capped by it.
	// +optional
	View *Permission `json:"view,omitempty"`
	// create is who may create tasks.
	// +optional
	Create *Permission `json:"create,omitempty"`
	// edit is who may change tasks.
	// +optional
	Edit *Permission `json:"edit,omitempty"`
	// delete is who may delete tasks. Full or None only.
	// +optional
	Delete *Permission `json:"delete,omitempty"`
	// export is who may export tasks. Full or None only.
	// +optional
	Export *Permission `json:"export,omitempty"`
	// reassign is who may change a task's owner. Full or None only.
	// +optional
	Reassign *Permission `json:"reassign,omitempty"`
	// markComplete is who may mark tasks as completed. Full or None only.
	// +optional
	MarkComplete *Permission `json:"markComplete,omitempty"`

	// maskedFields are shown masked and may not be edited unless empty.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	MaskedFields []FieldName `json:"maskedFields,omitempty"`
	// ownerOnlyFields may be edited only by the task's owner.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	OwnerOnlyFields []FieldName `json:"ownerOnlyFields,omitempty"`
	// hiddenTypes are task types the user may not see at all: every action on them
	// is denied.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	HiddenTypes []RecordType `json:"hiddenTypes,omitempty"`
}

// UserPermissions are the permissions on CRM user accounts (user
// administration). There is no view: users are not capped by a view
// permission.
// +kubebuilder:validation:XValidation:rule="!has(self.create) || !has(self.create.scope) || self.create.scope == 'All'",message="users have no owner: scope may only be All",fieldPath=".create.scope"
// +kubebuilder:validation:XValidation:rule="!has(self.edit) || !has(self.edit.scope) || self.edit.scope == 'All'",message="users have no owner: scope may only be All",fieldPath=".edit.scope"
type UserPermissions struct {
	// create is who may create users. Partial withholds the listed user fields.
	// +optional
	Create *Permission `json:"create,omitempty"`
	// edit is who may edit users; Partial restricts the listed user fields (e.g.
	// `EmailAddress`, `EmployeeId`).
	// +optional
	Edit *Permission `json:"edit,omitempty"`
}

// Entities holds a template's permissions per entity. An omitted entity or
// action keeps the role baseline.
type Entities struct {
	// leads are people or companies the CRM tracks before they convert.
	// +optional
	Leads *RecordPermissions `json:"leads,omitempty"`
	// opportunities are deals being worked on.
	// +optional
	Opportunities *RecordPermissions `json:"opportunities,omitempty"`
	// accounts are companies (B2B). Restricting the feature `Accounts` denies
	// every action on them whatever is set here.
	// +optional
	Accounts *RecordPermissions `json:"accounts,omitempty"`
	// activities are calls, emails, meetings and other logged interactions.
	// +optional
	Activities *ActivityPermissions `json:"activities,omitempty"`
	// tasks are to-dos and appointments.
	// +optional
	Tasks *TaskPermissions `json:"tasks,omitempty"`
	// users are the CRM's user accounts (create and edit only).
	// +optional
	Users *UserPermissions `json:"users,omitempty"`
}

// AppliesTo says whom a template governs. A user is governed by the template
// naming them; else by one naming a sales group they belong to (member or
// manager); else by one naming their role. At least one list must be
// non-empty.
// +kubebuilder:validation:XValidation:rule="(has(self.users) && size(self.users) > 0) || (has(self.roles) && size(self.roles) > 0) || (has(self.salesGroups) && size(self.salesGroups) > 0)",message="appliesTo must name at least one user, role or sales group"
// +kubebuilder:validation:XValidation:rule="!has(self.roles) || !self.roles.exists(r, r == 'SuperAdmin')",message="SuperAdmin is never governed by a template: remove it from roles",fieldPath=".roles"
type AppliesTo struct {
	// users are CRM user ids the template governs; this is the strongest claim.
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	Users []UserID `json:"users,omitempty"`
	// roles are roles the template governs (any role except SuperAdmin); the
	// weakest claim, used when no user or sales-group template applies.
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	// +optional
	Roles []Role `json:"roles,omitempty"`
	// salesGroups are SalesGroup names in this namespace whose direct members and
	// managers the template governs.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +optional
	SalesGroups []GroupName `json:"salesGroups,omitempty"`
}

// PermissionTemplateSpec is a set of access rights applied to users, sales
// groups or roles.
// +kubebuilder:validation:XValidation:rule="!has(self.restrictedFeatures) || !has(self.appliesTo.roles) || !self.appliesTo.roles.exists(r, r == 'SalesUser') || !self.restrictedFeatures.exists(f, f in ['CreateUsers', 'ActivateUsers', 'DeactivateUsers'])",message="CreateUsers, ActivateUsers and DeactivateUsers cannot be restricted for role SalesUser",fieldPath=".restrictedFeatures"
// +kubebuilder:validation:XValidation:rule="!has(self.restrictedFeatures) || !self.restrictedFeatures.exists(f, f in ['EditUserContact', 'ExportUsers', 'OrganizationSwitch', 'SupportAccess']) || ((!has(self.appliesTo.roles) || self.appliesTo.roles.all(r, r == 'Administrator')) && (!has(self.appliesTo.salesGroups) || size(self.appliesTo.salesGroups) == 0))",message="EditUserContact, ExportUsers, OrganizationSwitch and SupportAccess are admin-only: the template may apply to role Administrator and to users, not to other roles or to salesGroups",fieldPath=".restrictedFeatures"
type PermissionTemplateSpec struct {
	// description says what the template is for, for the administrators who read
	// it.
	// +kubebuilder:validation:MaxLength=500
	// +optional
	Description string `json:"description,omitempty"`

	// appliesTo is whom the template governs: users, sales groups or roles.
	// +required
	AppliesTo AppliesTo `json:"appliesTo"`

	// enforcement is `Enforce` (the default: the template decides) or `DryRun`: the
	// template decides nothing, but every decision is also made on the candidate
	// policy — the enforced one with each DryRun template applied as if enforced,
	// replacing what it claims — and where the two differ the decision log and the
	// metrics say so. A DryRun template may claim what an Enforce template claims
	// (it is that template's candidate replacement); it counts toward the 50.
	// Promote it by setting Enforce.
	// +kubebuilder:default=Enforce
	// +optional
	Enforcement Enforcement `json:"enforcement,omitempty"`

	// userAccess is whom the governed users see in user and owner drop-downs:
	// `AllUsers` (the default) or `SalesGroupUsers` (a group manager sees the
	// users of the groups they manage and below; anyone else sees only themself).
	// +kubebuilder:default=AllUsers
	// +optional
	UserAccess UserAccess `json:"userAccess,omitempty"`

	// restrictedFeatures are features the governed users may not access. `API`
	// denies every request on the API channel; `Accounts` denies every action on
	// accounts. User administration (`CreateUsers`, `ActivateUsers`,
	// `DeactivateUsers`) cannot be restricted for SalesUser; admin-only features
	// (`EditUserContact`, `ExportUsers`, `OrganizationSwitch`, `SupportAccess`)
	// only on Administrator templates.
	// +listType=set
	// +kubebuilder:validation:MaxItems=17
	// +optional
	RestrictedFeatures []Feature `json:"restrictedFeatures,omitempty"`

	// reportsWithHiddenFields decides Reports and CustomApps when the template
	// hides lead or opportunity fields from view (Partial view): hidden fields
	// would still show there, so `Restrict` (the default) restricts both; `Allow`
	// keeps them.
	// +kubebuilder:default=Restrict
	// +optional
	ReportsWithHiddenFields ReportsPolicy `json:"reportsWithHiddenFields,omitempty"`

	// entities holds the permissions per entity and action. What is omitted keeps
	// the role baseline.
	// +optional
	Entities Entities `json:"entities,omitempty"`
}

// PermissionTemplateStatus is the observed state of a PermissionTemplate.
type PermissionTemplateStatus struct {
	Status `json:",inline"`

	// effectiveRestrictedFeatures are the features the template restricts in
	// effect: restrictedFeatures plus Reports and CustomApps when hidden lead or
	// opportunity fields restrict them (see reportsWithHiddenFields).
	// +listType=set
	// +kubebuilder:validation:MaxItems=17
	// +optional
	EffectiveRestrictedFeatures []Feature `json:"effectiveRestrictedFeatures,omitempty"`

	// dryRunDifferences (DryRun templates) is how many decisions the template would
	// have changed since the status writer started, as it counted them; updated at
	// most once a minute.
	// +optional
	DryRunDifferences int64 `json:"dryRunDifferences,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pt,categories=crmauthz
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Enforcement",type=string,JSONPath=`.spec.enforcement`
// +kubebuilder:printcolumn:name="Would-Change",type=integer,JSONPath=`.status.dryRunDifferences`,priority=1
// +kubebuilder:printcolumn:name="Roles",type=string,JSONPath=`.spec.appliesTo.roles`
// +kubebuilder:printcolumn:name="Groups",type=string,JSONPath=`.spec.appliesTo.salesGroups`,priority=1
// +kubebuilder:printcolumn:name="Restricted",type=string,JSONPath=`.status.effectiveRestrictedFeatures`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// PermissionTemplate is a CRM permission template: access rights to entities,
// actions, fields and features, applied to users, sales groups or roles of one
// CRM account (the namespace). At most 50 per namespace.
type PermissionTemplate struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the template's access rights and whom they apply to.
	// +required
	Spec PermissionTemplateSpec `json:"spec"`

	// status is what the operator observed: Ready, Conflict, effective features.
	// +optional
	Status PermissionTemplateStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PermissionTemplateList contains a list of PermissionTemplate.
type PermissionTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PermissionTemplate `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PermissionTemplate{}, &PermissionTemplateList{})
}
