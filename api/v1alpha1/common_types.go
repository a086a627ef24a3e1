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

// Role is a CRM user role. The CRM sends the asking user's role with every
// request.
// +kubebuilder:validation:Enum=SuperAdmin;Administrator;SalesManager;SalesUser;MarketingUser
type Role string

const (
	RoleSuperAdmin    Role = "SuperAdmin"
	RoleAdministrator Role = "Administrator"
	RoleSalesManager  Role = "SalesManager"
	RoleSalesUser     Role = "SalesUser"
	RoleMarketingUser Role = "MarketingUser"
)

// Roles lists every role, in the order of the enum.
var Roles = [...]Role{RoleSuperAdmin, RoleAdministrator, RoleSalesManager, RoleSalesUser, RoleMarketingUser}

// Feature is a CRM feature a template can restrict.
// +kubebuilder:validation:Enum=Dashboard;Reports;Marketing;Workflow;CustomApps;API;CallRecordings;Content;ManageLeads;Accounts;CreateUsers;ActivateUsers;DeactivateUsers;EditUserContact;ExportUsers;OrganizationSwitch;SupportAccess
type Feature string

const (
	FeatureDashboard          Feature = "Dashboard"
	FeatureReports            Feature = "Reports"
	FeatureMarketing          Feature = "Marketing"
	FeatureWorkflow           Feature = "Workflow"
	FeatureCustomApps         Feature = "CustomApps"
	FeatureAPI                Feature = "API"
	FeatureCallRecordings     Feature = "CallRecordings"
	FeatureContent            Feature = "Content"
	FeatureManageLeads        Feature = "ManageLeads"
	FeatureAccounts           Feature = "Accounts"
	FeatureCreateUsers        Feature = "CreateUsers"
	FeatureActivateUsers      Feature = "ActivateUsers"
	FeatureDeactivateUsers    Feature = "DeactivateUsers"
	FeatureEditUserContact    Feature = "EditUserContact"
	FeatureExportUsers        Feature = "ExportUsers"
	FeatureOrganizationSwitch Feature = "OrganizationSwitch"
	FeatureSupportAccess      Feature = "SupportAccess"
)

// Features lists every feature, in the order of the enum.
var Features = [...]Feature{
	FeatureDashboard, FeatureReports, FeatureMarketing, FeatureWorkflow, FeatureCustomApps,
	FeatureAPI, FeatureCallRecordings, FeatureContent, FeatureManageLeads, FeatureAccounts,
	FeatureCreateUsers, FeatureActivateUsers, FeatureDeactivateUsers, FeatureEditUserContact,
	FeatureExportUsers, FeatureOrganizationSwitch, FeatureSupportAccess,
}

// UserAdministrationFeatures may never be restricted for role SalesUser (the
// CRM cannot apply them to sales users).
var UserAdministrationFeatures = []Feature{FeatureCreateUsers, FeatureActivateUsers, FeatureDeactivateUsers}

// AdminOnlyFeatures can be restricted only on templates that apply to
// Administrators.
var AdminOnlyFeatures = []Feature{FeatureEditUserContact, FeatureExportUsers, FeatureOrganizationSwitch, FeatureSupportAccess}

// Condition types and reasons shared by every kind.
const (
	// ConditionReady is True when the object compiled and is part of the tenant's
	// policy in force.
	ConditionReady = "Ready"
	// ConditionConflict is True on a PermissionTemplate that lost a tie for a
	// user, sales group or role to a template whose name sorts first.
	ConditionConflict = "Conflict"
	// ConditionStalled is True, with Ready's reason and message, while Ready is
	// False: the object as written is not enforced (left out, held at its last good
	// generation, or in force but failing closed) and will not be without a change
	// to it or to what it references. kstatus, and so Flux and kubectl wait, read it
	// as Failed rather than as progress. It is absent while Ready is True.
	ConditionStalled = "Stalled"

	// ReasonCompiled: the object compiled and is enforced.
	ReasonCompiled = "Compiled"
	// ReasonInvalid: the object does not compile; the tenant keeps its last good
	// policy for it.
	ReasonInvalid = "Invalid"
	// ReasonTemplateLimit: the namespace holds more than 50 templates and this one
	// sorts after the first 50 by creation time.
	ReasonTemplateLimit = "TemplateLimitExceeded"
	// ReasonDuplicateLoginPolicy: another LoginPolicy in the namespace is in
	// force.
	ReasonDuplicateLoginPolicy = "DuplicateLoginPolicy"
	// ReasonCycle: the sales group's parent chain loops back to itself.
	ReasonCycle = "ParentCycle"
	// ReasonProxyListUnavailable: the referenced anonymous-proxy ConfigMap is
	// missing or unreadable; the allowlist then denies every address on its
	// channels.
	ReasonProxyListUnavailable = "ProxyListUnavailable"
	// ReasonTie: the template claims a user, group or role that another template
	// claims at the same level.
	ReasonTie = "Tie"
	// ReasonNoConflict: the template wins every claim it makes.
	ReasonNoConflict = "NoConflict"
)

// Status is the part of status every kind shares.
type Status struct {
	// conditions describe the object's state. `Ready` is True when the object
	// compiled and is enforced in its tenant's policy; False with a reason when it
	// is left out.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// UserID is a CRM user id, an opaque string such as `u-17`.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._@:+-]*$`
type UserID string

// GroupName is the metadata.name of a SalesGroup in the same namespace.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
type GroupName string
