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

// Channel is where a request comes from, as IP allowlists see it: `Login` (the
// web and mobile login) or `API`.
// +kubebuilder:validation:Enum=Login;API
type Channel string

const (
	ChannelLogin Channel = "Login"
	ChannelAPI   Channel = "API"
)

// CIDR is an IPv4 or IPv6 network in CIDR notation with no host bits set, e.g.
// `203.0.113.0/24` or `2001:db8::/32`. A single address is `/32` or `/128`.
// +kubebuilder:validation:MaxLength=49
// +kubebuilder:validation:XValidation:rule="isCIDR(self)",messageExpression="'\"' + self + '\" is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32'"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="has host bits set: write the network address, e.g. 203.0.113.0/24 rather than 203.0.113.5/24"
type CIDR string

// ProxyListLabel marks the ConfigMaps that hold anonymous-proxy lists, with the value
// "true". The manager watches only ConfigMaps carrying it, so it neither holds nor
// needs the right to read every application's configuration in the cluster.
const ProxyListLabel = "policy.crmauthz.io/anonymous-proxy-list"

// ConfigMapKeyRef points at one key of a ConfigMap in the same namespace, which
// must carry the label policy.crmauthz.io/anonymous-proxy-list: "true".
type ConfigMapKeyRef struct {
	// name is the ConfigMap's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// key is the data key holding the list: one IP or CIDR a line; blank lines and
	// lines starting with `#` are ignored.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// AnonymousProxyList is where the list of anonymous-proxy addresses comes
// from.
type AnonymousProxyList struct {
	// configMapRef is the ConfigMap key holding the list, e.g. a Tor exit-node
	// list. The ConfigMap must carry the label
	// policy.crmauthz.io/anonymous-proxy-list: "true". If it is missing, not
	// labelled or unreadable and blockAnonymousProxies is true, the allowlist
	// denies every address on its channels (fail closed).
	// +required
	ConfigMapRef ConfigMapKeyRef `json:"configMapRef"`
}

// IPAllowlistSpec is a set of networks allowed to log in or call the API.
type IPAllowlistSpec struct {
	// cidrs are the networks allowed, IPv4 and IPv6, e.g. `203.0.113.0/24`. When
	// several allowlists apply to a request, the address must be in one of their
	// networks.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +required
	CIDRs []CIDR `json:"cidrs"`

	// channels are where the allowlist applies: `Login` (web and mobile login and
	// sessions) and/or `API`. Default both.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:default={Login,API}
	// +optional
	Channels []Channel `json:"channels,omitempty"`

	// roles are the roles the allowlist applies to; empty means every role.
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	// +optional
	Roles []Role `json:"roles,omitempty"`

	// blockAnonymousProxies denies, on this allowlist's channels, every address in
	// anonymousProxyList (Tor exits and anonymous proxies), whoever asks.
	// +optional
	BlockAnonymousProxies bool `json:"blockAnonymousProxies,omitempty"`

	// anonymousProxyList is where the anonymous-proxy addresses come from.
	// +optional
	AnonymousProxyList *AnonymousProxyList `json:"anonymousProxyList,omitempty"`
}

// IPAllowlistStatus is the observed state of an IPAllowlist.
type IPAllowlistStatus struct {
	Status `json:",inline"`

	// anonymousProxyCount is the number of entries loaded from anonymousProxyList.
	// +optional
	AnonymousProxyCount int32 `json:"anonymousProxyCount,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ipal,categories=crmauthz
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Channels",type=string,JSONPath=`.spec.channels`
// +kubebuilder:printcolumn:name="CIDRs",type=string,JSONPath=`.spec.cidrs`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// IPAllowlist restricts the addresses users may log in or call the API from,
// per channel and role, and can block anonymous proxies such as Tor exits.
type IPAllowlist struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the allowed networks and where they apply.
	// +required
	Spec IPAllowlistSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status IPAllowlistStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// IPAllowlistList contains a list of IPAllowlist.
type IPAllowlistList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAllowlist `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IPAllowlist{}, &IPAllowlistList{})
}
