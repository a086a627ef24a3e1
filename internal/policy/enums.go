package policy

import "github.com/crmauthz/crmauthz/api/v1alpha1"

// The engine works on small integer enums rather than strings: a check indexes arrays
// instead of hashing names. Parse* turn the API's names into them. The names, their
// order and the rules on them come from the API's one table (api/v1alpha1/table.go);
// the constants below name the members the engine gives a meaning of its own, and a
// test holds them to the table.

// Role is a CRM role.
type Role uint8

const (
	RoleSuperAdmin Role = iota
	RoleAdministrator
	RoleSalesManager
	RoleSalesUser
	RoleMarketingUser
)

// NumRoles is the number of roles.
const NumRoles = Role(len(v1alpha1.Roles))

var roleNames = func() (out [NumRoles]string) {
	for i, r := range v1alpha1.Roles {
		out[i] = string(r)
	}
	return out
}()

func (r Role) String() string { return roleNames[r] }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, bool) { return parse[Role](roleNames[:], s) }

// Entity is a kind of CRM record.
type Entity uint8

const (
	EntityLeads Entity = iota
	EntityOpportunities
	EntityAccounts
	EntityActivities
	EntityTasks
	EntityUsers
)

// NumEntities is the number of entities.
const NumEntities = Entity(len(v1alpha1.EntityNames))

var entityNames = v1alpha1.EntityNames

func (e Entity) String() string { return entityNames[e] }

// ParseEntity returns the entity named s.
func ParseEntity(s string) (Entity, bool) { return parse[Entity](entityNames[:], s) }

// Action is something a user does to a record; ActionAccess asks about a feature.
type Action uint8

const (
	ActionView Action = iota
	ActionCreate
	ActionEdit
	ActionDelete
	ActionExport
	ActionImport
	ActionReassign
	ActionMarkComplete
)

const (
	// NumRecordActions is the number of record actions.
	NumRecordActions = Action(len(v1alpha1.Actions))
	// ActionAccess asks about a feature; it follows the record actions.
	ActionAccess = NumRecordActions
)

var actionNames = func() (out [NumRecordActions + 1]string) {
	for i, a := range v1alpha1.Actions {
		out[i] = a.Name
	}
	out[ActionAccess] = "access"
	return out
}()

func (a Action) String() string { return actionNames[a] }

// ParseAction returns the action named s (including "access").
func ParseAction(s string) (Action, bool) { return parse[Action](actionNames[:], s) }

// Accepts says whether entity e has action a (docs/concepts.md, "Entities and actions").
func (e Entity) Accepts(a Action) bool { return a < NumRecordActions && entityActions[e]&(1<<a) != 0 }

// AcceptsPartial says whether action a accepts `access: Partial`.
func (a Action) AcceptsPartial() bool { return a < NumRecordActions && v1alpha1.Actions[a].Partial }

// AcceptsBulk says whether action a accepts `bulk`.
func (a Action) AcceptsBulk() bool { return a < NumRecordActions && v1alpha1.Actions[a].Bulk }

// The bit sets (entityActions, Features) hold every action and feature: a table that
// outgrows them fails to build here.
const (
	_ uint16 = 1 << (NumRecordActions - 1)
	_ uint32 = 1 << (NumFeatures - 1)
)

// entityActions is, per entity, the set of its actions, as the API types say.
var entityActions = func() (out [NumEntities]uint16) {
	for e := range NumEntities {
		for a := range NumRecordActions {
			if v1alpha1.EntityHas(int(e), int(a)) {
				out[e] |= 1 << a
			}
		}
	}
	return out
}()

// Names lists the names of n values of an enum, for messages.
func Names[T interface {
	~uint8
	String() string
}](n T) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = i.String()
	}
	return out
}

// Scope is how far an action reaches, ordered: ScopeNone < Own < Shared < Team < All.
type Scope uint8

const (
	ScopeNone Scope = iota
	ScopeOwn
	ScopeShared
	ScopeTeam
	ScopeAll
)

var scopeNames = [...]string{"None", "Own", "Shared", "Team", "All"}

func (s Scope) String() string { return scopeNames[s] }

func parseScope(s v1alpha1.Scope) (Scope, bool) {
	sc, ok := parse[Scope](scopeNames[1:], string(s))
	return sc + 1, ok
}

// Feature is a CRM feature (v1alpha1.Feature) as a bit index.
type Feature uint8

// NumFeatures is the number of features; Features is a bit set of them.
const NumFeatures = Feature(len(v1alpha1.Features))

// Features is a set of features.
type Features uint32

// Has says whether f is in the set.
func (s Features) Has(f Feature) bool { return s&(1<<f) != 0 }

// List returns the set's feature names in enum order.
func (s Features) List() []string {
	var out []string
	for f := Feature(0); f < NumFeatures; f++ {
		if s.Has(f) {
			out = append(out, f.String())
		}
	}
	return out
}

func (f Feature) String() string { return string(v1alpha1.Features[f]) }

// ParseFeature returns the feature named s.
func ParseFeature(s string) (Feature, bool) {
	for i, f := range v1alpha1.Features {
		if string(f) == s {
			return Feature(i), true
		}
	}
	return 0, false
}

func featureBit(name v1alpha1.Feature) Features {
	f, ok := ParseFeature(string(name))
	if !ok {
		return 0
	}
	return 1 << f
}

// Channel is where a request comes from as the CRM says it.
type Channel uint8

const (
	ChannelUI Channel = iota
	ChannelAPI
	ChannelMobile
	NumChannels
)

var channelNames = [NumChannels]string{"UI", "API", "Mobile"}

func (c Channel) String() string { return channelNames[c] }

// ParseChannel returns the channel named s; "" is UI.
func ParseChannel(s string) (Channel, bool) {
	if s == "" {
		return ChannelUI, true
	}
	return parse[Channel](channelNames[:], s)
}

// IPChannel is the channel as IP allowlists see it: Login for UI and Mobile, API for API.
type IPChannel uint8

const (
	IPChannelLogin IPChannel = iota
	IPChannelAPI
	NumIPChannels
)

var ipChannelNames = [NumIPChannels]string{"Login", "API"}

func (c IPChannel) String() string { return ipChannelNames[c] }

// IPChannel maps a request channel to the allowlist channel that governs it.
func (c Channel) IPChannel() IPChannel {
	if c == ChannelAPI {
		return IPChannelAPI
	}
	return IPChannelLogin
}

func parse[T ~uint8](names []string, s string) (T, bool) {
	for i, n := range names {
		if n == s {
			return T(i), true
		}
	}
	return 0, false
}
