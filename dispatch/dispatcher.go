package dispatch

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Directory is where the dispatcher finds agents: the registry. A
// Directory that also has a method Get(id string) (agent.Profile, bool),
// as agent.Registry has, lets the dispatcher look agents up by id: to
// cancel the work an action left at an agent (Canceler), and to forget
// the state it keeps of agents that have left.
type Directory interface {
	// AppendDiscover appends to dst the agents that may take an action
	// needing caps, best first, and returns the extended slice.
	AppendDiscover(dst []agent.Profile, caps []string) []agent.Profile
	// ChangedFor returns a channel closed at the next change of the
	// directory that concerns agents with capability: one registers,
	// unregisters, gains or loses it, or reports in. Agents found by
	// AppendDiscover change only so, or by going stale.
	ChangedFor(capability string) <-chan struct{}
}

// Dispatcher delivers the actions of the outbox (live.ActionsStream) to
// agents. See the package documentation.
type Dispatcher struct {
	st         store.Store
	dir        Directory
	transports map[string]Transport
	cfg        Config
	log        *slog.Logger

	// ops is held, shared, by Retry and Discard for their whole work, and
	// by Run, alone, while it resets the dead-letter queue, so that Run
	// rebuilds the queue from a log that holds the records of every
	// operation on the last queue, and no operation reaches into the new
	// one with the last one's outcome.
	ops sync.RWMutex
	mu  struct {
		sync.Mutex
		closed  bool
		running bool
		cancel  context.CancelFunc
		done    chan struct{}
		// waiters holds, per capability, the actions waiting for an
		// agent with it, longest waiting first (see acquire).
		waiters map[string]*list.List
		dead    map[string]deadRef // by action id
		// retryQueue holds dead letters sent back for delivery while Run
		// runs; retryWake (1-buffered) tells Run there are some.
		retryQueue []engine.Action
		retryWake  chan struct{}
		// recovered says Run has rebuilt the dead-letter queue from the
		// log; until then Retry, Discard and DeadLetters cannot answer.
		recovered bool
		// broken is the store's error that ended Run: the store can
		// record no outcome, so Run delivers nothing more, and stopWork
		// abandons the attempts in progress at once.
		broken   error
		stopWork context.CancelFunc
	}

	agents   sync.Map // agent id → *agentState
	records  chan *outcome
	stopping chan struct{} // closed when Run stops taking actions
	triggers triggers
	outbox   atomic.Pointer[live.Outbox] // the running Run's, for metrics
	readPos  atomic.Uint64               // global position recovery read to, for metrics
	profiles sync.Pool                   // *[]agent.Profile, for discovery
	m        metrics
	// cancels tracks the cancels of work that delivered actions left at
	// other agents, which run beside the workers (see Canceler).
	cancels sync.WaitGroup
	// left holds, by action id, the work that open actions left running
	// at agents, as recovery found it, for the reader of open actions
	// (Run's goroutine only).
	left map[string]leftWork
}

// resumeRef is work an attempt left running at an agent (see InProgress).
type resumeRef struct{ agent, task string }

// leftWork is the work an action's attempts left running at agents.
type leftWork struct {
	// resume is the work the next attempt follows, if that agent can
	// take it: the last attempt's at that agent, if it left some.
	resume resumeRef
	// all holds the latest work left at each agent, which is canceled if
	// the action is given up on. An entry stays after a later attempt at
	// its agent fails otherwise: the work's fate is then unknown.
	all []resumeRef
}

// failed updates w for an attempt at agent that failed, leaving task
// running there ("" if none).
func (w *leftWork) failed(agent, task string) {
	if task == "" {
		if w.resume.agent == agent {
			w.resume = resumeRef{}
		}
		return
	}
	w.resume = resumeRef{agent: agent, task: task}
	for i := range w.all {
		if w.all[i].agent == agent {
			w.all[i].task = task
			return
		}
	}
	w.all = append(w.all, w.resume)
}

// errParked is acquire's answer to an action that is to wait for an agent
// outside the workers (see deliver).
var errParked = errors.New("dispatch: no agent; waiting outside the workers")

// park counts one more action waiting outside the workers, unless
// Config.MaxParked wait already.
func (d *Dispatcher) park() bool {
	if d.m.parked.Add(1) > int64(d.cfg.MaxParked) {
		d.m.parked.Add(-1)
		return false
	}
	return true
}

