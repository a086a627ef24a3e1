package openapitest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/openapitest"
)

const (
	visible = `{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"}}`
	answer  = `{"all":true,"reason":"Allowed","revision":"fe1fd1e1512a2174","decisionId":"5b0c9e2a41f7-5"}`
)

func exchange(method, path, body string, status int, contentType, answer string) *openapitest.Exchange {
	return &openapitest.Exchange{
		Request: httptest.NewRequest(method, path, nil), Body: []byte(body), BodyComplete: true,
		Status: status, Header: http.Header{"Content-Type": {contentType}}, ResponseBody: []byte(answer),
	}
}

// TestCheckFindsEveryKindOfDrift: the validator passes a documented exchange and
// refuses each way a server could drift from the document.
func TestCheckFindsEveryKindOfDrift(t *testing.T) {
	g := NewWithT(t)
	v := openapitest.MustLoad(t)
	g.Expect(v.Check(exchange("POST", "/v1/users/visible", visible, 200, "application/json", answer))).To(Succeed())
	notFound := `{"error":{"code":"NotFound","message":"no endpoint GET /v1/nothing"}}`
	g.Expect(v.Check(exchange("GET", "/v1/nothing", "", 404, "application/json", notFound))).To(Succeed())

	for what, x := range map[string]*openapitest.Exchange{
		"an undocumented status": exchange("POST", "/v1/users/visible", visible, 418, "application/json", answer),
		"a 500":                  exchange("POST", "/v1/users/visible", visible, 500, "application/json", `{"error":{"code":"Internal","message":"x"}}`),
		"an unknown member": exchange("POST", "/v1/users/visible", visible, 200, "application/json",
			strings.Replace(answer, `"all":true`, `"all":true,"extra":1`, 1)),
		"a missing member": exchange("POST", "/v1/users/visible", visible, 200, "application/json",
			strings.Replace(answer, `"reason":"Allowed",`, ``, 1)),
		"a reason the endpoint does not give": exchange("POST", "/v1/users/visible", visible, 200, "application/json",
			strings.Replace(answer, `"Allowed"`, `"OutOfScope"`, 1)),
		"another content type": exchange("POST", "/v1/users/visible", visible, 200, "text/plain", answer),
		"an error of another code": exchange("POST", "/v1/users/visible", visible, 400, "application/json",
			`{"error":{"code":"NotFound","message":"x"}}`),
		"a request the document refuses, allowed": exchange("POST", "/v1/users/visible", `{"tenant":"acme"}`, 200, "application/json", answer),
		"an unknown endpoint answered":            exchange("GET", "/v1/nothing", "", 200, "application/json", answer),
		"a 404 without the error body":            exchange("GET", "/v1/nothing", "", 404, "text/plain", "404 page not found"),
	} {
		g.Expect(v.Check(x)).NotTo(Succeed(), what)
	}
}

type reports []string

func (r *reports) Errorf(format string, args ...any) { *r = append(*r, format) }

// TestHandlerAndTransportReport: both wrappers check what goes through them and pass
// the answer on unchanged.
func TestHandlerAndTransportReport(t *testing.T) {
	g := NewWithT(t)
	v := openapitest.MustLoad(t)
	body := answer
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})
	var onServer, onClient reports
	srv := httptest.NewServer(v.Handler(&onServer, h))
	defer srv.Close()
	client := &http.Client{Transport: v.Transport(&onClient, nil)}
	post := func() int {
		resp, err := client.Post(srv.URL+"/v1/users/visible", "application/json", strings.NewReader(visible))
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		g.Expect(string(got)).To(Equal(body))
		return resp.StatusCode
	}
	g.Expect(post()).To(Equal(http.StatusOK))
	g.Expect(onServer).To(BeEmpty())
	g.Expect(onClient).To(BeEmpty())
	body = `{"all":"yes"}`
	post()
	g.Expect(onServer).To(HaveLen(1))
	g.Expect(onClient).To(HaveLen(1))
}
