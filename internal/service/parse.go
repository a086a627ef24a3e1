package service

import (
	"cmp"
	"net/netip"
	"strings"
	"time"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// Limits on what one request may carry.
const (
	MaxBatch      = 100  // checks in POST /v1/checks
	MaxListItems  = 1000 // fields, emptyFields, sharedWith
	MaxNameLength = 256  // ids, names, types
)

// The names a request may use, for messages, from the policy's enums (and so from the
// API's one table).
var (
	roleList    = strings.Join(policy.Names(policy.NumRoles), ", ")
	actionList  = strings.Join(policy.Names(policy.ActionAccess+1), ", ")
	entityList  = strings.Join(policy.Names(policy.NumEntities), ", ")
	channelList = strings.Join(policy.Names(policy.NumChannels), ", ")
)

// parseName checks an id or name; the field's path is prefix+name, built only for an
// error (this runs several times for every check).
func parseName(prefix, name, v string, required bool) error {
	if v == "" && required {
		return invalid(prefix+name, "required")
	}
	if len(v) > MaxNameLength {
		return invalid(prefix+name, "longer than %d characters", MaxNameLength)
	}
	return nil
}

// parseList checks a list of ids or names, as parseName does.
func parseList(prefix, name string, vs []string) error {
	if len(vs) > MaxListItems {
		return invalid(prefix+name, "more than %d items", MaxListItems)
	}
	for i, v := range vs {
		if len(v) > MaxNameLength {
			return invalid(prefix+name+"["+itoa(i)+"]", "longer than %d characters", MaxNameLength)
		}
	}
	return nil
}

func parseSubject(prefix string, s Subject) (string, policy.Role, error) {
	if err := parseName(prefix, "subject.user", s.User, true); err != nil {
		return "", 0, err
	}
	if s.Role == "" {
		return "", 0, invalid(prefix+"subject.role", "required (one of %s)", roleList)
	}
	r, ok := policy.ParseRole(s.Role)
	if !ok {
		return "", 0, invalid(prefix+"subject.role", "unknown role %q (one of %s)", s.Role, roleList)
	}
	return s.User, r, nil
}

func parseIP(field, s string, required bool) (netip.Addr, error) {
	if s == "" {
		if required {
			return netip.Addr{}, invalid(field, "required: the IP rules of the Login channel need the client's address")
		}
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, invalid(field, "%q is not an IPv4 or IPv6 address", s)
	}
	return a.Unmap(), nil
}

func parseContext(c Context) (netip.Addr, policy.Channel, error) {
	ch, ok := policy.ParseChannel(c.Channel)
	if !ok {
		return netip.Addr{}, 0, invalid("context.channel", "unknown channel %q (one of %s)", c.Channel, channelList)
	}
	ip, err := parseIP("context.ip", c.IP, false)
	return ip, ch, err
}

// MaxClockSkew is how far in the future a timestamp may be: a little clock skew
// between the CRM and us, not a session that never expires.
const MaxClockSkew = 5 * time.Minute

func parseTime(field, s string, required bool, now time.Time) (time.Time, error) {
	if s == "" {
		if required {
			return time.Time{}, invalid(field, "required (an RFC 3339 timestamp)")
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid(field, "%q is not an RFC 3339 timestamp such as 2026-11-22T10:00:00Z", s)
	}
	if t.Sub(now) > MaxClockSkew {
		return time.Time{}, invalid(field, "%q is more than %v in the future (now is %s)", s, MaxClockSkew, now.UTC().Format(time.RFC3339))
	}
	return t, nil
}

func parseTenant(t string) error { return parseName("", "tenant", t, true) }

// parseHead checks what every decision request starts with: the tenant and the subject.
func parseHead(tenant string, s Subject) (string, policy.Role, error) {
	if err := parseTenant(tenant); err != nil {
		return "", 0, err
	}
	return parseSubject("", s)
}

// parseItem fills r from one check's action, resource and field lists; prefix is ""
// for /v1/check and "checks[i]." in a batch, so errors name the exact field.
func parseItem(prefix string, it *BatchItem, r *engine.Request) error {
	if it.Action == "" {
		return invalid(prefix+"action", "required (one of %s)", actionList)
	}
	a, ok := policy.ParseAction(it.Action)
	if !ok {
		return invalid(prefix+"action", "unknown action %q (one of %s)", it.Action, actionList)
	}
	r.Action = a
	res := &it.Resource
	if a == policy.ActionAccess {
		if res.Feature == "" {
			return invalid(prefix+"resource.feature", "required with action access")
		}
		f, ok := policy.ParseFeature(res.Feature)
		if !ok {
			return invalid(prefix+"resource.feature", "unknown feature %q", res.Feature)
		}
		r.Feature = f
	} else {
		if res.Entity == "" {
			return invalid(prefix+"resource.entity", "required (one of %s)", entityList)
		}
		e, ok := policy.ParseEntity(res.Entity)
		if !ok {
			return invalid(prefix+"resource.entity", "unknown entity %q (one of %s)", res.Entity, entityList)
		}
		if !e.Accepts(a) {
			return invalid(prefix+"action", "entity %s has no action %s (it accepts %s)", e, a, accepted(e))
		}
		r.Entity = e
		if res.Feature != "" {
			return invalid(prefix+"resource.feature", "only used with action access")
		}
	}
	if err := cmp.Or(
		parseName(prefix, "resource.id", res.ID, false),
		parseName(prefix, "resource.owner", res.Owner, false),
		parseName(prefix, "resource.type", res.Type, false),
		parseList(prefix, "resource.sharedWith", res.SharedWith),
		parseList(prefix, "fields", it.Fields),
		parseList(prefix, "emptyFields", it.EmptyFields),
	); err != nil {
		return err
	}
	if it.Bulk && a != policy.ActionCreate && a != policy.ActionEdit && a != policy.ActionDelete {
		return invalid(prefix+"bulk", "only create, edit and delete can be bulk operations")
	}
	r.Owner, r.SharedWith, r.Type = res.Owner, res.SharedWith, res.Type
	r.Fields, r.EmptyFields, r.Bulk, r.Explain = it.Fields, it.EmptyFields, it.Bulk, it.Explain
	return nil
}

func accepted(e policy.Entity) string {
	var out []string
	for a := policy.Action(0); a < policy.NumRecordActions; a++ {
		if e.Accepts(a) {
			out = append(out, a.String())
		}
	}
	return strings.Join(out, ", ")
}

// ParseCheck turns a /v1/check body into an engine request.
func ParseCheck(q *CheckRequest, r *engine.Request) error {
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return err
	}
	ip, ch, err := parseContext(q.Context)
	if err != nil {
		return err
	}
	*r = engine.Request{User: user, Role: role, IP: ip, Channel: ch}
	it := BatchItem{Action: q.Action, Resource: q.Resource, Fields: q.Fields, EmptyFields: q.EmptyFields, Bulk: q.Bulk, Explain: q.Explain}
	return parseItem("", &it, r)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// CheckTenantName checks a tenant name taken from a URL, as the request bodies' are.
func CheckTenantName(t string) error { return parseTenant(t) }