// errAbandoned is the outcome given to an agent's breaker for an attempt
// abandoned when Run stopped: neither a success nor a failure.
var errAbandoned = errors.New("dispatch: attempt abandoned as Run stopped")

// agentState is what the dispatcher keeps per agent.
type agentState struct {
	slots   chan struct{}
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	// caps are the agent's capabilities as the latest look for an agent
	// found them: a slot it frees may serve the actions waiting for any.
	caps atomic.Pointer[[]string]
}

// New returns a dispatcher that reads actions from st, finds agents in dir
// and reaches them through transports, keyed by protocol (the agent
// package's Protocol constants).
func New(st store.Store, dir Directory, transports map[string]Transport, cfg Config) (*Dispatcher, error) {
	if st == nil || dir == nil {
		return nil, fmt.Errorf("%w: nil store or directory", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d := &Dispatcher{st: st, dir: dir, transports: make(map[string]Transport, len(transports)), cfg: cfg, log: cfg.Logger}
	for p, t := range transports {
		if t == nil {
			return nil, fmt.Errorf("%w: nil transport for %q", ErrInvalidConfig, p)
		}
		d.transports[p] = t
	}
	d.profiles.New = func() any { return new([]agent.Profile) }
	d.mu.waiters = make(map[string]*list.List)
	d.m.rules = make(map[ruleKey]*RuleStats)
	return d, nil
}

// Run recovers the dispatcher's state from the log, delivers the actions
// left undone, then follows the outbox until ctx ends or Close is called.
// It returns ctx.Err(), ErrClosed, or the store's error; it ends by itself
// when the store breaks (store.ErrBroken). Before returning
// it stops the deliveries in progress (an interrupted attempt is not
// recorded, so the next Run delivers the action again with the same
// idempotency key) and appends the outcomes already known.
func (d *Dispatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ops.Lock()
	d.mu.Lock()
	switch {
	case d.mu.closed:
		d.mu.Unlock()
		d.ops.Unlock()
		return ErrClosed
	case d.mu.running:
		d.mu.Unlock()
		d.ops.Unlock()
		return ErrRunning
	}
	d.mu.running = true
	d.mu.cancel = cancel
	d.mu.done = make(chan struct{})
	d.mu.retryWake = make(chan struct{}, 1)
	d.mu.retryQueue = nil
	d.mu.recovered = false
	d.mu.dead = nil
	d.mu.broken = nil
	d.mu.stopWork = nil
	done, wake := d.mu.done, d.mu.retryWake
	d.mu.Unlock()
	d.ops.Unlock()
	defer func() {
		d.mu.Lock()
		d.mu.running = false
		d.mu.retryWake = nil
		d.mu.retryQueue = nil // they are in the log: the next Run finds them
		close(done)
		d.mu.Unlock()
	}()

	d.records = make(chan *outcome, d.cfg.MaxInFlight)
	d.stopping = make(chan struct{})
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		d.recorder(context.WithoutCancel(ctx))
	}()
	// Attempts in progress when ctx ends may finish, for up to
	// Config.Drain; those still going then are abandoned and redelivered
	// by the next Run.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	d.mu.Lock()
	d.mu.stopWork = stopWork
	d.mu.Unlock()
	var tasks sync.WaitGroup
	err := d.run(ctx, newDeadlines(work), &tasks, wake)
	cancel()
	close(d.stopping)
	drain := time.AfterFunc(d.cfg.Drain, stopWork)
	tasks.Wait()
	d.cancels.Wait()
	drain.Stop()
	close(d.records)
	<-recDone
	if d.isClosed() {
		return ErrClosed
	}
	d.mu.Lock()
	broken := d.mu.broken
	d.mu.Unlock()
	if broken != nil {
		return broken
	}
	return err
}

// stopBroken ends Run on err, an error of a store that can take no more
// appends (store.ErrBroken): no outcome could be recorded, and every
// delivery from then on would be repeated by the next Run.
func (d *Dispatcher) stopBroken(err error) {
	d.mu.Lock()
	if d.mu.broken == nil && d.mu.running {
		d.mu.broken = err
		d.log.Error("dispatch: the store can record no outcome; stopping", "err", err)
		d.mu.cancel()
		if d.mu.stopWork != nil {
			d.mu.stopWork() // their outcomes could not be recorded either
		}
	}
	d.mu.Unlock()
}

func (d *Dispatcher) run(ctx context.Context, work *deadlines, tasks *sync.WaitGroup, wake <-chan struct{}) error {
	d.outbox.Store(nil)
	d.readPos.Store(0)
	pending, next, err := d.recover(ctx)
	if err != nil {
		return err
	}
	// MaxInFlight workers deliver; handing an action to them blocks while
	// all are busy, and the outbox waits in the log.
	queue := make(chan task)
	defer close(queue)
	for range d.cfg.MaxInFlight {
		tasks.Go(func() {
			for t := range queue {
				if d.deliver(ctx, work, &t, true) {
					// No agent can take it now: it waits in a goroutine of
					// its own, and the worker takes the next action.
					parked := t
					tasks.Go(func() { d.deliver(ctx, work, &parked, false) })
				}
			}
		})
	}
	start := func(ctx context.Context, t task) error {
		select {
		case queue <- t:
			d.m.taken.Add(1)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.m.queued.Store(int64(len(pending)))
	open := newOpenReader(d.st, pending)
	open.left, d.left = d.left, nil
	pending = nil
	for {
		t, ok, err := open.next(ctx)
		if err == nil && ok {
			err = start(ctx, t)
		}
		if err != nil {
			d.m.queued.Store(0)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if !ok {
			break
		}
		d.m.queued.Add(-1)
	}

	// The outbox's reader hands actions to the workers itself; the loop
	// below takes the dead letters sent back for delivery. The reader has
	// stopped before the queue closes.
	readErr := make(chan error, 1)
	readDone := make(chan struct{})
	readCtx, stopRead := context.WithCancel(ctx)
	defer func() {
		stopRead()
		<-readDone
	}()
	go func() {
		defer close(readDone)
		o := live.NewEarlyOutbox(d.st, next)
		o.Observe(d.triggers.put)
		d.outbox.Store(o)
		defer o.Close()
		for {
			e, err := o.Next(readCtx)
			if errors.Is(err, live.ErrInvalidAction) {
				d.log.Error("dispatch: skipping an action record that does not decode", "err", err)
				continue
			}
			if err == nil {
				err = start(readCtx, task{a: e.Action})
			}
			if err != nil {
				if readCtx.Err() != nil {
					err = readCtx.Err()
				}
				readErr <- err
				return
			}
		}
	}()
	sweep := time.NewTicker(agentSweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-sweep.C:
			d.sweepAgents()
		case <-wake:
			d.mu.Lock()
			queue := d.mu.retryQueue
			d.mu.retryQueue = nil
			d.mu.Unlock()
			for _, a := range queue {
				if err := start(ctx, task{a: a}); err != nil {
					return err
				}
			}
		case err := <-readErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops Run and waits for it to return. It is idempotent.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	d.mu.closed = true
	cancel, done, running := d.mu.cancel, d.mu.done, d.mu.running
	d.mu.Unlock()
	if running {
		cancel()
		<-done
	}
	return nil
}

func (d *Dispatcher) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.closed
}

// deliver takes one action to its end: delivered, dead-lettered, or
// abandoned. Once stop ends it starts no new attempt and waits for no
// agent; work's parent bounds the attempt in progress. With mayPark, it
// returns true at once, having done nothing, when no agent can take the
// action now (none has its capability, or all that have it are busy) and
// fewer than Config.MaxParked actions wait outside the workers already:
// the caller then delivers it again, without mayPark, outside the
// workers, so that a capability no agent has, or a slow agent with a
// long queue, cannot hold every worker and stall the actions of every
// other capability.
//
// deliver keeps a copy of t's action of its own, which it passes to the
// agent and to the recorder: t is not kept.
func (d *Dispatcher) deliver(stop context.Context, dl *deadlines, t *task, mayPark bool) (parked bool) {
	ctx, work := stop, dl.parent
	s := &delivery{act: t.a}
	a, tried, left := &s.act, t.tried, t.left
	// A parked action (delivered without mayPark) counts as parked until
	// it has an agent.
	parkedNow := !mayPark
	defer func() {
		if parkedNow {
			d.m.parked.Add(-1)
		}
	}()
	if a.Hops+1 > d.cfg.MaxHops {
		d.deadLetter(work, a, left.all, ReasonLoop, 0, "", fmt.Sprintf("its events would carry %d hops, over the maximum of %d", a.Hops+1, d.cfg.MaxHops))
		return false
	}
	// The trigger event is read once an agent is at hand, so that an
	// action waiting for one does not hold it meanwhile.
	var trigger *event.Event
	var triggerJSON []byte
	fetched := len(a.TriggerEventIDs) == 0
	s.caps[0] = a.TargetCapability
	caps := s.caps[:]
	priority := PriorityNormal
	if a.Priority >= 8 {
		priority = PriorityHigh
	}
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = d.cfg.Timeout
	}
	var lastErr error
	var lastAgent string
	if tried >= d.cfg.MaxAttempts {
		// The attempts an earlier Run recorded reached the maximum; it
		// stopped before it could record the dead letter.
		d.deadLetter(work, a, left.all, ReasonMaxAttempts, tried, "", fmt.Sprintf("%d attempts were recorded before a restart, the maximum being %d", tried, d.cfg.MaxAttempts))
		return false
	}
	// avoid is the agent the next attempt goes to only if no other can
	// take it: the one that just failed, unless its attempt ran out of
	// time — it may be working on the action still, and the same agent
	// can resume or deduplicate it (an A2A task is followed, a webhook
	// sees the same idempotency key) where another would start over.
	var avoid string
	for attempt := tried + 1; ; attempt++ {
		p, lease, reason, err := d.acquire(ctx, caps, mayPark && attempt == tried+1, avoid, left.resume.agent)
		if err == errParked {
			return true
		}
		if err == nil && parkedNow {
			d.m.parked.Add(-1)
			parkedNow = false
		}
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			msg := err.Error()
			if lastErr != nil {
				msg = lastErr.Error()
			}
			d.deadLetter(work, a, left.all, reason, attempt-1, lastAgent, msg)
			return false
		}
		if !fetched {
			fetched = true
			t, err := d.triggers.get(work, d.st, a.TriggerEventIDs[len(a.TriggerEventIDs)-1])
			if work.Err() != nil {
				d.release(lease, errAbandoned)
				return false
			}
			if err != nil {
				d.log.Warn("dispatch: reading an action's trigger event failed; delivering without it", "action", a.ID, "err", err)
			} else if t != nil {
				trigger, triggerJSON = t.ev, t.json()
			}
		}
		lastAgent = p.ID
		tr := d.transports[p.Transport()]
		// The first attempt's Delivery is the one made with s; a later
		// attempt gets one of its own, as an agent may keep the last.
		del := &s.del
		if attempt > tried+1 {
			del = new(Delivery)
		}
		began := time.Now()
		*del = Delivery{Action: a, Trigger: trigger, Agent: p, Attempt: attempt, Task: left.resume.taskAt(p.ID), Message: Message{
			MessageID:            a.ID,
			SenderID:             d.cfg.SenderID,
			RecipientID:          p.ID,
			Action:               a.Action,
			CapabilitiesRequired: caps,
			Priority:             priority,
			CorrelationID:        a.CorrelationID,
			Timestamp:            began.UTC(),
			Hops:                 a.Hops + 1,
			Attempt:              attempt,
			Payload: Payload{TriggerEvent: triggerJSON, Pattern: a.RuleID, ChoreographyContext: ChoreographyContext{
				Choreography: a.Choreography, PatternID: a.RuleID, RuleKind: a.RuleKind,
				TriggeredAt: a.Time, TriggerEventIDs: a.TriggerEventIDs,
			}},
		}}
		var res Result
		if tr == nil {
			err = fmt.Errorf("%w %q (agent %s)", ErrNoTransport, p.Transport(), p.ID)
		} else {
			actx := dl.afterAt(began, timeout)
			res, err = tr.Deliver(actx, del)
			avoid = p.ID
			if err != nil && actx.Err() != nil && work.Err() == nil {
				err = fmt.Errorf("deadline of %v passed: %w", timeout, err)
				avoid = ""
			}
		}
		took := time.Since(began)
		if work.Err() != nil { // past the drain: leave the action for the next run
			d.release(lease, errAbandoned)
			// Work cut off but left running at the agent is recorded,
			// so that the next run follows it there rather than sending
			// the action again.
			var ip *InProgress
			if errors.As(err, &ip) && ip.Task != "" {
				d.attemptFailed(a, attempt, p.ID, err, took, ip.Task)
			}
			return false
		}
		d.release(lease, err)
		d.m.attempts.Add(1)
		if err == nil {
			if res.Refused != nil {
				d.m.resultsRefused.Add(1)
				d.log.Warn("dispatch: an agent's answer held events that could not be taken", "action", a.ID, "agent", p.ID, "err", res.Refused)
			}
			d.delivered(&s.out, a, p.ID, attempt, took, res.Events)
			// Work earlier attempts left running, but for the work this
			// attempt followed to its end, is now done for nothing. No one
			// waits for the cancels: the worker goes on.
			var others []resumeRef
			for _, w := range left.all {
				if w.agent != p.ID || w.task != del.Task {
					others = append(others, w)
				}
			}
			if len(others) > 0 {
				d.cancels.Go(func() {
					for _, w := range others {
						d.cancelLeft(work, a, w)
					}
				})
			}
			return false
		}
		lastErr = err
		d.m.failedAttempts.Add(1)
		// Work left running at the agent is what the next attempt there
		// follows; an attempt that left none ends what an earlier one
		// left.
		var ip *InProgress
		if errors.As(err, &ip) && ip.Task != "" {
			left.failed(p.ID, ip.Task)
		} else {
			left.failed(p.ID, "")
		}
		d.attemptFailed(a, attempt, p.ID, err, took, left.resume.taskAt(p.ID))
		if IsPermanent(err) {
			d.deadLetter(work, a, left.all, ReasonRejected, attempt, p.ID, err.Error())
			return false
		}
		if attempt >= d.cfg.MaxAttempts {
			d.deadLetter(work, a, left.all, ReasonMaxAttempts, attempt, p.ID, err.Error())
			return false
		}
		if !sleep(ctx, d.backoff(attempt)) {
			return false
		}
	}
}

// attemptFailed records a's failed attempt at agent, and the work it left
// running there (task), if any.
func (d *Dispatcher) attemptFailed(a *engine.Action, attempt int, agent string, err error, took time.Duration, task string) {
	d.emit(&outcome{action: a, records: []*event.Event{record(AttemptType, a, &Attempt{
		ActionID: a.ID, Action: a.Action, Choreography: a.Choreography, RuleID: a.RuleID,
		Attempt: attempt, Agent: agent, Error: clip(err.Error()), DurationMS: ms(took), Task: task,
	}, time.Now().UTC())}})
}

// taskAt returns the work left running at agent id, or "".
func (r resumeRef) taskAt(id string) string {
	if r.agent == id {
		return r.task
	}
	return ""
}

// backoff returns the wait after the attempt-th failed attempt.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	w := d.cfg.Backoff
	for i := 1; i < attempt && w < d.cfg.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.cfg.MaxBackoff)
	return w/2 + rand.N(w/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// acquire waits for a usable agent with caps and takes one of its slots
// and its breaker's permission, to be given back with release and the
// attempt's error; agent prefer first, when it can take the action (it
// has the action's work running), and agent avoid only when no other will
// do. On failure it returns the dead-letter reason.
//
// With mayPark, it returns errParked at once, having taken nothing, when
// no agent can take the action now and fewer than Config.MaxParked
// actions wait outside the workers already (see deliver). Otherwise it
// waits: for a change to the agents with the capability, for a slot freed
// at one of them (each freed slot wakes one waiter, the longest waiting),
// and, while breakers are open, for AgentPoll. An action that waits only
// because the agents are busy waits as long as it takes: that is
// backpressure, and the outbox grows meanwhile. One that waits for want
// of a usable agent (none live, or breakers open) is dead-lettered after
// AgentWait.
func (d *Dispatcher) acquire(ctx context.Context, caps []string, mayPark bool, avoid, prefer string) (p agent.Profile, l lease, reason string, err error) {
	var deadline *time.Timer
	var w *slotWaiter
	buf := d.profiles.Get().(*[]agent.Profile)
	defer d.profiles.Put(buf)
	defer func() {
		if w != nil {
			d.m.waiting.Add(-1)
			d.leaveQueue(w)
		}
	}()
	for {
		var changed <-chan struct{}
		if w != nil {
			// Waiting: what wakes the wait is taken before looking, so
			// that no change after the look goes unseen.
			changed = d.dir.ChangedFor(caps[0])
			d.joinQueue(w)
		}
		agents := d.dir.AppendDiscover((*buf)[:0], caps)
		*buf = agents
		// The agent that failed the last attempt comes last: a retry
		// goes to another agent when one can take it.
		last, busy, refused := -1, false, false
		try := func(i int) bool {
			var st int
			l, st = d.takeSlot(&agents[i])
			switch st {
			case slotFull:
				busy = true
			case slotRefused:
				refused = true
			}
			if st == slotTaken {
				p = agents[i]
				return true
			}
			return false
		}
		first := -1
		if prefer != "" {
			for i := range agents {
				if agents[i].ID == prefer {
					first = i
					if try(i) {
						return p, l, "", nil
					}
					break
				}
			}
		}
		for i := range agents {
			if i == first {
				continue
			}
			if agents[i].ID == avoid {
				last = i
				continue
			}
			if try(i) {
				return p, l, "", nil
			}
		}
		if last >= 0 && try(last) {
			return p, l, "", nil
		}
		if w == nil {
			if mayPark && d.park() {
				return agent.Profile{}, lease{}, "", errParked
			}
			// Count as waiting and join the queue, then look once more:
			// a slot freed from then on wakes us (release wakes no one
			// while no one waits).
			deadline = time.NewTimer(d.cfg.AgentWait)
			defer deadline.Stop()
			w = &slotWaiter{ch: make(chan struct{}, 1), capability: caps[0]}
			d.m.waiting.Add(1)
			continue
		}
		// An open breaker changes with time alone.
		var poll *time.Timer
		var pollC <-chan time.Time
		if refused {
			poll = time.NewTimer(d.cfg.AgentPoll)
			pollC = poll.C
		}
		select {
		case <-changed:
		case <-w.ch:
			w.woken = true
		case <-pollC:
		case <-deadline.C:
			switch {
			case busy:
				deadline.Reset(d.cfg.AgentWait) // backpressure: wait on
			case len(agents) == 0:
				return agent.Profile{}, lease{}, ReasonNoAgent, fmt.Errorf("no live agent with capability %q within %v", caps[0], d.cfg.AgentWait)
			default:
				return agent.Profile{}, lease{}, ReasonUnavailable, fmt.Errorf("no usable agent with capability %q within %v: the breakers of all %d are open", caps[0], d.cfg.AgentWait, len(agents))
			}
		case <-ctx.Done():
			return agent.Profile{}, lease{}, "", ctx.Err()
		}
		if poll != nil {
			poll.Stop()
		}
	}
}

// What takeSlot found.
const (
	slotTaken   = iota
	slotFull    // every slot of the agent is in use
	slotRefused // its breaker refused
)

// takeSlot takes a slot of agent p and its breaker's permission, if both
// are to be had.
func (d *Dispatcher) takeSlot(p *agent.Profile) (lease, int) {
	st := d.agent(p.ID)
	// The agent's latest capabilities, as this look found them: a slot it
	// frees wakes the waiters of any of them, those of one it gained while
	// busy included.
	if c := st.caps.Load(); c == nil || !slices.Equal(*c, p.Capabilities) {
		caps := p.Capabilities // p is in a buffer others reuse: keep a header of our own
		st.caps.Store(&caps)
	}
	select {
	case st.slots <- struct{}{}:
	default:
		return lease{}, slotFull
	}
	done, err := st.breaker.Allow()
	if err != nil {
		// Given back without waking those who wait for a slot: the slot
		// was free when taken, so nobody waits for this one, and waking
		// them would send them straight back here while the breaker
		// stays open.
		<-st.slots
		return lease{}, slotRefused
	}
	d.m.attempting.Add(1)
	return lease{st, done}, slotTaken
}

// lease is an agent's slot and its breaker's permission, taken by acquire
// for one attempt.
type lease struct {
	st   *agentState
	done func(error) // the breaker's
}

// release gives l back with the outcome of its attempt.
func (d *Dispatcher) release(l lease, err error) {
	l.done(err)
	d.m.attempting.Add(-1)
	<-l.st.slots
	if d.m.waiting.Load() == 0 {
		return // nobody to wake
	}
	d.mu.Lock()
	for _, c := range *l.st.caps.Load() {
		d.wakeLocked(c)
	}
	d.mu.Unlock()
}

// slotWaiter is an action waiting for an agent with its capability.
type slotWaiter struct {
	ch         chan struct{} // 1-buffered; a slot freed for it, or a wake passed on
	capability string
	elem       *list.Element // in Dispatcher.mu.waiters[capability]; nil when out; guarded by mu
	woken      bool          // taken out by a wake-up, not yet back in
}

// joinQueue puts w at the end of its capability's queue, unless it is in
// it; at the front if a wake-up took it out, so that one who finds the
// slot taken by another keeps its turn.
func (d *Dispatcher) joinQueue(w *slotWaiter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w.elem != nil {
		return
	}
	q := d.mu.waiters[w.capability]
	if q == nil {
		q = list.New()
		d.mu.waiters[w.capability] = q
	}
	if w.woken {
		w.elem = q.PushFront(w)
		w.woken = false
	} else {
		w.elem = q.PushBack(w)
	}
}

// leaveQueue takes w out of its queue for good. A wake-up it was sent and
// did not use goes to the next waiter.
func (d *Dispatcher) leaveQueue(w *slotWaiter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w.elem != nil {
		d.removeLocked(w)
	}
	select {
	case <-w.ch:
		d.wakeLocked(w.capability)
	default:
	}
}

// wakeLocked wakes the first waiter for capability, taking it out of the
// queue.
func (d *Dispatcher) wakeLocked(capability string) {
	q := d.mu.waiters[capability]
	if q == nil {
		return
	}
	w := q.Front().Value.(*slotWaiter)
	d.removeLocked(w)
	select {
	case w.ch <- struct{}{}:
	default: // woken already
	}
}

func (d *Dispatcher) removeLocked(w *slotWaiter) {
	q := d.mu.waiters[w.capability]
	q.Remove(w.elem)
	w.elem = nil
	if q.Len() == 0 {
		delete(d.mu.waiters, w.capability)
	}
}

// task is an action handed to the workers, with the failed attempts
// already recorded for it (by an earlier Run): the attempts go on from
// there, and Config.MaxAttempts counts them all.
type task struct {
	a     engine.Action
	tried int
	left  leftWork // work earlier attempts left running, if any
}

// agentSweepInterval is how often Run forgets the state of agents that
// have left the directory.
const agentSweepInterval = time.Minute

// sweepAgents forgets the state (slots and breaker) of the agents that
// have left the directory and have no attempt in progress, so that it
// does not grow with every agent id ever seen. It needs a directory that
// can look an agent up, as the registry can; with another it does
// nothing.
func (d *Dispatcher) sweepAgents() {
	dir, ok := d.dir.(interface {
		Get(id string) (agent.Profile, bool)
	})
	if !ok {
		return
	}
	d.agents.Range(func(k, v any) bool {
		if _, ok := dir.Get(k.(string)); !ok && len(v.(*agentState).slots) == 0 {
			d.agents.Delete(k)
		}
		return true
	})
}

// agent returns the state of agent id, made on first use.
func (d *Dispatcher) agent(id string) *agentState {
	if st, ok := d.agents.Load(id); ok {
		return st.(*agentState)
	}
	st := &agentState{slots: make(chan struct{}, d.cfg.MaxPerAgent)}
	failures := uint32(d.cfg.BreakerFailures)
	st.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        id,
		MaxRequests: uint32(d.cfg.BreakerHalfOpen),
		Timeout:     d.cfg.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A refusal is an answer: the agent is up.
		IsSuccessful: func(err error) bool { return err == nil || IsPermanent(err) },
		// An attempt cut short by a shutdown says nothing about the agent.
		IsExcluded: func(err error) bool { return errors.Is(err, errAbandoned) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				d.m.breakerOpened.Add(1)
			}
			d.log.Warn("dispatch: circuit breaker changed", "agent", name, "from", from.String(), "to", to.String())
		},
	})
	actual, _ := d.agents.LoadOrStore(id, st)
	return actual.(*agentState)
}

