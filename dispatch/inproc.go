package dispatch

import (
	"context"
	"fmt"
	"sync"
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
}

var _ Transport = (*InProcess)(nil)

// NewInProcess returns a transport with no handlers.
func NewInProcess() *InProcess { return &InProcess{handlers: make(map[string]Handler)} }

// Handle registers h under name, replacing any handler of that name. An
// agent whose Protocol is agent.ProtocolInProcess and whose Endpoint is
// name is served by h.
func (t *InProcess) Handle(name string, h Handler) {
	t.mu.Lock()
	t.handlers[name] = h
	t.mu.Unlock()
}

// Remove unregisters the handler of name.
func (t *InProcess) Remove(name string) {
	t.mu.Lock()
	delete(t.handlers, name)
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
