package service_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/service"
)

const subj = `"subject":{"user":"u-1","role":"SalesUser"}`

// TestDecodeIsStrict: every way a second JSON parser could read a body differently
// from us is refused, naming the full path of the field.
func TestDecodeIsStrict(t *testing.T) {
	cases := []struct {
		name, body, field, message string
	}{
		{"a key in another case", `{"tenant":"acme",` + subj + `,"action":"edit","resource":{"entity":"leads"},"fields":["Stage"],"FIELDS":[]}`, "FIELDS", "unknown field"},
		{"a Unicode case fold of a key", `{"tenant":"acme",` + subj + `,"ſubject":{"user":"u-1","role":"SuperAdmin"}}`, "ſubject", "unknown field"},
		{"a key given twice", `{"tenant":"acme",` + subj + `,"fields":["Stage"],"fields":[]}`, "fields", "given twice"},
		{"a nested key given twice", `{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser","role":"SuperAdmin"}}`, "subject.role", "given twice"},
		{"a key spelt with an escape, given twice", `{"tenant":"acme","\u0074enant":"globex"}`, "tenant", "given twice"},
		{"invalid UTF-8", "{\"tenant\":\"acme\",\"subject\":{\"user\":\"u-\xff\",\"role\":\"SalesUser\"}}", "subject.user", "invalid UTF-8"},
		{"a lone surrogate", `{"tenant":"acme","subject":{"user":"u-\ud800x","role":"SalesUser"}}`, "subject.user", "lone UTF-16 surrogate"},
		{"a raw control character", "{\"tenant\":\"ac\tme\"}", "tenant", "control character"},
		{"an unknown key deep in a batch", `{"tenant":"acme",` + subj + `,"checks":[{"action":"view","resource":{"entity":"leads"}},{"action":"view","resource":{"entity":"leads","bogus":1}}]}`, "checks[1].resource.bogus", "unknown field"},
		{"a wrong type deep in a batch", `{"tenant":"acme",` + subj + `,"checks":[{"action":"view","resource":{"owner":7}}]}`, "checks[0].resource.owner", "expected a string, got a number"},
		{"a wrong type in a list", `{"tenant":"acme","fields":["a",1]}`, "fields[1]", "expected a string, got a number"},
		{"a body that ends early", `{"tenant":"acme","subject":{"user":"u-1"`, "subject", "ends early"},
		{"a body cut inside a string", `{"tenant":"ac`, "tenant", "ends early"},
		{"data after the object", `{"tenant":"acme"} {}`, "", "unexpected data after the JSON object"},
		{"a trailing comma", `{"tenant":"acme",}`, "", "expected a key in quotes"},
		{"not an object", `["tenant"]`, "", "expected a JSON object, got an array"},
		{"an empty body", ``, "", "empty body"},
		{"a bad literal", `{"bulk":tru}`, "bulk", "invalid literal"},
		{"too many checks", `{"tenant":"acme","checks":[` + strings.Repeat(`{},`, 100) + `{}]}`, "checks[100]", "more than 100 checks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			var q service.CheckRequest
			var err error
			if strings.Contains(c.body, `"checks"`) {
				var b service.BatchRequest
				err = service.Decode([]byte(c.body), &b)
			} else {
				err = service.Decode([]byte(c.body), &q)
			}
			ia, ok := service.AsInvalid(err)
			g.Expect(ok).To(BeTrue(), "want an InvalidArgument, got %v", err)
			g.Expect(ia.Field).To(Equal(c.field))
			g.Expect(ia.Message).To(ContainSubstring(c.message))
		})
	}
}

// TestDecodeAgreesWithEncodingJSON: whatever we accept, encoding/json (with unknown
// fields refused) reads to the same request, so no accepted body means two things.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	for _, body := range []string{
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"edit","resource":{"entity":"leads","id":"L-1","owner":"u-2","sharedWith":["u-1","u-3"],"type":"Call"},"fields":["Phone","Stage"],"emptyFields":["Phone"],"bulk":true,"context":{"ip":"203.0.113.5","channel":"API"},"explain":true}`,
		` { "tenant" : "a\"c\\m\/e\u00e9\ud83d\ude00" , "subject" : null , "fields" : null , "bulk" : false } `,
		`{"tenant":"x","resource":{"sharedWith":[]},"fields":[]}`,
	} {
		agree(t, []byte(body), &service.CheckRequest{}, &service.CheckRequest{})
	}
	agree(t, []byte(`{"tenant":"acme",`+subj+`,"context":{"channel":"UI"},"checks":[{"action":"view","resource":{"entity":"leads"},"fields":["a"]},{"action":"access","resource":{"feature":"API"},"explain":true}]}`),
		&service.BatchRequest{}, &service.BatchRequest{})
}

func agree[Q any](t *testing.T, body []byte, ours, theirs *Q) {
	t.Helper()
	if err := service.Decode(body, ours); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(theirs); err != nil {
		t.Fatalf("encoding/json refused %s: %v", body, err)
	}
	if diff := cmp.Diff(theirs, ours, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("%s read differently (-encoding/json +ours):\n%s", body, diff)
	}
}

// FuzzDecodeAgreesWithEncodingJSON holds the property above for any body: we accept
// less than encoding/json (duplicates, case folds, invalid UTF-8), never more, and
// never read an accepted body differently.
func FuzzDecodeAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range hostile {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"edit","resource":{"entity":"leads","owner":"u-2","sharedWith":["u-1"]},"fields":["Stage"],"context":{"ip":"203.0.113.5"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var ours, theirs service.CheckRequest
		if err := service.Decode(body, &ours); err != nil {
			return
		}
		agree(t, body, &ours, &theirs)
	})
}
