package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/controllers"
	"github.com/crmauthz/crmauthz/internal/operator"
	"github.com/crmauthz/crmauthz/internal/tenants"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

// The reconcilers against a real API server (envtest): the tenant compiler, the
// initial load and the four status writers, wired as the manager wires them, without
// webhooks or the decision API.

var cfg *rest.Config

func TestMain(m *testing.M) {
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

type leader struct{}

func (leader) IsLeader() bool { return true }

// startManager runs the reconcilers until the test ends and returns a client and the
// store they fill. With selector, the manager is one shard.
func startManager(t *testing.T, selector labels.Selector) (client.Client, *tenants.Store) {
	t.Helper()
	return startManagerWith(t, cfg, selector)
}

// startManagerWith is startManager talking to the API server through restCfg.
func startManagerWith(t *testing.T, restCfg *rest.Config, selector labels.Selector) (client.Client, *tenants.Store) {
	t.Helper()
	g := NewWithT(t)
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{Scheme: operator.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}}) // one manager per test
	g.Expect(err).NotTo(HaveOccurred())
	store := tenants.NewStore(nil)
	var shard *controllers.Shard
	if selector != nil {
		shard = &controllers.Shard{Selector: selector, Reader: mgr.GetClient()}
	}
	_, err = controllers.Setup(mgr, store, leader{}, shard, 0, 0)
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	g.Eventually(store.Ready, 30*time.Second, 50*time.Millisecond).Should(BeTrue())
	return mgr.GetClient(), store
}

func namespace(t *testing.T, c client.Client, name string, lbls map[string]string) {
	t.Helper()
	NewWithT(t).Expect(c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}})).To(Succeed())
}

func group(ns, name, parent string, members ...v1alpha1.UserID) *v1alpha1.SalesGroup {
	return &v1alpha1.SalesGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.SalesGroupSpec{Parent: v1alpha1.GroupName(parent), Members: members}}
}

// ready returns the object's Ready condition once its status speaks of the
// generation obj has now (at least: the client reads a cache, which may lag).
func ready(c client.Client, obj client.Object) func() *metav1.Condition {
	want := obj.GetGeneration()
	return func() *metav1.Condition {
		got := obj.DeepCopyObject().(client.Object)
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
			return nil
		}
		st := got.(interface{ CommonStatus() *v1alpha1.Status }).CommonStatus()
		if got.GetGeneration() < want || st.ObservedGeneration != got.GetGeneration() {
			return nil
		}
		return meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
	}
}

