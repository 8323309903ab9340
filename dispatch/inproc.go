package dispatch

import (
	"context"
	"fmt"
	"sync"

	"github.com/choreohq/choreo/agent"
)

// Handler performs an action in process. It is the in-process agent's
// whole work: it returns the events the action caused (see Result), or an
// error — Permanent to refuse the action for good.
type Handler func(ctx context.Context, d *Delivery) (Result, error)

// InProcess is the transport of agents that live in the same process: it
// calls the Handler registered under the agent's Endpoint. It is for
// library users and tests. The zero value is not usable; call NewInProcess.
type InProcess struct {
	mu       sync.RWMutex
	handlers map[string]Handler
	cancels  map[string]CancelHandler
}

// CancelHandler cancels the work task that an in-process agent's handler
// left running for action actionID (see InProgress and Canceler). It must
// return when ctx ends, as a Handler must.
type CancelHandler func(ctx context.Context, actionID, task string) error

var (
	_ Transport = (*InProcess)(nil)
	_ Canceler  = (*InProcess)(nil)
)

// NewInProcess returns a transport with no handlers.
func NewInProcess() *InProcess {
	return &InProcess{handlers: make(map[string]Handler), cancels: make(map[string]CancelHandler)}
}

// HandleCancel registers c under name, for the agents served by the
// handler of that name whose handler returns InProgress: the dispatcher
// calls it to cancel the work left running when it gives up on the
// action.
func (t *InProcess) HandleCancel(name string, c CancelHandler) {
	t.mu.Lock()
	t.cancels[name] = c
	t.mu.Unlock()
}

// Cancel implements Canceler with the CancelHandler registered under the
// agent's Endpoint.
func (t *InProcess) Cancel(ctx context.Context, p agent.Profile, actionID, task string) (err error) {
	t.mu.RLock()
	c := t.cancels[p.Endpoint]
	t.mu.RUnlock()
	if c == nil {
		return fmt.Errorf("dispatch: no in-process cancel handler %q for agent %s", p.Endpoint, p.ID)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("dispatch: in-process cancel handler %q panicked: %v", p.Endpoint, r)
		}
	}()
	return c(ctx, actionID, task)
}

// Handle registers h under name, replacing any handler of that name. An
// agent whose Protocol is agent.ProtocolInProcess and whose Endpoint is
// name is served by h.
func (t *InProcess) Handle(name string, h Handler) {
	t.mu.Lock()
	t.handlers[name] = h
	t.mu.Unlock()
}

// Remove unregisters the handler and the cancel handler of name.
func (t *InProcess) Remove(name string) {
	t.mu.Lock()
	delete(t.handlers, name)
	delete(t.cancels, name)
	t.mu.Unlock()
}

// Deliver implements Transport. A handler that panics fails the attempt.
func (t *InProcess) Deliver(ctx context.Context, d *Delivery) (res Result, err error) {
	t.mu.RLock()
	h := t.handlers[d.Agent.Endpoint]
	t.mu.RUnlock()
	if h == nil {
		return Result{}, fmt.Errorf("dispatch: no in-process handler %q for agent %s", d.Agent.Endpoint, d.Agent.ID)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dispatch: in-process handler %q panicked: %v", d.Agent.Endpoint, p)
		}
	}()
	return h(ctx, d)
}
