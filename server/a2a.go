package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	a2alog "github.com/a2aproject/a2a-go/log"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Paths of the A2A endpoint that MountA2A adds.
const (
	// A2APath is the A2A JSON-RPC endpoint: POST, protocol version 0.3.
	A2APath = "/a2a"
	// AgentCardPath is where the agent card is served (GET), the
	// well-known location A2A clients look at below a base URL.
	AgentCardPath = a2asrv.WellKnownAgentCardPath
)

// Ids of the skills on choreo's agent card. Both are served by
// message/send; they tell agents what a message may carry.
const (
	SkillPublishEvent = "publish_event" // one CloudEvent in a data part
	SkillPublishBatch = "publish_batch" // several events, appended as one atomic batch
)

// Defaults of the A2AConfig fields whose zero value means "the default".
const (
	DefaultA2AName        = "choreo"
	DefaultA2ADescription = "Choreography engine for agents. Publish CloudEvents to its durable event log " +
		"with message/send; choreographies watching the log hand the next piece of work to the agents " +
		"whose capabilities they name."
)

// a2aProtocolVersion is the version of the A2A protocol the endpoint
// speaks: that of the SDK it is built with.
const a2aProtocolVersion = "0.3.0"

// Keys of the metadata of a message/send request (the message's metadata,
// or the request's) that the endpoint reads.
const (
	a2aMetaStream          = "stream"
	a2aMetaExpectedVersion = "expected_version"
)

// A2AConfig configures the A2A endpoint. Only BaseURL is required; the
// zero value of every other field selects its default.
type A2AConfig struct {
	// BaseURL is the public URL of the API, as A2A clients reach it
	// ("https://choreo.example.com"), without a query or fragment. The
	// card names BaseURL + A2APath as the agent's endpoint. Required.
	BaseURL string
	// Name is the agent's name on the card. Zero means DefaultA2AName.
	Name string
	// Description is the agent's description on the card. Zero means
	// DefaultA2ADescription.
	Description string
	// Version is the agent's own version on the card. Zero means the
	// version of the main module the program was built from, or "devel"
	// when it has none.
	Version string
}

