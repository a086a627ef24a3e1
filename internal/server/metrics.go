package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmauthz/crmauthz/internal/service"
)

// Metrics are the decision API's Prometheus metrics.
type Metrics struct {
	decisions  *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	refused    *prometheus.CounterVec
	dryRun     *prometheus.CounterVec
	logDropped prometheus.Counter
}

// endpointMetrics are one endpoint's series, resolved once: looking a series up by
// its labels on every request would cost more than deciding.
type endpointMetrics struct {
	m        *Metrics
	endpoint string
	latency  prometheus.Observer
	mu       sync.Mutex
	reasons  atomic.Pointer[map[service.Reason]prometheus.Counter] // copied on write
}

func (m *Metrics) forEndpoint(endpoint string) *endpointMetrics {
	e := &endpointMetrics{m: m, endpoint: endpoint, latency: m.latency.WithLabelValues(endpoint)}
	e.reasons.Store(&map[service.Reason]prometheus.Counter{})
	return e
}

// dryRunDiffered counts a decision the DryRun templates would have changed.
func (m *Metrics) dryRunDiffered(rec *service.Record) {
	effect := "loss"
	if rec.DryRun.Allowed {
		effect = "gain"
	}
	m.dryRun.WithLabelValues(rec.Tenant, rec.DryRun.Template, effect).Inc()
}

// decided counts one decision.
func (e *endpointMetrics) decided(reason service.Reason) {
	if c, ok := (*e.reasons.Load())[reason]; ok {
		c.Inc()
		return
	}
	e.mu.Lock()
	next := map[service.Reason]prometheus.Counter{}
	for r, c := range *e.reasons.Load() {
		next[r] = c
	}
	c := e.m.decisions.WithLabelValues(e.endpoint, string(reason))
	next[reason] = c
	e.reasons.Store(&next)
	e.mu.Unlock()
	c.Inc()
}

// NewMetrics registers the API's metrics, and per-tenant gauges read from svc at
// scrape time, with reg (the manager's registry in-cluster).
func NewMetrics(reg prometheus.Registerer, svc *service.Service) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmauthz_decisions_total",
			Help: "Decisions made, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crmauthz_decision_duration_seconds",
			Help:    "Time to answer a decision request, from body read to response written.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1},
		}, []string{"endpoint"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmauthz_requests_refused_total",
			Help: "Requests answered without a decision, by endpoint and HTTP status.",
		}, []string{"endpoint", "code"}),
		dryRun: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmauthz_dryrun_differences_total",
			Help: "Decisions the tenant's DryRun templates would have made differently, by tenant, the candidate's governing template and effect (gain: it would allow, loss: deny).",
		}, []string{"tenant", "template", "effect"}),
		logDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmauthz_decision_log_dropped_total",
			Help: "Decision log lines dropped because the log's sink did not keep up (decisions are never delayed for it).",
		}),
	}
	reg.MustRegister(m.decisions, m.latency, m.refused, m.dryRun, m.logDropped, &tenantCollector{svc: svc})
	return m
}

var (
	revisionDesc = prometheus.NewDesc("crmauthz_tenant_revision_info",
		"The policy revision in force per tenant (value 1).", []string{"tenant", "revision"}, nil)
	ageDesc = prometheus.NewDesc("crmauthz_tenant_snapshot_age_seconds",
		"Seconds since the tenant's policy in force was compiled.", []string{"tenant"}, nil)
	objectsDesc = prometheus.NewDesc("crmauthz_tenant_objects",
		"Policy objects per tenant, by whether they are in force.", []string{"tenant", "in_force"}, nil)
	readyDesc = prometheus.NewDesc("crmauthz_ready",
		"1 once the first full policy load finished and decisions are served.", nil, nil)
)

// tenantCollector reports per-tenant state straight from the service, so no gauge
// outlives its tenant.
type tenantCollector struct{ svc *service.Service }

func (c *tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- revisionDesc
	ch <- ageDesc
	ch <- objectsDesc
	ch <- readyDesc
}

func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	ready := 0.0
	if c.svc.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready)
	now := time.Now()
	for _, t := range c.svc.Summaries() {
		ch <- prometheus.MustNewConstMetric(revisionDesc, prometheus.GaugeValue, 1, t.Tenant, t.Revision)
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, now.Sub(t.CompiledAt).Seconds(), t.Tenant)
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(t.InForce), t.Tenant, "true")
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(t.LeftOut), t.Tenant, "false")
	}
}
