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

// AuthProvider is a way to log in.
// +kubebuilder:validation:Enum=Password;Google;ADFS;API
type AuthProvider string

const (
	ProviderPassword AuthProvider = "Password"
	ProviderGoogle   AuthProvider = "Google"
	ProviderADFS     AuthProvider = "ADFS"
	ProviderAPI      AuthProvider = "API"
)

// TwoFactorMode says who must pass a second factor at login.
// +kubebuilder:validation:Enum=Disabled;PerUser;Required
type TwoFactorMode string

const (
	TwoFactorDisabled TwoFactorMode = "Disabled"
	TwoFactorPerUser  TwoFactorMode = "PerUser"
	TwoFactorRequired TwoFactorMode = "Required"
)

// Duration is a Go duration string such as `30m`, `12h` or `1h30m`; it must be
// positive. The CEL rules first check the pattern, so a malformed value gets
// only the pattern's error rather than also a CEL conversion error.
// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="must be a positive duration such as 30m or 12h"
type Duration string

// TrustedDevices lets users skip the second factor on a device they verified
// recently.
// +kubebuilder:validation:XValidation:rule="!has(self.enabled) || !self.enabled || has(self.validFor)",message="validFor is required when trusted devices are enabled",fieldPath=".validFor"
type TrustedDevices struct {
	// enabled turns trusted devices on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// validFor is how long a device stays trusted after the second factor was
	// passed on it, e.g. `720h` (30 days).
	// +optional
	ValidFor Duration `json:"validFor,omitempty"`
}

// TwoFactor is the two-factor authentication policy.
// +kubebuilder:validation:XValidation:rule="!has(self.users) || size(self.users) == 0 || self.mode == 'PerUser'",messageExpression="'users may be set only with mode PerUser, not ' + self.mode",fieldPath=".users"
type TwoFactor struct {
	// mode is `Disabled` (the default: nobody needs a second factor), `PerUser`
	// (the users listed in `users` do) or `Required` (everyone does).
	// +kubebuilder:default=Disabled
	// +optional
	Mode TwoFactorMode `json:"mode,omitempty"`
	// users must pass a second factor at login; only with mode `PerUser`.
	// +listType=set
	// +kubebuilder:validation:MaxItems=10000
	// +optional
	Users []UserID `json:"users,omitempty"`
	// trustedDevices lets a user skip the second factor on a recently verified
	// device.
	// +optional
	TrustedDevices *TrustedDevices `json:"trustedDevices,omitempty"`
}

// SessionPolicy is how long sessions live.
// +kubebuilder:validation:XValidation:rule="!has(self.idleTimeout) || !has(self.loginExpiration) || !self.idleTimeout.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || !self.loginExpiration.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self.idleTimeout) <= duration(self.loginExpiration)",message="idleTimeout may not be longer than loginExpiration",fieldPath=".idleTimeout"
type SessionPolicy struct {
	// loginExpiration is the longest a session lives after login, whatever the
	// activity: users must log in again after it (e.g. `12h`). Unset: no limit.
	// +optional
	LoginExpiration Duration `json:"loginExpiration,omitempty"`
	// idleTimeout logs out a user idle this long (e.g. `30m`). Unset: no limit.
	// +optional
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
	// revokeSessionsBefore force-logs-out everyone: sessions issued before this
	// instant (RFC 3339) are no longer valid.
	// +optional
	RevokeSessionsBefore *metav1.Time `json:"revokeSessionsBefore,omitempty"`
}

// PasswordPolicy is what a password must contain.
// +kubebuilder:validation:XValidation:rule="self.minSpecialChars + self.minDigits + self.minUppercase <= self.minLength",message="minSpecialChars + minDigits + minUppercase may not exceed minLength"
type PasswordPolicy struct {
	// minLength is the fewest characters a password may have, 6 to 128.
	// +kubebuilder:validation:Minimum=6
	// +kubebuilder:validation:Maximum=128
	// +kubebuilder:default=8
	// +optional
	MinLength int32 `json:"minLength,omitempty"`
	// minSpecialChars is the fewest characters that are neither letters nor
	// digits.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +kubebuilder:default=0
	// +optional
	MinSpecialChars int32 `json:"minSpecialChars,omitempty"`
	// minDigits is the fewest digits 0-9.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +kubebuilder:default=0
	// +optional
	MinDigits int32 `json:"minDigits,omitempty"`
	// minUppercase is the fewest upper-case letters.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +kubebuilder:default=0
	// +optional
	MinUppercase int32 `json:"minUppercase,omitempty"`
	// maxAge makes passwords older than this expire (e.g. `2160h`, 90 days).
	// +optional
	MaxAge Duration `json:"maxAge,omitempty"`
}

// LoginPolicySpec is the tenant's login and session security.
type LoginPolicySpec struct {
	// authProviders are the ways users may log in: `Password`, `Google`, `ADFS`,
	// `API`. Default `[Password]`.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:default={Password}
	// +optional
	AuthProviders []AuthProvider `json:"authProviders,omitempty"`

	// twoFactor is the two-factor authentication policy. Default: disabled.
	// +optional
	TwoFactor *TwoFactor `json:"twoFactor,omitempty"`

	// session limits session age and idle time, and can force-logout everyone.
	// +optional
	Session *SessionPolicy `json:"session,omitempty"`

	// passwordPolicy is what passwords must contain. Default: at least 8
	// characters.
	// +optional
	PasswordPolicy *PasswordPolicy `json:"passwordPolicy,omitempty"`

	// passwordEncryption tells the CRM's login page to encrypt the password in the
	// browser and forbid "remember password".
	// +optional
	PasswordEncryption bool `json:"passwordEncryption,omitempty"`

	// mobileDynamicToken tells the CRM's mobile app to add a dynamic token to its
	// requests.
	// +optional
	MobileDynamicToken bool `json:"mobileDynamicToken,omitempty"`
}

// LoginPolicyStatus is the observed state of a LoginPolicy.
type LoginPolicyStatus struct {
	Status `json:",inline"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lp,categories=crmauthz
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="2FA",type=string,JSONPath=`.spec.twoFactor.mode`
// +kubebuilder:printcolumn:name="Providers",type=string,JSONPath=`.spec.authProviders`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// LoginPolicy is a CRM account's login security: auth providers, two-factor
// authentication, trusted devices, session expiry and password rules. At most
// one per namespace; without one, the defaults apply (Password only, no 2FA,
// no timeouts, passwords of at least 8 characters).
type LoginPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the login policy.
	// +required
	Spec LoginPolicySpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status LoginPolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LoginPolicyList contains a list of LoginPolicy.
type LoginPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoginPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LoginPolicy{}, &LoginPolicyList{})
}
