package server

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func appendJSONValue(b []byte, v any) ([]byte, error) {
	out, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}

func (s *Server) routeMetrics(f func() map[string]any) {
	s.route("GET /v1/metrics", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		writeJSON(w, http.StatusOK, f())
		return nil
	})
}

// routePrometheus serves g in the Prometheus exposition format.
func (s *Server) routePrometheus(g prometheus.Gatherer) {
	s.mount("GET /metrics", anyParams, promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

// promLogger passes promhttp's errors to the server's log.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Error("prometheus: gathering metrics", "err", v) }
