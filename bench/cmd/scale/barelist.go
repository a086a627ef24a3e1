package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// bareListResult is how long this API server takes to hand out every crmauthz object
// once, with nothing decoded into Go objects: the floor under any client's first
// list, the manager's informers' included.
type bareListResult struct {
	gzip    bool // asked for gzip, client-go's default (the manager does not)
	objects int64
	bytes   int64
	elapsed time.Duration
}

// bareListPlurals are the four kinds' resources.
var bareListPlurals = []string{"permissiontemplates", "salesgroups", "loginpolicies", "ipallowlists"}

// bareListPageSize is the manager's --list-page-size default: the bare list pages as
// the manager's first lists do.
const bareListPageSize = "5000"

// measureBareList pages through every object of the four kinds (consistent reads of
// bareListPageSize a page, as the manager's first lists) one kind after another and
// discards them, counting items and bytes (as received, uncompressed).
func measureBareList(ctx context.Context, cfg *rest.Config, gzip bool) (bareListResult, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.DisableCompression = !gzip
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return bareListResult{}, err
	}
	res := bareListResult{gzip: gzip}
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
	q := url.Values{"limit": {bareListPageSize}}
	if cont != "" {
		q.Set("continue", cont)
	}
	u, err := url.JoinPath(host, "apis", v1alpha1.GroupVersion.Group, v1alpha1.GroupVersion.Version, plural)
	if err != nil {
		return nil, err
	}
	data, err := get(ctx, hc, u+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	page := &listPageBody{size: int64(len(data))}
	return page, json.Unmarshal(data, page)
}

// get is the body of a GET of u that answered 200 OK (the API server's lists are JSON
// unless asked otherwise).
func get(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
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
	return data, nil
}

// consistencyChecks is how many watch-cache consistency checks (DetectCacheInconsistency,
// on by default since Kubernetes 1.34: each lists every object of a kind from etcd) of
// the four kinds this API server has completed so far, from its /metrics. Checks of
// other kinds (ConfigMaps, Namespaces) are not counted.
func consistencyChecks(ctx context.Context, cfg *rest.Config) (int, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return 0, err
	}
	data, err := get(ctx, hc, strings.TrimSuffix(cfg.Host, "/")+"/metrics")
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, "apiserver_storage_consistency_checks_total{") ||
			!strings.Contains(line, `group="`+v1alpha1.GroupVersion.Group+`"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("GET /metrics: %q: %w", line, err)
		}
		n += int(v)
	}
	return n, nil
}