// Validate reports whether the configuration can be used.
func (c A2AConfig) Validate() error {
	if c.BaseURL == "" {
		return errors.New("server: a2a config: BaseURL is required")
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil:
		return fmt.Errorf("server: a2a config: BaseURL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("server: a2a config: BaseURL %q: want an absolute http or https URL", c.BaseURL)
	case u.Host == "":
		return fmt.Errorf("server: a2a config: BaseURL %q has no host", c.BaseURL)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("server: a2a config: BaseURL %q: want no query or fragment", c.BaseURL)
	case u.User != nil:
		return fmt.Errorf("server: a2a config: BaseURL %q: want no user information", c.BaseURL)
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c A2AConfig) withDefaults() A2AConfig {
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Name == "" {
		c.Name = DefaultA2AName
	}
	if c.Description == "" {
		c.Description = DefaultA2ADescription
	}
	if c.Version == "" {
		c.Version = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			c.Version = bi.Main.Version
		}
	}
	return c
}

// MountA2A makes the API an A2A agent (protocol 0.3, JSON-RPC binding)
// that agents publish events to with message/send. It adds two routes:
//
//	GET  /.well-known/agent-card.json  the agent card (and OPTIONS, for CORS preflights)
//	POST /a2a                          the JSON-RPC endpoint
//
// # Messages
//
// Every data part of the message carries events: one CloudEvent object,
// or {"events":[…]} with several. All the events of one message are
// appended as one atomic batch, with the checks of POST /v1/events:
// reserved types and streams, validation, Config.Limits, Config.MaxBatch.
// Text parts are ignored; file parts are refused. For convenience a part
// may leave out specversion (1.0 is assumed) and id: an event without an
// id gets one derived from the message id, the event's source, the
// context id and its place in the message, so a message sent again (A2A
// clients keep the messageId of a retry) is accepted once, as the log
// accepts a repeated event id. An event without a correlation id takes
// the message's contextId, when it has one.
//
// The message's metadata, or the request's, may hold "stream" (the stream
// to append to; by default the first event's correlation id, as for POST
// /v1/events) and "expected_version" ("any", "no_stream", or the stream
// position of the stream's last event, as a number or a string).
//
// # Replies
//
// The reply is a task that has already ended; tasks are not kept, so
// tasks/get, tasks/cancel and tasks/resubscribe answer "task not found".
// message/stream gives the same task as its only event. Its contextId is
// the message's, or else the correlation id of the first event.
//
// A task that completed carries one artifact, "events", with one data
// part that lists where each event was written, in order, as POST
// /v1/events answers:
//
//	{"events":[{"id":"…","stream":"…","stream_position":0,"global_position":41}]}
//
// Input the API would refuse with a 4xx status gives a task in state
// "failed", and nothing is written. Its status message holds a text part
// that says what is wrong and a data part with the API's error document:
//
//	{"error":{"code":"invalid_field","message":"…","field":"message.parts[0].data.events[1].time"}}
//
// The codes are those of POST /v1/events; fields name the JSON path in
// the request (message.parts[i].data…, and message.metadata.stream or
// metadata.expected_version: the metadata the value was read from).
// Requests that are not a valid message/send call are answered with the
// JSON-RPC errors of the protocol: -32700 for JSON that does not parse,
// -32602 for params that do not fit the method (a data part whose data
// is not an object, a member of the wrong type); so are
// faults of the server (internal error, -32603) and a closed store
// (server error, -32000), which a retry may cure. A body over
// Config.MaxBodyBytes is refused with the API's HTTP 413 error before
// JSON-RPC is read.
//
// Call MountA2A once, while setting up, before serving; it fails if
// the paths are already routed.
func (s *Server) MountA2A(cfg A2AConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	for _, p := range []string{"POST " + A2APath, "GET " + AgentCardPath, "OPTIONS " + AgentCardPath} {
		method, path, _ := strings.Cut(p, " ")
		if _, pattern := s.mux.Handler(&http.Request{Method: method, URL: &url.URL{Path: path}, Host: "localhost"}); pattern != "" {
			return fmt.Errorf("server: a2a: %s is already routed (by %q)", p, pattern)
		}
	}
	card, err := json.Marshal(a2aCard(cfg))
	if err != nil {
		return fmt.Errorf("server: a2a: encoding the agent card: %w", err)
	}
	cardHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*") // the card is public
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Cache-Control", "max-age=300")
		writeRaw(w, http.StatusOK, card)
	})
	// The card is a public document, fetched like a file: parameters
	// are not checked.
	s.mount("GET "+AgentCardPath, anyParams, cardHandler)
	s.mount("OPTIONS "+AgentCardPath, anyParams, cardHandler)
	s.route("POST "+A2APath, takesNone, s.serveA2A)
	return nil
}

