// Package pipeline is the one way policy files become tenants without a cluster:
// decode (loader) → one object per kind, namespace and name → the CRD schema with its
// defaults → the admission webhook's checks → compile (tenants.Builder). `crmauthz
// serve`, `validate` and `test` and the kubectl plugin's offline commands all run it,
// so a file is judged exactly as `kubectl apply` and the manager would judge it. Every
// step reports typed Problems.
package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/crmauthz/crmauthz/internal/loader"
)

// Severity says whether a problem keeps an object out of force.
type Severity string

const (
	// Error: the object (or file) is refused, or in force but not ready.
	Error Severity = "error"
	// Warning: the object is accepted; the administrator should look at it.
	Warning Severity = "warning"
)

// Problem is one thing wrong with a policy file or object.
type Problem struct {
	Severity Severity `json:"severity"`
	// Kind, Namespace and Name name the object; Kind is empty when the problem is with
	// a whole file (unreadable, not YAML, empty).
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Source is the file and document ("dir/a.yaml#2") the object came from.
	Source string `json:"source,omitempty"`
	// Field is the path of the first field at fault; empty when no field is to blame.
	Field string `json:"field,omitempty"`
	// Message says what is wrong, naming every field at fault.
	Message string `json:"message"`
}

// String is how the problem is printed and logged: "[warning: ]Kind ns/name (source):
// message", or "source: message" for a file.
func (p Problem) String() string {
	var b strings.Builder
	if p.Severity == Warning {
		b.WriteString("warning: ")
	}
	if p.Kind != "" {
		fmt.Fprintf(&b, "%s %s/%s", p.Kind, p.Namespace, p.Name)
		if p.Source != "" {
			fmt.Fprintf(&b, " (%s)", p.Source)
		}
	} else {
		b.WriteString(p.Source)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Problems are a load's problems, in the order Sort leaves them.
type Problems []Problem

// Errors counts the problems that are not warnings.
func (ps Problems) Errors() int {
	n := 0
	for _, p := range ps {
		if p.Severity != Warning {
			n++
		}
	}
	return n
}

// Sort orders problems as they print, so output is stable from run to run.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
}

// objectProblem is a problem with object o of namespace ns.
func objectProblem(sev Severity, o loader.Object, ns, path, msg string) Problem {
	return Problem{Severity: sev, Kind: o.Kind(), Namespace: ns, Name: o.Typed.GetName(), Source: o.Source, Field: path, Message: msg}
}

// fieldProblem is the problem of o that errs describe: the first field, every message.
func fieldProblem(sev Severity, o loader.Object, ns string, errs field.ErrorList) Problem {
	return objectProblem(sev, o, ns, errs[0].Field, errs.ToAggregate().Error())
}

// fileProblem is a problem with a whole file; err's text may already start with it.
func fileProblem(file string, err error) Problem {
	return Problem{Severity: Error, Source: file, Message: strings.TrimPrefix(err.Error(), file+": ")}
}