// BreakerState returns the state of agent id's circuit breaker: "closed",
// "open" or "half-open"; "closed" for an agent never tried.
func (d *Dispatcher) BreakerState(id string) string {
	st, ok := d.agents.Load(id)
	if !ok {
		return gobreaker.StateClosed.String()
	}
	return st.(*agentState).breaker.State().String()
}

// delivery is what deliver keeps of one action, made in one allocation:
// its copy of the action, the capabilities the action needs, the first
// attempt's Delivery, and the outcome that records the action delivered.
type delivery struct {
	act  engine.Action
	caps [1]string
	del  Delivery
	out  outcome
}

// delivered records a delivered action and the events its agent gave
// back, in o, which it hands to the recorder.
func (d *Dispatcher) delivered(o *outcome, a *engine.Action, agentID string, attempts int, took time.Duration, evs []*event.Event) {
	var now time.Time // read when an event needs it
	var ids []string
	if len(evs) > 0 {
		ids = make([]string, 0, len(evs))
	}
	listed, omitted := 0, 0
	for i, e := range evs {
		if e == nil {
			continue
		}
		if e.SpecVersion == "" {
			e.SpecVersion = event.SpecVersion
		}
		if e.ID == "" {
			e.ID = a.ID + "/" + strconv.Itoa(i)
		}
		if e.Source == "" {
			e.Source = "agents/" + agentID
		}
		if e.CorrelationID == "" {
			e.CorrelationID = recordCorrelation(a) // "": the event is its own
		}
		if e.CausationID == "" {
			e.CausationID = a.ID
		}
		e.Hops = max(e.Hops, a.Hops+1)
		if e.Time.IsZero() {
			if now.IsZero() {
				now = time.Now().UTC()
			}
			e.Time = now
		}
		if listed += jsonLen(e.ID) + 1; listed > maxListedResults {
			omitted++
			continue
		}
		ids = append(ids, e.ID)
	}
	*o = outcome{action: a, results: evs, took: took, rec: Delivered{
		ActionID: a.ID, Action: a.Action, Choreography: a.Choreography, RuleID: a.RuleID,
		Agent: agentID, Attempts: attempts, DurationMS: ms(took), Results: ids, ResultsOmitted: omitted,
	}}
	o.done = &o.rec
	d.emit(o)
}

