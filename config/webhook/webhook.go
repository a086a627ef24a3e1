// Package webhook embeds the ValidatingWebhookConfiguration controller-gen writes
// (manifests.yaml), so that pkg/crmauthztest installs exactly the webhooks a cluster
// gets.
package webhook

import _ "embed"

// Manifests is manifests.yaml.
//
//go:embed manifests.yaml
var Manifests []byte
