package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

func appendJSONValue(b []byte, v any) ([]byte, error) {
	out, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}

func (s *Server) routeMetrics(f func() map[string]any) {
	s.route("GET /v1/metrics", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := parseQuery(r, nil); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, f())
		return nil
	})
	// The same figures in the Prometheus text format: every number found
	// in the JSON, named by its path.
	s.route("GET /metrics", func(w http.ResponseWriter, r *http.Request) error {
		raw, err := json.Marshal(f())
		if err != nil {
			return err
		}
		var tree any
		if err := json.Unmarshal(raw, &tree); err != nil {
			return err
		}
		var lines []string
		flatten("choreo", tree, nil, &lines)
		sort.Strings(lines)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		return nil
	})
}

// flatten writes a line per number in v: name{labels} value. Arrays of
// objects with an identifying field ("rule_id", "id", "name", "agent")
// become labels.
func flatten(name string, v any, labels []string, out *[]string) {
	switch v := v.(type) {
	case float64:
		l := ""
		if len(labels) > 0 {
			l = "{" + strings.Join(labels, ",") + "}"
		}
		*out = append(*out, fmt.Sprintf("%s%s %v", name, l, v))
	case bool:
		n := 0.0
		if v {
			n = 1
		}
		flatten(name, n, labels, out)
	case map[string]any:
		for k, x := range v {
			flatten(name+"_"+metricName(k), x, labels, out)
		}
	case []any:
		for i, x := range v {
			m, ok := x.(map[string]any)
			if !ok {
				continue
			}
			ls := append([]string(nil), labels...)
			found := false
			for _, key := range []string{"choreography", "rule_id", "id", "name", "agent"} {
				if s, ok := m[key].(string); ok {
					ls = append(ls, fmt.Sprintf("%s=%q", metricName(key), s))
					found = true
				}
			}
			if !found {
				ls = append(ls, fmt.Sprintf("index=\"%d\"", i))
			}
			flatten(name, m, ls, out)
		}
	}
}

func metricName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