// deadLetter records a as given up on. The work its attempts left running
// at agents (left) is canceled first, under ctx, and the record says how
// that went.
func (d *Dispatcher) deadLetter(ctx context.Context, a *engine.Action, left []resumeRef, reason string, attempts int, agentID, lastErr string) {
	dl := &DeadLetter{ActionID: a.ID, Action: *a, Reason: reason, Attempts: attempts, LastError: clip(lastErr),
		Agent: agentID}
	// The cancels run side by side: the wait is one cancel's at most.
	errs := make([]error, len(left))
	if len(left) == 1 {
		errs[0] = d.cancelLeft(ctx, a, left[0])
	} else {
		var wg sync.WaitGroup
		for i, w := range left {
			wg.Go(func() { errs[i] = d.cancelLeft(ctx, a, w) })
		}
		wg.Wait()
	}
	for i, w := range left {
		lt := LeftTask{Agent: w.agent, Task: w.task}
		if errs[i] != nil {
			lt.CancelError = clip(errs[i].Error())
		}
		dl.Tasks = append(dl.Tasks, lt)
	}
	dl.Time = time.Now().UTC()
	d.log.Warn("dispatch: action dead-lettered", "action", a.Action, "id", a.ID, "reason", reason, "attempts", attempts, "err", lastErr)
	d.emit(&outcome{action: a, dead: dl, dlq: []*event.Event{record(DeadLetterType, a, dl, dl.Time)}})
}

