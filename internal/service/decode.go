package service

import (
	"sync"

	"github.com/crmauthz/crmauthz/internal/strictjson"
)

// Decode reads one JSON request into v (a pointer to one of the request types)
// strictly, as docs/api.md says: keys match exactly, a key given twice, an unknown key,
// invalid UTF-8, a value of the wrong type, a body that ends early or data after the
// object are InvalidArgument errors naming the full path of the field. Anything a
// second parser could read differently is refused rather than guessed at.
//
// The body is copied once into a string and every decoded string is a substring of it
// (one allocation per request), so a request may be kept after its buffer is reused.
// Lists already in v keep their capacity: a caller may reuse one request value.
func Decode(data []byte, v any) error {
	r := readers.Get().(*strictjson.Reader)
	defer func() {
		r.Release()
		readers.Put(r)
	}()
	r.Reset(string(data))
	switch q := v.(type) {
	case *CheckRequest:
		r.Document(func() { decodeCheck(r, q) })
	case *BatchRequest:
		r.Document(func() { decodeBatch(r, q) })
	case *FilterRequest:
		r.Document(func() { decodeFilter(r, q) })
	case *VisibleRequest:
		r.Document(func() { decodeVisible(r, q) })
	case *LoginRequest:
		r.Document(func() { decodeLogin(r, q) })
	case *SessionRequest:
		r.Document(func() { decodeSession(r, q) })
	case *PasswordRequest:
		r.Document(func() { decodePassword(r, q) })
	case *AuthZENRequest:
		r.Document(func() { decodeAuthZEN(r, q) })
	case *AZItem:
		r.Document(func() { decodeAZItem(r, q) })
	default:
		panic("service.Decode: not a request type")
	}
	if e := r.Problem(); e != nil {
		return &InvalidArgument{Field: e.Path, Message: e.Message}
	}
	return nil
}

var readers = sync.Pool{New: func() any { return new(strictjson.Reader) }}

// One function per shape: the keys each takes are exactly the JSON names of docs/api.md.

func decodeCheck(r *strictjson.Reader, q *CheckRequest) {
	*q = CheckRequest{Fields: q.Fields[:0], EmptyFields: q.EmptyFields[:0], Resource: Resource{SharedWith: q.Resource.SharedWith[:0]}}
	r.Object(func(key string) {
		switch key {
		case "tenant":
			q.Tenant = r.String()
		case "subject":
			decodeSubject(r, &q.Subject)
		case "action":
			q.Action = r.String()
		case "resource":
			decodeResource(r, &q.Resource)
		case "fields":
			q.Fields = r.Strings(q.Fields)
		case "emptyFields":
			q.EmptyFields = r.Strings(q.EmptyFields)
		case "bulk":
			q.Bulk = r.Bool()
		case "context":
			decodeContext(r, &q.Context)
		case "explain":
			q.Explain = r.Bool()
		default:
			r.Unknown()
		}
	})
}

func decodeBatch(r *strictjson.Reader, q *BatchRequest) {
	*q = BatchRequest{Checks: q.Checks[:0]}
	r.Object(func(key string) {
		switch key {
		case "tenant":
			q.Tenant = r.String()
		case "subject":
			decodeSubject(r, &q.Subject)
		case "context":
			decodeContext(r, &q.Context)
		case "checks":
			r.Array(func(i int) {
				if i >= MaxBatch {
					r.Fail("more than " + itoa(MaxBatch) + " checks in one batch")
					return
				}
				if i < cap(q.Checks) {
					q.Checks = q.Checks[:i+1]
				} else {
					q.Checks = append(q.Checks, BatchItem{})
				}
				decodeItem(r, &q.Checks[i])
			})
		default:
			r.Unknown()
		}
	})
}

func decodeItem(r *strictjson.Reader, it *BatchItem) {
	*it = BatchItem{Fields: it.Fields[:0], EmptyFields: it.EmptyFields[:0], Resource: Resource{SharedWith: it.Resource.SharedWith[:0]}}
	r.Object(func(key string) {
		switch key {
		case "action":
			it.Action = r.String()
		case "resource":
			decodeResource(r, &it.Resource)
		case "fields":
			it.Fields = r.Strings(it.Fields)
		case "emptyFields":
			it.EmptyFields = r.Strings(it.EmptyFields)
		case "bulk":
			it.Bulk = r.Bool()
		case "explain":
			it.Explain = r.Bool()
		default:
			r.Unknown()
		}
	})
}

func decodeSubject(r *strictjson.Reader, s *Subject) {
	r.Object(func(key string) {
		switch key {
		case "user":
			s.User = r.String()
		case "role":
			s.Role = r.String()
		default:
			r.Unknown()
		}
	})
}

func decodeResource(r *strictjson.Reader, res *Resource) {
	r.Object(func(key string) {
		switch key {
		case "entity":
			res.Entity = r.String()
		case "id":
			res.ID = r.String()
		case "owner":
			res.Owner = r.String()
		case "sharedWith":
			res.SharedWith = r.Strings(res.SharedWith)
		case "type":
			res.Type = r.String()
		case "feature":
			res.Feature = r.String()
		default:
			r.Unknown()
		}
	})
}

func decodeContext(r *strictjson.Reader, c *Context) {
	r.Object(func(key string) {
		switch key {
		case "ip":
			c.IP = r.String()
		case "channel":
			c.Channel = r.String()
		default:
			r.Unknown()
		}
	})
}

func decodeFilter(r *strictjson.Reader, q *FilterRequest) {
	*q = FilterRequest{}
	r.Object(func(key string) {
		switch key {
		case "tenant":
			q.Tenant = r.String()
		case "subject":
			decodeSubject(r, &q.Subject)
		case "action":
			q.Action = r.String()
		case "entity":
			q.Entity = r.String()
		case "context":
			decodeContext(r, &q.Context)
		default:
			r.Unknown()
		}
	})
}

func decodeVisible(r *strictjson.Reader, q *VisibleRequest) {
	*q = VisibleRequest{}
	r.Object(func(key string) {
		switch key {
		case "tenant":
			q.Tenant = r.String()
		case "subject":
			decodeSubject(r, &q.Subject)
		default:
			r.Unknown()
		}
	})
}

func decodeLogin(r *strictjson.Reader, q *LoginRequest) {
	*q = LoginRequest{}
	r.Object(func(key string) {
		switch key {
		case "tenant":
			q.Tenant = r.String()
		case "subject":
			decodeSubject(r, &q.Subject)
		case "ip":
			q.IP = r.String()
		case "provider":
			q.Provider = r.String()
		case "secondFactorVerified":
			q.SecondFactorVerified = r.Bool()
		case "trustedDeviceSince":
			q.TrustedDeviceSince = r.String()
		default:
			r.Unknown()
		}
	})
}

func decodeSession(r *strictjson.Reader, q *SessionRequest) {
	*q = SessionRequest{}
	r.Object(func(key string) {
		switch key {
		case "tenant":
			q.Tenant = r.String()
		case "subject":
			decodeSubject(r, &q.Subject)
		case "ip":
			q.IP = r.String()
		case "issuedAt":
			q.IssuedAt = r.String()
		case "lastActivityAt":
			q.LastActivityAt = r.String()
		default:
			r.Unknown()
		}
	})
}

func decodePassword(r *strictjson.Reader, q *PasswordRequest) {
	*q = PasswordRequest{}
	r.Object(func(key string) {
		switch key {
		case "tenant":
			q.Tenant = r.String()
		case "password":
			q.Password = r.String()
		case "changedAt":
			q.ChangedAt = r.String()
		default:
			r.Unknown()
		}
	})
}
