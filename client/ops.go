package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/store"
)

// This file holds the calls of the operational endpoints: agents, actions,
// dead letters, correlations, metrics and choreographies. Their types are
// the client's own, shaped like the API's JSON, so that a program using the
// client does not link the engine.

// Agent is a registered agent as the API shows it: its profile, and whether
// it is live (a recent enough heartbeat).
type Agent struct {
	agent.Profile
	Live bool `json:"live"`
}

// RegisterAgent registers p, or replaces the registration of the agent with
// p's id (POST /v1/agents). The result is the profile as registered: an
// empty status becomes "active" and the heartbeat is now. A bad profile is
// an *Error with code missing_field or invalid_field naming the field.
func (c *Client) RegisterAgent(ctx context.Context, p agent.Profile) (Agent, error) {
	if p.ID == "" {
		return Agent{}, errors.New("client: RegisterAgent of a profile without an id")
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Agent{}, err
	}
	var a Agent
	_, err = c.call(ctx, http.MethodPost, "/v1/agents", nil, body, "application/json", &a)
	return a, err
}

// RegisterCard registers the A2A agent whose agent card is served at
// cardURL (its base URL, or the card's own URL): the server fetches the
// card and makes a profile of it, its skills as capabilities. A card that
// cannot be fetched or read is an *Error with code card_unavailable; a
// server without card support answers no_resolver.
func (c *Client) RegisterCard(ctx context.Context, cardURL string) (Agent, error) {
	if cardURL == "" {
		return Agent{}, errors.New("client: RegisterCard of an empty URL")
	}
	body, err := json.Marshal(map[string]string{"card_url": cardURL})
	if err != nil {
		return Agent{}, err
	}
	var a Agent
	_, err = c.call(ctx, http.MethodPost, "/v1/agents", nil, body, "application/json", &a)
	return a, err
}

// Agent returns the registered agent id. An unknown id is an *Error with
// code not_found (errors.Is(err, store.ErrNotFound)).
func (c *Client) Agent(ctx context.Context, id string) (Agent, error) {
	if id == "" {
		return Agent{}, errors.New("client: Agent of an empty id")
	}
	var a Agent
	_, err := c.call(ctx, http.MethodGet, "/v1/agents/"+url.PathEscape(id), nil, nil, "", &a)
	return a, err
}

