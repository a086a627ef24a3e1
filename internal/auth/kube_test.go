package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
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

// TestForgedTokensNeitherHammerTheAPIServerNorEvictCallers: 100,000 forged tokens,
// during an outage and while the API server answers, cost at most the review rate
// limit in TokenReviews, and leave a known caller served from the cache.
func TestForgedTokensNeitherHammerTheAPIServerNorEvictCallers(t *testing.T) {
	g := NewWithT(t)
	var down atomic.Bool
	var calls atomic.Int32
	// Fresh for 0 s, so every answer needs the API server or the stale allowance.
	k := NewKube(fakeCluster(&down, &calls), 0, 10*time.Minute)
	_, err := k.Authorize(request("good"), "acme")
	g.Expect(err).NotTo(HaveOccurred())

	forge := func(n int) (unavailable, unauthorised int) {
		for i := 0; i < n; i++ {
			_, err := k.Authorize(request(fmt.Sprintf("forged-%d", i)), "acme")
			switch status(err) {
			case http.StatusServiceUnavailable:
				unavailable++
			case http.StatusUnauthorized:
				unauthorised++
			default:
				t.Fatalf("forged token %d: %v", i, err)
			}
		}
		return unavailable, unauthorised
	}

	down.Store(true)
	calls.Store(0)
	unavailable, _ := forge(100000)
	g.Expect(unavailable).To(Equal(100000), "forged tokens are never let through")
	g.Expect(calls.Load()).To(BeNumerically("<=", ReviewBurst+ReviewsPerSecond*10), "reviews are rate limited")
	caller, err := k.Authorize(request("good"), "acme")
	g.Expect(err).NotTo(HaveOccurred(), "the known caller keeps its (stale) answer through the flood")
	g.Expect(caller).To(Equal("alice"))

	down.Store(false)
	calls.Store(0)
	_, unauthorised := forge(100000)
	g.Expect(calls.Load()).To(BeNumerically("<=", ReviewBurst+ReviewsPerSecond*10), "reviews are rate limited")
	g.Expect(unauthorised).To(BeNumerically(">=", 1), "forged tokens the API server refused answer 401")
	g.Expect(k.tokens.Contains(sha256.Sum256([]byte("good")))).To(BeTrue(), "refused tokens never evict an accepted one")

	// The flood drained the budget of new tokens, not that of known callers: the known
	// caller's answer is refreshed, not served stale.
	calls.Store(0)
	k.ttl = 0
	_, err = k.Authorize(request("good"), "acme")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(calls.Load()).To(BeNumerically(">=", 2), "a TokenReview and a SubjectAccessReview, fresh")

	// A refused token is remembered: asking again costs no review.
	k.newTokens.SetBurst(ReviewBurst * 1000) // fill the bucket back up
	k.newTokens.SetLimit(1e9)
	_, err = k.Authorize(request("expired"), "acme")
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
	before := calls.Load()
	_, err = k.Authorize(request("expired"), "acme")
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
	g.Expect(calls.Load()).To(Equal(before), "negative cache")
}

func TestAuthCacheEvictsLeastRecentlyUsed(t *testing.T) {
	g := NewWithT(t)
	var down atomic.Bool
	var calls atomic.Int32
	k := NewKube(fakeCluster(&down, &calls), time.Hour, time.Hour)
	small, _ := lru.New[[32]byte, entry[authenticationv1.UserInfo]](2)
	k.tokens = small
	k.tokens.Add(sha256.Sum256([]byte("a")), entry[authenticationv1.UserInfo]{at: time.Now()})
	k.tokens.Add(sha256.Sum256([]byte("b")), entry[authenticationv1.UserInfo]{at: time.Now()})
	k.tokens.Get(sha256.Sum256([]byte("a"))) // a used last
	k.tokens.Add(sha256.Sum256([]byte("c")), entry[authenticationv1.UserInfo]{at: time.Now()})
	g.Expect(k.tokens.Contains(sha256.Sum256([]byte("a")))).To(BeTrue(), "the recently used entry stays")
	g.Expect(k.tokens.Contains(sha256.Sum256([]byte("b")))).To(BeFalse(), "one entry is evicted, not all")
	g.Expect(k.tokens.Len()).To(Equal(2))
}

func TestMetricsNeedGetOnTheMetricsURL(t *testing.T) {
	g := NewWithT(t)
	var down atomic.Bool
	var calls atomic.Int32
	cs := fakeCluster(&down, &calls)
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		if nra := sar.Spec.NonResourceAttributes; nra != nil {
			sar.Status.Allowed = sar.Spec.User == "alice" && nra.Path == "/metrics" && nra.Verb == "get"
			return true, sar, nil
		}
		return false, nil, nil
	})
	k := NewKube(cs, time.Hour, time.Hour)
	caller, err := k.AuthorizeMetrics(request("good"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(caller).To(Equal("alice"))
	_, err = k.AuthorizeMetrics(request(""))
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
	_, err = k.AuthorizeMetrics(request("expired"))
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
}
