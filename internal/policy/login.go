package policy

import "time"

// Provider is a login provider as a bit index.
type Provider uint8

const (
	ProviderPassword Provider = iota
	ProviderGoogle
	ProviderADFS
	ProviderAPI
	NumProviders
)

var providerNames = [NumProviders]string{"Password", "Google", "ADFS", "API"}

func (p Provider) String() string { return providerNames[p] }

// ParseProvider returns the provider named s.
func ParseProvider(s string) (Provider, bool) { return parse[Provider](providerNames[:], s) }

// TwoFactorMode is who must pass a second factor.
type TwoFactorMode uint8

const (
	TwoFactorDisabled TwoFactorMode = iota
	TwoFactorPerUser
	TwoFactorRequired
)

var twoFactorNames = [...]string{"Disabled", "PerUser", "Required"}

func (m TwoFactorMode) String() string { return twoFactorNames[m] }

// LoginPolicy is the tenant's compiled login policy; the zero value is not valid, use
// DefaultLoginPolicy for a tenant without one.
type LoginPolicy struct {
	// Name is the LoginPolicy object in force; "" when the defaults apply.
	Name               string
	Providers          uint8 // bit set of Provider
	TwoFactor          TwoFactorMode
	TwoFactorUsers     *StrSet
	TrustedDevices     bool
	TrustedFor         time.Duration
	LoginExpiration    time.Duration // 0: no limit
	IdleTimeout        time.Duration // 0: no limit
	RevokeBefore       time.Time     // zero: none
	Password           PasswordRules
	PasswordEncryption bool
	MobileDynamicToken bool
}

// PasswordRules are what passwords must contain.
type PasswordRules struct {
	MinLength, MinSpecialChars, MinDigits, MinUppercase int
	MaxAge                                              time.Duration // 0: never expires
}

// DefaultLoginPolicy is the default (docs/concepts.md, "Login policies"): Password only, no 2FA, no timeouts,
// minimum length 8.
func DefaultLoginPolicy() LoginPolicy {
	return LoginPolicy{Providers: 1 << ProviderPassword, Password: PasswordRules{MinLength: 8}}
}

// Allows says whether provider p may be used.
func (l *LoginPolicy) Allows(p Provider) bool { return l.Providers&(1<<p) != 0 }

// ProviderNames lists the allowed providers.
func (l *LoginPolicy) ProviderNames() []string {
	var out []string
	for p := Provider(0); p < NumProviders; p++ {
		if l.Allows(p) {
			out = append(out, p.String())
		}
	}
	return out
}

// NeedsSecondFactor says whether user must pass a second factor.
func (l *LoginPolicy) NeedsSecondFactor(user string) bool {
	switch l.TwoFactor {
	case TwoFactorRequired:
		return true
	case TwoFactorPerUser:
		return l.TwoFactorUsers.Has(user)
	}
	return false
}