// Agents returns every registered agent.
func (c *Client) Agents(ctx context.Context) ([]Agent, error) {
	var doc struct {
		Agents []Agent `json:"agents"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/v1/agents", nil, nil, "", &doc); err != nil {
		return nil, err
	}
	if doc.Agents == nil {
		return nil, protocolError("the agent list has no \"agents\"")
	}
	return doc.Agents, nil
}

// Heartbeat reports that agent id is alive, with its load and status when
// hb sets them (a nil Load and an empty Status keep the current values),
// and returns the agent as updated.
func (c *Client) Heartbeat(ctx context.Context, id string, hb agent.Heartbeat) (Agent, error) {
	if id == "" {
		return Agent{}, errors.New("client: Heartbeat of an empty id")
	}
	doc := struct {
		Load   *float64     `json:"load,omitempty"`
		Status agent.Status `json:"status,omitempty"`
	}{hb.Load, hb.Status}
	body, err := json.Marshal(doc)
	if err != nil {
		return Agent{}, err
	}
	var a Agent
	_, err = c.call(ctx, http.MethodPost, "/v1/agents/"+url.PathEscape(id)+"/heartbeat", nil, body, "application/json", &a)
	return a, err
}

// UnregisterAgent removes agent id from the registry. An unknown id is an
// *Error with code not_found.
func (c *Client) UnregisterAgent(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("client: UnregisterAgent of an empty id")
	}
	_, err := c.call(ctx, http.MethodDelete, "/v1/agents/"+url.PathEscape(id), nil, nil, "", nil)
	return err
}

// Decision is an action as the engine decided it: a request for an agent
// with TargetCapability to perform Action.
type Decision struct {
	ID               string        `json:"id"`                // deterministic: derived from the choreography, the rule and the trigger events
	Action           string        `json:"action"`            // the rule's action
	TargetCapability string        `json:"target_capability"` // the capability an agent needs to perform it
	Priority         int           `json:"priority"`          // the rule's priority
	Choreography     string        `json:"choreography"`      // the rule's choreography
	RuleID           string        `json:"rule_id"`           // the rule's id within its choreography
	RuleKind         string        `json:"rule_kind"`         // pattern, sequence, or the kind of a complex pattern
	CorrelationID    string        `json:"correlation_id"`    // the correlation it belongs to
	TriggerEventIDs  []string      `json:"trigger_event_ids"` // the events that caused it, oldest first
	Time             time.Time     `json:"time"`              // the event time that caused it
	Timeout          time.Duration `json:"-"`                 // the rule's timeout; zero for the dispatcher's default. JSON: "timeout", a Go duration string
	Hops             int           `json:"hops"`              // the hops of the event that completed the match
}

// decisionJSON is Decision with its timeout as the API writes it.
type decisionJSON struct {
	decisionFields
	Timeout string `json:"timeout,omitempty"`
}

type decisionFields Decision // Decision without its methods

// MarshalJSON writes the decision as the API does, the timeout as a Go
// duration string.
func (d Decision) MarshalJSON() ([]byte, error) {
	v := decisionJSON{decisionFields: decisionFields(d)}
	if d.Timeout != 0 {
		v.Timeout = d.Timeout.String()
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads a decision as the API writes it.
func (d *Decision) UnmarshalJSON(b []byte) error {
	var v decisionJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = Decision(v.decisionFields)
	if v.Timeout != "" {
		t, err := time.ParseDuration(v.Timeout)
		if err != nil {
			return protocolError("the timeout of action %q: %v", d.ID, err)
		}
		d.Timeout = t
	}
	return nil
}

// Action is an action the engine decided and what became of it: the
// decision and its delivery status. In JSON the decision's fields and the
// status's share one object, as the API writes them.
type Action struct {
	Decision
	ActionStatus
}

// ActionStatus is what became of an action.
type ActionStatus struct {
	Status    string   `json:"status"`               // pending, delivered, dead_lettered or discarded
	Agent     string   `json:"agent,omitempty"`      // the agent of the last attempt
	Attempts  int      `json:"attempts"`             // attempts made
	LastError string   `json:"last_error,omitempty"` // the error of the last failed attempt
	Reason    string   `json:"reason,omitempty"`     // why it was dead-lettered
	Results   []string `json:"results,omitempty"`    // ids of the events its agent gave back
	// ResultsOmitted counts the events its agent gave back whose ids
	// Results leaves out.
	ResultsOmitted int       `json:"results_omitted,omitempty"`
	DurationMS     float64   `json:"duration_ms,omitempty"`
	DecidedAt      time.Time `json:"decided_at"`      // when its record was appended
	Position       uint64    `json:"global_position"` // of its record in the log
	UpdatedAt      time.Time `json:"updated_at"`
}

// MarshalJSON writes the action as one object, as the API does.
func (a Action) MarshalJSON() ([]byte, error) {
	head, err := a.Decision.MarshalJSON()
	if err != nil {
		return nil, err
	}
	tail, err := json.Marshal(a.ActionStatus)
	if err != nil {
		return nil, err
	}
	if len(tail) <= 2 {
		return head, nil
	}
	out := append(head[:len(head)-1], ',')
	return append(out, tail[1:]...), nil
}

// UnmarshalJSON reads an action as the API writes it.
func (a *Action) UnmarshalJSON(b []byte) error {
	if err := a.Decision.UnmarshalJSON(b); err != nil {
		return err
	}
	a.ActionStatus = ActionStatus{}
	return json.Unmarshal(b, &a.ActionStatus)
}

// ActionFilter selects the actions Actions returns. The zero value selects
// the latest 100 of every status.
type ActionFilter struct {
	Correlation string // only this correlation's; "" for any
	Status      string // only this status (pending, delivered, dead_lettered, discarded); "" for any
	Limit       int    // at most this many, newest first; zero or less means the server's default (100); the server caps it at 1000
}

// Actions returns the recent actions f selects, newest first. The server
// keeps a bounded number of recent actions; older ones are in the log.
func (c *Client) Actions(ctx context.Context, f ActionFilter) ([]Action, error) {
	q := url.Values{}
	if f.Correlation != "" {
		q.Set("correlation", f.Correlation)
	}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var doc struct {
		Actions []Action `json:"actions"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/v1/actions", q, nil, "", &doc); err != nil {
		return nil, err
	}
	if doc.Actions == nil {
		return nil, protocolError("the action list has no \"actions\"")
	}
	return doc.Actions, nil
}

