package engine

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/condition"
)

// rule is one rule of any kind, flattened for evaluation.
type rule struct {
	order      int // global declaration order: choreography, then patterns, sequences, complex
	chor       string
	id         string
	kind       string
	action     string
	capability string
	priority   int
	timeout    time.Duration
	prog       *condition.Program // nil when the condition always holds
	keys       []string           // pattern correlation_keys

	steps       []string // sequence events
	maxInterval int64    // sequence, ns

	required  []string // temporal_sequence
	trigger   string   // temporal_sequence
	expected  string   // absence
	window    int64    // temporal/threshold time_window, absence timeout, ns
	threshold int
	global    bool // threshold group_by global

	globalSlot slot // threshold state when global

	idPrefix []byte // length-prefixed choreography, kind, id

	marks int // the buffer size a partial match of the rule starts with

	triggers, condErrors, missingKeys, capped int64
}

// role is what an event type means to a rule.
type role uint8

const (
	rolePattern          role = iota // pattern, state_transition: evaluate and fire
	roleSequence                     // a step type of a sequence
	roleTemporalRequired             // a required event of a temporal_sequence
	roleTemporalTrigger              // the trigger of a temporal_sequence
	roleThreshold                    // the counted type of a threshold_pattern
	roleAbsenceExpected              // the expected event of an absence: cancels
	roleAbsenceStart                 // the event that starts an absence wait
)

// entry is one (rule, role) a type maps to; arg is the index of a required
// event for roleTemporalRequired.
type entry struct {
	r    *rule
	role role
	arg  int
}

// compile flattens the choreographies into rules in declaration order.
func compileRules(chs []*choreography.Choreography, opts condition.Options) ([]*rule, error) {
	var rules []*rule
	names := make(map[string]bool)
	for _, ch := range chs {
		if ch == nil {
			continue
		}
		if names[ch.Name] {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateChoreography, ch.Name)
		}
		names[ch.Name] = true
		ids := make(map[string]bool)
		uniq := func(kind, id, fallback string) string {
			if id == "" {
				id = fallback
			}
			base := id
			for n := 2; ids[kind+"\x00"+id]; n++ {
				id = base + "#" + strconv.Itoa(n)
			}
			ids[kind+"\x00"+id] = true
			return id
		}
		for i := range ch.Patterns {
			p := &ch.Patterns[i]
			r := &rule{
				chor: ch.Name, id: uniq(KindPattern, p.ID, p.EventType+":"+p.Action), kind: KindPattern,
				action: p.Action, capability: p.TargetCapability, priority: p.Priority,
				timeout: p.Timeout, keys: p.CorrelationKeys,
			}
			if err := r.setProgram(p.Program, p.Condition, opts); err != nil {
				return nil, err
			}
			if p.EventType == "" {
				return nil, r.errf("event_type", "missing")
			}
			r.trigger = p.EventType
			rules = append(rules, r)
		}
		for i := range ch.Sequences {
			s := &ch.Sequences[i]
			r := &rule{
				chor: ch.Name, id: uniq(KindSequence, s.ID, "sequence_"+strconv.Itoa(i)), kind: KindSequence,
				action: s.Action, capability: s.TargetCapability, priority: s.Priority,
				timeout: s.Timeout, steps: s.Events, maxInterval: int64(s.MaxInterval),
			}
			if len(s.Events) < 2 {
				return nil, r.errf("events", "a sequence needs at least two events")
			}
			if slices.Contains(s.Events, "*") {
				return nil, r.errf("events", `"*" cannot be a sequence step`)
			}
			if s.MaxInterval <= 0 {
				r.maxInterval = int64(60 * time.Second)
			}
			rules = append(rules, r)
		}
		for i := range ch.Complex {
			c := &ch.Complex[i]
			r := &rule{
				chor: ch.Name, id: uniq("complex", c.ID, c.Type+"_"+strconv.Itoa(i)), kind: c.Type,
				action: c.Action, capability: c.TargetCapability, priority: c.Priority,
			}
			if err := r.setProgram(c.Program, c.Condition, opts); err != nil {
				return nil, err
			}
			switch c.Type {
			case choreography.KindTemporalSequence:
				if c.TriggerEvent == "" {
					return nil, r.errf("trigger_event", "missing")
				}
				if len(c.RequiredEvents) == 0 {
					return nil, r.errf("required_events", "missing")
				}
				if c.TimeWindow <= 0 {
					return nil, r.errf("time_window", "must be positive")
				}
				r.trigger = c.TriggerEvent
				for _, t := range c.RequiredEvents {
					if !slices.Contains(r.required, t) {
						r.required = append(r.required, t)
					}
				}
				r.window = int64(c.TimeWindow)
			case choreography.KindThreshold:
				if c.EventType == "" {
					return nil, r.errf("event_type", "missing")
				}
				if c.Threshold < 1 {
					return nil, r.errf("threshold", "must be at least 1")
				}
				if c.TimeWindow <= 0 {
					return nil, r.errf("time_window", "must be positive")
				}
				switch c.GroupBy {
				case "", choreography.GroupCorrelation:
				case choreography.GroupGlobal:
					r.global = true
				default:
					return nil, r.errf("group_by", fmt.Sprintf("%q is neither %q nor %q", c.GroupBy, choreography.GroupCorrelation, choreography.GroupGlobal))
				}
				r.trigger = c.EventType
				r.threshold = c.Threshold
				r.window = int64(c.TimeWindow)
			case choreography.KindStateTransition:
				if c.EventType == "" {
					return nil, r.errf("event_type", "missing")
				}
				r.trigger = c.EventType
			case choreography.KindAbsence:
				if c.EventType == "" {
					return nil, r.errf("event_type", "missing")
				}
				if c.ExpectedEvent == "" {
					return nil, r.errf("expected_event", "missing")
				}
				if c.Timeout <= 0 {
					return nil, r.errf("timeout", "must be positive")
				}
				r.trigger = c.EventType
				r.expected = c.ExpectedEvent
				r.window = int64(c.Timeout)
			default:
				return nil, r.errf("type", fmt.Sprintf("unknown complex pattern type %q", c.Type))
			}
			if c.Type != choreography.KindAbsence {
				r.timeout = c.Timeout
			}
			rules = append(rules, r)
		}
	}
	for i, r := range rules {
		r.order = i
		r.idPrefix = appendIDPrefix(nil, r.chor, r.kind, r.id)
		switch r.kind {
		case KindSequence:
			r.marks = len(r.steps)
		case choreography.KindTemporalSequence:
			r.marks = len(r.required)
		case choreography.KindThreshold:
			r.marks = min(r.threshold, 16)
		}
	}
	return rules, nil
}

