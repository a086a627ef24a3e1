package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

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
// tenant by SubjectAccessReview against the tenant's namespace. Both answers are
// cached for ttl. While the API server cannot be reached, answers up to maxStale old
// are used; a caller not seen before is refused with 503, never let through.
type Kube struct {
	client   kubernetes.Interface
	ttl      time.Duration
	maxStale time.Duration
	tokens   *ttlCache[[32]byte, authenticationv1.UserInfo]
	access   *ttlCache[string, bool]
}

// NewKube returns the authoriser; ttl is how long answers are reused (e.g. 30s).
func NewKube(client kubernetes.Interface, ttl, maxStale time.Duration) *Kube {
	return &Kube{client: client, ttl: ttl, maxStale: maxStale,
		tokens: newTTLCache[[32]byte, authenticationv1.UserInfo](), access: newTTLCache[string, bool]()}
}

var _ server.Authorizer = (*Kube)(nil)

// Authorize implements server.Authorizer.
func (k *Kube) Authorize(r *http.Request, tenant string) (string, error) {
	ctx := r.Context()
	user, err := k.identify(ctx, r)
	if err != nil {
		return "", err
	}
	caller := user.Username
	ok, err := k.allowed(ctx, user, tenant)
	if err != nil {
		return caller, err
	}
	if !ok {
		return caller, &server.AuthError{Status: http.StatusForbidden, Message: fmt.Sprintf(
			"%s may not ask about tenant %q: it needs %s on %s.%s in namespace %s", caller, tenant, Verb, Resource, Group, tenant)}
	}
	return caller, nil
}

// identify returns who is calling: the verified client certificate's subject, else
// the bearer token's user.
func (k *Kube) identify(ctx context.Context, r *http.Request) (authenticationv1.UserInfo, error) {
	tok := BearerToken(r)
	if tok == "" && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		cert := r.TLS.VerifiedChains[0][0]
		return authenticationv1.UserInfo{Username: cert.Subject.CommonName, Groups: cert.Subject.Organization}, nil
	}
	if tok == "" {
		return authenticationv1.UserInfo{}, &server.AuthError{Status: http.StatusUnauthorized, Message: "a bearer token (a Kubernetes service account token) is required: Authorization: Bearer ..."}
	}
	key := sha256.Sum256([]byte(tok))
	if e, ok := k.tokens.get(key, k.ttl); ok {
		return e.v, e.err
	}
	tr, err := k.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok}}, metav1.CreateOptions{})
	if err != nil {
		if e, ok := k.tokens.get(key, k.maxStale); ok {
			return e.v, e.err
		}
		return authenticationv1.UserInfo{}, &server.AuthError{Status: http.StatusServiceUnavailable, Message: "cannot check the token now (the API server is unreachable); try again"}
	}
	var refusal error
	if !tr.Status.Authenticated {
		why := tr.Status.Error
		if why == "" {
			why = "not authenticated"
		}
		refusal = &server.AuthError{Status: http.StatusUnauthorized, Message: "the bearer token is not valid: " + why}
	}
	k.tokens.put(key, tr.Status.User, refusal)
	return tr.Status.User, refusal
}

func (k *Kube) allowed(ctx context.Context, u authenticationv1.UserInfo, tenant string) (bool, error) {
	key := u.Username + "\x00" + strings.Join(u.Groups, ",") + "\x00" + tenant
	if e, hit := k.access.get(key, k.ttl); hit {
		return e.v, e.err
	}
	extra := map[string]authorizationv1.ExtraValue{}
	for name, v := range u.Extra {
		extra[name] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Username, Groups: u.Groups, UID: u.UID, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: tenant, Verb: Verb, Group: Group, Resource: Resource},
	}}
	res, err := k.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		if e, hit := k.access.get(key, k.maxStale); hit {
			return e.v, e.err
		}
		return false, &server.AuthError{Status: http.StatusServiceUnavailable, Message: "cannot check access now (the API server is unreachable); try again"}
	}
	k.access.put(key, res.Status.Allowed, nil)
	return res.Status.Allowed, nil
}

// ttlCache remembers answers with the time they were given.
type ttlCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]entry[V]
}

type entry[V any] struct {
	v   V
	err error // a definite refusal, cached like an answer
	at  time.Time
}

// maxEntries bounds memory; when full the cache starts over (answers are re-asked).
const maxEntries = 100000

func newTTLCache[K comparable, V any]() *ttlCache[K, V] { return &ttlCache[K, V]{m: map[K]entry[V]{}} }

func (c *ttlCache[K, V]) get(k K, within time.Duration) (entry[V], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e, ok && time.Since(e.at) < within
}

func (c *ttlCache[K, V]) put(k K, v V, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxEntries {
		c.m = map[K]entry[V]{}
	}
	c.m[k] = entry[V]{v: v, err: err, at: time.Now()}
}

// RBAC the manager needs to check callers.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
