package operator

import (
	"os"
	"testing"

	clientfeatures "k8s.io/client-go/features"
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
