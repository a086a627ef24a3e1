package operator

import (
	"os"

	clientfeatures "k8s.io/client-go/features"
)

// UsePagedLists makes the informers' first list a paged LIST (500 objects a page)
// instead of client-go's default watch-list stream, unless KUBE_FEATURE_WatchListClient
// is set, which then decides. Measured with `make bench-scale N=1000` (253,000 objects,
// 2 cores shared with the API server): the stream's client-side decoding (every event
// framed, its kind sniffed, then the event and its object decoded) kept the manager at
// 86% of a core for 40 s and the restart took 66 s; with paged lists the restart took
// 39 s. The manager calls it once, before its first client.
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
