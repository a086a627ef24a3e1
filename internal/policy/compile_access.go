package policy

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// compileAllowlists builds, per channel and role, the union of the networks of the
// allowlists that apply, and per channel the anonymous-proxy rule.
func (c *compiler) compileAllowlists() {
	als := append([]v1alpha1.IPAllowlist(nil), c.in.Allowlists...)
	sort.Slice(als, func(i, j int) bool { return als[i].Name < als[j].Name })
	var allow [NumIPChannels][NumRoles]ipSetBuilder
	var applies [NumIPChannels][NumRoles]bool
	var proxies [NumIPChannels]ipSetBuilder
	for i := range als {
		al := &als[i]
		st := c.status(KindIPAllowlist, al.Name, al.Generation)
		prefixes, channels, roles, err := parseAllowlist(al)
		if err != nil {
			reject(st, v1alpha1.ReasonInvalid, err.Error())
			continue
		}
		for _, ch := range channels {
			for _, r := range roles {
				applies[ch][r] = true
				for _, p := range prefixes {
					allow[ch][r].add(p)
				}
			}
		}
		if al.Spec.AnonymousProxyList == nil {
			if al.Spec.BlockAnonymousProxies {
				st.Message = "Compiled and enforced; blockAnonymousProxies is set but no anonymousProxyList names the proxies, so none are blocked"
			}
			continue
		}
		ref := al.Spec.AnonymousProxyList.ConfigMapRef
		list, err := c.readProxyList(ref)
		if err != nil {
			// Still in force: its proxy rule now refuses every address (fail closed).
			st.Ready, st.Reason = false, v1alpha1.ReasonProxyListUnavailable
			st.Message = err.Error()
			if al.Spec.BlockAnonymousProxies {
				st.Message += "; every address is refused on " + channelList(channels) + " until it can be read"
				for _, ch := range channels {
					c.s.proxies[ch].failClosed = true
					c.s.proxies[ch].sources = append(c.s.proxies[ch].sources, al.Name)
				}
			}
			continue
		}
		st.ProxyEntries = int32(len(list))
		if !al.Spec.BlockAnonymousProxies {
			continue
		}
		for _, ch := range channels {
			for _, p := range list {
				proxies[ch].add(p)
			}
			c.s.proxies[ch].sources = append(c.s.proxies[ch].sources, al.Name)
		}
	}
	for ch := IPChannel(0); ch < NumIPChannels; ch++ {
		for r := Role(0); r < NumRoles; r++ {
			if applies[ch][r] {
				c.s.ip[ch][r] = allow[ch][r].build()
			}
		}
		if !proxies[ch].empty() {
			c.s.proxies[ch].set = proxies[ch].build()
		}
	}
}

func (c *compiler) readProxyList(ref v1alpha1.ConfigMapKeyRef) ([]netip.Prefix, error) {
	refPath := field.NewPath("spec", "anonymousProxyList", "configMapRef")
	data, ok := c.in.ConfigMaps[ref.Name]
	if !ok {
		return nil, field.Invalid(refPath.Child("name"), ref.Name, fmt.Sprintf("ConfigMap %s not found (it must carry the label %s: \"true\")", ref.Name, v1alpha1.ProxyListLabel))
	}
	text, ok := data[ref.Key]
	if !ok {
		return nil, field.Invalid(refPath.Child("key"), ref.Key, fmt.Sprintf("ConfigMap %s has no such key", ref.Name))
	}
	list, err := ParseProxyList(text)
	if err != nil {
		return nil, field.Invalid(refPath.Child("key"), ref.Key, fmt.Sprintf("ConfigMap %s: %v", ref.Name, err))
	}
	return list, nil
}

func channelList(chs []IPChannel) string {
	s := ""
	for i, ch := range chs {
		if i > 0 {
			s += " and "
		}
		s += ch.String()
	}
	return s
}

func parseAllowlist(al *v1alpha1.IPAllowlist) (prefixes []netip.Prefix, channels []IPChannel, roles []Role, err error) {
	spec := field.NewPath("spec")
	if len(al.Spec.CIDRs) == 0 {
		return nil, nil, nil, field.Required(spec.Child("cidrs"), "at least one CIDR is required")
	}
	for i, s := range al.Spec.CIDRs {
		p, err := ParsePrefix(string(s))
		if err != nil {
			return nil, nil, nil, field.Invalid(spec.Child("cidrs").Index(i), s, err.Error())
		}
		prefixes = append(prefixes, p)
	}
	if len(al.Spec.Channels) == 0 {
		channels = []IPChannel{IPChannelLogin, IPChannelAPI}
	}
	for i, ch := range al.Spec.Channels {
		c, ok := parse[IPChannel](ipChannelNames[:], string(ch))
		if !ok {
			return nil, nil, nil, field.NotSupported(spec.Child("channels").Index(i), ch, ipChannelNames[:])
		}
		channels = append(channels, c)
	}
	if len(al.Spec.Roles) == 0 {
		for r := Role(0); r < NumRoles; r++ {
			roles = append(roles, r)
		}
	}
	for i, r := range al.Spec.Roles {
		role, ok := ParseRole(string(r))
		if !ok {
			return nil, nil, nil, field.NotSupported(spec.Child("roles").Index(i), r, roleNames[:])
		}
		roles = append(roles, role)
	}
	return prefixes, channels, roles, nil
}

