package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/crmauthz/crmauthz/internal/server"
)

// The right to ask about a tenant: `create` on the virtual resource
// accessreviews.policy.crmauthz.io in the tenant's namespace. Grant it with RBAC:
//
//	rules: [{apiGroups: [policy.crmauthz.io], resources: [accessreviews], verbs: [create]}]
const (
	Group    = "policy.crmauthz.io"
	Resource = "accessreviews"
	Verb     = "create"
)

// Kube authenticates callers with their Kubernetes identity: a bearer token checked
// by TokenReview (or a client certificate verified by mTLS), and authorises each
// tenant by SubjectAccessReview against the tenant's namespace. Answers are cached
// for ttl. While the API server cannot be reached, answers up to maxStale old are
// used; a caller not seen before is refused with 503, never let through.
//
// A flood of forged tokens must neither hammer the API server nor push real callers
// out: tokens the API server refused are remembered for NegativeTTL in a cache of
// their own (so they never evict an accepted caller); TokenReviews of tokens not seen
// before are rate limited (ReviewsPerSecond; past it they get 503), apart from the
// reviews that refresh known callers and their SubjectAccessReviews (RefreshesPerSecond),
// which forged tokens never reach; and the caches evict the least recently used entry,
// one at a time. Only when the API server is unreachable, or real callers outrun
// RefreshesPerSecond, is an answer used past ttl (up to maxStale).
type Kube struct {
	client    kubernetes.Interface
	ttl       time.Duration
	maxStale  time.Duration
	tokens    *lru.Cache[[32]byte, entry[authenticationv1.UserInfo]]
	refused   *expirable.LRU[[32]byte, error]
	access    *lru.Cache[string, entry[bool]]
	newTokens *rate.Limiter
	refreshes *rate.Limiter
}

// Cache sizes and limits; NewKube uses them, tests may change a Kube's after.
const (
	// MaxCachedCallers bounds the accepted tokens and access answers remembered.
	MaxCachedCallers = 100000
	// MaxRefusedTokens bounds the refused tokens remembered.
	MaxRefusedTokens = 10000
	// NegativeTTL is how long a refused token is answered 401 without asking again.
	NegativeTTL = 10 * time.Second
	// ReviewsPerSecond and ReviewBurst bound TokenReviews of tokens not seen before.
	ReviewsPerSecond = 100
	ReviewBurst      = 200
	// RefreshesPerSecond and RefreshBurst bound the reviews of known callers: their
	// expired TokenReviews and their SubjectAccessReviews.
	RefreshesPerSecond = 500
	RefreshBurst       = 1000
)

// NewKube returns the authoriser; ttl is how long answers are reused (e.g. 30s).
func NewKube(client kubernetes.Interface, ttl, maxStale time.Duration) *Kube {
	tokens, _ := lru.New[[32]byte, entry[authenticationv1.UserInfo]](MaxCachedCallers)
	access, _ := lru.New[string, entry[bool]](MaxCachedCallers)
	return &Kube{client: client, ttl: ttl, maxStale: maxStale, tokens: tokens, access: access,
		refused:   expirable.NewLRU[[32]byte, error](MaxRefusedTokens, nil, NegativeTTL),
		newTokens: rate.NewLimiter(ReviewsPerSecond, ReviewBurst),
		refreshes: rate.NewLimiter(RefreshesPerSecond, RefreshBurst)}
}

var (
	_ server.Authorizer    = (*Kube)(nil)
	_ server.Authenticator = (*Kube)(nil)
)

// entry is a cached answer with the time it was given.
type entry[V any] struct {
	v  V
	at time.Time
}

func fresh[V any](e entry[V], ok bool, within time.Duration) bool {
	return ok && time.Since(e.at) < within
}

// Authenticate implements server.Authenticator: who is calling (the answer is cached,
// so Authorize's second look is a map lookup).
func (k *Kube) Authenticate(r *http.Request) (string, error) {
	user, err := k.identify(r)
	return user.Username, err
}

// Authorize implements server.Authorizer.
func (k *Kube) Authorize(r *http.Request, tenant string) (string, error) {
	user, err := k.identify(r)
	if err != nil {
		return "", err
	}
	caller := user.Username
	ok, err := k.allowed(r.Context(), user, &authorizationv1.ResourceAttributes{Namespace: tenant, Verb: Verb, Group: Group, Resource: Resource})
	if err != nil {
		return caller, err
	}
	if !ok {
		return caller, &server.AuthError{Status: http.StatusForbidden, Message: fmt.Sprintf(
			"%s may not ask about tenant %q: it needs %s on %s.%s in namespace %s", caller, tenant, Verb, Resource, Group, tenant)}
	}
	return caller, nil
}

