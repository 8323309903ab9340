package a2a

import (
	"encoding/json"
	"strings"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/event"
)

// Suffixes of the type of the event an A2A delivery gives back: an action
// "reserve_stock" ends in "reserve_stock.completed" or
// "reserve_stock.failed".
const (
	CompletedSuffix = ".completed"
	FailedSuffix    = ".failed"
)

// Completed is the data of the <action>.completed event published when the
// agent completes the task, or answers with a message instead of a task.
type Completed struct {
	// Artifacts holds the data of every data part, in order: of every
	// artifact of the task, or of the agent's reply message. Never null.
	Artifacts []map[string]any `json:"artifacts"`
	// Text holds the text of every text part, in the same order. File
	// parts are not carried.
	Text []string `json:"text,omitempty"`
	// TaskID is the agent's id of the task; empty for a message reply.
	TaskID string `json:"task_id,omitempty"`
	// ContextID is the task's or the reply's context id: the correlation
	// id the transport sent, unless the agent chose another.
	ContextID string `json:"context_id,omitempty"`
	// MessageID is the id of the agent's reply message; empty for a task.
	MessageID string `json:"message_id,omitempty"`
}

// Failed is the data of the <action>.failed event published when the task
// ends in any state but completed.
//
// State is the task's A2A state: "failed", "rejected" or "canceled"; or
// "input-required" or "auth-required", which the transport counts as
// failures, because a choreography has no one to supply the input or the
// credentials the agent asks for — the agent should publish the events
// that would let the choreography go on instead.
type Failed struct {
	State     string `json:"state"`
	Message   string `json:"message,omitempty"` // the text parts of the task's status message, joined by newlines
	TaskID    string `json:"task_id"`
	ContextID string `json:"context_id,omitempty"`
}

// endState says what a task state means to a delivery.
type endState int

const (
	stateRunning endState = iota // not ended: poll again
	stateDone                    // completed
	stateFailed                  // ended otherwise, or waits for what no one will give
	stateInvalid                 // not a state of the protocol
)

func classifyState(s sdk.TaskState) endState {
	switch s {
	case sdk.TaskStateSubmitted, sdk.TaskStateWorking, sdk.TaskStateUnknown:
		return stateRunning
	case sdk.TaskStateCompleted:
		return stateDone
	case sdk.TaskStateFailed, sdk.TaskStateRejected, sdk.TaskStateCanceled,
		sdk.TaskStateInputRequired, sdk.TaskStateAuthRequired:
		return stateFailed
	}
	return stateInvalid
}

// completedResult is the Result of a task that completed or of a reply
// message.
func completedResult(action string, c *Completed, now time.Time) (dispatch.Result, error) {
	if c.Artifacts == nil {
		c.Artifacts = []map[string]any{}
	}
	return result(action+CompletedSuffix, c, now)
}

func taskResult(action string, task *sdk.Task, now time.Time) (dispatch.Result, error) {
	if task.Status.State == sdk.TaskStateCompleted {
		c := &Completed{TaskID: string(task.ID), ContextID: task.ContextID}
		for _, a := range task.Artifacts {
			if a != nil {
				collect(c, a.Parts)
			}
		}
		return completedResult(action, c, now)
	}
	f := &Failed{State: string(task.Status.State), TaskID: string(task.ID), ContextID: task.ContextID}
	if m := task.Status.Message; m != nil {
		var texts []string
		for _, p := range m.Parts {
			switch t := p.(type) {
			case sdk.TextPart:
				texts = append(texts, t.Text)
			case *sdk.TextPart:
				if t != nil {
					texts = append(texts, t.Text)
				}
			}
		}
		f.Message = strings.Join(texts, "\n")
	}
	return result(action+FailedSuffix, f, now)
}

func messageResult(action string, m *sdk.Message, now time.Time) (dispatch.Result, error) {
	c := &Completed{ContextID: m.ContextID, MessageID: m.ID}
	collect(c, m.Parts)
	return completedResult(action, c, now)
}

func collect(c *Completed, parts sdk.ContentParts) {
	for _, p := range parts {
		switch p := p.(type) {
		case sdk.DataPart:
			c.Artifacts = append(c.Artifacts, nonNil(p.Data))
		case *sdk.DataPart:
			if p != nil {
				c.Artifacts = append(c.Artifacts, nonNil(p.Data))
			}
		case sdk.TextPart:
			c.Text = append(c.Text, p.Text)
		case *sdk.TextPart:
			if p != nil {
				c.Text = append(c.Text, p.Text)
			}
		}
	}
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func result(typ string, data any, now time.Time) (dispatch.Result, error) {
	b, err := json.Marshal(data)
	if err != nil {
		// Agent data decoded from JSON always encodes again; this is
		// defensive.
		return dispatch.Result{}, err
	}
	return dispatch.Result{Events: []*event.Event{{
		SpecVersion:     event.SpecVersion,
		Type:            typ,
		Time:            now,
		DataContentType: "application/json",
		Data:            b,
	}}}, nil
}
