package server

import (
	"errors"
	"github.com/prometheus/client_golang/prometheus"
	"net/http"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/view"
)

// Services are the parts of choreo beyond the log that the API exposes.
// Mount adds the routes of those that are set.
type Services struct {
	Agents     *agent.Registry       // /v1/agents
	Dispatcher *dispatch.Dispatcher  // /v1/dlq
	Actions    *view.Actions         // /v1/actions, and actions in /v1/correlations
	Metrics    func() map[string]any // /v1/metrics: named groups of figures, as JSON
	Prometheus prometheus.Gatherer   // /metrics

	Deployments *deploy.Manager // /v1/choreographies
}

// Codes of the operational endpoints, beside those of the log's.
const (
	CodeNoResolver      = agent.CodeNoResolver      // an A2A card registration without card support
	CodeTooManyAgents   = agent.CodeTooMany         // the registry is full
	CodeCardUnavailable = agent.CodeCardUnavailable // the agent card could not be fetched or read
)

func init() {
	statusOf[CodeNoResolver] = http.StatusNotImplemented
	statusOf[CodeTooManyAgents] = http.StatusTooManyRequests
	statusOf[CodeCardUnavailable] = http.StatusBadGateway
}

// Mount adds the routes of the services that are set. Call it once, while
// setting up, before serving.
func (s *Server) Mount(svc Services) {
	if svc.Agents != nil {
		s.routeAgents(svc.Agents)
	}
	if svc.Dispatcher != nil {
		s.routeDLQ(svc.Dispatcher)
	}
	s.routeCorrelations(svc.Actions)
	if svc.Actions != nil {
		s.routeActions(svc.Actions)
	}
	if svc.Deployments != nil {
		s.routeChoreographies(svc.Deployments)
	}
	if svc.Metrics != nil {
		s.routeMetrics(svc.Metrics)
	}
	if svc.Prometheus != nil {
		s.routePrometheus(svc.Prometheus)
	}
}

// agentError maps an error of the registry to the API's.
func agentError(err error) error {
	var ae *agent.Error
	if errors.As(err, &ae) {
		return &apiError{Code: ae.Code, Field: ae.Field, Message: ae.Msg}
	}
	switch code := agent.Code(err); code {
	case agent.CodeCardUnavailable, agent.CodeNoResolver, agent.CodeTooMany, agent.CodeNotFound:
		return &apiError{Code: code, Message: trimPrefix(err.Error())}
	}
	return err
}
