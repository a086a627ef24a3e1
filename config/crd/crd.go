// Package crd embeds the CustomResourceDefinitions controller-gen writes into bases/,
// so the binary can validate objects against exactly the schema the API server has.
package crd

import "embed"

// Bases holds bases/*.yaml.
//
//go:embed bases/*.yaml
var Bases embed.FS