// a2aCard returns choreo's agent card.
func a2aCard(cfg A2AConfig) *a2a.AgentCard {
	endpoint := cfg.BaseURL + A2APath
	return &a2a.AgentCard{
		Name:               cfg.Name,
		Description:        cfg.Description,
		URL:                endpoint,
		PreferredTransport: a2a.TransportProtocolJSONRPC,
		AdditionalInterfaces: []a2a.AgentInterface{
			{Transport: a2a.TransportProtocolJSONRPC, URL: endpoint},
		},
		ProtocolVersion: a2aProtocolVersion,
		Version:         cfg.Version,
		Capabilities:    a2a.AgentCapabilities{Streaming: true},
		// Events are read from data parts only; replies carry a data part
		// for programs and a text part for people and language models.
		DefaultInputModes:  []string{mediaJSON},
		DefaultOutputModes: []string{mediaJSON, "text/plain"},
		Skills: []a2a.AgentSkill{
			{
				ID:   SkillPublishEvent,
				Name: "Publish an event",
				Description: "Appends one CloudEvent (JSON format, specversion 1.0) to the event log, durably, " +
					"where choreographies see it. Send it as the data part of a message: type and source are required; " +
					"id and specversion are filled in when left out; the message's contextId becomes the event's " +
					"correlationid when it has none. Message metadata \"stream\" and \"expected_version\" choose " +
					"the stream and guard it. The reply is a completed task whose \"events\" artifact gives the " +
					"event's id, stream, stream_position and global_position, or a failed task whose status " +
					"message holds an error with a stable code and the field at fault.",
				Tags: []string{"events", "cloudevents", "publish"},
				Examples: []string{
					`{"type":"order.placed","source":"shop","data":{"order_id":"o-7","total":42}}`,
					`{"specversion":"1.0","id":"a8e1…","type":"payment.received","source":"billing","correlationid":"order-7","data":{"amount":42}}`,
				},
				InputModes:  []string{mediaJSON},
				OutputModes: []string{mediaJSON, "text/plain"},
			},
			{
				ID:   SkillPublishBatch,
				Name: "Publish a batch of events",
				Description: "Appends several CloudEvents to one stream as one atomic batch: all are written or none is. " +
					"Send {\"events\":[…]} as a data part, or one event per data part; the events of all the " +
					"parts of a message form the batch.",
				Tags: []string{"events", "cloudevents", "batch"},
				Examples: []string{
					`{"events":[{"type":"item.reserved","source":"stock","data":{"sku":"A-1"}},{"type":"item.reserved","source":"stock","data":{"sku":"B-7"}}]}`,
				},
				InputModes:  []string{mediaJSON},
				OutputModes: []string{mediaJSON, "text/plain"},
			},
		},
	}
}

// serveA2A serves POST /a2a: it reads the body, bounded, and hands it to
// the SDK's JSON-RPC handler over a request handler that keeps the raw
// body, so event data is taken from the exact JSON the client sent
// rather than from the SDK's decoding (which turns numbers into float64
// and reorders object members).
func (s *Server) serveA2A(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	if mt := mediaType(r.Header.Get("Content-Type")); !isJSONMediaType(mt) {
		return errorf(CodeUnsupportedMediaType, "", "want Content-Type application/json, got %q", r.Header.Get("Content-Type"))
	}
	bp, err := s.readBody(r)
	if err != nil {
		return err
	}
	// A copy of its own: the SDK may still read it from a goroutine
	// after a streaming response has returned, so a pooled buffer cannot
	// be handed back here.
	body := bytes.Clone(*bp)
	putBody(bp)

	call := &a2aCall{s: s, body: body}
	if stub, err := a2aCheckParams(body); err != nil {
		// The SDK would answer params of the wrong shape with a parse
		// error (-32700), which JSON-RPC keeps for JSON that does not
		// parse. Hand it params that decode, and answer invalid params
		// (-32602) from the call, in the reply the method has.
		call.paramsErr = err
		body = stub
	}
	r2 := r.WithContext(a2alog.WithLogger(r.Context(), s.log))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	w.Header().Set("Content-Type", contentTypeJSON) // the SDK sets none; SSE replies set their own
	a2asrv.NewJSONRPCHandler(call).ServeHTTP(w, r2)
	return nil
}

// a2aCheckParams checks the params of a message/send or message/stream
// request against the shape the protocol gives them. When they do not
// fit, it returns an error wrapping a2a.ErrInvalidParams that names the
// member at fault, and the request with empty params for the SDK to
// decode. Requests that are not JSON, or call other methods, are left to
// the SDK.
func a2aCheckParams(body []byte) ([]byte, error) {
	var req struct {
		JSONRPC json.RawMessage `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params"`
	}
	// Decoded as the SDK decodes it: the first JSON value of the body.
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil ||
		(req.Method != "message/send" && req.Method != "message/stream") || len(req.Params) == 0 {
		return nil, nil
	}
	err := a2aDataParts(req.Params)
	if err == nil {
		var p a2a.MessageSendParams
		var te *json.UnmarshalTypeError
		switch perr := json.Unmarshal(req.Params, &p); {
		case perr == nil:
			return nil, nil
		case errors.As(perr, &te):
			field := "params"
			if te.Field != "" {
				field = te.Field
			}
			err = fmt.Errorf("%s: %s", field, typeMismatch(te))
		default:
			err = errors.New(strings.TrimPrefix(perr.Error(), "json: "))
		}
	}
	stub := map[string]any{"jsonrpc": req.JSONRPC, "method": req.Method, "params": struct{}{}}
	if req.ID != nil {
		stub["id"] = req.ID
	}
	b, merr := json.Marshal(stub)
	if merr != nil {
		return nil, nil
	}
	return b, fmt.Errorf("%w: %w", err, a2a.ErrInvalidParams)
}

