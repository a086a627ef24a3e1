package operator

import (
	"encoding/json"
	"testing"
	"unsafe"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// TestLeanKeepsWhatDecisionsNeed: the cache transform drops managed fields and the
// last-applied copy, trims user lists to their length and shares repeated status
// strings, and leaves everything a compile or a status write reads as it was.
func TestLeanKeepsWhatDecisionsNeed(t *testing.T) {
	g := NewWithT(t)
	decode := func() *v1alpha1.SalesGroup {
		var sg v1alpha1.SalesGroup
		g.Expect(json.Unmarshal([]byte(`{"metadata":{"name":"west","namespace":"acme","generation":3,
			"annotations":{"`+corev1.LastAppliedConfigAnnotation+`":"{}","team":"west"},
			"managedFields":[{"manager":"kubectl"}]},
			"spec":{"managers":["m-1"],"members":["u-1","u-2","u-3","u-4","u-5"],"parent":"sales"},
			"status":{"observedGeneration":3,"conditions":[{"type":"Ready","status":"True","reason":"Compiled",
			"message":"Compiled and enforced","lastTransitionTime":"2026-11-25T00:00:00Z"}]}}`), &sg)).To(Succeed())
		return &sg
	}
	a, b := decode(), decode()
	g.Expect(cap(a.Spec.Members)).To(BeNumerically(">", len(a.Spec.Members)), "the decoder leaves slack, or this test proves nothing")
	want := a.DeepCopy()
	for _, o := range []*v1alpha1.SalesGroup{a, b} {
		_, err := lean(o)
		g.Expect(err).NotTo(HaveOccurred())
	}

	g.Expect(a.ManagedFields).To(BeNil())
	g.Expect(a.Annotations).To(Equal(map[string]string{"team": "west"}))
	g.Expect(a.Spec.Members).To(HaveCap(len(a.Spec.Members)))
	want.ManagedFields, want.Annotations = nil, map[string]string{"team": "west"}
	g.Expect(a).To(Equal(want), "spec, status and the rest of metadata unchanged")

	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	ca, cb := a.Status.Conditions[0], b.Status.Conditions[0]
	g.Expect(same(ca.Message, cb.Message) && same(ca.Reason, cb.Reason) && same(ca.Type, cb.Type)).To(BeTrue(), "one copy of each status string")
	g.Expect(same(a.Namespace, b.Namespace)).To(BeTrue())
}
