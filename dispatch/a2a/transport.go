package a2a

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/dispatch"
)

// Metadata keys of the A2A message a Transport sends.
const (
	MetaActionID = "choreo.action_id" // the action id, as in messageId
	MetaAction   = "choreo.action"    // the action name
	MetaAttempt  = "choreo.attempt"   // the attempt number, 1 for the first
	MetaHops     = "choreo.hops"      // the hops the events the action causes must carry
	MetaPriority = "choreo.priority"  // dispatch.PriorityHigh or dispatch.PriorityNormal
)

// Transport delivers actions to A2A agents over the JSON-RPC binding of
// A2A 0.3. It is safe for concurrent use. It keeps one A2A client per
// agent endpoint (at most Config.MaxClients) over one shared HTTP client
// with keep-alive connections.
type Transport struct {
	cfg      Config
	rpc      *http.Client // JSON-RPC calls; response bodies bounded by MaxResponseBytes
	card     *http.Client // card fetches; bodies bounded by MaxCardBytes
	own      bool         // rpc and card share a pool the Transport owns
	factory  *a2aclient.Factory
	now      func() time.Time
	zeroHist *int // HistoryLength 0: replies carry no task history

	mu struct {
		sync.Mutex
		closed  bool
		lru     *list.List               // of *entry, most recently used first
		clients map[string]*list.Element // by endpoint
		// tasks remembers the task an agent made for an action whose
		// attempt ended before the task did, so that the next attempt
		// follows that task instead of asking for the work again.
		tasks     map[taskKey]string
		taskOrder []taskKey // insertion order, for eviction
	}
}

// taskKey names an action at one agent endpoint.
type taskKey struct{ endpoint, action string }

// maxRememberedTasks bounds Transport.mu.tasks.
const maxRememberedTasks = 10_000

// rememberTask remembers task id for k. It keeps copies of the strings:
// the action id is a piece of the whole action as decoded from the log,
// and a map keeps the key of its latest assignment.
func (t *Transport) rememberTask(k taskKey, id string) {
	k = taskKey{strings.Clone(k.endpoint), strings.Clone(k.action)}
	id = strings.Clone(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.tasks == nil {
		t.mu.tasks = make(map[taskKey]string)
	}
	if _, ok := t.mu.tasks[k]; !ok {
		if len(t.mu.taskOrder) >= maxRememberedTasks {
			delete(t.mu.tasks, t.mu.taskOrder[0])
			t.mu.taskOrder = t.mu.taskOrder[1:]
		}
		t.mu.taskOrder = append(t.mu.taskOrder, k)
	}
	t.mu.tasks[k] = id
}

func (t *Transport) rememberedTask(k taskKey) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.mu.tasks[k]
	return id, ok
}

func (t *Transport) forgetTask(k taskKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mu.tasks, k) // its taskOrder entry goes when it reaches the front
}

type entry struct {
	endpoint string
	client   *a2aclient.Client
}

var (
	_ dispatch.Transport = (*Transport)(nil)
	_ dispatch.Canceler  = (*Transport)(nil)
)

// New returns a Transport configured by cfg.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Transport{cfg: cfg, now: time.Now, zeroHist: new(int)}
	if cfg.HTTPClient != nil {
		rt := cfg.HTTPClient.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		rpc, card := *cfg.HTTPClient, *cfg.HTTPClient
		rpc.Transport = &limitTransport{rt: rt, max: cfg.MaxResponseBytes}
		card.Transport = &limitTransport{rt: rt, max: cfg.MaxCardBytes}
		t.rpc, t.card = &rpc, &card
	} else {
		pool := http.DefaultTransport.(*http.Transport).Clone()
		pool.MaxIdleConnsPerHost = cfg.MaxIdlePerHost
		pool.MaxIdleConns = max(pool.MaxIdleConns, cfg.MaxIdlePerHost)
		t.rpc = &http.Client{Transport: &limitTransport{rt: pool, max: cfg.MaxResponseBytes}}
		t.card = &http.Client{Transport: &limitTransport{rt: pool, max: cfg.MaxCardBytes}}
		t.own = true
	}
	t.factory = a2aclient.NewFactory(
		a2aclient.WithDefaultsDisabled(),
		a2aclient.WithJSONRPCTransport(t.rpc),
		// Polling makes message/send non-blocking: the agent answers as
		// soon as it has the task, and Deliver follows it with tasks/get.
		a2aclient.WithConfig(a2aclient.Config{Polling: true}),
	)
	t.mu.lru = list.New()
	t.mu.clients = make(map[string]*list.Element)
	return t, nil
}

