package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"k8s.io/client-go/rest"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// bareListResult is how long this API server takes to hand out every crmauthz object
// once, with nothing decoded into Go objects: the floor under any client's first
// list, the manager's informers' included.
type bareListResult struct {
	objects int64
	bytes   int64
	elapsed time.Duration
}

// bareListPlurals are the four kinds' resources.
var bareListPlurals = []string{"permissiontemplates", "salesgroups", "loginpolicies", "ipallowlists"}

// measureBareList pages through every object of the four kinds (500 a page, as
// client-go's pager asks) and discards them, counting items and bytes.
func measureBareList(ctx context.Context, cfg *rest.Config) (bareListResult, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return bareListResult{}, err
	}
	var res bareListResult
	start := time.Now()
	for _, plural := range bareListPlurals {
		cont := ""
		for {
			page, err := listPage(ctx, hc, cfg.Host, plural, cont)
			if err != nil {
				return res, fmt.Errorf("listing %s: %w", plural, err)
			}
			res.objects += int64(len(page.Items))
			res.bytes += page.size
			if cont = page.Metadata.Continue; cont == "" {
				break
			}
		}
	}
	res.elapsed = time.Since(start)
	fmt.Printf("   %d objects (%s) in %s\n", res.objects, mib(res.bytes), res.elapsed.Round(time.Millisecond))
	return res, nil
}

type listPageBody struct {
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
	size  int64
}

func listPage(ctx context.Context, hc *http.Client, host, plural, cont string) (*listPageBody, error) {
	q := url.Values{"limit": {"500"}}
	if cont != "" {
		q.Set("continue", cont)
	}
	u, err := url.JoinPath(host, "apis", v1alpha1.GroupVersion.Group, v1alpha1.GroupVersion.Version, plural)
	if err != nil {
		return nil, err
	}
	u += "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, data)
	}
	page := &listPageBody{size: int64(len(data))}
	return page, json.Unmarshal(data, page)
}