// a2aDataParts checks that every data part of a message's params holds a
// JSON object, as the protocol has it, and names the first that does not.
func a2aDataParts(params json.RawMessage) error {
	var p struct {
		Message struct {
			Parts []rawPart `json:"parts"`
		} `json:"message"`
	}
	if json.Unmarshal(params, &p) != nil {
		return nil // the SDK's decoding says what is wrong
	}
	for i, part := range p.Message.Parts {
		if part.Kind != "data" {
			continue
		}
		field := "message.parts[" + strconv.Itoa(i) + "].data"
		data := bytes.TrimSpace(part.Data)
		if len(data) == 0 {
			return fmt.Errorf("%s: required: a CloudEvent, or {\"events\":[…]}", field)
		}
		if data[0] != '{' {
			return fmt.Errorf("%s: want a JSON object (a CloudEvent, or {\"events\":[…]}), got %s", field, jsonKindOf(data))
		}
	}
	return nil
}

// jsonKindOf names the JSON type of the value that starts data, for
// messages.
func jsonKindOf(data []byte) string {
	switch data[0] {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case '{':
		return "an object"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// a2aCall is the a2asrv.RequestHandler of one JSON-RPC request. It holds
// no state beyond the request: tasks end in the reply and are not kept.
type a2aCall struct {
	s         *Server
	body      []byte // the request as received
	paramsErr error  // the params do not fit the method: invalid params
}

var _ a2asrv.RequestHandler = (*a2aCall)(nil)

// errTaskNotKept is the error of the calls about tasks.
var errTaskNotKept = fmt.Errorf("tasks end in the reply to message/send and are not kept: %w", a2a.ErrTaskNotFound)

// OnSendMessage implements a2asrv.RequestHandler: it publishes the
// message's events.
func (c *a2aCall) OnSendMessage(ctx context.Context, params *a2a.MessageSendParams) (a2a.SendMessageResult, error) {
	task, err := c.publish(ctx, params)
	if err != nil {
		return nil, err
	}
	return task, nil
}

// OnSendMessageStream implements a2asrv.RequestHandler: it publishes as
// OnSendMessage does and yields the task as the stream's only event.
func (c *a2aCall) OnSendMessageStream(ctx context.Context, params *a2a.MessageSendParams) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		task, err := c.publish(ctx, params)
		if err != nil {
			yield(nil, err)
			return
		}
		yield(task, nil)
	}
}

// OnGetTask implements a2asrv.RequestHandler.
func (c *a2aCall) OnGetTask(context.Context, *a2a.TaskQueryParams) (*a2a.Task, error) {
	return nil, errTaskNotKept
}

// OnCancelTask implements a2asrv.RequestHandler.
func (c *a2aCall) OnCancelTask(context.Context, *a2a.TaskIDParams) (*a2a.Task, error) {
	return nil, errTaskNotKept
}

// OnResubscribeToTask implements a2asrv.RequestHandler.
func (c *a2aCall) OnResubscribeToTask(context.Context, *a2a.TaskIDParams) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) { yield(nil, errTaskNotKept) }
}

// OnGetTaskPushConfig implements a2asrv.RequestHandler.
func (c *a2aCall) OnGetTaskPushConfig(context.Context, *a2a.GetTaskPushConfigParams) (*a2a.TaskPushConfig, error) {
	return nil, a2a.ErrPushNotificationNotSupported
}