// Close drops the cached clients and, if the Transport made its own HTTP
// client, closes its idle connections. It does not wait for deliveries in
// progress; later calls of Deliver and ResolveCard fail with ErrClosed.
// Close is idempotent and always returns nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return nil
	}
	t.mu.closed = true
	var clients []*a2aclient.Client
	for e := t.mu.lru.Front(); e != nil; e = e.Next() {
		clients = append(clients, e.Value.(*entry).client)
	}
	t.mu.lru.Init()
	clear(t.mu.clients)
	t.mu.Unlock()
	for _, c := range clients {
		_ = c.Destroy() // the JSON-RPC client holds nothing to release
	}
	if t.own {
		t.rpc.CloseIdleConnections()
	}
	return nil
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.closed
}

// client returns the cached client of endpoint, making it if needed.
func (t *Transport) client(ctx context.Context, endpoint string) (*a2aclient.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil, &Error{Code: CodeClosed, Op: "deliver", URL: endpoint, Err: ErrClosed}
	}
	if e, ok := t.mu.clients[endpoint]; ok {
		t.mu.lru.MoveToFront(e)
		return e.Value.(*entry).client, nil
	}
	// Making a JSON-RPC client does no I/O.
	c, err := t.factory.CreateFromEndpoints(ctx, []sdk.AgentInterface{{Transport: sdk.TransportProtocolJSONRPC, URL: endpoint}})
	if err != nil {
		return nil, &Error{Code: CodeBadDelivery, Op: "deliver", URL: endpoint, Err: err}
	}
	t.mu.clients[endpoint] = t.mu.lru.PushFront(&entry{endpoint: endpoint, client: c})
	for t.mu.lru.Len() > t.cfg.MaxClients {
		old := t.mu.lru.Back()
		t.mu.lru.Remove(old)
		delete(t.mu.clients, old.Value.(*entry).endpoint)
		_ = old.Value.(*entry).client.Destroy()
	}
	return c, nil
}

// Deliver sends d to its agent with message/send and waits for the
// outcome.
//
// The message has role user and one data part (see the package
// documentation for its fields); its messageId is the action id, the same
// on every attempt, so that an agent can deduplicate; its contextId is the
// correlation id. If the agent replies with a message, the action is done
// and the Result holds one <action>.completed event with the message's
// parts. If it replies with a task, Deliver polls tasks/get (from
// Config.PollInterval, doubling to Config.MaxPollInterval) until the task
// ends: completed gives an <action>.completed event with the task's
// artifacts (data Completed); any other end gives an <action>.failed event
// (data Failed) and no error, because the agent did take the action. The
// events leave id, source, correlationid, causationid and hops to the
// dispatcher; time is when the outcome was seen.
//
// Errors are *Error values. A failure to reach the agent, a timeout, an
// HTTP status other than 200, a body that is not JSON-RPC and a JSON-RPC
// error that may pass are retryable. A JSON-RPC error saying the request
// will never be accepted (invalid params, method not found, unsupported
// operation) and a Delivery that cannot be sent are dispatch.Permanent. If
// ctx ends before the task does, Deliver returns an error with code
// CodeTimeout (or CodeCanceled) inside a *dispatch.InProgress naming the
// task; the task is left to run at the agent. A Delivery whose Task names
// a task (the dispatcher's next attempt at this agent, after a restart
// too) follows that task instead of sending the message.
func (t *Transport) Deliver(ctx context.Context, d *dispatch.Delivery) (dispatch.Result, error) {
	if d == nil {
		return dispatch.Result{}, dispatch.Permanent(&Error{Code: CodeBadDelivery, Op: "deliver", Err: errors.New("nil delivery")})
	}
	endpoint := d.Agent.Endpoint
	params, action, err := t.params(d)
	if err != nil {
		return dispatch.Result{}, dispatch.Permanent(&Error{Code: CodeBadDelivery, Op: "deliver", URL: endpoint, Err: err})
	}
	if err := checkEndpoint(endpoint); err != nil {
		// The agent is misconfigured, not the action: another agent may
		// take it.
		return dispatch.Result{}, &Error{Code: CodeBadDelivery, Op: "deliver", URL: endpoint, Err: err}
	}
	c, err := t.client(ctx, endpoint)
	if err != nil {
		return dispatch.Result{}, err
	}

	// A previous attempt left a task running: follow it rather than start
	// the work again. If the agent no longer knows it, send anew. The
	// dispatcher names it in d.Task (from its records, across restarts
	// too); the Transport also remembers the tasks it left.
	key := taskKey{endpoint, params.Message.ID}
	id, ok := d.Task, d.Task != ""
	if !ok {
		id, ok = t.rememberedTask(key)
	}
	if ok {
		task, err := t.follow(ctx, c, endpoint, &sdk.Task{ID: sdk.TaskID(id), Status: sdk.TaskStatus{State: sdk.TaskStateWorking}})
		switch {
		case err == nil:
			t.forgetTask(key)
			return taskResult(action, task, t.now().UTC())
		case !errors.Is(err, sdk.ErrTaskNotFound):
			return dispatch.Result{}, leftRunning(ctx, id, err)
		}
		t.forgetTask(key)
	}

	rctx, cancel := context.WithTimeout(ctx, t.cfg.RequestTimeout)
	res, err := c.SendMessage(rctx, params)
	if err != nil {
		err = classify(rctx, "message/send", endpoint, err)
	}
	cancel()
	if err != nil {
		return dispatch.Result{}, err
	}
	switch r := res.(type) {
	case *sdk.Message:
		return messageResult(action, r, t.now().UTC())
	case *sdk.Task:
		task, err := t.follow(ctx, c, endpoint, r)
		if err != nil {
			if r.ID != "" && !errors.Is(err, sdk.ErrTaskNotFound) {
				t.rememberTask(key, string(r.ID))
				err = leftRunning(ctx, string(r.ID), err)
			}
			return dispatch.Result{}, err
		}
		return taskResult(action, task, t.now().UTC())
	}
	return dispatch.Result{}, &Error{Code: CodeBadResponse, Op: "message/send", URL: endpoint, Err: fmt.Errorf("unexpected result %T", res)}
}