func (r *rule) errf(field, msg string) error {
	return &RuleError{Choreography: r.chor, Rule: r.id, Field: field, Msg: msg}
}

// setProgram keeps p, compiling cond when p is nil; a condition that
// always holds is kept as nil so evaluation is skipped.
func (r *rule) setProgram(p *condition.Program, cond string, opts condition.Options) error {
	if p == nil {
		if cond == "" || cond == "true" {
			return nil
		}
		var issues []condition.Issue
		p, issues = condition.Compile(cond, opts)
		if len(issues) > 0 {
			is := issues[0]
			return r.errf("condition", fmt.Sprintf("%d:%d: %s", is.Line, is.Col, is.Msg))
		}
	}
	if p.Always() {
		return nil
	}
	r.prog = p
	return nil
}

// buildIndex maps each event type to the (rule, role) entries it concerns,
// in rule order; wildcard entries ("*" patterns) join every list and make
// up the list of types no rule names.
func buildIndex(rules []*rule) (map[string][]entry, []entry) {
	byType := make(map[string][]entry)
	var wild []entry
	add := func(t string, en entry) {
		if t == "*" {
			wild = append(wild, en)
			return
		}
		byType[t] = append(byType[t], en)
	}
	for _, r := range rules {
		switch r.kind {
		case KindPattern, choreography.KindStateTransition:
			add(r.trigger, entry{r: r, role: rolePattern})
		case KindSequence:
			seen := map[string]bool{}
			for _, t := range r.steps {
				if !seen[t] {
					seen[t] = true
					add(t, entry{r: r, role: roleSequence})
				}
			}
		case choreography.KindTemporalSequence:
			for i, t := range r.required {
				add(t, entry{r: r, role: roleTemporalRequired, arg: i})
			}
			add(r.trigger, entry{r: r, role: roleTemporalTrigger})
		case choreography.KindThreshold:
			add(r.trigger, entry{r: r, role: roleThreshold})
		case choreography.KindAbsence:
			add(r.expected, entry{r: r, role: roleAbsenceExpected})
			add(r.trigger, entry{r: r, role: roleAbsenceStart})
		}
	}
	for t, list := range byType {
		list = append(list, wild...)
		slices.SortStableFunc(list, func(a, b entry) int {
			if a.r.order != b.r.order {
				return a.r.order - b.r.order
			}
			return int(a.role) - int(b.role)
		})
		byType[t] = slices.Clip(list)
	}
	return byType, wild
}

// longestWindow is the longest interval, window or timeout of the rules:
// past it, a quiet correlation's state can no longer matter.
func longestWindow(rules []*rule) time.Duration {
	var m int64
	for _, r := range rules {
		m = max(m, r.maxInterval, r.window)
	}
	return time.Duration(m)
}