// OnListTaskPushConfig implements a2asrv.RequestHandler.
func (c *a2aCall) OnListTaskPushConfig(context.Context, *a2a.ListTaskPushConfigParams) ([]*a2a.TaskPushConfig, error) {
	return nil, a2a.ErrPushNotificationNotSupported
}

// OnSetTaskPushConfig implements a2asrv.RequestHandler.
func (c *a2aCall) OnSetTaskPushConfig(context.Context, *a2a.TaskPushConfig) (*a2a.TaskPushConfig, error) {
	return nil, a2a.ErrPushNotificationNotSupported
}

// OnDeleteTaskPushConfig implements a2asrv.RequestHandler.
func (c *a2aCall) OnDeleteTaskPushConfig(context.Context, *a2a.DeleteTaskPushConfigParams) error {
	return a2a.ErrPushNotificationNotSupported
}

// OnGetExtendedAgentCard implements a2asrv.RequestHandler.
func (c *a2aCall) OnGetExtendedAgentCard(context.Context) (*a2a.AgentCard, error) {
	return nil, a2a.ErrAuthenticatedExtendedCardNotConfigured
}

// a2aPosition is where one event was written, as the reply lists it.
type a2aPosition struct {
	ID             string `json:"id"`
	Stream         string `json:"stream"`
	StreamPosition uint64 `json:"stream_position"`
	GlobalPosition uint64 `json:"global_position"`
}

// rawPart is a message part as the client sent it.
type rawPart struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// publish appends the events of a message/send or message/stream call
// and returns the task that answers it: completed, or failed with the
// error of input the API refuses. The error result is for requests that
// are not a valid call and for faults of the server.
func (c *a2aCall) publish(ctx context.Context, params *a2a.MessageSendParams) (*a2a.Task, error) {
	if c.paramsErr != nil {
		return nil, c.paramsErr
	}
	if params == nil || params.Message == nil {
		return nil, fmt.Errorf("params.message is required: %w", a2a.ErrInvalidParams)
	}
	msg := params.Message
	if msg.TaskID != "" {
		return nil, fmt.Errorf("task %q: %w", msg.TaskID, errTaskNotKept)
	}
	parts, err := c.rawParts()
	if err != nil || len(parts) != len(msg.Parts) {
		// The SDK read the same bytes; reaching this is a bug.
		c.s.log.ErrorContext(ctx, "a2a: reading the message parts again", "error", err,
			"parts", len(parts), "sdk_parts", len(msg.Parts))
		return nil, a2a.ErrInternalError
	}

	events, paths, err := c.s.a2aEvents(msg, parts)
	evField := "message.metadata." + a2aMetaExpectedVersion // where expected_version came from
	if err == nil {
		var (
			stream   string
			expected store.ExpectedVersion
			pos      []store.Position
		)
		stream, expected, evField, err = c.s.a2aTarget(params, events)
		if err == nil {
			err = c.s.deriveHops(ctx, events)
		}
		if err == nil {
			pos, err = c.s.cfg.Store.Append(ctx, stream, expected, events)
		}
		if err == nil {
			return a2aCompleted(msg, stream, events, pos), nil
		}
	}

	ae, public := a2aErrorOf(err, paths, evField)
	if !public {
		level := slog.LevelError
		if ctx.Err() != nil {
			level = slog.LevelDebug // the client went away mid-request
		}
		c.s.log.Log(ctx, level, "a2a publish failed", "error", err)
		return nil, a2a.ErrInternalError
	}
	if ae.status() >= 500 {
		// closed, not_ready and the like: the server's state, not the
		// input; a retry may succeed.
		detail := ae.Code
		if ae.Message != ae.Code {
			detail += ": " + ae.Message
		}
		return nil, fmt.Errorf("%s: %w", detail, a2a.ErrServerError)
	}
	contextID := msg.ContextID
	if contextID == "" {
		contextID = a2a.NewContextID()
	}
	return a2aFailed(contextID, ae), nil
}

