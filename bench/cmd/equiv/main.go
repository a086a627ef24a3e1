// Command equiv asks crmauthz and OPA the same generated requests and fails when any
// answer differs: the benchmark measures two services only if they decide alike.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/crmauthz/crmauthz/bench/internal/fixture"
	"github.com/crmauthz/crmauthz/internal/service"
)

func main() {
	dir := flag.String("out", "out", "directory written by gen")
	policy := flag.String("policy", "opa/policy.rego", "the Rego policy")
	flag.Parse()
	ctx := context.Background()
	svc, _, err := fixture.Crmauthz(ctx, *dir)
	check(err)
	opa, err := fixture.OPA(ctx, *dir, *policy)
	check(err)
	bodies, inputs, err := fixture.Requests(*dir)
	check(err)
	differ, allowed := 0, 0
	reasons := map[string]int{}
	for i := range bodies {
		answer, err := service.Answer(bodies[i], svc.Check)
		check(err)
		var ours service.CheckResponse
		check(json.Unmarshal(answer, &ours))
		theirs, err := fixture.OPADecision(ctx, opa, inputs[i])
		check(err)
		if ours.Allowed != theirs.Allowed || string(ours.Reason) != theirs.Reason {
			differ++
			if differ <= 10 {
				fmt.Printf("DIFFER crmauthz=%v/%s opa=%v/%s  %s\n", ours.Allowed, ours.Reason, theirs.Allowed, theirs.Reason, bodies[i])
			}
		}
		if ours.Allowed {
			allowed++
		}
		reasons[string(ours.Reason)]++
	}
	fmt.Printf("equivalence: %d requests, %d allowed, reasons %v: %d differ\n", len(bodies), allowed, reasons, differ)
	if differ > 0 {
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "equiv:", err)
		os.Exit(1)
	}
}
