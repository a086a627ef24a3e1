// Package auth authenticates and authorises callers of the decision API.
package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/crmauthz/crmauthz/internal/server"
)

// TokenFile authorises bearer tokens listed in a file, for `crmauthz serve`. Each
// line is `TOKEN CALLER TENANTS`: TENANTS is a comma-separated list or `*` for every
// tenant. Blank lines and lines starting with # are ignored. /metrics, which names
// every tenant, is for callers with `*` only.
type TokenFile struct {
	entries []tokenEntry
}

type tokenEntry struct {
	hash    [32]byte
	caller  string
	all     bool
	tenants map[string]bool
}

// LoadTokenFile reads a token file; a malformed line is an error naming it.
func LoadTokenFile(path string) (*TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tf := &TokenFile{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s:%d: want `TOKEN CALLER TENANTS`, got %d fields", path, n, len(parts))
		}
		e := tokenEntry{hash: sha256.Sum256([]byte(parts[0])), caller: parts[1], tenants: map[string]bool{}}
		for _, t := range strings.Split(parts[2], ",") {
			if t == "*" {
				e.all = true
			} else if t != "" {
				e.tenants[t] = true
			}
		}
		tf.entries = append(tf.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(tf.entries) == 0 {
		return nil, fmt.Errorf("%s: no tokens", path)
	}
	return tf, nil
}

// BearerToken returns the request's bearer token, or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Authenticate implements server.Authenticator.
func (tf *TokenFile) Authenticate(r *http.Request) (string, error) {
	e, err := tf.find(r)
	if err != nil {
		return "", err
	}
	return e.caller, nil
}

// Authorize implements server.Authorizer.
func (tf *TokenFile) Authorize(r *http.Request, tenant string) (string, error) {
	e, err := tf.find(r)
	if err != nil {
		return "", err
	}
	if e.all || e.tenants[tenant] {
		return e.caller, nil
	}
	return e.caller, &server.AuthError{Status: http.StatusForbidden, Message: fmt.Sprintf("caller %s may not ask about tenant %q", e.caller, tenant)}
}

// AuthorizeMetrics implements server.Authorizer: /metrics names every tenant, so only
// a caller of every tenant (`*`) may read it.
func (tf *TokenFile) AuthorizeMetrics(r *http.Request) (string, error) {
	e, err := tf.find(r)
	if err != nil {
		return "", err
	}
	if !e.all {
		return e.caller, &server.AuthError{Status: http.StatusForbidden, Message: "caller " + e.caller + " may not read /metrics: its token line needs tenants *"}
	}
	return e.caller, nil
}

func (tf *TokenFile) find(r *http.Request) (*tokenEntry, error) {
	tok := BearerToken(r)
	if tok == "" {
		return nil, &server.AuthError{Status: http.StatusUnauthorized, Message: "a bearer token is required (Authorization: Bearer ...)"}
	}
	h := sha256.Sum256([]byte(tok))
	for i := range tf.entries {
		// Compare hashes in constant time: the token's bytes never decide the timing.
		if subtle.ConstantTimeCompare(h[:], tf.entries[i].hash[:]) == 1 {
			return &tf.entries[i], nil
		}
	}
	return nil, &server.AuthError{Status: http.StatusUnauthorized, Message: "the bearer token is not valid"}
}
