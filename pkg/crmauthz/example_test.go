package crmauthz_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/crmauthz/crmauthz/internal/pipeline"
	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
	"github.com/crmauthz/crmauthz/internal/testenv"
	"github.com/crmauthz/crmauthz/pkg/crmauthz"
)

// A service asks the crmauthz server before letting a user edit a lead.
func ExampleClient_Check() {
	url, stop := startSampleServer() // in a cluster: http://crmauthz.crmauthz-system:8080
	defer stop()
	c, err := crmauthz.New(url) // with crmauthz.WithTokenFile("/var/run/secrets/tokens/crmauthz") in a pod
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d, err := c.Check(ctx, &crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"},
		Action: "edit", Resource: crmauthz.Resource{Entity: "leads", ID: "L-1", Owner: "u-16"}, Fields: []string{"Stage"}})
	if err != nil {
		panic(err) // not a denial: the question could not be answered (deny)
	}
	fmt.Println(d.Allowed, d.Reason)
	fmt.Println(d.Message)
	// Output:
	// false OutOfScope
	// the record is outside u-15 (SalesUser)'s leads.edit scope (Shared) under template west-field-sales
}

// A service decides in its own process, on the policy files it is deployed with.
func ExampleLoadFiles() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops following the files
	pdp, err := crmauthz.LoadFiles(ctx, "acme", 0, testenv.Path("config", "samples"))
	if err != nil {
		panic(err)
	}
	d, err := pdp.Check(&crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"},
		Action: "view", Resource: crmauthz.Resource{Entity: "leads", ID: "L-1", Owner: "u-16"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Allowed, d.Reason, d.Template)
	// Output: true Allowed west-field-sales
}

// startSampleServer serves config/samples as `crmauthz serve config/samples` would.
func startSampleServer() (string, func()) {
	s := server.New(service.New(sampleStore(), nil), server.Options{})
	srv := httptest.NewServer(s.Handler())
	return srv.URL, func() { srv.Close(); s.Close(time.Second) }
}

// sampleStore holds config/samples compiled (tenant acme), ready.
func sampleStore() *tenants.Store {
	files := pipeline.NewFiles([]string{testenv.Path("config", "samples")}, "acme")
	if _, _, err := files.Load(context.Background()); err != nil {
		panic(err)
	}
	files.Store.SetReady()
	return files.Store
}
