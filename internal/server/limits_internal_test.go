package server

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	. "github.com/onsi/gomega"
)

func TestInFlightPerCaller(t *testing.T) {
	g := NewWithT(t)
	l := &inflight{max: 2, n: map[string]int{}}
	g.Expect(l.acquire("alice")).To(Succeed())
	g.Expect(l.acquire("alice")).To(Succeed())
	g.Expect(l.acquire("alice")).To(MatchError(ContainSubstring("caller alice already has 2, the most one caller may have")))
	g.Expect(l.acquire("bob")).To(Succeed(), "one caller's load does not block another")
	l.release("alice")
	g.Expect(l.acquire("alice")).To(Succeed(), "a slot comes back when a request ends")
	l.release("alice")
	l.release("alice")
	g.Expect(l.n).NotTo(HaveKey("alice"), "idle callers are forgotten")

	// Refusals map to 429 with Retry-After.
	s := &Server{refusals: newRefusalLog(slog.Default())}
	w := httptest.NewRecorder()
	err := (&inflight{max: 0, n: map[string]int{}}).acquire("alice")
	g.Expect(errors.Is(err, errTooManyInFlight)).To(BeTrue())
	s.fail(w, httptest.NewRequest("POST", "/v1/check", nil), "check", "acme", "alice", err)
	g.Expect(w.Code).To(Equal(http.StatusTooManyRequests))
	g.Expect(w.Header().Get("Retry-After")).To(Equal("1"))
	g.Expect(w.Body.String()).To(ContainSubstring(`"code":"ResourceExhausted"`))
}
