package operator

import (
	"context"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	toolscache "k8s.io/client-go/tools/cache"
)

// UsePagedLists makes the informers' first list a paged LIST instead of client-go's
// default watch-list stream, unless KUBE_FEATURE_WatchListClient is set, which then
// decides. Measured with `make bench-scale N=1000` (253,000 objects, 2 cores shared
// with the API server): the stream's client-side decoding (every event framed, its
// kind sniffed, then the event and its object decoded) kept the manager at 86% of a
// core for 40 s and the restart took 66 s, against 47–57 s with lists (see
// pagedInformers). The manager calls it once, before its first client.
func UsePagedLists() {
	if _, set := os.LookupEnv("KUBE_FEATURE_" + string(clientfeatures.WatchListClient)); set {
		return
	}
	clientfeatures.ReplaceFeatureGates(pagedLists{clientfeatures.FeatureGates()})
}

// pagedLists are client-go's feature gates with WatchListClient off.
type pagedLists struct{ clientfeatures.Gates }

func (g pagedLists) Enabled(f clientfeatures.Feature) bool {
	return f != clientfeatures.WatchListClient && g.Gates.Enabled(f)
}

// pagedInformers makes client-go's shared informers whose lists read pages of
// pageSize objects (0: client-go's own informers). A reflector starts with
// resourceVersion "0", which the API server answers from its watch cache in one
// response whatever the limit: a thousand tenants' SalesGroups are one body of half a
// gigabyte, held whole while it is decoded, next to the cache it fills. Asked without
// a resourceVersion (a consistent read), the API server honours the limit and serves
// every page from its watch cache's snapshot (Kubernetes 1.34 and later; older servers
// read such pages from etcd). Every page costs the API server a copy of the rest of the
// kind from its index, so pages must be large: at N=1,000 on 2 cores a restart took
// 68–72 s with client-go's 500 a page; with 5,000 a page it took 50–54 s, as fast as
// one response (47–53 s) without a half-gigabyte body.
func pagedInformers(pageSize int64) func(toolscache.ListerWatcher, runtime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer {
	if pageSize <= 0 {
		return nil
	}
	return func(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
		return toolscache.NewSharedIndexInformer(pagedListWatch{lw, toolscache.ToListerWatcherWithContext(lw), pageSize}, obj, resync, idx)
	}
}

// pagedListWatch makes every list the reflector starts a consistent read, which the
// reflector's pager then follows page by page (pageSize objects a page when it pages).
// Relists too: the reflector relists at the resourceVersion it last saw, and since a
// paged first list makes it keep paging, that would be an exact read at an old
// resourceVersion, served from etcd and, after a watch that expired, repeated until
// etcd compacts; a consistent read is as fresh or fresher, which is all a relist needs.
// Watches are unchanged.
type pagedListWatch struct {
	orig     toolscache.ListerWatcher
	lw       toolscache.ListerWatcherWithContext
	pageSize int64
}

func (p pagedListWatch) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	if opts.Continue == "" { // the pager clears it on the pages that follow
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
	}
	if opts.Limit > 0 { // the pager's; none when it falls back to one whole list
		opts.Limit = p.pageSize
	}
	return p.lw.ListWithContext(ctx, opts)
}

func (p pagedListWatch) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return p.lw.WatchWithContext(ctx, opts)
}

func (p pagedListWatch) List(opts metav1.ListOptions) (runtime.Object, error) {
	return p.ListWithContext(context.Background(), opts)
}

func (p pagedListWatch) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return p.WatchWithContext(context.Background(), opts)
}

// IsWatchListSemanticsUnSupported passes on what the wrapped lister says of itself
// (client-go's reflector asks, when the watch-list stream is on).
func (p pagedListWatch) IsWatchListSemanticsUnSupported() bool {
	u, ok := p.orig.(interface{ IsWatchListSemanticsUnSupported() bool })
	return ok && u.IsWatchListSemanticsUnSupported()
}
