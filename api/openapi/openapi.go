// Package openapi holds the decision API's OpenAPI 3.1 document, openapi.json: the
// machine-readable form of docs/api.md. crmauthz serves it byte for byte at
// GET /openapi.json, and the HTTP tests hold every answer to it.
package openapi

import _ "embed" // the document

// JSON is the OpenAPI 3.1 document of the decision API.
//
//go:embed openapi.json
var JSON []byte
