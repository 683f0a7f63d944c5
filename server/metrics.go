package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of their own
// (no global state). No metric has a tenant label: label values come from
// small fixed sets (route patterns, methods, status codes, reasons), so the
// number of series is bounded whatever the number of tenants.
type metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec   // route, method, code
	duration *prometheus.HistogramVec // route, method
	inFlight prometheus.Gauge
	rejected *prometheus.CounterVec // reason
	panics   prometheus.Counter
	// tenantWaits counts the requests that waited for their tenant's turn
	// to compute (see Server.startRunning).
	tenantWaits prometheus.Counter
	loads       *prometheus.CounterVec // result
	loadTime    prometheus.Histogram
	unloads     *prometheus.CounterVec // reason
	loadSkips   prometheus.Counter
	storeOps    *prometheus.HistogramVec // op
	// memReleases counts the janitor's returns of free memory to the OS.
	memReleases prometheus.Counter
	// changes counts the changes made through other replicas, by kind.
	changes *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "modelreg_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "modelreg_http_request_duration_seconds",
		Help:    "HTTP request latency, by route pattern and method.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "modelreg_http_requests_in_flight",
		Help: "HTTP requests being served.",
	})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "modelreg_http_rejected_total",
		Help: "Requests refused before being served, by reason (overloaded, tenant_share, too_large; canceled: the client went away while the request waited for a slot or its tenant's turn).",
	}, []string{"reason"})
	m.panics = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "modelreg_http_panics_total",
		Help: "Handler panics recovered (each answered with a 500).",
	})
	m.tenantWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "modelreg_http_tenant_waits_total",
		Help: "Requests of a tenant token that waited for one of the tenant's other requests to finish computing (see --max-tenant-running).",
	})
	m.loads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "modelreg_tenant_loads_total",
		Help: "Lazy loads of a tenant from the store into memory, by result.",
	}, []string{"result"})
	m.loadTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "modelreg_tenant_load_duration_seconds",
		Help:    "Time to load a tenant from the store into memory.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.unloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "modelreg_tenant_unloads_total",
		Help: "Tenants unloaded from memory, by reason (idle, capacity, evict, delete, changed: through another replica).",
	}, []string{"reason"})
	m.loadSkips = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "modelreg_tenant_load_skipped_definitions_total",
		Help: "Stored definitions that failed to compile during a tenant load and were skipped (see the logs).",
	})
	m.storeOps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "modelreg_store_operation_duration_seconds",
		Help:    "Durable store operations, by operation.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"op"})
	m.memReleases = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "modelreg_memory_releases_total",
		Help: "Times the server returned free memory to the operating system after its resident tenants dropped (see --release-memory-after).",
	})
	// Series of known label values exist from the start, at 0.
	for _, result := range []string{"ok", "error"} {
		m.loads.WithLabelValues(result)
	}
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "modelreg_store_changes_total",
		Help: "Changes made through other replicas that the store reported, by kind (resync, lost, model, tenant-deleted, token-deleted, setting); only stores shared by several replicas report any.",
	}, []string{"kind"})
	for _, why := range []unloadReason{unloadIdle, unloadCapacity, unloadEvict, unloadDelete, unloadRemote} {
		m.unloads.WithLabelValues(string(why))
	}
	m.reg.MustRegister(m.requests, m.duration, m.inFlight, m.rejected, m.panics, m.tenantWaits,
		m.loads, m.loadTime, m.unloads, m.loadSkips, m.storeOps, m.memReleases, m.changes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observeStore records the duration of a store operation started at t0.
func (m *metrics) observeStore(op string, t0 time.Time) {
	m.storeOps.WithLabelValues(op).Observe(time.Since(t0).Seconds())
}

// routeMetrics are the series of one route pattern, resolved once.
type routeMetrics struct {
	method      string
	duration    prometheus.Observer
	ok, created prometheus.Counter
}

func (m *metrics) forRoute(pattern string) *routeMetrics {
	method, _, _ := strings.Cut(pattern, " ")
	return &routeMetrics{
		method:   method,
		duration: m.duration.WithLabelValues(pattern, method),
		ok:       m.requests.WithLabelValues(pattern, method, "200"),
		created:  m.requests.WithLabelValues(pattern, method, "201"),
	}
}

// statusRecorder captures the status code written by a handler. For a
// request that matched no route (the mux's own plain-text 404 and 405
// answers) it writes a problem+json body instead.
type statusRecorder struct {
	http.ResponseWriter
	req     *http.Request
	status  int
	swallow bool // the mux's plain-text body is being replaced
	// lim is the limiter whose slot the request holds while slot is set
	// (see Server.readBodyInto).
	lim  *limiter
	slot bool
	// bodyBytes is what the request reserved of lim.bodies.
	bodyBytes int64
	// tenant is the tenant whose share of tenantLim the request holds
	// (see Server.authorize), if any.
	tenant    string
	tenantLim *tenantLimiter
	share     *tenantShare
	// running is set while the request holds a turn of share.run (see
	// Server.startRunning); its answer starting gives it back.
	running bool
	// failure says why the request failed (with a 5xx, or cut short),
	// for its log line, which is at least at failLevel (see
	// Server.failed).
	failure   []any
	failLevel slog.Level
}

// WriteHeader records the status (and replaces the mux's plain-text 404
// and 405 answers with problems).
func (s *statusRecorder) WriteHeader(code int) {
	if s.status != 0 {
		return
	}
	s.status = code
	s.stopRunning() // the answer is computed: the tenant's next request may run
	// No route of the API redirects, so a redirect is always the mux's:
	// for a path that is not clean it matches the cleaned path's route
	// (and sets Pattern) but answers with a redirect there, which a
	// client that follows redirects would obey with the same method —
	// DELETE /v1/tenants/acme/models/.. would delete the tenant.
	redirect := code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect
	if s.req != nil && (redirect || s.req.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed)) {
		s.swallow = true
		var p *Problem
		switch code {
		case http.StatusMethodNotAllowed:
			p = problem(ProblemMethodNotAllowed, "method %s not allowed here (allowed: %s)", s.req.Method, s.Header().Get("Allow"))
		case http.StatusNotFound:
			p = problem(ProblemNotFound, "no route for %s %s", s.req.Method, s.req.URL.Path)
		default:
			// The mux redirects a path that is not clean (an empty
			// segment, "." or ".."); no route of the API answers one.
			p = problem(ProblemNotFound, "no route for %s %s (not a clean path)", s.req.Method, s.req.URL.Path)
			s.Header().Del("Location")
			s.status = http.StatusNotFound
		}
		s.Header().Del("Content-Length")
		writeProblem(s.ResponseWriter, s.req, p)
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write writes the body (or swallows the mux's replaced plain text).
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if s.swallow {
		return len(b), nil
	}
	return s.ResponseWriter.Write(b)
}

// stopRunning gives back the request's turn among its tenant's requests
// computing, if it holds one.
func (s *statusRecorder) stopRunning() {
	if s.running {
		s.running = false
		<-s.share.run
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func codeLabel(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	return strconv.Itoa(code)
}

// registryCollector exports the registry's gauges and counters, and the
// server's resident tenant count, at scrape time.
type registryCollector struct {
	s        *Server
	gauge    *prometheus.Desc
	bytes    *prometheus.Desc
	counter  *prometheus.Desc
	resident *prometheus.Desc
}

func newRegistryCollector(s *Server) *registryCollector {
	return &registryCollector{
		s: s,
		gauge: prometheus.NewDesc("modelreg_registry_gauge",
			"Live counts of the registry (tenants, and named and anonymous models per scope kind).", []string{"name"}, nil),
		bytes: prometheus.NewDesc("modelreg_registry_approx_bytes",
			"Approximate heap bytes of the registry's models and indexes, by scope kind (global, tenant).", []string{"scope"}, nil),
		counter: prometheus.NewDesc("modelreg_registry_events_total",
			"Monotonic counters of the registry (registrations, reuses, cleanups, ...).", []string{"name"}, nil),
		resident: prometheus.NewDesc("modelreg_resident_tenants",
			"Tenants loaded in memory.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *registryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.gauge
	ch <- c.bytes
	ch <- c.counter
	ch <- c.resident
}

// Collect implements prometheus.Collector.
func (c *registryCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.reg.Stats()
	gauges, counters := registryFigures(st)
	for name, v := range gauges {
		switch name {
		case "globalBytes", "tenantBytes": // bytes, not a count: a family of their own
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.gauge, prometheus.GaugeValue, float64(v), name)
	}
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Gauges.GlobalBytes), "global")
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Gauges.TenantBytes), "tenant")
	for name, v := range counters {
		ch <- prometheus.MustNewConstMetric(c.counter, prometheus.CounterValue, float64(v), name)
	}
	ch <- prometheus.MustNewConstMetric(c.resident, prometheus.GaugeValue, float64(c.s.resident.count.Load()))
}
