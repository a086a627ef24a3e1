package service

import (
	"strconv"

	"github.com/crmauthz/crmauthz/internal/strictjson"
)

// AuthZEN decoding: the members we read are typed as the standard says (a wrong type
// is an error naming the member); every other member is skipped, but still read
// strictly (no key twice, valid UTF-8), so two parsers cannot see different requests.

func decodeAuthZEN(r *strictjson.Reader, q *AuthZENRequest) {
	*q = AuthZENRequest{Evaluations: q.Evaluations[:0], Page: AZPage{Limit: -1},
		Resource: AZResource{SharedWith: q.Resource.SharedWith[:0], Fields: q.Resource.Fields[:0], EmptyFields: q.Resource.EmptyFields[:0]}}
	r.Object(func(key string) {
		switch key {
		case "subject":
			decodeAZSubject(r, &q.Subject)
		case "action":
			decodeAZAction(r, &q.Action)
		case "resource":
			decodeAZResource(r, &q.Resource)
		case "context":
			decodeAZContext(r, &q.Context)
		case "evaluations":
			r.Array(func(i int) {
				if i >= MaxBatch {
					r.Fail("more than " + itoa(MaxBatch) + " evaluations in one request")
					return
				}
				q.Evaluations = append(q.Evaluations, r.Raw())
			})
		case "options":
			r.Object(func(key string) {
				if key == "evaluations_semantic" {
					q.Semantic = r.String()
					return
				}
				r.Skip()
			})
		case "page":
			decodeAZPage(r, &q.Page)
		default:
			r.Skip()
		}
	})
}

// decodeAZItem reads one item of an evaluations request.
func decodeAZItem(r *strictjson.Reader, it *AZItem) {
	r.Object(func(key string) {
		switch key {
		case "subject":
			decodeAZSubject(r, &it.Subject)
		case "action":
			decodeAZAction(r, &it.Action)
		case "resource":
			decodeAZResource(r, &it.Resource)
		case "context":
			decodeAZContext(r, &it.Context)
		default:
			r.Skip()
		}
	})
}

// given marks a member present unless it is null (null stands for "not given").
func given(r *strictjson.Reader) bool { return !r.IsNull() }

func decodeAZSubject(r *strictjson.Reader, s *AZSubject) {
	s.Given = given(r)
	r.Object(func(key string) {
		switch key {
		case "type":
			s.Type = r.String()
		case "id":
			s.ID = r.String()
		case "properties":
			r.Object(func(key string) {
				if key == "role" {
					s.Role = r.String()
					return
				}
				r.Skip()
			})
		default:
			r.Skip()
		}
	})
}

func decodeAZAction(r *strictjson.Reader, a *AZAction) {
	a.Given = given(r)
	r.Object(func(key string) {
		if key == "name" {
			a.Name = r.String()
			return
		}
		r.Skip() // properties: no action of ours has any
	})
}

func decodeAZResource(r *strictjson.Reader, res *AZResource) {
	res.Given = given(r)
	r.Object(func(key string) {
		switch key {
		case "type":
			res.Type = r.String()
		case "id":
			res.ID = r.String()
		case "properties":
			r.Object(func(key string) {
				switch key {
				case "owner":
					res.Owner = r.String()
				case "sharedWith":
					res.SharedWith = r.Strings(res.SharedWith)
				case "type":
					res.RecordType = r.String()
				case "fields":
					res.Fields = r.Strings(res.Fields)
				case "emptyFields":
					res.EmptyFields = r.Strings(res.EmptyFields)
				case "bulk":
					res.Bulk = r.Bool()
				default:
					r.Skip()
				}
			})
		default:
			r.Skip()
		}
	})
}

func decodeAZContext(r *strictjson.Reader, c *AZContext) {
	c.Given = given(r)
	r.Object(func(key string) {
		switch key {
		case "ip":
			c.IP = r.String()
		case "channel":
			c.Channel = r.String()
		default:
			r.Skip() // time, source…: nothing we decide on
		}
	})
}

func decodeAZPage(r *strictjson.Reader, p *AZPage) {
	r.Object(func(key string) {
		switch key {
		case "limit":
			n := r.Number()
			if r.Failed() || n == "" {
				return
			}
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				r.Fail("expected a non-negative integer, got " + n)
				return
			}
			p.Limit = v
		case "token":
			p.Token = r.String()
		default:
			r.Skip()
		}
	})
}