// Action returns the action with id and its status. An id the server does
// not hold among its recent actions is an *Error with code not_found.
func (c *Client) Action(ctx context.Context, id string) (Action, error) {
	if id == "" {
		return Action{}, errors.New("client: Action of an empty id")
	}
	var a Action
	_, err := c.call(ctx, http.MethodGet, "/v1/actions/"+url.PathEscape(id), nil, nil, "", &a)
	return a, err
}

// DeadLetter is an action the dispatcher gave up on.
type DeadLetter struct {
	ActionID  string   `json:"action_id"`
	Action    Decision `json:"action"`     // the action
	Reason    string   `json:"reason"`     // max_attempts, rejected, no_agent, unavailable or loop
	Attempts  int      `json:"attempts"`   // attempts made
	LastError string   `json:"last_error"` // the error of the last attempt
	Agent     string   `json:"agent"`      // the agent of the last attempt
	// Tasks is the work the attempts left running at agents, which the
	// dispatcher asked them to cancel when it gave up on the action.
	Tasks []LeftTask `json:"tasks,omitempty"`
	Time  time.Time  `json:"time"` // when it was dead-lettered
}

// LeftTask is work an action's attempts left running at an agent (an A2A
// task).
type LeftTask struct {
	Agent       string `json:"agent"`
	Task        string `json:"task"`
	CancelError string `json:"cancel_error,omitempty"` // why canceling it failed; empty if it did not
}

// DeadLetters returns the whole dead-letter queue, oldest first, reading
// it a page at a time.
func (c *Client) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	return c.AllDeadLetters(ctx, DLQFilter{})
}

// AllDeadLetters returns every dead letter f selects from f.After on,
// oldest first, reading them a page of f.Limit at a time.
func (c *Client) AllDeadLetters(ctx context.Context, f DLQFilter) ([]DeadLetter, error) {
	var all []DeadLetter
	for {
		page, next, err := c.DeadLetterPage(ctx, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" {
			if all == nil {
				all = []DeadLetter{}
			}
			return all, nil
		}
		f.After = next
	}
}

// DLQFilter selects dead letters in DeadLetterPage.
type DLQFilter struct {
	Reason string // only those with this reason; empty: any
	After  string // the next of the page before; empty: from the oldest
	Limit  int    // at most this many; 0: the server's bound (1000)
}