// rawParts reads the message's parts from the request body, keeping each
// data part's JSON text as sent.
func (c *a2aCall) rawParts() ([]rawPart, error) {
	var req struct {
		Params struct {
			Message struct {
				Parts []rawPart `json:"parts"`
			} `json:"message"`
		} `json:"params"`
	}
	// Decoded as the SDK decodes it: the first JSON value of the body.
	if err := json.NewDecoder(bytes.NewReader(c.body)).Decode(&req); err != nil {
		return nil, err
	}
	return req.Params.Message.Parts, nil
}

// a2aEvents decodes the events of a message's data parts and checks them
// as POST /v1/events does. paths[i] is the JSON path of event i in the
// request, for error fields.
func (s *Server) a2aEvents(msg *a2a.Message, parts []rawPart) (events []*event.Event, paths []string, err error) {
	dataParts := 0
	for i, p := range parts {
		partPath := "message.parts[" + strconv.Itoa(i) + "]"
		switch p.Kind {
		case "data":
		case "file":
			return nil, nil, errorf(event.CodeInvalidField, partPath,
				"file parts are not read: send each event as a data part, or {\"events\":[…]}")
		default: // text parts are commentary
			continue
		}
		dataParts++
		dataPath := partPath + ".data"
		data := bytes.TrimSpace(p.Data)
		if len(data) == 0 || data[0] != '{' {
			return nil, nil, errorf(event.CodeInvalidField, dataPath, "want a JSON object: a CloudEvent, or {\"events\":[…]}")
		}
		items := []json.RawMessage{data}
		itemPaths := func(int) string { return dataPath }
		if list, ok, err := batchObject(data, dataPath); err != nil {
			return nil, nil, err
		} else if ok {
			items = list
			itemPaths = func(j int) string { return dataPath + ".events[" + strconv.Itoa(j) + "]" }
		}
		for j, raw := range items {
			path := itemPaths(j)
			if len(events) == s.cfg.MaxBatch {
				return nil, nil, errorf(store.CodeBatchTooLarge, path, "more than %d events in one message", s.cfg.MaxBatch)
			}
			e, err := event.Decode(raw)
			if err != nil {
				return nil, nil, fieldAt(err, path)
			}
			if e.SpecVersion == "" {
				e.SpecVersion = event.SpecVersion
			}
			if e.CorrelationID == "" && msg.ContextID != "" {
				e.CorrelationID = msg.ContextID
			}
			if e.ID == "" && msg.ID != "" {
				e.ID = derivedEventID(msg.ID, msg.ContextID, e.Source, len(events))
			}
			if err := s.checkEvent(e); err != nil {
				return nil, nil, fieldAt(err, path)
			}
			events = append(events, e)
			paths = append(paths, path)
		}
	}
	switch {
	case dataParts == 0:
		return nil, nil, errorf(event.CodeMissingField, "message.parts",
			"no data part: send each event as a data part holding a CloudEvent, or {\"events\":[…]}")
	case len(events) == 0:
		return nil, nil, errorf(store.CodeEmptyBatch, "message.parts", "the message holds no events")
	}
	return events, paths, nil
}

