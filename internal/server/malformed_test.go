package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestMalformedRequestsAre400 sends requests that are wrong in one way each and wants
// 400 InvalidArgument with a message naming what is wrong.
func TestMalformedRequestsAre400(t *testing.T) {
	f := newFixture(t, true)
	subj := `"subject":{"user":"u-1","role":"SalesUser"}`
	cases := []struct{ path, body, names string }{
		{"/v1/check", ``, "empty body"},
		{"/v1/check", `{`, "truncated"},
		{"/v1/check", `[]`, "expected a JSON object"},
		{"/v1/check", `"text"`, "expected a JSON object"},
		{"/v1/check", `{"tenant":"acme"}{}`, "unexpected data after"},
		{"/v1/check", `{"tenant":"acme",}`, "malformed JSON"},
		{"/v1/check", `{"tenant":1}`, "tenant"},
		{"/v1/check", `{"tenant":"","subject":{"user":"u-1","role":"SalesUser"},"action":"view","resource":{"entity":"leads"}}`, "tenant: required"},
		{"/v1/check", `{"tenant":"` + strings.Repeat("a", 300) + `"}`, "tenant: longer than"},
		{"/v1/check", `{"tenant":"acme","subject":"u-1"}`, "subject"},
		{"/v1/check", `{"tenant":"acme","subject":{"role":"SalesUser"},"action":"view","resource":{"entity":"leads"}}`, "subject.user: required"},
		{"/v1/check", `{"tenant":"acme","subject":{"user":"u-1"},"action":"view","resource":{"entity":"leads"}}`, "subject.role: required"},
		{"/v1/check", `{"tenant":"acme","subject":{"user":"u-1","role":"salesuser"},"action":"view","resource":{"entity":"leads"}}`, "subject.role: unknown role"},
		{"/v1/check", `{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser","name":"x"}}`, "name: unknown field"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"resource":{"entity":"leads"}}`, "action: required"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"View","resource":{"entity":"leads"}}`, "action: unknown action"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":["view"],"resource":{"entity":"leads"}}`, "action"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view"}`, "resource.entity: required"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"Leads"}}`, "resource.entity: unknown entity"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"users"}}`, "action: entity users has no action view"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"import","resource":{"entity":"tasks"}}`, "action: entity tasks has no action import"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"reassign","resource":{"entity":"activities"}}`, "action: entity activities has no action reassign"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"markComplete","resource":{"entity":"opportunities"}}`, "action: entity opportunities has no action markComplete"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"access","resource":{}}`, "resource.feature: required"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"access","resource":{"feature":"dashboard"}}`, "resource.feature: unknown feature"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads","feature":"API"}}`, "resource.feature: only used with action access"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads","owner":7}}`, "resource.owner"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads","sharedWith":"u-1"}}`, "resource.sharedWith"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads","id":"` + strings.Repeat("x", 300) + `"}}`, "resource.id: longer than"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads","sharedWith":[` + strings.Repeat(`"u",`, 1000) + `"u"]}}`, "resource.sharedWith: more than 1000"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"edit","resource":{"entity":"leads"},"fields":"Stage"}`, "fields: expected an array"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"edit","resource":{"entity":"leads"},"fields":[1]}`, "fields"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"edit","resource":{"entity":"leads"},"emptyFields":{}}`, "emptyFields"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"edit","resource":{"entity":"leads"},"bulk":"true"}`, "bulk: expected true or false"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"export","resource":{"entity":"leads"},"bulk":true}`, "bulk: only create, edit and delete"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads"},"context":{"channel":"Web"}}`, "context.channel: unknown channel"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads"},"context":{"ip":"1.2.3"}}`, "context.ip"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads"},"context":{"ip":"fe80::1%eth0"}}`, "context.ip"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads"},"explain":"yes"}`, "explain"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads"},"contxt":{}}`, "contxt: unknown field"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"edit","resource":{"entity":"leads","owner":"u-2"},"fields":["Stage"],"FIELDS":[]}`, "FIELDS: unknown field"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"edit","resource":{"entity":"leads","owner":"u-2"},"fields":["Stage"],"fields":[]}`, "fields: given twice"},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"ſubject":{"user":"u-1","role":"SuperAdmin"},"action":"view","resource":{"entity":"leads"}}`, "ſubject: unknown field"},
		{"/v1/check", "{\"tenant\":\"acme\",\"subject\":{\"user\":\"u-\xff\",\"role\":\"SalesUser\"},\"action\":\"view\",\"resource\":{\"entity\":\"leads\"}}", "subject.user: invalid UTF-8"},
		{"/v1/checks", `{"tenant":"acme",` + subj + `,"checks":[{"action":"view","resource":{"entity":"leads","bogus":1}}]}`, "checks[0].resource.bogus: unknown field"},
		{"/v1/checks", `{"tenant":"acme",` + subj + `}`, "checks: required"},
		{"/v1/checks", `{"tenant":"acme",` + subj + `,"checks":{}}`, "checks"},
		{"/v1/checks", `{"tenant":"acme",` + subj + `,"checks":[{"action":"view","resource":{"entity":"leads"}},{"action":"fly","resource":{"entity":"leads"}}]}`, "checks[1].action: unknown action"},
		{"/v1/checks", `{"tenant":"acme",` + subj + `,"checks":[{"action":"view","resource":{"entity":"leads"},"tenant":"x"}]}`, "tenant: unknown field"},
		{"/v1/checks", `{"tenant":"acme","subject":{"user":"u-1","role":"Nobody"},"checks":[{"action":"view","resource":{"entity":"leads"}}]}`, "subject.role"},
		{"/v1/filter", `{"tenant":"acme",` + subj + `,"action":"view"}`, "entity: required"},
		{"/v1/filter", `{"tenant":"acme",` + subj + `,"action":"access","entity":"leads"}`, "action: filter takes a record action"},
		{"/v1/filter", `{"tenant":"acme",` + subj + `,"action":"view","entity":"widgets"}`, "unknown entity"},
		{"/v1/filter", `{"tenant":"acme",` + subj + `,"action":"view","entity":"leads","context":{"channel":"Fax"}}`, "context.channel"},
		{"/v1/users/visible", `{"tenant":"acme"}`, "subject.user: required"},
		{"/v1/users/visible", `{"tenant":"acme",` + subj + `,"extra":1}`, "extra: unknown field"},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.5"}`, "provider: required"},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.5","provider":"LDAP"}`, "provider: unknown provider"},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"provider":"Password","ip":"999.1.1.1"}`, "ip:"},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"provider":"Password"}`, "ip: required"},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"provider":"Password","ip":"203.0.113.5","trustedDeviceSince":"2026-11-01"}`, "trustedDeviceSince"},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"provider":"Password","ip":"203.0.113.5","trustedDeviceSince":"9999-12-31T23:59:59Z"}`, "trustedDeviceSince: \"9999-12-31T23:59:59Z\" is more than 5m0s in the future"},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"provider":"Password","secondFactorVerified":"no"}`, "secondFactorVerified"},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.5"}`, "issuedAt: required"},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"issuedAt":"2026-11-22T10:00:00Z"}`, "ip: required"},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.5","issuedAt":"yesterday"}`, "issuedAt"},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.5","issuedAt":"9999-12-31T23:59:59Z"}`, "issuedAt: \"9999-12-31T23:59:59Z\" is more than 5m0s in the future"},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.5","issuedAt":"2026-11-22T10:00:00Z","lastActivityAt":"soon"}`, "lastActivityAt"},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.5","issuedAt":"2020-11-22T10:00:00Z","lastActivityAt":"9999-01-01T00:00:00Z"}`, "lastActivityAt: \"9999-01-01T00:00:00Z\" is more than 5m0s in the future"},
		{"/v1/password", `{"tenant":"acme","password":"x","changedAt":"9999-12-31T23:59:59Z"}`, "changedAt: \"9999-12-31T23:59:59Z\" is more than 5m0s in the future"},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"issuedAt":"2026-11-22T10:00:00Z","ip":"::g"}`, "ip:"},
		{"/v1/password", `{"tenant":"acme"}{"x":1}`, "unexpected data"},
		{"/v1/password", `{"tenant":"acme","password":123}`, "password"},
		{"/v1/password", `{"tenant":"acme","password":"` + strings.Repeat("p", 5000) + `"}`, "password: longer than 4096"},
		{"/v1/password", `{"tenant":"acme","password":"x","changedAt":"2026-02-30T00:00:00Z"}`, "changedAt"},
		{"/v1/password", `{"password":"x"}`, "tenant: required"},
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		code, body := f.do("POST", c.path, c.body)
		if code != http.StatusBadRequest {
			t.Errorf("%s %.80s: status %d, want 400: %s", c.path, c.body, code, body)
			continue
		}
		var e struct {
			Error struct{ Code, Message, Field string }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != "InvalidArgument" {
			t.Errorf("%s %.80s: not an InvalidArgument error: %s", c.path, c.body, body)
			continue
		}
		if !strings.Contains(e.Error.Message, c.names) {
			t.Errorf("%s %.80s: message %q does not name %q", c.path, c.body, e.Error.Message, c.names)
		}
	}
}
