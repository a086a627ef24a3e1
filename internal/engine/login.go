package engine

import (
	"net/netip"
	"time"
	"unicode"

	"github.com/crmauthz/crmauthz/internal/policy"
)

// LoginRequest is a login attempt.
type LoginRequest struct {
	User                 string
	Role                 policy.Role
	IP                   netip.Addr
	Provider             policy.Provider
	SecondFactorVerified bool
	// TrustedDeviceSince is when the device last passed a second factor; zero: never.
	TrustedDeviceSince time.Time
	Now                time.Time
}

// LoginDecision answers a login attempt.
type LoginDecision struct {
	Allowed             bool
	Reason              Reason
	RequireSecondFactor bool
	// ExpiresAt is when the session must end (zero: no limit); IdleTimeout how long it
	// may stay idle (0: no limit).
	ExpiresAt   time.Time
	IdleTimeout time.Duration
	Sources     []string
}

// Login decides a login (/v1/login, docs/api.md): the provider, then the IP rules of the
// Login channel, then the second factor, where a trusted device still within
// validFor counts as verified.
func Login(s *policy.Snapshot, r *LoginRequest) LoginDecision {
	if s == nil {
		return LoginDecision{Reason: UnknownTenant}
	}
	l := &s.Login
	if !l.Allows(r.Provider) {
		return LoginDecision{Reason: ProviderNotAllowed}
	}
	if reason, sources, denied := ipRules(s, policy.IPChannelLogin, r.Role, r.IP, true); denied {
		return LoginDecision{Reason: reason, Sources: sources}
	}
	if l.NeedsSecondFactor(r.User) && !r.SecondFactorVerified && !trusted(l, r.TrustedDeviceSince, r.Now) {
		return LoginDecision{Reason: SecondFactorRequired, RequireSecondFactor: true}
	}
	out := LoginDecision{Allowed: true, Reason: Allowed, IdleTimeout: l.IdleTimeout}
	if l.LoginExpiration > 0 {
		out.ExpiresAt = r.Now.Add(l.LoginExpiration)
	}
	return out
}

func trusted(l *policy.LoginPolicy, since, now time.Time) bool {
	if !l.TrustedDevices || since.IsZero() || since.After(now) {
		return false
	}
	return now.Sub(since) <= l.TrustedFor
}

// SessionRequest asks whether a session is still valid.
type SessionRequest struct {
	User           string
	Role           policy.Role
	IP             netip.Addr
	IssuedAt       time.Time
	LastActivityAt time.Time // zero: no activity since login
	Now            time.Time
}

// SessionDecision answers a session check.
type SessionDecision struct {
	Allowed bool
	Reason  Reason
	Sources []string
}

// Session decides whether a session stays valid (/v1/session, docs/api.md): a forced
// logout, then the login expiration, the idle timeout, and the IP rules.
func Session(s *policy.Snapshot, r *SessionRequest) SessionDecision {
	if s == nil {
		return SessionDecision{Reason: UnknownTenant}
	}
	l := &s.Login
	if !l.RevokeBefore.IsZero() && r.IssuedAt.Before(l.RevokeBefore) {
		return SessionDecision{Reason: Revoked}
	}
	if l.LoginExpiration > 0 && r.Now.Sub(r.IssuedAt) > l.LoginExpiration {
		return SessionDecision{Reason: LoginExpired}
	}
	last := r.LastActivityAt
	if last.IsZero() || last.Before(r.IssuedAt) {
		last = r.IssuedAt
	}
	if l.IdleTimeout > 0 && r.Now.Sub(last) > l.IdleTimeout {
		return SessionDecision{Reason: IdleTimeout}
	}
	if reason, sources, denied := ipRules(s, policy.IPChannelLogin, r.Role, r.IP, true); denied {
		return SessionDecision{Reason: reason, Sources: sources}
	}
	return SessionDecision{Allowed: true, Reason: Allowed}
}

// Password violations (/v1/password, docs/api.md).
const (
	ViolationMinLength       = "MinLength"
	ViolationMinDigits       = "MinDigits"
	ViolationMinSpecialChars = "MinSpecialChars"
	ViolationMinUppercase    = "MinUppercase"
	ViolationExpired         = "Expired"
)

// PasswordResult says whether a password meets the policy, and what it misses.
type PasswordResult struct {
	Valid      bool
	Reason     Reason
	Violations []string
}

// Password checks a password (and, when changedAt is set, its age) against the
// tenant's password policy. Characters are counted as Unicode code points; a special
// character is one that is neither a letter nor a digit.
func Password(s *policy.Snapshot, password string, changedAt, now time.Time) PasswordResult {
	if s == nil {
		return PasswordResult{Reason: UnknownTenant, Violations: []string{}}
	}
	rules := &s.Login.Password
	var n, digits, special, upper int
	for _, c := range password {
		n++
		switch {
		case unicode.IsDigit(c):
			digits++
		case unicode.IsUpper(c):
			upper++
		case !unicode.IsLetter(c):
			special++
		}
	}
	v := []string{}
	if n < rules.MinLength {
		v = append(v, ViolationMinLength)
	}
	if digits < rules.MinDigits {
		v = append(v, ViolationMinDigits)
	}
	if special < rules.MinSpecialChars {
		v = append(v, ViolationMinSpecialChars)
	}
	if upper < rules.MinUppercase {
		v = append(v, ViolationMinUppercase)
	}
	if rules.MaxAge > 0 && !changedAt.IsZero() && now.Sub(changedAt) > rules.MaxAge {
		v = append(v, ViolationExpired)
	}
	if len(v) > 0 {
		return PasswordResult{Reason: "PasswordPolicy", Violations: v}
	}
	return PasswordResult{Valid: true, Reason: Allowed, Violations: v}
}