// DeadLetterPage returns a page of the dead-letter queue, oldest first,
// and next, to pass as After for the page that follows ("" after the
// last page).
func (c *Client) DeadLetterPage(ctx context.Context, f DLQFilter) (page []DeadLetter, next string, err error) {
	q := url.Values{}
	if f.Reason != "" {
		q.Set("reason", f.Reason)
	}
	if f.After != "" {
		q.Set("after", f.After)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var doc struct {
		DeadLetters []DeadLetter `json:"dead_letters"`
		Next        string       `json:"next"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/v1/dlq", q, nil, "", &doc); err != nil {
		return nil, "", err
	}
	if doc.DeadLetters == nil {
		return nil, "", protocolError("the dead-letter list has no \"dead_letters\"")
	}
	return doc.DeadLetters, doc.Next, nil
}

// DeadLetter returns the dead letter of action id. An id not in the queue
// is an *Error with code not_found.
func (c *Client) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	if id == "" {
		return DeadLetter{}, errors.New("client: DeadLetter of an empty id")
	}
	var dl DeadLetter
	_, err := c.call(ctx, http.MethodGet, "/v1/dlq/"+url.PathEscape(id), nil, nil, "", &dl)
	return dl, err
}

// RetryDeadLetter sends dead letter id back for delivery, with the same
// action id and so the same idempotency key. An id not in the queue is an
// *Error with code not_found.
func (c *Client) RetryDeadLetter(ctx context.Context, id string) error {
	return c.dlqVerb(ctx, id, "retry")
}

// DiscardDeadLetter removes dead letter id from the queue for good. An id
// not in the queue is an *Error with code not_found.
func (c *Client) DiscardDeadLetter(ctx context.Context, id string) error {
	return c.dlqVerb(ctx, id, "discard")
}

func (c *Client) dlqVerb(ctx context.Context, id, verb string) error {
	if id == "" {
		return errors.New("client: " + verb + " of a dead letter with an empty id")
	}
	_, err := c.call(ctx, http.MethodPost, "/v1/dlq/"+url.PathEscape(id)+"/"+verb, nil, nil, "", nil)
	return err
}

// Analysis summarises the events of a correlation.
type Analysis struct {
	EventCount      int            // how many events
	Duration        time.Duration  // from the earliest to the latest event time
	EventTypes      map[string]int // events per type
	UniqueSources   int            // distinct sources
	AverageInterval time.Duration  // Duration / (EventCount-1)
}

type analysisJSON struct {
	EventCount      int            `json:"event_count"`
	Duration        float64        `json:"duration_seconds"`
	EventTypes      map[string]int `json:"event_types"`
	UniqueSources   int            `json:"unique_sources"`
	AverageInterval float64        `json:"average_interval"`
}

// MarshalJSON writes the analysis as the API does, durations in seconds.
func (a Analysis) MarshalJSON() ([]byte, error) {
	return json.Marshal(analysisJSON{a.EventCount, a.Duration.Seconds(), a.EventTypes, a.UniqueSources, a.AverageInterval.Seconds()})
}

// UnmarshalJSON reads an analysis as the API writes it.
func (a *Analysis) UnmarshalJSON(b []byte) error {
	var v analysisJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = Analysis{
		EventCount: v.EventCount, EventTypes: v.EventTypes, UniqueSources: v.UniqueSources,
		Duration: seconds(v.Duration), AverageInterval: seconds(v.AverageInterval),
	}
	return nil
}

// seconds converts seconds to a Duration, rounded to the microsecond
// (the JSON figures are float64).
func seconds(s float64) time.Duration {
	return time.Duration(s*1e6+0.5) * time.Microsecond
}

// Correlation is one correlation: its stream's events in order, the
// actions decided for it, newest first, and an analysis of the events.
type Correlation struct {
	ID       string
	Events   []store.Record
	Actions  []Action
	Analysis Analysis
	// Truncated says the server read only the first events of a longer
	// stream (10,000).
	Truncated bool
}

// Correlation returns the events, actions and analysis of correlation id
// (GET /v1/correlations/{id}): the events of the stream named id, which is
// where events go by default. A correlation with neither events nor
// actions is an *Error with code not_found.
func (c *Client) Correlation(ctx context.Context, id string) (Correlation, error) {
	if id == "" {
		return Correlation{}, errors.New("client: Correlation of an empty id")
	}
	var doc struct {
		ID        string            `json:"correlation_id"`
		Events    []json.RawMessage `json:"events"`
		Actions   []Action          `json:"actions"`
		Analysis  Analysis          `json:"analysis"`
		Truncated bool              `json:"truncated"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/v1/correlations/"+url.PathEscape(id), nil, nil, "", &doc); err != nil {
		return Correlation{}, err
	}
	out := Correlation{ID: doc.ID, Actions: doc.Actions, Analysis: doc.Analysis, Truncated: doc.Truncated}
	out.Events = make([]store.Record, len(doc.Events))
	for i, raw := range doc.Events {
		rec, err := DecodeRecord(raw)
		if err != nil {
			return Correlation{}, err
		}
		out.Events[i] = rec
	}
	return out, nil
}

// Metrics returns the server's figures (GET /v1/metrics): named groups
// such as "engine", "dispatch", "actions", "agents" and "process", as
// decoded JSON. Numbers are json.Number, so counters keep every digit.
func (c *Client) Metrics(ctx context.Context) (map[string]any, error) {
	b, err := c.send(ctx, http.MethodGet, "/v1/metrics", nil, nil, "")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, protocolError("decoding the metrics: want a JSON object")
	}
	return m, nil
}

// Deployment is one deployed version of a choreography.
type Deployment struct {
	Name       string    `json:"name"`
	Version    int       `json:"version"` // 1 for the first deployment of Name, one more for each after
	SHA256     string    `json:"sha256"`  // the hex SHA-256 of the source as deployed
	DeployedAt time.Time `json:"deployed_at"`
	// Position is the global position of the deployment's record in the
	// log: the version acts on the events after it.
	Position uint64 `json:"position"`
	Rules    int    `json:"rules"` // patterns, sequences and complex patterns
	// End is the global position of the record that ended the version (the
	// next version or the removal); 0 while it is current.
	End     uint64 `json:"end,omitempty"`
	Removed bool   `json:"removed,omitempty"` // End is a removal
	// Source is the document as deployed; Choreography fills it, the
	// other calls leave it empty.
	Source string `json:"source,omitempty"`
}