func TestCompilesWritesStatusAndKeepsLastGood(t *testing.T) {
	g := NewWithT(t)
	c, store := startManager(t, nil)
	ctx := context.Background()
	namespace(t, c, "rec-acme", nil)
	west, east := group("rec-acme", "west", "", "u-1"), group("rec-acme", "east", "west", "u-2")
	g.Expect(c.Create(ctx, west)).To(Succeed())
	g.Expect(c.Create(ctx, east)).To(Succeed())

	g.Eventually(ready(c, east), 10*time.Second).Should(HaveField("Status", metav1.ConditionTrue))
	first := store.Get("rec-acme")
	g.Expect(first).NotTo(BeNil())
	g.Expect(first.Report.Find("SalesGroup", "east").Depth).To(BeEquivalentTo(2))

	// A change that does not touch the spec compiles nothing.
	g.Expect(c.Patch(ctx, east, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"east"}}}`)))).To(Succeed())
	g.Consistently(func() *tenants.Tenant { return store.Get("rec-acme") }, time.Second, 100*time.Millisecond).Should(BeIdenticalTo(first))

	// A spec change compiles, and the status follows its generation.
	east.Spec.Members = append(east.Spec.Members, "u-3")
	g.Expect(c.Update(ctx, east)).To(Succeed())
	g.Eventually(ready(c, east), 10*time.Second).Should(HaveField("Status", metav1.ConditionTrue))
	g.Expect(store.Get("rec-acme").Report.Find("SalesGroup", "east").MemberCount).To(BeEquivalentTo(2))

	// A parent loop (no webhook here to stop it): Ready=False, the last good
	// generation still enforced.
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(west), west)).To(Succeed())
	west.Spec.Parent = "east"
	g.Expect(c.Update(ctx, west)).To(Succeed())
	g.Eventually(ready(c, west), 10*time.Second).Should(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonCycle)))
	st := store.Get("rec-acme").Report.Find("SalesGroup", "west")
	g.Expect(st.InForce).To(BeTrue(), "its last good generation is enforced")
	g.Expect(st.Message).To(ContainSubstring("still enforcing generation 1"))
}

func TestAShardCompilesOnlyItsNamespaces(t *testing.T) {
	g := NewWithT(t)
	sel, err := labels.Parse("crmauthz.io/shard=a")
	g.Expect(err).NotTo(HaveOccurred())
	c, store := startManager(t, sel)
	ctx := context.Background()
	namespace(t, c, "rec-mine", map[string]string{"crmauthz.io/shard": "a"})
	namespace(t, c, "rec-theirs", map[string]string{"crmauthz.io/shard": "b"})
	mine, theirs := group("rec-mine", "west", ""), group("rec-theirs", "west", "")
	g.Expect(c.Create(ctx, mine)).To(Succeed())
	g.Expect(c.Create(ctx, theirs)).To(Succeed())

	g.Eventually(ready(c, mine), 10*time.Second).Should(HaveField("Status", metav1.ConditionTrue))
	g.Consistently(func() *tenants.Tenant { return store.Get("rec-theirs") }, time.Second, 100*time.Millisecond).Should(BeNil())
	g.Expect(ready(c, theirs)()).To(BeNil(), "another shard's object: no status from this one")

	// Relabelled into this shard, it is compiled and its status written.
	ns := &corev1.Namespace{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: "rec-theirs"}, ns)).To(Succeed())
	ns.Labels["crmauthz.io/shard"] = "a"
	g.Expect(c.Update(ctx, ns)).To(Succeed())
	g.Eventually(ready(c, theirs), 10*time.Second).Should(HaveField("Status", metav1.ConditionTrue))
	g.Expect(store.Get("rec-theirs")).NotTo(BeNil())
}

// The status writer asks for its patches' answers as metadata only: the API server
// then encodes no spec or status for an answer nobody reads.
func TestStatusPatchesAskForMetadataOnly(t *testing.T) {
	g := NewWithT(t)
	answers := &patchAnswers{}
	recorded := rest.CopyConfig(cfg)
	recorded.Wrap(func(rt http.RoundTripper) http.RoundTripper { return answers.record(rt) })
	c, _ := startManagerWith(t, recorded, nil)
	ctx := context.Background()
	namespace(t, c, "rec-answers", nil)
	west := group("rec-answers", "west", "", "u-1")
	g.Expect(c.Create(ctx, west)).To(Succeed())
	g.Eventually(ready(c, west), 10*time.Second).Should(HaveField("Status", metav1.ConditionTrue))
	// The cache can see the status before the recorder has read the answer.
	g.Eventually(answers.kinds, 5*time.Second, 20*time.Millisecond).Should(HaveEach("PartialObjectMetadata")) // HaveEach fails on none
}

// patchAnswers records the kind of every answer to a status patch.
type patchAnswers struct {
	mu   sync.Mutex
	seen []string
}

func (a *patchAnswers) record(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err != nil || req.Method != http.MethodPatch || !strings.HasSuffix(req.URL.Path, "/status") {
			return resp, err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var answer metav1.TypeMeta
		_ = json.Unmarshal(body, &answer)
		a.mu.Lock()
		a.seen = append(a.seen, answer.Kind)
		a.mu.Unlock()
		return resp, nil
	})
}

func (a *patchAnswers) kinds() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
