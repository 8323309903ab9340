package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/store"
)

// Codes of the choreography endpoints.
const (
	CodeInvalidChoreography = deploy.CodeInvalidChoreography // the document does not load: see "problems"
	CodeNameMismatch        = deploy.CodeNameMismatch        // the document's name is not the one in the path
)

func init() {
	statusOf[CodeInvalidChoreography] = http.StatusUnprocessableEntity
	statusOf[CodeNameMismatch] = http.StatusBadRequest
}

// deploymentJSON is a deployment as the API shows it.
type deploymentJSON struct {
	deploy.Deployment
	Source  string `json:"source,omitempty"`
	Changed *bool  `json:"changed,omitempty"` // in the answer to a PUT
}

func (s *Server) routeChoreographies(m *deploy.Manager) {
	s.route("PUT /v1/choreographies/{name}", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		switch mt := mediaType(r.Header.Get("Content-Type")); {
		case mt == "", isJSONMediaType(mt), strings.HasSuffix(mt, "yaml"), mt == "text/plain":
		default:
			return errorf(CodeUnsupportedMediaType, "", "Content-Type %q: want application/yaml or application/json", r.Header.Get("Content-Type"))
		}
		bp, err := s.readBody(r)
		if err != nil {
			return err
		}
		src := append([]byte(nil), *bp...)
		putBody(bp)
		d, changed, err := m.Deploy(r.Context(), r.PathValue("name"), src)
		if err != nil {
			return s.deployError(w, err)
		}
		status := http.StatusOK
		if changed {
			status = http.StatusCreated
		}
		writeJSON(w, status, deploymentJSON{Deployment: d, Changed: &changed})
		return nil
	})
	s.route("GET /v1/choreographies", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		list := m.List()
		out := make([]deploymentJSON, len(list))
		for i, d := range list {
			out[i] = deploymentJSON{Deployment: d}
		}
		writeJSON(w, http.StatusOK, map[string]any{"choreographies": out})
		return nil
	})
	s.route("GET /v1/choreographies/{name}", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		d, ok := m.Get(r.PathValue("name"))
		if !ok {
			return errorf(CodeNotFound, "name", "no choreography %q is deployed", r.PathValue("name"))
		}
		writeJSON(w, http.StatusOK, deploymentJSON{Deployment: d, Source: string(d.Source)})
		return nil
	})
	s.route("GET /v1/choreographies/{name}/versions", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		h := m.History(r.PathValue("name"))
		if len(h) == 0 {
			return errorf(CodeNotFound, "name", "choreography %q was never deployed", r.PathValue("name"))
		}
		out := make([]deploymentJSON, len(h))
		for i, d := range h {
			out[i] = deploymentJSON{Deployment: d}
		}
		writeJSON(w, http.StatusOK, map[string]any{"versions": out})
		return nil
	})
	s.route("DELETE /v1/choreographies/{name}", takesNone, func(w http.ResponseWriter, r *http.Request, _ url.Values) error {
		if err := m.Remove(r.Context(), r.PathValue("name")); err != nil {
			return s.deployError(w, err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// deployError answers an error of the deployment manager. A document that
// does not load is answered in full: every problem with its line and
// column, in "problems".
func (s *Server) deployError(w http.ResponseWriter, err error) error {
	var ps choreography.Problems
	var re *engine.RuleError
	var de *deploy.Error
	switch {
	case errors.As(err, &ps):
		type problem struct {
			Rule    string `json:"rule,omitempty"`
			Field   string `json:"field,omitempty"`
			Line    int    `json:"line,omitempty"`
			Col     int    `json:"column,omitempty"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		out := make([]problem, len(ps))
		for i, p := range ps {
			out[i] = problem{p.Rule, p.Field, p.Line, p.Col, p.Code, p.Msg}
		}
		b, _ := json.Marshal(map[string]any{"error": map[string]any{
			"code": CodeInvalidChoreography, "message": ps.Error(), "problems": out,
		}})
		writeRaw(w, http.StatusUnprocessableEntity, append(b, '\n'))
		return nil
	case errors.As(err, &re):
		return &apiError{Code: CodeInvalidChoreography, Field: re.Field, Message: re.Error()}
	case errors.As(err, &de):
		return &apiError{Code: de.Code, Field: de.Field, Message: de.Msg}
	case errors.Is(err, deploy.ErrClosed):
		return &apiError{Code: store.CodeClosed, Message: "the server is shutting down"}
	case errors.Is(err, deploy.ErrNotFound):
		return &apiError{Code: CodeNotFound, Field: "name", Message: trimPrefix(err.Error())}
	}
	return err
}