// Cancel implements dispatch.Canceler: it asks agent p to cancel task,
// the work an attempt at the action actionID left running there
// (tasks/cancel), and forgets the task, so that a later delivery of the
// action to p sends it anew rather than following the canceled task. A
// task p no longer knows is not an error: there is nothing left to stop.
// A task that has already ended (p says it cannot be canceled) is an
// *Error wrapping sdk.ErrTaskNotCancelable: its outcome was never taken.
func (t *Transport) Cancel(ctx context.Context, p agent.Profile, actionID, task string) error {
	endpoint := p.Endpoint
	t.forgetTask(taskKey{endpoint, actionID})
	if task == "" {
		return &Error{Code: CodeBadDelivery, Op: "tasks/cancel", URL: endpoint, Err: errors.New("no task to cancel")}
	}
	if err := checkEndpoint(endpoint); err != nil {
		return &Error{Code: CodeBadDelivery, Op: "tasks/cancel", URL: endpoint, Err: err}
	}
	c, err := t.client(ctx, endpoint)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, t.cfg.RequestTimeout)
	defer cancel()
	_, err = c.CancelTask(rctx, &sdk.TaskIDParams{ID: sdk.TaskID(task)})
	if err == nil || errors.Is(err, sdk.ErrTaskNotFound) {
		return nil
	}
	return classify(rctx, "tasks/cancel", endpoint, fmt.Errorf("task %q: %w", task, err))
}

// leftRunning returns err, which ended the following of task id, as a
// *dispatch.InProgress when the attempt's time ran out (ctx ended) with
// the task working: the dispatcher's next attempt comes back to this
// agent to follow it. Any other failure (the agent no longer answering
// tasks/get) is plain, so that the next attempt may go elsewhere.
func leftRunning(ctx context.Context, id string, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return &dispatch.InProgress{Task: id, Err: err}
}

