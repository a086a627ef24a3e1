package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/crmauthz/crmauthz/internal/server"
)

// fakeCluster answers TokenReviews and SubjectAccessReviews like an API server: token
// "good" is alice, "expired" is refused as the API server refuses expired tokens, and
// alice may ask about tenant acme only. down makes every call fail (an outage).
func fakeCluster(down *atomic.Bool, calls *atomic.Int32) *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		if down.Load() {
			return true, nil, errors.New("connection refused")
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		switch tr.Spec.Token {
		case "good":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice"}}
		case "expired":
			tr.Status = authenticationv1.TokenReviewStatus{Error: "service account token has expired"}
		}
		return true, tr, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		if down.Load() {
			return true, nil, errors.New("connection refused")
		}
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "alice" && ra.Namespace == "acme" && ra.Verb == Verb && ra.Group == Group && ra.Resource == Resource
		return true, sar, nil
	})
	return cs
}

func request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/check", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func status(err error) int {
	var ae *server.AuthError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func TestKubeAuthorizer(t *testing.T) {
	g := NewWithT(t)
	var down atomic.Bool
	var calls atomic.Int32
	k := NewKube(fakeCluster(&down, &calls), time.Hour, time.Hour)

	caller, err := k.Authorize(request("good"), "acme")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(caller).To(Equal("alice"))

	_, err = k.Authorize(request("good"), "globex")
	g.Expect(status(err)).To(Equal(http.StatusForbidden))
	g.Expect(err.Error()).To(ContainSubstring(`alice may not ask about tenant "globex": it needs create on accessreviews.policy.crmauthz.io in namespace globex`))

	_, err = k.Authorize(request("expired"), "acme")
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
	g.Expect(err.Error()).To(ContainSubstring("expired"))

	_, err = k.Authorize(request("forged"), "acme")
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))

	_, err = k.Authorize(request(""), "acme")
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))

	// Answers are cached: asking again costs the API server nothing.
	before := calls.Load()
	_, err = k.Authorize(request("good"), "acme")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(calls.Load()).To(Equal(before))
}

func TestKubeAuthorizerDuringAnOutage(t *testing.T) {
	g := NewWithT(t)
	var down atomic.Bool
	var calls atomic.Int32
	// Answers are fresh for 0 s, usable while the API server is away for an hour.
	k := NewKube(fakeCluster(&down, &calls), 0, time.Hour)
	_, err := k.Authorize(request("good"), "acme")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = k.Authorize(request("good"), "globex")
	g.Expect(status(err)).To(Equal(http.StatusForbidden))

	down.Store(true)
	_, err = k.Authorize(request("good"), "acme")
	g.Expect(err).NotTo(HaveOccurred(), "a caller seen before keeps its answer")
	_, err = k.Authorize(request("good"), "globex")
	g.Expect(status(err)).To(Equal(http.StatusForbidden), "and so does a refusal")
	_, err = k.Authorize(request("unseen"), "acme")
	g.Expect(status(err)).To(Equal(http.StatusServiceUnavailable), "a caller never seen is not let through")
}