// compileLogin picks the tenant's LoginPolicy: the oldest valid one; the defaults when
// there is none.
func (c *compiler) compileLogin() {
	lps := make([]*v1alpha1.LoginPolicy, len(c.in.LoginPolicies))
	for i := range c.in.LoginPolicies {
		lps[i] = &c.in.LoginPolicies[i]
	}
	sort.Slice(lps, func(i, j int) bool {
		return byAge(lps[i].CreationTimestamp.Time, lps[j].CreationTimestamp.Time, lps[i].Name, lps[j].Name)
	})
	c.s.Login = DefaultLoginPolicy()
	chosen := ""
	for _, lp := range lps {
		st := c.status(KindLoginPolicy, lp.Name, lp.Generation)
		if chosen != "" {
			reject(st, v1alpha1.ReasonDuplicateLoginPolicy, fmt.Sprintf("LoginPolicy %s is in force: a namespace may have only one", chosen))
			continue
		}
		l, err := parseLogin(lp)
		if err != nil {
			reject(st, v1alpha1.ReasonInvalid, err.Error())
			continue
		}
		c.s.Login, chosen = l, lp.Name
	}
}

func parseLogin(lp *v1alpha1.LoginPolicy) (LoginPolicy, error) {
	spec := field.NewPath("spec")
	l := DefaultLoginPolicy()
	l.Name = lp.Name
	sp := &lp.Spec
	if len(sp.AuthProviders) > 0 {
		l.Providers = 0
	}
	for i, p := range sp.AuthProviders {
		pr, ok := ParseProvider(string(p))
		if !ok {
			return l, field.NotSupported(spec.Child("authProviders").Index(i), p, providerNames[:])
		}
		l.Providers |= 1 << pr
	}
	if tf := sp.TwoFactor; tf != nil {
		mode, ok := parse[TwoFactorMode](twoFactorNames[:], string(tf.Mode))
		if tf.Mode == "" {
			mode, ok = TwoFactorDisabled, true
		}
		if !ok {
			return l, field.NotSupported(spec.Child("twoFactor", "mode"), tf.Mode, twoFactorNames[:])
		}
		if len(tf.Users) > 0 && mode != TwoFactorPerUser {
			return l, field.Forbidden(spec.Child("twoFactor", "users"), "may be set only with mode PerUser")
		}
		l.TwoFactor, l.TwoFactorUsers = mode, newStrSet(tf.Users)
		if td := tf.TrustedDevices; td != nil && td.Enabled {
			d, err := parseDuration(spec.Child("twoFactor", "trustedDevices", "validFor"), td.ValidFor, true)
			if err != nil {
				return l, err
			}
			l.TrustedDevices, l.TrustedFor = true, d
		}
	}
	if se := sp.Session; se != nil {
		var err error
		if l.LoginExpiration, err = parseDuration(spec.Child("session", "loginExpiration"), se.LoginExpiration, false); err != nil {
			return l, err
		}
		if l.IdleTimeout, err = parseDuration(spec.Child("session", "idleTimeout"), se.IdleTimeout, false); err != nil {
			return l, err
		}
		if l.LoginExpiration > 0 && l.IdleTimeout > l.LoginExpiration {
			return l, field.Invalid(spec.Child("session", "idleTimeout"), se.IdleTimeout, fmt.Sprintf("may not be longer than loginExpiration %s", se.LoginExpiration))
		}
		if se.RevokeSessionsBefore != nil {
			l.RevokeBefore = se.RevokeSessionsBefore.Time
		}
	}
	if pp := sp.PasswordPolicy; pp != nil {
		r := PasswordRules{MinLength: int(pp.MinLength), MinSpecialChars: int(pp.MinSpecialChars), MinDigits: int(pp.MinDigits), MinUppercase: int(pp.MinUppercase)}
		if r.MinLength == 0 {
			r.MinLength = 8
		}
		if r.MinLength < 6 || r.MinLength > 128 {
			return l, field.Invalid(spec.Child("passwordPolicy", "minLength"), r.MinLength, "must be between 6 and 128")
		}
		for _, x := range []struct {
			name string
			v    int
		}{{"minSpecialChars", r.MinSpecialChars}, {"minDigits", r.MinDigits}, {"minUppercase", r.MinUppercase}} {
			if x.v < 0 || x.v > 128 {
				return l, field.Invalid(spec.Child("passwordPolicy", x.name), x.v, "must be between 0 and 128")
			}
		}
		var err error
		if r.MaxAge, err = parseDuration(spec.Child("passwordPolicy", "maxAge"), pp.MaxAge, false); err != nil {
			return l, err
		}
		l.Password = r
	}
	l.PasswordEncryption, l.MobileDynamicToken = sp.PasswordEncryption, sp.MobileDynamicToken
	return l, nil
}

func parseDuration(path *field.Path, s v1alpha1.Duration, required bool) (time.Duration, error) {
	if s == "" {
		if required {
			return 0, field.Required(path, "")
		}
		return 0, nil
	}
	d, err := time.ParseDuration(string(s))
	if err != nil || d <= 0 {
		return 0, field.Invalid(path, s, "not a positive duration such as 30m or 12h")
	}
	return d, nil
}