// cancelLeft cancels work a left running at an agent (cancelWork),
// counting and logging the outcome.
func (d *Dispatcher) cancelLeft(ctx context.Context, a *engine.Action, w resumeRef) error {
	err := d.cancelWork(ctx, a, w)
	if err != nil {
		d.m.taskCancelErrors.Add(1)
		d.log.Warn("dispatch: canceling the work an action left at an agent failed", "action", a.ID, "agent", w.agent, "task", w.task, "err", err)
		return err
	}
	d.m.tasksCanceled.Add(1)
	return nil
}

// cancelWork asks the agent that has the work left running for a (left)
// to cancel it, through its transport, if that transport can (Canceler),
// waiting cancelTimeout at most. The agent is looked up by id in the
// directory, which must have a Get method for it, as agent.Registry has.
// An agent whose breaker is open is not asked: it has been failing, and
// the worker would wait for it in vain.
func (d *Dispatcher) cancelWork(ctx context.Context, a *engine.Action, left resumeRef) error {
	if d.BreakerState(left.agent) == gobreaker.StateOpen.String() {
		return fmt.Errorf("the circuit breaker of agent %s is open", left.agent)
	}
	g, ok := d.dir.(interface {
		Get(id string) (agent.Profile, bool)
	})
	if !ok {
		return errors.New("the directory cannot look agents up by id")
	}
	p, ok := g.Get(left.agent)
	if !ok {
		return fmt.Errorf("agent %s is no longer registered", left.agent)
	}
	c, ok := d.transports[p.Transport()].(Canceler)
	if !ok {
		return fmt.Errorf("the %q transport of agent %s cannot cancel work", p.Transport(), left.agent)
	}
	ctx, cancel := context.WithTimeout(ctx, cancelTimeout)
	defer cancel()
	return c.Cancel(ctx, p, a.ID, left.task)
}

// cancelTimeout bounds the wait for an agent to cancel work (cancelWork).
const cancelTimeout = 5 * time.Second

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
