package server

import (
	"context"
	"log/slog"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/service"
)

// The decision log: one structured line per decision, with the decision id the
// caller got, so an answer can be traced back to the policy revision it was made on.
// It never carries a password.

func (s *Server) logCheck(caller, tenant, id string, r *engine.Request, resp *service.CheckResponse) {
	l := s.opts.DecisionLog
	if l == nil {
		return
	}
	target := r.Entity.String()
	if r.Action.String() == "access" {
		target = r.Feature.String()
	}
	l.LogAttrs(context.Background(), slog.LevelInfo, "Decided",
		slog.String("decisionId", resp.DecisionID), slog.String("endpoint", "check"),
		slog.String("tenant", tenant), slog.String("caller", caller),
		slog.String("user", r.User), slog.String("role", r.Role.String()),
		slog.String("action", r.Action.String()), slog.String("target", target), slog.String("resourceId", id),
		slog.Bool("allowed", resp.Allowed), slog.String("reason", string(resp.Reason)),
		slog.String("template", resp.Template), slog.String("revision", resp.Revision))
}

func (s *Server) logOther(endpoint, caller, tenant, user, role, id, revision string, allowed bool, reason engine.Reason, extra ...slog.Attr) {
	l := s.opts.DecisionLog
	if l == nil {
		return
	}
	attrs := append([]slog.Attr{
		slog.String("decisionId", id), slog.String("endpoint", endpoint),
		slog.String("tenant", tenant), slog.String("caller", caller),
		slog.String("user", user), slog.String("role", role),
		slog.Bool("allowed", allowed), slog.String("reason", string(reason)), slog.String("revision", revision),
	}, extra...)
	l.LogAttrs(context.Background(), slog.LevelInfo, "Decided", attrs...)
}

func (s *Server) logFilter(caller string, q *service.FilterRequest, r *service.FilterResponse) {
	s.logOther("filter", caller, q.Tenant, q.Subject.User, q.Subject.Role, r.DecisionID, r.Revision, r.Kind != "None", r.Reason,
		slog.String("action", q.Action), slog.String("target", q.Entity), slog.String("kind", string(r.Kind)), slog.Int("owners", len(r.Owners)))
}

func (s *Server) logVisible(caller string, q *service.VisibleRequest, r *service.VisibleResponse) {
	s.logOther("users/visible", caller, q.Tenant, q.Subject.User, q.Subject.Role, r.DecisionID, r.Revision, true, r.Reason,
		slog.Bool("all", r.All), slog.Int("users", len(r.Users)))
}

func (s *Server) logLogin(caller string, q *service.LoginRequest, r *service.LoginResponse) {
	s.logOther("login", caller, q.Tenant, q.Subject.User, q.Subject.Role, r.DecisionID, r.Revision, r.Allowed, r.Reason,
		slog.String("provider", q.Provider), slog.String("ip", q.IP))
}

func (s *Server) logSession(caller string, q *service.SessionRequest, r *service.SessionResponse) {
	s.logOther("session", caller, q.Tenant, q.Subject.User, q.Subject.Role, r.DecisionID, r.Revision, r.Allowed, r.Reason, slog.String("ip", q.IP))
}

func (s *Server) logPassword(caller string, q *service.PasswordRequest, r *service.PasswordResponse) {
	// The password itself is never logged: only whether it passed and what it missed.
	s.logOther("password", caller, q.Tenant, "", "", r.DecisionID, r.Revision, r.Valid, reasonOf(r), slog.Any("violations", r.Violations))
}
