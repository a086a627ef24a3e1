package server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
)

var endpoints = []string{"/v1/check", "/v1/checks", "/v1/filter", "/v1/users/visible", "/v1/login", "/v1/session", "/v1/password"}

// FuzzHandler sends any body to any decision endpoint through the real handler: no
// input, however malformed, gets a 5xx, and a 200 is always JSON.
func FuzzHandler(f *testing.F) {
	for i, s := range []string{
		checkBody,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"checks":[{"action":"view","resource":{"entity":"leads"}}]}`,
		`{"tenant":"acme","subject":{"user":"m-1","role":"SalesManager"},"entity":"leads"}`,
		`{"tenant":"acme","subject":{"user":"m-1","role":"SalesManager"}}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"ip":"203.0.113.5","provider":"Password"}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"ip":"203.0.113.5","issuedAt":"2026-11-22T11:00:00Z"}`,
		`{"tenant":"acme","password":"x","changedAt":"9999-12-31T23:59:59Z"}`,
		`{"tenant":"acme","fields":["Stage"],"FIELDS":[],"fields":[]}`,
		"{\"tenant\":\"acme\",\"subject\":{\"user\":\"u-\xff\"}}",
	} {
		f.Add(uint8(i), []byte(s))
	}
	fx := newFixture(f, true)
	s := server.New(service.New(fx.store, nil), server.Options{DecisionLog: io.Discard, MaxBodyBytes: 64 << 10})
	f.Cleanup(func() { s.Close(time.Second) })
	h := s.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := endpoints[int(which)%len(endpoints)]
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body)
		}
		if w.Code == http.StatusOK && (!bytes.HasPrefix(w.Body.Bytes(), []byte("{")) || w.Header().Get("Content-Type") != "application/json") {
			t.Fatalf("%s %q: a 200 that is not JSON: %s", path, body, w.Body)
		}
	})
}