// Deploy deploys source, a choreography in YAML or JSON, as the next
// version of the choreography name (PUT /v1/choreographies/{name}), and
// returns the deployment and whether it is new: deploying the source of the
// current version again changes nothing and returns it with false.
// contentType is "application/yaml" or "application/json"; empty means
// JSON when the source starts with '{', YAML otherwise. A source that
// does not load is an *Error with code invalid_choreography whose message
// lists every problem with its line and column; a document whose name is
// not name is an *Error with code name_mismatch.
func (c *Client) Deploy(ctx context.Context, name string, source []byte, contentType string) (Deployment, bool, error) {
	if name == "" {
		return Deployment{}, false, errors.New("client: Deploy of an empty name")
	}
	if contentType == "" {
		contentType = "application/yaml"
		if t := bytes.TrimLeft(source, " \t\r\n"); len(t) > 0 && t[0] == '{' {
			contentType = "application/json"
		}
	}
	if source == nil {
		source = []byte{}
	}
	var d Deployment
	status, err := c.call(ctx, http.MethodPut, "/v1/choreographies/"+url.PathEscape(name), nil, source, contentType, &d)
	if err != nil {
		return Deployment{}, false, err
	}
	return d, status == http.StatusCreated, nil
}

// Choreographies returns the current version of every deployed
// choreography.
func (c *Client) Choreographies(ctx context.Context) ([]Deployment, error) {
	var doc struct {
		Choreographies []Deployment `json:"choreographies"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/v1/choreographies", nil, nil, "", &doc); err != nil {
		return nil, err
	}
	if doc.Choreographies == nil {
		return nil, protocolError("the choreography list has no \"choreographies\"")
	}
	return doc.Choreographies, nil
}

// Choreography returns the current version of the choreography name, with
// its source. A name not deployed is an *Error with code not_found.
func (c *Client) Choreography(ctx context.Context, name string) (Deployment, error) {
	if name == "" {
		return Deployment{}, errors.New("client: Choreography of an empty name")
	}
	var d Deployment
	_, err := c.call(ctx, http.MethodGet, "/v1/choreographies/"+url.PathEscape(name), nil, nil, "", &d)
	return d, err
}

// ChoreographyVersions returns every version of the choreography name
// ever deployed, the oldest first, removed ones included. A name never
// deployed is an *Error with code not_found.
func (c *Client) ChoreographyVersions(ctx context.Context, name string) ([]Deployment, error) {
	if name == "" {
		return nil, errors.New("client: ChoreographyVersions of an empty name")
	}
	var doc struct {
		Versions []Deployment `json:"versions"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/v1/choreographies/"+url.PathEscape(name)+"/versions", nil, nil, "", &doc); err != nil {
		return nil, err
	}
	if doc.Versions == nil {
		return nil, protocolError("the version list has no \"versions\"")
	}
	return doc.Versions, nil
}

// RemoveChoreography removes the choreography name: its current version
// acts on nothing from then on. A name not deployed is an *Error with
// code not_found.
func (c *Client) RemoveChoreography(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("client: RemoveChoreography of an empty name")
	}
	_, err := c.call(ctx, http.MethodDelete, "/v1/choreographies/"+url.PathEscape(name), nil, nil, "", nil)
	return err
}

// response is a 2xx response read whole.
type response struct {
	status int
	body   []byte
}

// send sends a request and reads its 2xx response; other statuses are an
// *Error.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte, contentType string) (response, error) {
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer closeBody(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return response{}, apiError(resp, b)
	}
	b, err := readBounded(resp.Body, resp.ContentLength, c.maxResponse)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, body: b}, nil
}

// call sends a request and decodes its JSON response into out (nil: the
// body is not read as JSON). It returns the response's status.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body []byte, contentType string, out any) (int, error) {
	resp, err := c.send(ctx, method, path, q, body, contentType)
	if err != nil {
		return 0, err
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return 0, protocolError("decoding the response of %s %s: %v", method, path, err)
		}
	}
	return resp.status, nil
}