// follow polls task until it ends, ctx ends, or polling fails.
func (t *Transport) follow(ctx context.Context, c *a2aclient.Client, endpoint string, task *sdk.Task) (*sdk.Task, error) {
	wait := t.cfg.PollInterval
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	failures := 0
	for {
		switch classifyState(task.Status.State) {
		case stateDone, stateFailed:
			return task, nil
		case stateInvalid:
			return nil, &Error{Code: CodeBadResponse, Op: "tasks/get", URL: endpoint,
				Err: fmt.Errorf("task %q has state %q, which is not an A2A task state", task.ID, task.Status.State)}
		}
		if task.ID == "" {
			return nil, &Error{Code: CodeBadResponse, Op: "message/send", URL: endpoint, Err: errors.New("task without an id")}
		}

		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil, t.ended(ctx, endpoint, task)
		case <-timer.C:
		}
		wait = min(2*wait, t.cfg.MaxPollInterval)

		rctx, cancel := context.WithTimeout(ctx, t.cfg.RequestTimeout)
		got, err := c.GetTask(rctx, &sdk.TaskQueryParams{ID: task.ID, HistoryLength: t.zeroHist})
		if err != nil {
			err = classify(rctx, "tasks/get", endpoint, fmt.Errorf("task %q: %w", task.ID, err))
		}
		cancel()
		switch {
		case err == nil && got == nil:
			err = &Error{Code: CodeBadResponse, Op: "tasks/get", URL: endpoint, Err: fmt.Errorf("task %q: empty result", task.ID)}
		case err == nil:
			failures = 0
			if got.ID == "" {
				got.ID = task.ID
			}
			task = got
			continue
		}
		if ctx.Err() != nil {
			return nil, t.ended(ctx, endpoint, task)
		}
		// A refusal will not change; a task the agent no longer knows will
		// not come back: only a new attempt can help.
		if dispatch.IsPermanent(err) || errors.Is(err, sdk.ErrTaskNotFound) {
			return nil, err
		}
		if failures++; failures >= t.cfg.MaxPollErrors {
			return nil, err
		}
	}
}

// ended is the error of a follow cut short by ctx.
func (t *Transport) ended(ctx context.Context, endpoint string, task *sdk.Task) error {
	c := CodeTimeout
	if errors.Is(ctx.Err(), context.Canceled) {
		c = CodeCanceled
	}
	return &Error{Code: c, Op: "tasks/get", URL: endpoint,
		Err: fmt.Errorf("task %q still %s: %w", task.ID, task.Status.State, ctx.Err())}
}

// params builds the message/send parameters of d and returns them with the
// action name.
func (t *Transport) params(d *dispatch.Delivery) (*sdk.MessageSendParams, string, error) {
	m := &d.Message
	id, action, correlation := m.MessageID, m.Action, m.CorrelationID
	priority, hops := m.Priority, m.Hops
	if a := d.Action; a != nil {
		// A Delivery built by hand may leave the Message out: take what
		// the action says, as the dispatcher would.
		if id == "" {
			id = a.ID
		}
		if action == "" {
			action = a.Action
		}
		if correlation == "" {
			correlation = a.CorrelationID
		}
		if priority == "" {
			priority = dispatch.PriorityNormal
			if a.Priority >= 8 {
				priority = dispatch.PriorityHigh
			}
		}
		if hops == 0 {
			hops = a.Hops + 1
		}
	}
	if id == "" {
		return nil, "", errors.New("no action id (Message.MessageID)")
	}
	if action == "" {
		return nil, "", errors.New("no action name (Message.Action)")
	}
	attempt := d.Attempt
	if attempt == 0 {
		attempt = m.Attempt
	}
	payload := m.Payload
	if len(payload.TriggerEvent) == 0 && d.Trigger != nil {
		payload.TriggerEvent = d.Trigger.AppendJSON(nil)
	}
	if len(payload.TriggerEvent) > 0 && !json.Valid(payload.TriggerEvent) {
		return nil, "", errors.New("the trigger event is not valid JSON")
	}

	data := map[string]any{
		"action":                action,
		"payload":               payload,
		"choreography_context":  payload.ChoreographyContext,
		"message_id":            id,
		"sender_id":             m.SenderID,
		"recipient_id":          m.RecipientID,
		"capabilities_required": m.CapabilitiesRequired,
		"priority":              priority,
		"correlation_id":        correlation,
		"timestamp":             m.Timestamp,
		"hops":                  hops,
		"attempt":               attempt,
	}
	if len(payload.TriggerEvent) > 0 {
		data["trigger_event"] = payload.TriggerEvent
	}
	return &sdk.MessageSendParams{
		Config: &sdk.MessageSendConfig{HistoryLength: t.zeroHist},
		Message: &sdk.Message{
			ID:        id,
			ContextID: correlation,
			Role:      sdk.MessageRoleUser,
			Parts:     sdk.ContentParts{sdk.DataPart{Data: data}},
			Metadata: map[string]any{
				MetaActionID: id,
				MetaAction:   action,
				MetaAttempt:  attempt,
				MetaHops:     hops,
				MetaPriority: priority,
			},
		},
	}, action, nil
}

// checkEndpoint reports an endpoint that is not an absolute http or https
// URL.
func checkEndpoint(endpoint string) error {
	if endpoint == "" {
		return errors.New("the agent has no endpoint")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("the agent's endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("the agent's endpoint %q is not an http or https URL", endpoint)
	}
	return nil
}
