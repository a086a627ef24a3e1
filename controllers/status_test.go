package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
)

func TestSetStatus(t *testing.T) {
	cases := []struct {
		name         string
		kind         string
		st           policy.ObjectStatus
		ready        metav1.ConditionStatus
		conflict     metav1.ConditionStatus // "" when the kind has no Conflict condition
		conflictText string
	}{
		{"compiled group", policy.KindSalesGroup, policy.ObjectStatus{Generation: 3, Ready: true, Reason: v1alpha1.ReasonCompiled, Message: "ok"}, metav1.ConditionTrue, "", ""},
		{"group on a cycle", policy.KindSalesGroup, policy.ObjectStatus{Generation: 2, Reason: v1alpha1.ReasonCycle, Message: "loops"}, metav1.ConditionFalse, "", ""},
		{"template without ties", policy.KindPermissionTemplate, policy.ObjectStatus{Generation: 1, Ready: true, Reason: v1alpha1.ReasonCompiled}, metav1.ConditionTrue, metav1.ConditionFalse, "governs everyone"},
		{"template losing a tie", policy.KindPermissionTemplate, policy.ObjectStatus{Generation: 1, Ready: true, Reason: v1alpha1.ReasonCompiled,
			Conflicts: []string{"role SalesUser is also claimed by template a", "user u-1 is also claimed by template b"}},
			metav1.ConditionTrue, metav1.ConditionTrue, "role SalesUser is also claimed by template a; user u-1 is also claimed by template b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			var s v1alpha1.Status
			SetStatus(&s, &c.st, c.kind)
			ready := meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(c.ready))
			g.Expect(ready.Reason).To(Equal(c.st.Reason))
			g.Expect(ready.ObservedGeneration).To(Equal(c.st.Generation))
			g.Expect(s.ObservedGeneration).To(Equal(c.st.Generation))
			// Stalled for kstatus: True, with Ready's reason and message, exactly while
			// Ready is False; absent otherwise.
			stalled := meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionStalled)
			if c.ready == metav1.ConditionTrue {
				g.Expect(stalled).To(BeNil())
			} else {
				g.Expect(stalled).NotTo(BeNil())
				g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(stalled.Reason).To(Equal(c.st.Reason))
				g.Expect(stalled.Message).To(Equal(c.st.Message))
				g.Expect(stalled.ObservedGeneration).To(Equal(c.st.Generation))
			}
			conflict := meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionConflict)
			if c.conflict == "" {
				g.Expect(conflict).To(BeNil())
				return
			}
			g.Expect(conflict.Status).To(Equal(c.conflict))
			g.Expect(conflict.Message).To(ContainSubstring(c.conflictText))
		})
	}
}

func TestSetStatusKeepsTransitionTime(t *testing.T) {
	g := NewWithT(t)
	var s v1alpha1.Status
	st := policy.ObjectStatus{Generation: 1, Ready: true, Reason: v1alpha1.ReasonCompiled}
	SetStatus(&s, &st, policy.KindIPAllowlist)
	first := meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady).LastTransitionTime
	time.Sleep(1100 * time.Millisecond) // condition times have 1 s resolution
	st.Generation = 2
	SetStatus(&s, &st, policy.KindIPAllowlist)
	g.Expect(meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady).LastTransitionTime).To(Equal(first))
	st.Ready, st.Reason = false, v1alpha1.ReasonProxyListUnavailable
	SetStatus(&s, &st, policy.KindIPAllowlist)
	g.Expect(meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady).LastTransitionTime).NotTo(Equal(first))
	g.Expect(meta.IsStatusConditionTrue(s.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
	// Fixed, it is no longer stalled: the condition goes (as it does from a status an
	// earlier version wrote with Stalled=False).
	st.Ready, st.Reason = true, v1alpha1.ReasonCompiled
	SetStatus(&s, &st, policy.KindIPAllowlist)
	g.Expect(meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionStalled)).To(BeNil())
	g.Expect(s.Conditions).To(HaveLen(1))
	s.Conditions = append(s.Conditions, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonCompiled})
	SetStatus(&s, &st, policy.KindIPAllowlist)
	g.Expect(s.Conditions).To(ConsistOf(HaveField("Type", v1alpha1.ConditionReady)))
}

// TestFingerprintIgnoresOrderAndStatus: a cache lists objects in any order, and status
// writes change neither generation nor anything compiled: none of that may recompile.
func TestFingerprintIgnoresOrderAndStatus(t *testing.T) {
	g := NewWithT(t)
	a := v1alpha1.SalesGroup{ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "1", Generation: 1}}
	b := v1alpha1.SalesGroup{ObjectMeta: metav1.ObjectMeta{Name: "b", UID: "2", Generation: 4}}
	in := &policy.Input{Groups: []v1alpha1.SalesGroup{a, b}, ConfigMaps: map[string]map[string]string{"tor": {"exits": "1.2.3.4", "more": "5.6.7.8"}}}
	fp := fingerprint(in)
	in.Groups = []v1alpha1.SalesGroup{b, a}
	in.Groups[0].Status.MemberCount = 7
	g.Expect(fingerprint(in)).To(Equal(fp), "order and status do not count")
	in.Groups[0].Generation++
	g.Expect(fingerprint(in)).NotTo(Equal(fp), "a spec change does")
	in.Groups[0].Generation--
	in.ConfigMaps["tor"]["exits"] = "1.2.3.5"
	g.Expect(fingerprint(in)).NotTo(Equal(fp), "so does a proxy list")
}
