package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/event"
)

// Transport delivers one action to one agent. The dispatcher picks the
// agent, builds the Delivery and calls the transport registered for the
// agent's protocol; retries, deadlines, breakers and dead letters are the
// dispatcher's, not the transport's.
//
// Deliver returns once the agent has taken the action (and, for protocols
// with tasks, once the task has ended). ctx carries the attempt's
// deadline. An error means the attempt failed: the dispatcher retries it,
// possibly with another agent, unless the error is Permanent. A transport
// must be safe for concurrent use.
type Transport interface {
	Deliver(ctx context.Context, d *Delivery) (Result, error)
}

// Delivery is one attempt to deliver an action.
type Delivery struct {
	Action *engine.Action
	// Trigger is the event that completed the match; nil if the log no
	// longer has it. Deliveries of other actions may share it: it must
	// not be modified.
	Trigger *event.Event
	Agent   agent.Profile
	Attempt int // 1 for the first attempt
	// Task is the agent's name for this action's work, left running by
	// an earlier attempt at this same agent (see InProgress): the
	// transport follows it rather than sending the action again. Empty
	// when there is none.
	Task string
	// Message is the action as the agent receives it.
	Message Message
}

// Message is the action as sent to an agent: the course's A2AMessage.
// Webhooks receive it as JSON; A2A agents receive it as a data part.
type Message struct {
	MessageID            string    `json:"message_id"` // the action id: the idempotency key
	SenderID             string    `json:"sender_id"`
	RecipientID          string    `json:"recipient_id"`
	Action               string    `json:"action"`
	Payload              Payload   `json:"payload"`
	CapabilitiesRequired []string  `json:"capabilities_required"`
	Priority             string    `json:"priority"` // PriorityHigh when the rule's priority is 8 or more
	CorrelationID        string    `json:"correlation_id"`
	Timestamp            time.Time `json:"timestamp"` // when this attempt was sent
	Hops                 int       `json:"hops"`      // the hops the events the action causes must carry
	Attempt              int       `json:"attempt"`
}

// Payload is the body of a Message.
type Payload struct {
	TriggerEvent        json.RawMessage     `json:"trigger_event,omitempty"` // the CloudEvent, as JSON
	Pattern             string              `json:"pattern"`                 // the rule id
	ChoreographyContext ChoreographyContext `json:"choreography_context"`
}

// ChoreographyContext tells an agent where an action comes from.
type ChoreographyContext struct {
	Choreography    string    `json:"choreography"`
	PatternID       string    `json:"pattern_id"`
	RuleKind        string    `json:"rule_kind"`
	TriggeredAt     time.Time `json:"triggered_at"` // the action's event time
	TriggerEventIDs []string  `json:"trigger_event_ids"`
}

// Message priorities.
const (
	PriorityHigh   = "HIGH"
	PriorityNormal = "NORMAL"
)

// Result is what an agent gave back for a delivered action.
type Result struct {
	// Events are published to the log, in order: the events in a webhook
	// agent's response, or the <action>.completed / <action>.failed event
	// of an A2A task. The dispatcher fills what they leave out: an id
	// derived from the action id and the event's index, source the agent,
	// correlationid and causationid from the action, hops Message.Hops.
	Events []*event.Event
	// Refused, when not nil, says why the agent's answer held events
	// that could not be taken (a webhook's 2xx body that is not valid
	// CloudEvents, or is too large): the action counts as delivered, as
	// another attempt would get the same answer, and the dispatcher logs
	// it and counts it in Metrics.ResultsRefused.
	Refused error
}

// InProgress is the error of an attempt that ended, its deadline passed,
// while the agent still had the work: Task names it at the agent (an A2A
// task id). The dispatcher records Task with the failed attempt, and the
// next attempt goes to the same agent when it can take it, with
// Delivery.Task set, so that the transport follows the work instead of
// starting it again; after a restart too.
type InProgress struct {
	Task string
	Err  error
}

func (e *InProgress) Error() string { return e.Err.Error() }
func (e *InProgress) Unwrap() error { return e.Err }

// Canceler is implemented by a transport whose attempts can leave work
// running at an agent (see InProgress). When the dispatcher gives up on an
// action (dead-letters it) whose attempts left work running, or another
// agent delivers it, it calls Cancel with the agent, the action's id and
// the work's name there (InProgress.Task), so that the agent stops work
// that no one waits for any more, and so that a retry of the dead letter
// sends the action anew rather than following the canceled work. ctx
// ends when the dispatcher's drain does, or after a few seconds.
type Canceler interface {
	Cancel(ctx context.Context, agent agent.Profile, actionID, task string) error
}

// Permanent marks err as not worth retrying: the dispatcher dead-letters
// the action at once (reason "rejected") instead of trying again.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was made by
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