// AuthorizeMetrics implements server.Authorizer: the caller needs `get` on the
// non-resource URL /metrics, as Prometheus is granted for any Kubernetes component.
func (k *Kube) AuthorizeMetrics(r *http.Request) (string, error) {
	user, err := k.identify(r)
	if err != nil {
		return "", err
	}
	ok, err := k.allowed(r.Context(), user, nil)
	if err != nil {
		return user.Username, err
	}
	if !ok {
		return user.Username, &server.AuthError{Status: http.StatusForbidden, Message: user.Username +
			" may not read /metrics: it needs get on the non-resource URL /metrics"}
	}
	return user.Username, nil
}

var errUnreachable = &server.AuthError{Status: http.StatusServiceUnavailable, Message: "cannot check the caller now (the API server is unreachable); try again"}

var errBusy = &server.AuthError{Status: http.StatusServiceUnavailable, Message: "too many new callers to check right now; try again"}

// identify returns who is calling: the verified client certificate's subject, else
// the bearer token's user.
func (k *Kube) identify(r *http.Request) (authenticationv1.UserInfo, error) {
	tok := BearerToken(r)
	if tok == "" && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		cert := r.TLS.VerifiedChains[0][0]
		return authenticationv1.UserInfo{Username: cert.Subject.CommonName, Groups: cert.Subject.Organization}, nil
	}
	if tok == "" {
		return authenticationv1.UserInfo{}, &server.AuthError{Status: http.StatusUnauthorized, Message: "a bearer token (a Kubernetes service account token) is required: Authorization: Bearer ..."}
	}
	key := sha256.Sum256([]byte(tok))
	e, seen := k.tokens.Get(key)
	if fresh(e, seen, k.ttl) {
		return e.v, nil
	}
	if refusal, ok := k.refused.Get(key); ok {
		return authenticationv1.UserInfo{}, refusal
	}
	stale := func(fallback error) (authenticationv1.UserInfo, error) {
		if fresh(e, seen, k.maxStale) {
			return e.v, nil
		}
		return authenticationv1.UserInfo{}, fallback
	}
	limit := k.newTokens
	if seen {
		limit = k.refreshes
	}
	if !limit.Allow() {
		return stale(errBusy)
	}
	tr, err := k.client.AuthenticationV1().TokenReviews().Create(r.Context(), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok}}, metav1.CreateOptions{})
	if err != nil {
		return stale(errUnreachable)
	}
	if !tr.Status.Authenticated {
		why := tr.Status.Error
		if why == "" {
			why = "not authenticated"
		}
		refusal := &server.AuthError{Status: http.StatusUnauthorized, Message: "the bearer token is not valid: " + why}
		k.refused.Add(key, refusal)
		k.tokens.Remove(key)
		return authenticationv1.UserInfo{}, refusal
	}
	k.tokens.Add(key, entry[authenticationv1.UserInfo]{v: tr.Status.User, at: time.Now()})
	return tr.Status.User, nil
}

// allowed asks a SubjectAccessReview for ra, or for GET /metrics when ra is nil.
func (k *Kube) allowed(ctx context.Context, u authenticationv1.UserInfo, ra *authorizationv1.ResourceAttributes) (bool, error) {
	what := "/metrics"
	if ra != nil {
		what = ra.Namespace
	}
	key := u.Username + "\x00" + strings.Join(u.Groups, ",") + "\x00" + what
	e, seen := k.access.Get(key)
	if fresh(e, seen, k.ttl) {
		return e.v, nil
	}
	stale := func(fallback error) (bool, error) {
		if fresh(e, seen, k.maxStale) {
			return e.v, nil
		}
		return false, fallback
	}
	if !k.refreshes.Allow() { // only authenticated callers get here
		return stale(errBusy)
	}
	extra := map[string]authorizationv1.ExtraValue{}
	for name, v := range u.Extra {
		extra[name] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Username, Groups: u.Groups, UID: u.UID, Extra: extra, ResourceAttributes: ra,
	}}
	if ra == nil {
		sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}
	}
	res, err := k.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return stale(errUnreachable)
	}
	k.access.Add(key, entry[bool]{v: res.Status.Allowed, at: time.Now()})
	return res.Status.Allowed, nil
}

// RBAC the manager needs to check callers.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
