package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
)

// authenticating is tokens that can also say who calls before the body is read.
type authenticating struct{ tokens }

func (a authenticating) Authenticate(r *http.Request) (string, error) {
	caller, err := a.Authorize(r, "acme")
	if ae, ok := err.(*server.AuthError); ok && ae.Status == http.StatusForbidden {
		return caller, nil // known, only not for this tenant: that is Authorize's to say
	}
	return caller, err
}

// TestUnknownCallerGets401BeforeTheBody: an unauthenticated caller learns nothing
// from the body's parsing (no 400 naming a field) and costs no decoding.
func TestUnknownCallerGets401BeforeTheBody(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	s := server.New(service.New(f.store, nil), server.Options{Auth: authenticating{}})
	srv := httptest.NewServer(validated(t, s.Handler()))
	defer srv.Close()
	post := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/check", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		return resp.StatusCode
	}
	g.Expect(post("", `{"tenant":`)).To(Equal(http.StatusUnauthorized))
	g.Expect(post("forged", `{"bogus":1}`)).To(Equal(http.StatusUnauthorized))
	g.Expect(post("crm", `{"bogus":1}`)).To(Equal(http.StatusBadRequest), "a known caller hears what is wrong with its body")
	g.Expect(post("crm", strings.Replace(checkBody, "acme", "globex", 1))).To(Equal(http.StatusForbidden))
	g.Expect(post("crm", checkBody)).To(Equal(http.StatusOK))
}
