// Package service is the layer between transport and engine: the JSON shapes of the
// §3.4, their parsing into engine requests with errors that name the bad field, and
// the mapping of engine answers back to JSON. HTTP, the CLI and policy tests all go
// through it, so every caller sees the same names and messages.
package service

import (
	"errors"
	"fmt"
)

// InvalidArgument is a request the service cannot decide because it is malformed. Its
// message names the field; HTTP turns it into 400.
type InvalidArgument struct {
	Field   string
	Message string
}

func (e *InvalidArgument) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func invalid(field, format string, args ...any) error {
	return &InvalidArgument{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrUnavailable means the service cannot decide yet (first policy load not finished);
// HTTP turns it into 503. It never becomes an allow.
var ErrUnavailable = errors.New("policy not loaded yet")

// AsInvalid returns the InvalidArgument inside err, if any.
func AsInvalid(err error) (*InvalidArgument, bool) {
	var ia *InvalidArgument
	ok := errors.As(err, &ia)
	return ia, ok
}
