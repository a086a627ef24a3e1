package operator

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	toolscache "k8s.io/client-go/tools/cache"
)

func TestUsePagedLists(t *testing.T) {
	before := clientfeatures.FeatureGates()
	defer clientfeatures.ReplaceFeatureGates(before)

	t.Setenv("KUBE_FEATURE_WatchListClient", "true")
	UsePagedLists()
	if clientfeatures.FeatureGates() != before {
		t.Fatal("an explicit KUBE_FEATURE_WatchListClient must decide, not the manager")
	}

	t.Setenv("KUBE_FEATURE_WatchListClient", "") // restored after the test
	if err := os.Unsetenv("KUBE_FEATURE_WatchListClient"); err != nil {
		t.Fatal(err)
	}
	UsePagedLists()
	if clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		t.Fatal("WatchListClient still on")
	}
	if got, want := clientfeatures.FeatureGates().Enabled(clientfeatures.InOrderInformers), before.Enabled(clientfeatures.InOrderInformers); got != want {
		t.Fatalf("another gate changed: %v, want %v", got, want)
	}
}

// TestPagedInformerReadsPages runs the informer the manager's cache builds over a
// lister that pages as the API server does: every list the reflector starts, the first
// one and the relist after a watch expired, must be a consistent read (resourceVersion
// "0" the watch cache answers whole; the last one seen, once paging, would be an exact
// read from etcd) of pages of the configured size.
func TestPagedInformerReadsPages(t *testing.T) {
	before := clientfeatures.FeatureGates()
	defer clientfeatures.ReplaceFeatureGates(before)
	t.Setenv("KUBE_FEATURE_WatchListClient", "")
	if err := os.Unsetenv("KUBE_FEATURE_WatchListClient"); err != nil {
		t.Fatal(err)
	}
	UsePagedLists() // as the manager: lists, not the watch-list stream
	const total, pageSize = 1234, 400
	var mu sync.Mutex
	var lists []metav1.ListOptions
	watches := 0
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(_ context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			mu.Lock()
			lists = append(lists, opts)
			mu.Unlock()
			from := 0
			if opts.Continue != "" {
				from, _ = strconv.Atoi(opts.Continue)
			}
			to := total
			if opts.Limit > 0 && opts.ResourceVersion != "0" { // the watch cache ignores a limit at "0"
				to = min(total, from+int(opts.Limit))
			}
			l := &corev1.ConfigMapList{ListMeta: metav1.ListMeta{ResourceVersion: "7"}}
			if to < total {
				l.Continue = strconv.Itoa(to)
			}
			for i := from; i < to; i++ {
				l.Items = append(l.Items, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "t", Name: fmt.Sprintf("cm-%04d", i), ResourceVersion: "7"}})
			}
			return l, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			mu.Lock()
			defer mu.Unlock()
			w := watch.NewFakeWithChanSize(1, false)
			if watches++; watches == 1 { // the first watch expires: the reflector relists
				w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
			}
			return w, nil
		},
	}
	inf := pagedInformers(pageSize)(lw, &corev1.ConfigMap{}, 0, toolscache.Indexers{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	synced, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	if !toolscache.WaitForCacheSync(synced.Done(), inf.HasSynced) {
		t.Fatal("never synced")
	}
	if n := len(inf.GetStore().ListKeys()); n != total {
		t.Fatalf("the store holds %d objects, want %d", n, total)
	}
	const pages = (total + pageSize - 1) / pageSize
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(lists)
		mu.Unlock()
		if n >= 2*pages {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d list requests, want the first list and a relist of %d pages each", n, pages)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, o := range lists[:2*pages] {
		if o.ResourceVersion != "" || o.Limit != pageSize {
			t.Errorf("request %d asked resourceVersion %q, limit %d: want a consistent read of %d", i, o.ResourceVersion, o.Limit, pageSize)
		}
		if want := strconv.Itoa(i % pages * pageSize); i%pages > 0 && o.Continue != want {
			t.Errorf("request %d continued from %q, want %q", i, o.Continue, want)
		}
	}
}
