package e2e

import (
	"context"
	"os"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o600) }

// ctx is a fresh context for client calls.
func ctx() context.Context { return context.Background() }

// kubectlApplyFast applies a JSON object through the API (server-side apply), without
// forking kubectl, so the measured delay is the operator's, not kubectl's start-up.
func kubectlApplyFast(doc string) {
	u := &unstructured.Unstructured{}
	ExpectWithOffset(1, u.UnmarshalJSON([]byte(doc))).To(Succeed())
	ExpectWithOffset(1, k8sClient.Patch(ctx(), u, client.Apply, client.FieldOwner("e2e"), client.ForceOwnership)).To(Succeed())
}
