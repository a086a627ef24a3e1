package server

import (
	"mime"
	"net/http"
	"net/url"

	"github.com/crmauthz/crmauthz/internal/service"
)

// authzenRoutes serves the AuthZEN Authorization API 1.0 (docs/authzen.md): each tenant
// is a PDP whose identifier is https://host/tenants/{tenant}, with the standard's
// default paths under it and its metadata at the well-known URI the standard derives
// from that identifier. Authentication, limits, the decision log and the metrics are
// the native API's.
func (s *Server) authzenRoutes(mux *http.ServeMux) {
	pathTenant := func(r *http.Request, q *service.AuthZENRequest) string {
		q.Tenant = r.PathValue("tenant")
		return q.Tenant
	}
	route := func(endpoint string, decide func(*service.AuthZENRequest, *service.Reply) error) http.Handler {
		return s.jsonOnly(endpoint, handle(s, endpoint, decide, pathTenant))
	}
	mux.Handle("POST /tenants/{tenant}/access/v1/evaluation", route("authzen/evaluation", s.svc.Evaluation))
	mux.Handle("POST /tenants/{tenant}/access/v1/evaluations", route("authzen/evaluations", s.svc.Evaluations))
	mux.Handle("POST /tenants/{tenant}/access/v1/search/subject", route("authzen/search/subject", s.svc.SearchSubject))
	mux.Handle("POST /tenants/{tenant}/access/v1/search/resource", route("authzen/search/resource", s.svc.SearchResource))
	mux.Handle("POST /tenants/{tenant}/access/v1/search/action", route("authzen/search/action", s.svc.SearchAction))
	mux.HandleFunc("GET /.well-known/authzen-configuration/tenants/{tenant}", s.authzenMetadata)
}

// jsonOnly refuses a body not sent as application/json (400), as AuthZEN's binding
// requires.
func (s *Server) jsonOnly(endpoint string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			s.fail(w, r, endpoint, "", "", &service.InvalidArgument{Message: "Content-Type must be application/json"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authzenMetadata answers a tenant's PDP metadata. Like /openapi.json it needs no
// credentials: it says where the endpoints are, not whether the tenant exists (nor
// which shard holds it). Its
// identifier is the URL the caller used (https when the connection, or the proxy in
// front via X-Forwarded-Proto, is TLS), as the standard's mix-up check requires.
func (s *Server) authzenMetadata(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("tenant")
	if err := service.CheckTenantName(name); err != nil {
		s.fail(w, r, "authzen/metadata", "", "", err)
		return
	}
	// No shard check: it would tell a caller without credentials which namespaces
	// exist. A PEP that follows this document to the wrong shard gets its 421 there.
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	base := (&url.URL{Scheme: scheme, Host: r.Host, Path: "/tenants/" + name}).String()
	writeJSON(w, http.StatusOK, service.AuthZENMetadata(base))
}
