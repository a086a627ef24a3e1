package service_test

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/service"
)

// TestRecordsNameTheirEndpoint: the decision log's endpoint is the one the metrics
// count, a batch's checks included.
func TestRecordsNameTheirEndpoint(t *testing.T) {
	g := NewWithT(t)
	svc := newService(t)
	var out service.Reply
	var one service.CheckRequest
	g.Expect(service.Decode([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"view","resource":{"entity":"leads","id":"L-1","owner":"u-1"}}`), &one)).To(Succeed())
	g.Expect(svc.Check(&one, &out)).To(Succeed())
	g.Expect(out.Records).To(ConsistOf(HaveField("Endpoint", "check")))

	var batch service.BatchRequest
	g.Expect(service.Decode([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"checks":[{"action":"view","resource":{"entity":"leads","id":"L-1","owner":"u-1"}},{"action":"edit","resource":{"entity":"leads","id":"L-2","owner":"u-2"}}]}`), &batch)).To(Succeed())
	g.Expect(svc.Checks(&batch, &out)).To(Succeed())
	g.Expect(out.Records).To(HaveLen(2))
	g.Expect(out.Records).To(HaveEach(HaveField("Endpoint", "checks")))
	g.Expect(out.Records[1].ResourceID).To(Equal("L-2"))
}
