package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// BenchmarkHTTPCheck is one POST /v1/check through the handler (decode, decide,
// encode, metrics; no network) on the benchmark tenant: the server's CPU per request.
func BenchmarkHTTPCheck(b *testing.B) {
	t := tenantgen.Generate("acme", tenantgen.SpecSize, 1)
	store := tenants.NewStore(nil)
	store.Put("acme", tenants.NewBuilder().Build(t.Input))
	store.SetReady()
	reg := prometheus.NewRegistry()
	h := server.New(service.New(store, nil), server.Options{Registry: reg}).Handler()
	body := []byte(`{"tenant":"acme","subject":{"user":"` + t.Members[150][1] + `","role":"SalesUser"},"action":"edit","resource":{"entity":"leads","id":"L-1","owner":"` + t.Members[150][2] + `","sharedWith":["u-00001"]},"fields":["Name","Stage"],"context":{"channel":"UI"}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/v1/check", bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Body.String())
		}
	}
}