// batchObject reports whether a data part is {"events":[…]} and returns
// the array's elements.
func batchObject(data []byte, path string) ([]json.RawMessage, bool, error) {
	if !bytes.Contains(data, []byte(`"events"`)) {
		return nil, false, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, false, errorf(event.CodeInvalidJSON, path, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	list, ok := top["events"]
	if !ok {
		return nil, false, nil // "events" is inside a member: an event
	}
	// An event's extension cannot be named "events" with an array
	// value (extension values are scalars), so the object is a batch.
	if len(top) > 1 {
		for k := range top {
			if k != "events" {
				return nil, false, errorf(event.CodeInvalidField, joinField(path, k),
					"an object with \"events\" is a batch and holds nothing else")
			}
		}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(list, &items); err != nil || items == nil {
		return nil, false, errorf(event.CodeInvalidField, path+".events", "want an array of CloudEvents")
	}
	return items, true, nil
}

// fieldAt maps an error about one event to an *apiError whose field is
// the event's JSON path in the request.
func fieldAt(err error, path string) *apiError {
	ae, _ := errorOf(err, "")
	out := *ae
	out.Field = joinField(path, ae.Field)
	return &out
}

// derivedEventID returns the id of the index-th event of a message that
// gave it none: a UUID (version 8, RFC 9562) made from a SHA-256 of the
// message id, the context id, the event's source and its index. The same
// message sent again yields the same ids, so the log accepts it once.
func derivedEventID(messageID, contextID, source string, index int) string {
	h := sha256.New()
	for _, s := range []string{"choreo/a2a", messageID, contextID, source, strconv.Itoa(index)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return string(event.AppendUUID(nil, u))
}

// a2aTarget returns the stream and expected version of a message: from
// its metadata, else the first event's correlation id and "any". evField
// is the JSON path expected_version was read from, for the errors of the
// append.
func (s *Server) a2aTarget(params *a2a.MessageSendParams, events []*event.Event) (stream string, expected store.ExpectedVersion, evField string, err error) {
	expected = store.Any
	evField = "message.metadata." + a2aMetaExpectedVersion
	v, field, err := a2aMeta(params, a2aMetaExpectedVersion)
	if err != nil {
		return "", 0, "", err
	}
	if v != nil {
		evField = field
		if expected, err = metaExpectedVersion(v, field); err != nil {
			return "", 0, "", err
		}
	}
	v, field, err = a2aMeta(params, a2aMetaStream)
	if err != nil {
		return "", 0, "", err
	}
	if v != nil {
		stream, ok := v.(string)
		if !ok {
			return "", 0, "", errorf(event.CodeInvalidField, field, "want a string, got %s", jsonKind(v))
		}
		if err := checkUserStream(stream); err != nil {
			err.Field = field
			return "", 0, "", err
		}
		return stream, expected, evField, nil
	}
	stream = events[0].CorrelationID
	if err := checkUserStream(stream); err != nil {
		if verr := s.validateEvents(events); verr != nil {
			// The correlation id cannot name a stream: the event's fault,
			// as the store reports it when a stream is given.
			return "", 0, "", verr
		}
		err.Field = "message.metadata." + a2aMetaStream
		err.Message += " (the stream defaults to the first event's correlation id; set metadata \"stream\")"
		return "", 0, "", err
	}
	return stream, expected, evField, nil
}

// a2aMeta returns the metadata value key of the message, or of the
// request, and its JSON path; nil when neither has it. Both holding
// different values is an error.
func a2aMeta(params *a2a.MessageSendParams, key string) (any, string, error) {
	mv, inMsg := params.Message.Metadata[key]
	pv, inParams := params.Metadata[key]
	switch {
	case inMsg && inParams:
		a, _ := json.Marshal(mv)
		b, _ := json.Marshal(pv)
		if !bytes.Equal(a, b) {
			return nil, "", errorf(event.CodeInvalidField, "metadata."+key,
				"the message's metadata and the request's disagree: %s and %s", a, b)
		}
		return mv, "message.metadata." + key, nil
	case inMsg:
		return mv, "message.metadata." + key, nil
	case inParams:
		return pv, "metadata." + key, nil
	}
	return nil, "", nil
}

// metaExpectedVersion reads expected_version from metadata: "any",
// "no_stream", or a stream position as a number or a decimal string.
func metaExpectedVersion(v any, field string) (store.ExpectedVersion, error) {
	switch v := v.(type) {
	case string:
		ev, err := parseExpectedVersion(map[string][]string{a2aMetaExpectedVersion: {v}})
		if err != nil {
			return 0, errorf(event.CodeInvalidField, field, "want \"any\", \"no_stream\" or a non-negative integer, got %q", v)
		}
		return ev, nil
	case float64:
		// JSON numbers arrive as float64; those up to 2^53 are exact.
		if v >= 0 && v <= 1<<53 && v == math.Trunc(v) {
			return store.Exact(uint64(v)), nil
		}
		return 0, errorf(event.CodeInvalidField, field, "want a non-negative integer up to 2^53 (or a decimal string), got %v", v)
	}
	return 0, errorf(event.CodeInvalidField, field, "want \"any\", \"no_stream\" or a non-negative integer, got %s", jsonKind(v))
}

// jsonKind names the JSON type of a decoded value, for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// a2aErrorOf maps an error of a2aEvents, a2aTarget or the store's Append
// to the API's error, naming events by their path in the request and
// expected_version by evField, where it was read from. The second result
// is false for errors whose details the client must not see.
func a2aErrorOf(err error, paths []string, evField string) (*apiError, bool) {
	var (
		ve *store.EventError
		ce *store.ConflictError
		vv *store.VersionError
	)
	path := func(i int) string {
		if i >= 0 && i < len(paths) {
			return paths[i]
		}
		return "message.parts"
	}
	switch {
	case errors.As(err, &ve):
		inner, public := errorOf(ve.Err, "")
		return &apiError{Code: inner.Code, Field: joinField(path(ve.Index), inner.Field), Message: inner.Message}, public
	case errors.As(err, &ce):
		ae, public := errorOf(err, "")
		return &apiError{Code: ae.Code, Field: joinField(path(ce.Index), "id"), Message: ae.Message}, public
	case errors.As(err, &vv):
		ae, public := errorOf(err, "")
		return &apiError{Code: ae.Code, Field: evField, Message: ae.Message}, public
	}
	return errorOf(err, "")
}

// a2aCompleted is the task of a publish that succeeded.
func a2aCompleted(msg *a2a.Message, stream string, events []*event.Event, pos []store.Position) *a2a.Task {
	list := make([]a2aPosition, len(events))
	for i, e := range events {
		list[i] = a2aPosition{ID: e.ID, Stream: stream, StreamPosition: pos[i].Stream, GlobalPosition: pos[i].Global}
	}
	contextID := msg.ContextID
	if contextID == "" {
		contextID = events[0].CorrelationID
	}
	var text string
	if n := len(list); n == 1 {
		text = fmt.Sprintf("Published event %s to stream %q at stream position %d (global position %d).",
			list[0].ID, stream, list[0].StreamPosition, list[0].GlobalPosition)
	} else {
		text = fmt.Sprintf("Published %d events to stream %q at stream positions %d to %d (global positions %d to %d).",
			n, stream, list[0].StreamPosition, list[n-1].StreamPosition, list[0].GlobalPosition, list[n-1].GlobalPosition)
	}
	task := &a2a.Task{
		ID:        a2a.NewTaskID(),
		ContextID: contextID,
		Artifacts: []*a2a.Artifact{{
			ID:          "events",
			Name:        "events",
			Description: "Where each published event was written, in the order sent.",
			Parts:       a2a.ContentParts{a2a.DataPart{Data: map[string]any{"events": list}}},
		}},
	}
	task.Status = a2aStatus(task, a2a.TaskStateCompleted, a2a.TextPart{Text: text})
	return task
}

// a2aFailed is the task of a publish whose input was refused.
func a2aFailed(contextID string, ae *apiError) *a2a.Task {
	doc := map[string]any{"code": ae.Code, "message": ae.Message}
	text := ae.Code + ": " + ae.Message
	if ae.Field != "" {
		doc["field"] = ae.Field
		text = ae.Code + " at " + ae.Field + ": " + ae.Message
	}
	task := &a2a.Task{ID: a2a.NewTaskID(), ContextID: contextID}
	task.Status = a2aStatus(task, a2a.TaskStateFailed,
		a2a.TextPart{Text: "Nothing was published. " + text},
		a2a.DataPart{Data: map[string]any{"error": doc}})
	return task
}

// a2aStatus is a final status of task with an agent message of parts.
func a2aStatus(task *a2a.Task, state a2a.TaskState, parts ...a2a.Part) a2a.TaskStatus {
	now := time.Now().UTC()
	return a2a.TaskStatus{
		State:     state,
		Timestamp: &now,
		Message:   a2a.NewMessageForTask(a2a.MessageRoleAgent, task, parts...),
	}
}
