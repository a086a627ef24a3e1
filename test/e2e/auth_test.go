package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/internal/service"
)

// serviceAccountToken creates a service account allowed to ask about the tenants of
// namespaces (every tenant with "*"), and returns a token for it.
func serviceAccountToken(ns, name string, tenants ...string) string {
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))).To(Succeed())
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx(), sa))).To(Succeed())
	subject := rbacv1.Subject{Kind: "ServiceAccount", Namespace: ns, Name: name}
	role := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "crmauthz-decision-caller"}
	for _, t := range tenants {
		var err error
		if t == "*" {
			err = k8sClient.Create(ctx(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name}, RoleRef: role, Subjects: []rbacv1.Subject{subject}})
		} else {
			Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t}}))).To(Succeed())
			err = k8sClient.Create(ctx(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: t, Name: ns + "-" + name}, RoleRef: role, Subjects: []rbacv1.Subject{subject}})
		}
		Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
	}
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// signedToken makes a service account JWT with the given expiry, signed with key
// (ES256: envtest's API server signs with a P-256 key).
func signedToken(key *ecdsa.PrivateKey, ns, name string, exp time.Time) string {
	var sa corev1.ServiceAccount
	uid := ""
	if k8sClient.Get(ctx(), client.ObjectKey{Namespace: ns, Name: name}, &sa) == nil {
		uid = string(sa.UID)
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	issuer := cfg.Host + "/"
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	Expect(err).NotTo(HaveOccurred())
	kid := sha256.Sum256(der) // the API server names its keys so
	head := enc(map[string]string{"alg": "ES256", "kid": base64.RawURLEncoding.EncodeToString(kid[:])})
	claims := enc(map[string]any{
		"iss": issuer, "aud": []string{issuer}, "sub": "system:serviceaccount:" + ns + ":" + name, "jti": fmt.Sprint(time.Now().UnixNano()),
		"iat": exp.Add(-time.Hour).Unix(), "nbf": exp.Add(-time.Hour).Unix(), "exp": exp.Unix(),
		"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]string{"name": name, "uid": uid}},
	})
	digest := sha256.Sum256([]byte(head + "." + claims))
	r, sv, err := ecdsa.Sign(rand.Reader, key, digest[:])
	Expect(err).NotTo(HaveOccurred())
	sig := make([]byte, 64) // JWS ES256: r and s, 32 bytes each
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return head + "." + claims + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func do(method, path, token string, body any) (int, string) {
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, apiURL+path, strings.NewReader(string(data)))
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := apiHTTP.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b := new(strings.Builder)
	_, _ = io.Copy(b, resp.Body)
	return resp.StatusCode, b.String()
}

var _ = Describe("Authentication and authorisation of callers", func() {
	q := service.CheckRequest{Tenant: "acme", Subject: subject("u-1", "SalesUser"), Action: "access", Resource: service.Resource{Feature: "Dashboard"}}

	It("lets a caller ask about its tenant, and refuses it another tenant with 403", func() {
		token := serviceAccountToken("crm", "acme-backend", "acme")
		code, body := do("POST", "/v1/check", token, q)
		Expect(code).To(Equal(http.StatusOK), body)

		other := q
		other.Tenant = "globex"
		code, body = do("POST", "/v1/check", token, other)
		Expect(code).To(Equal(http.StatusForbidden))
		Expect(body).To(ContainSubstring(`"code":"PermissionDenied"`))
		Expect(body).To(ContainSubstring(`system:serviceaccount:crm:acme-backend may not ask about tenant \"globex\"`))
		code, _ = do("GET", "/v1/tenants/globex", token, nil)
		Expect(code).To(Equal(http.StatusForbidden))
		code, _ = do("GET", "/v1/tenants/acme", token, nil)
		Expect(code).To(Or(Equal(http.StatusOK), Equal(http.StatusNotFound)), "authorised: the tenant's state, or that it has none")
	})

	// An expired token is refused by TokenReview like a forged one; internal/auth tests
	// that the manager answers 401 for it.
	It("refuses a missing, forged or malformed token with 401", func() {
		serviceAccountToken("crm", "acme-backend", "acme") // the account the tokens name
		code, body := do("POST", "/v1/check", "", q)
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(body).To(ContainSubstring(`"code":"Unauthenticated"`))

		forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		code, body = do("POST", "/v1/check", signedToken(forger, "crm", "acme-backend", time.Now().Add(time.Hour)), q)
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(body).To(ContainSubstring("the bearer token is not valid"))

		code, _ = do("POST", "/v1/check", "not-a-token", q)
		Expect(code).To(Equal(http.StatusUnauthorized))
	})
})
