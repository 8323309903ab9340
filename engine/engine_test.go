package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/workload"
)

// step is an event to process, or when ev is nil a clock operation:
// advance to t0+sec, or flush when flush is set.
type step struct {
	ev    *event.Event
	sec   float64
	flush bool
}

func advance(sec float64) step { return step{sec: sec} }
func flush() step              { return step{flush: true} }
func evs(es ...*event.Event) []step {
	out := make([]step, len(es))
	for i, e := range es {
		out[i] = step{ev: e}
	}
	return out
}

func play(e *Engine, steps []step) []string {
	var out []Action
	for _, s := range steps {
		switch {
		case s.ev != nil:
			out = e.AppendProcess(out, s.ev)
		case s.flush:
			out = e.AppendFlush(out)
		default:
			out = e.AppendAdvance(out, t0.Add(time.Duration(s.sec*float64(time.Second))))
		}
	}
	return summary(out)
}

func chor(name string) *choreography.Choreography { return &choreography.Choreography{Name: name} }

func withPatterns(ch *choreography.Choreography, ps ...choreography.Pattern) *choreography.Choreography {
	ch.Patterns = append(ch.Patterns, ps...)
	return ch
}

func pat(id, typ, cond, action string, prio int) choreography.Pattern {
	return choreography.Pattern{ID: id, EventType: typ, Condition: cond, Action: action, TargetCapability: "cap", Priority: prio}
}

func seq(id string, interval time.Duration, types ...string) choreography.Sequence {
	return choreography.Sequence{ID: id, Events: types, MaxInterval: interval, Action: id + "_done", TargetCapability: "cap", Priority: 1}
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		name  string
		chs   []*choreography.Choreography
		steps []step
		want  []string
	}{
		{
			name: "priority order, ties in declaration order, across choreographies",
			chs: []*choreography.Choreography{
				withPatterns(chor("a"), pat("low", "x", "", "low", 1), pat("high", "x", "", "high", 9), pat("mid1", "x", "", "mid1", 5)),
				withPatterns(chor("b"), pat("mid2", "x", "", "mid2", 5), pat("other", "y", "", "other", 9)),
			},
			steps: evs(ev("e1", "x", "c", 0, "")),
			want:  []string{"high(c:e1)@0", "mid1(c:e1)@0", "mid2(c:e1)@0", "low(c:e1)@0"},
		},
		{
			name: "wildcard matches every type, in declaration order",
			chs: []*choreography.Choreography{
				withPatterns(chor("a"), pat("any", "*", "", "any", 1), pat("x", "x", "", "x", 1)),
			},
			steps: evs(ev("e1", "x", "c", 0, ""), ev("e2", "unknown", "c", 1, "")),
			want:  []string{"any(c:e1)@0", "x(c:e1)@0", "any(c:e2)@1"},
		},
		{
			name: "conditions on data",
			chs: []*choreography.Choreography{
				withPatterns(chor("a"), pat("big", "order", "data.value > 1000", "review", 9), pat("any", "order", "data.value > 0", "check", 8)),
			},
			steps: evs(ev("e1", "order", "c1", 0, `{"value":5000}`), ev("e2", "order", "c2", 1, `{"value":5}`), ev("e3", "order", "c3", 2, `{"value":0}`)),
			want:  []string{"review(c1:e1)@0", "check(c1:e1)@0", "check(c2:e2)@1"},
		},
		{
			name:  "duplicate event id fires once",
			chs:   []*choreography.Choreography{withPatterns(chor("a"), pat("p", "x", "", "p", 1))},
			steps: evs(ev("e1", "x", "c", 0, ""), ev("e1", "x", "c", 1, ""), ev("e2", "x", "c", 2, "")),
			want:  []string{"p(c:e1)@0", "p(c:e2)@2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := play(mustNew(t, Config{}, tc.chs...), tc.steps)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestConditionErrorCounts(t *testing.T) {
	e := mustNew(t, Config{}, withPatterns(chor("a"), pat("p", "x", "data.value > 1", "p", 1)))
	// No data: `data.value` fails at run time; it counts as no match.
	got := play(e, evs(ev("e1", "x", "c", 0, ""), ev("e2", "x", "c", 0, `{"other":1}`), ev("e3", "x", "c", 0, `{"value":2}`)))
	if want := []string{"p(c:e3)@0"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	m := e.Metrics()
	if m.Rules[0].ConditionErrors != 2 || m.ConditionErrors != 2 {
		t.Errorf("condition errors: got rule %d total %d, want 2", m.Rules[0].ConditionErrors, m.ConditionErrors)
	}
	if m.Rules[0].Triggers != 1 {
		t.Errorf("triggers: got %d, want 1", m.Rules[0].Triggers)
	}
}

func TestCorrelationKeys(t *testing.T) {
	p := pat("p", "x", "", "p", 1)
	p.CorrelationKeys = []string{"customer", "region"}
	e := mustNew(t, Config{}, withPatterns(chor("a"), p))
	got := play(e, evs(
		ev("e1", "x", "c", 0, `{"customer":"ann","region":"eu"}`),
		ev("e2", "x", "c", 0, `{"customer":42, "region": "us" }`),
		ev("e3", "x", "c", 0, `{"customer":"bob"}`),
		ev("e4", "x", "c", 0, `{"customer":null,"region":"eu"}`),
		ev("e5", "x", "c", 0, ``),
		ev("e6", "x", "c", 0, `{"nested":{"customer":"no"},"region":"a\u00e9","customer":"z"}`),
		// Values that would make no correlation id: a control character,
		// and over 512 bytes joined.
		ev("e7", "x", "c", 0, `{"customer":"ann\nsmith","region":"eu"}`),
		ev("e8", "x", "c", 0, `{"customer":"`+strings.Repeat("a", 510)+`","region":"eu"}`), // 513 bytes
		ev("e9", "x", "c", 0, `{"customer":"`+strings.Repeat("a", 509)+`","region":"eu"}`),
		ev("e10", "x", "c", 0, `{"customer":"","region":""}`), // "|": usable

	))
	want := []string{"p(ann|eu:e1)@0", "p(42|us:e2)@0", "p(c:e3)@0", "p(c:e4)@0", "p(c:e5)@0", "p(z|aé:e6)@0",
		"p(c:e7)@0", "p(c:e8)@0", "p(" + strings.Repeat("a", 509) + "|eu:e9)@0", "p(|:e10)@0"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := e.Metrics().Rules[0].MissingKeys; got != 5 {
		t.Errorf("missing keys: got %d, want 5", got)
	}
}

func TestSequence(t *testing.T) {
	abc := seq("abc", 60*time.Second, "a", "b", "c")
	tests := []struct {
		name  string
		seqs  []choreography.Sequence
		steps []step
		want  []string
	}{
		{
			name:  "completes in order, other types ignored",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "x", "c", 1, ""), ev("3", "c", "c", 2, ""), ev("4", "b", "c", 3, ""), ev("5", "c", "c", 4, "")),
			want:  []string{"abc_done(c:1,4,5)@4"},
		},
		{
			name:  "gap exactly max_interval advances",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "c", 60, ""), ev("3", "c", "c", 120, "")),
			want:  []string{"abc_done(c:1,2,3)@120"},
		},
		{
			name:  "gap over max_interval drops the partial match",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "c", 60.001, ""), ev("3", "c", "c", 61, "")),
			want:  nil,
		},
		{
			name: "a first step after an expired partial match starts a new one",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "c", 10, ""), ev("3", "a", "c", 100, ""),
				ev("4", "b", "c", 110, ""), ev("5", "c", "c", 120, "")),
			want: []string{"abc_done(c:3,4,5)@120"},
		},
		{
			name:  "a repeated first step within the interval does not restart",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "a", "c", 10, ""), ev("3", "b", "c", 20, ""), ev("4", "c", "c", 30, "")),
			want:  []string{"abc_done(c:1,3,4)@30"},
		},
		{
			name: "interleaved correlations keep separate state",
			steps: evs(ev("1", "a", "x", 0, ""), ev("2", "a", "y", 1, ""), ev("3", "b", "y", 2, ""), ev("4", "b", "x", 3, ""),
				ev("5", "c", "x", 4, ""), ev("6", "c", "y", 5, "")),
			want: []string{"abc_done(x:1,4,5)@4", "abc_done(y:2,3,6)@5"},
		},
		{
			name:  "out-of-order event times: the log order decides, a negative gap is no gap",
			steps: evs(ev("1", "a", "c", 50, ""), ev("2", "b", "c", 10, ""), ev("3", "c", "c", 20, "")),
			want:  []string{"abc_done(c:1,2,3)@20"},
		},
		{
			name:  "a step out of log order does not advance",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "c", "c", 1, ""), ev("3", "b", "c", 2, "")),
			want:  nil,
		},
		{
			name:  "duplicates do not advance twice",
			seqs:  []choreography.Sequence{seq("aa", time.Minute, "a", "a")},
			steps: evs(ev("1", "a", "c", 0, ""), ev("1", "a", "c", 1, ""), ev("2", "a", "c", 2, "")),
			want:  []string{"aa_done(c:1,2)@2"},
		},
		{
			name:  "events without time take the clock",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "c", -1, ""), ev("x", "x", "z", 100, ""), ev("3", "c", "c", -1, "")),
			want:  nil, // c comes 100s after b by the clock
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := chor("s")
			ch.Sequences = tc.seqs
			if ch.Sequences == nil {
				ch.Sequences = []choreography.Sequence{abc}
			}
			e := mustNew(t, Config{}, ch)
			got := play(e, tc.steps)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSequenceStateIsRemoved(t *testing.T) {
	ch := chor("s")
	ch.Sequences = []choreography.Sequence{seq("abc", time.Minute, "a", "b", "c")}
	e := mustNew(t, Config{}, ch)
	play(e, evs(ev("1", "a", "c", 0, ""), ev("2", "b", "c", 1, "")))
	if m := e.Metrics(); m.ActiveSequences != 1 || m.ActiveCorrelations != 1 {
		t.Fatalf("mid-sequence: got %d sequences in %d correlations, want 1 and 1", m.ActiveSequences, m.ActiveCorrelations)
	}
	play(e, evs(ev("3", "c", "c", 2, "")))
	m := e.Metrics()
	if m.ActiveSequences != 0 || m.ActiveCorrelations != 0 || m.CompletedSequences != 1 || m.PartialMatches != 0 {
		t.Errorf("after completion: got %+v", m)
	}
}

func absence(id, start, expected string, timeout time.Duration) choreography.Complex {
	return choreography.Complex{ID: id, Type: choreography.KindAbsence, EventType: start, ExpectedEvent: expected,
		Timeout: timeout, Action: id, TargetCapability: "cap", Priority: 1}
}

func TestAbsence(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{
			name:  "a later event fires the timeout first",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "x", "other", 31, "")),
			want:  []string{"late(c:1)@30"},
		},
		{
			name:  "the expected event cancels",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "c", 10, ""), ev("3", "x", "other", 100, "")),
			want:  nil,
		},
		{
			name:  "expected exactly at the timeout still counts",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "c", 30, ""), ev("3", "x", "other", 100, "")),
			want:  nil,
		},
		{
			name:  "an event at the due time does not fire it; advancing to it does",
			steps: []step{{ev: ev("1", "a", "c", 0, "")}, {ev: ev("2", "x", "o", 30, "")}, advance(29), advance(30)},
			want:  []string{"late(c:1)@30"},
		},
		{
			name:  "expected in another correlation does not cancel",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "d", 10, ""), ev("3", "x", "other", 100, "")),
			want:  []string{"late(c:1)@30"},
		},
		{
			name:  "the first start sets the deadline",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "a", "c", 20, ""), ev("3", "x", "other", 35, "")),
			want:  []string{"late(c:1)@30"},
		},
		{
			name:  "flush fires what is pending, in due order",
			steps: []step{{ev: ev("1", "a", "c", 10, "")}, {ev: ev("2", "a", "d", 5, "")}, flush()},
			want:  []string{"late(d:2)@35", "late(c:1)@40"},
		},
		{
			name: "timer events advance the clock",
			steps: []step{{ev: ev("1", "a", "c", 0, "")},
				{ev: ev("t1", TimerEventType, "", 29, "")}, {ev: ev("t2", TimerEventType, "", 30, "")}},
			want: []string{"late(c:1)@30"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := chor("s")
			ch.Complex = []choreography.Complex{absence("late", "a", "b", 30*time.Second)}
			e := mustNew(t, Config{}, ch)
			got := play(e, tc.steps)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if m := e.Metrics(); len(tc.want) > 0 && m.PendingTimers != 0 {
				t.Errorf("pending timers after firing: %d", m.PendingTimers)
			}
		})
	}
}

func TestTimerEventsAreNotMatched(t *testing.T) {
	e := mustNew(t, Config{}, withPatterns(chor("a"), pat("any", "*", "", "any", 1)))
	got := play(e, evs(ev("t", TimerEventType, "", 5, ""), ev("1", "x", "c", 6, "")))
	if want := []string{"any(c:1)@6"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if m := e.Metrics(); m.TimerEvents != 1 || m.EventsProcessed != 1 {
		t.Errorf("got %d timer events, %d processed; want 1, 1", m.TimerEvents, m.EventsProcessed)
	}
}

func TestThreshold(t *testing.T) {
	thr := func(global bool) choreography.Complex {
		c := choreography.Complex{ID: "burst", Type: choreography.KindThreshold, EventType: "f", Threshold: 3,
			TimeWindow: 60 * time.Second, Action: "burst", TargetCapability: "cap", Condition: "data.?count.orValue(1) > 0"}
		if global {
			c.GroupBy = choreography.GroupGlobal
		}
		return c
	}
	tests := []struct {
		name   string
		global bool
		steps  []step
		want   []string
	}{
		{
			name:  "three in the window fire, then the window starts empty",
			steps: evs(ev("1", "f", "c", 0, ""), ev("2", "f", "c", 10, ""), ev("3", "f", "c", 20, ""), ev("4", "f", "c", 30, ""), ev("5", "f", "c", 40, "")),
			want:  []string{"burst(c:1,2,3)@20"},
		},
		{
			name:  "the window slides by event time, inclusive",
			steps: evs(ev("1", "f", "c", 0, ""), ev("2", "f", "c", 50, ""), ev("3", "f", "c", 61, ""), ev("4", "f", "c", 110, "")),
			want:  []string{"burst(c:2,3,4)@110"},
		},
		{
			name:  "the window is inclusive of its edge",
			steps: evs(ev("1", "f", "c", 0, ""), ev("2", "f", "c", 30, ""), ev("3", "f", "c", 60, "")),
			want:  []string{"burst(c:1,2,3)@60"},
		},
		{
			name:  "per correlation",
			steps: evs(ev("1", "f", "c", 0, ""), ev("2", "f", "d", 1, ""), ev("3", "f", "c", 2, ""), ev("4", "f", "d", 3, "")),
			want:  nil,
		},
		{
			name:   "global",
			global: true,
			steps:  evs(ev("1", "f", "c", 0, ""), ev("2", "f", "d", 1, ""), ev("3", "f", "e", 2, "")),
			want:   []string{"burst(:1,2,3)@2"},
		},
		{
			name:  "the condition filters what counts",
			steps: evs(ev("1", "f", "c", 0, ""), ev("2", "f", "c", 1, `{"count":0}`), ev("3", "f", "c", 2, ""), ev("4", "f", "c", 3, "")),
			want:  []string{"burst(c:1,3,4)@3"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := chor("s")
			ch.Complex = []choreography.Complex{thr(tc.global)}
			got := play(mustNew(t, Config{}, ch), tc.steps)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestTemporalSequence(t *testing.T) {
	ts := choreography.Complex{ID: "ts", Type: choreography.KindTemporalSequence, TriggerEvent: "t",
		RequiredEvents: []string{"a", "b"}, TimeWindow: 60 * time.Second, Action: "ts", TargetCapability: "cap"}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{
			name:  "all required within the window, any order",
			steps: evs(ev("1", "b", "c", 0, ""), ev("2", "a", "c", 10, ""), ev("3", "t", "c", 60, "")),
			want:  []string{"ts(c:2,1,3)@60"},
		},
		{
			name:  "one required too old",
			steps: evs(ev("1", "b", "c", 0, ""), ev("2", "a", "c", 10, ""), ev("3", "t", "c", 61, "")),
			want:  nil,
		},
		{
			name:  "a newer required event replaces an old one",
			steps: evs(ev("1", "b", "c", 0, ""), ev("2", "a", "c", 10, ""), ev("3", "b", "c", 50, ""), ev("4", "t", "c", 61, "")),
			want:  []string{"ts(c:2,3,4)@61"},
		},
		{
			name:  "missing one",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "t", "c", 1, "")),
			want:  nil,
		},
		{
			name:  "firing consumes the required events",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "c", 1, ""), ev("3", "t", "c", 2, ""), ev("4", "t", "c", 3, "")),
			want:  []string{"ts(c:1,2,3)@2"},
		},
		{
			name:  "other correlations do not count",
			steps: evs(ev("1", "a", "c", 0, ""), ev("2", "b", "d", 1, ""), ev("3", "t", "c", 2, "")),
			want:  nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := chor("s")
			ch.Complex = []choreography.Complex{ts}
			got := play(mustNew(t, Config{}, ch), tc.steps)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestStateTransition(t *testing.T) {
	ch := chor("s")
	ch.Complex = []choreography.Complex{{ID: "returned", Type: choreography.KindStateTransition, EventType: "status_changed",
		Condition: "data.from == 'shipped' && data.to == 'returned'", Action: "process_return", TargetCapability: "returns", Priority: 3}}
	got := play(mustNew(t, Config{}, ch), evs(
		ev("1", "status_changed", "c", 0, `{"from":"paid","to":"shipped"}`),
		ev("2", "status_changed", "c", 1, `{"from":"shipped","to":"returned"}`)))
	if want := []string{"process_return(c:2)@1"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestConditionContext(t *testing.T) {
	ch := withPatterns(chor("a"),
		pat("third", "x", "event_count == 3 && size(recent_events) == 3", "third", 1),
		pat("corr", "x", "size(correlated_events) == 2 && correlated_events[0].id == 'e1'", "corr", 1),
		pat("src", "x", "source_event_count == 2 && source == 'test'", "src", 1),
	)
	got := play(mustNew(t, Config{}, ch), evs(ev("e1", "x", "c", 0, ""), ev("e2", "x", "d", 1, ""), ev("e3", "x", "c", 2, "")))
	want := []string{"src(d:e2)@1", "third(c:e3)@2", "corr(c:e3)@2"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestRecentEventsWindow(t *testing.T) {
	ch := withPatterns(chor("a"), pat("p", "x", "size(recent_events) == 3 && recent_events[0].id == 'e3' && recent_events[2].id == 'e5'", "p", 1))
	e := mustNew(t, Config{RecentEvents: 3}, ch)
	got := play(e, evs(ev("e1", "x", "c", 0, ""), ev("e2", "x", "c", 0, ""), ev("e3", "x", "c", 0, ""), ev("e4", "x", "c", 0, ""), ev("e5", "x", "c", 0, "")))
	if want := []string{"p(c:e5)@0"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestIdleEviction(t *testing.T) {
	ch := chor("s")
	ch.Sequences = []choreography.Sequence{seq("abc", time.Minute, "a", "b", "c")}
	e := mustNew(t, Config{IdleTimeout: 2 * time.Minute}, ch)
	play(e, evs(ev("1", "a", "c", 0, ""), ev("2", "a", "d", 60, "")))
	if got := e.Metrics().ActiveCorrelations; got != 2 {
		t.Fatalf("active correlations: got %d, want 2", got)
	}
	play(e, []step{advance(120.5)})
	m := e.Metrics()
	if m.ActiveCorrelations != 1 || m.CorrelationsIdled != 1 || m.ActiveSequences != 1 {
		t.Fatalf("after 120.5s: got %+v", m)
	}
	play(e, evs(ev("3", "x", "d", 170, ""))) // activity keeps d alive
	play(e, []step{advance(280)})
	if got := e.Metrics().ActiveCorrelations; got != 1 {
		t.Fatalf("after activity: got %d correlations, want 1", got)
	}
	play(e, []step{advance(291)})
	if m := e.Metrics(); m.ActiveCorrelations != 0 || m.ActiveSequences != 0 || m.PartialMatches != 0 {
		t.Fatalf("at the end: got %+v", m)
	}
}

func TestCaps(t *testing.T) {
	ch := chor("s")
	ch.Sequences = []choreography.Sequence{seq("abc", time.Minute, "a", "b", "c")}
	ch.Complex = []choreography.Complex{absence("late", "a", "b", 30*time.Second)}

	e := mustNew(t, Config{MaxCorrelations: 2}, ch)
	got := play(e, evs(ev("1", "a", "x", 0, ""), ev("2", "a", "y", 1, ""), ev("3", "a", "z", 2, ""), ev("4", "x", "q", 40, "")))
	m := e.Metrics()
	if m.ActiveCorrelations != 2 || m.CorrelationsEvicted != 1 || m.TimersDropped != 1 {
		t.Errorf("correlation cap: got %+v", m)
	}
	if want := []string{"late(y:2)@31", "late(z:3)@32"}; !slices.Equal(got, want) {
		t.Errorf("correlation cap: got %q, want %q", got, want)
	}

	e = mustNew(t, Config{MaxPartials: 3}, ch)
	play(e, evs(ev("1", "a", "x", 0, ""), ev("2", "a", "y", 1, "")))
	m = e.Metrics()
	if m.PartialMatches != 3 || m.PartialsCapped != 1 || m.Rules[1].PartialsCapped != 1 {
		t.Errorf("partial cap: got %+v", m)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		ch    *choreography.Choreography
		field string
	}{
		{"short sequence", &choreography.Choreography{Name: "a", Sequences: []choreography.Sequence{{ID: "s", Events: []string{"x"}}}}, "events"},
		{"unknown complex type", &choreography.Choreography{Name: "a", Complex: []choreography.Complex{{ID: "c", Type: "magic"}}}, "type"},
		{"absence without timeout", &choreography.Choreography{Name: "a", Complex: []choreography.Complex{{ID: "c", Type: "absence", EventType: "a", ExpectedEvent: "b"}}}, "timeout"},
		{"threshold without window", &choreography.Choreography{Name: "a", Complex: []choreography.Complex{{ID: "c", Type: "threshold_pattern", EventType: "a", Threshold: 2}}}, "time_window"},
		{"bad condition", withPatterns(chor("a"), pat("p", "x", "data.", "p", 1)), "condition"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]*choreography.Choreography{tc.ch}, Config{})
			var re *RuleError
			if !errors.As(err, &re) || !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("got %v, want a *RuleError", err)
			}
			if re.Field != tc.field {
				t.Errorf("field: got %q, want %q (%v)", re.Field, tc.field, err)
			}
		})
	}
	if _, err := New([]*choreography.Choreography{chor("a"), chor("a")}, Config{}); !errors.Is(err, ErrDuplicateChoreography) {
		t.Errorf("duplicate names: got %v", err)
	}
	if _, err := New(nil, Config{MaxPartials: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative cap: got %v", err)
	}
}

func TestActionFields(t *testing.T) {
	p := pat("p", "x", "", "do", 8)
	p.Timeout = 30 * time.Second
	e := mustNew(t, Config{}, withPatterns(chor("shop"), p))
	in := ev("e1", "x", "c", 5, "")
	in.Hops = 2
	as := e.Process(in)
	if len(as) != 1 {
		t.Fatalf("got %d actions", len(as))
	}
	a := as[0]
	want := Action{
		ID: ActionID("shop", KindPattern, "p", []string{"e1"}), Action: "do", TargetCapability: "cap", Priority: 8,
		Choreography: "shop", RuleID: "p", RuleKind: KindPattern, CorrelationID: "c", TriggerEventIDs: []string{"e1"},
		Time: t0.Add(5 * time.Second), Timeout: 30 * time.Second, Hops: 2,
	}
	if a.ID != want.ID || a.Action != want.Action || a.TargetCapability != want.TargetCapability || a.Priority != want.Priority ||
		a.Choreography != want.Choreography || a.RuleID != want.RuleID || a.RuleKind != want.RuleKind ||
		a.CorrelationID != want.CorrelationID || !slices.Equal(a.TriggerEventIDs, want.TriggerEventIDs) ||
		!a.Time.Equal(want.Time) || a.Timeout != want.Timeout || a.Hops != want.Hops {
		t.Errorf("got  %+v\nwant %+v", a, want)
	}
	if len(a.ID) != 36 || a.ID[14] != '8' {
		t.Errorf("id %q is not a version 8 UUID", a.ID)
	}
	b, _ := a.MarshalJSON()
	var back Action
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if back.ID != a.ID || back.Timeout != a.Timeout || !back.Time.Equal(a.Time) || !slices.Equal(back.TriggerEventIDs, a.TriggerEventIDs) {
		t.Errorf("round trip: got %+v from %s", back, b)
	}
}

// TestDeterminism runs the example choreography twice over a generated
// workload and compares every action, ids included.
func TestDeterminism(t *testing.T) {
	evs := workload.Generate(workload.Config{Seed: 9, Orders: 3000, Concurrency: 300, LateRate: 0.05, PaymentFailRate: 0.3})
	run := func() []Action {
		e := mustNew(t, Config{}, ecommerce())
		var out []Action
		for _, ev := range evs {
			out = e.AppendProcess(out, ev)
		}
		return e.AppendFlush(out)
	}
	a, b := run(), run()
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("got %d and %d actions", len(a), len(b))
	}
	ids := make(map[string]bool, len(a))
	for i := range a {
		ja, jb := a[i].AppendJSON(nil), b[i].AppendJSON(nil)
		if string(ja) != string(jb) {
			t.Fatalf("action %d differs:\n%s\n%s", i, ja, jb)
		}
		if ids[a[i].ID] {
			t.Fatalf("action %d: id %s repeats", i, a[i].ID)
		}
		ids[a[i].ID] = true
	}
}

func TestAnalyze(t *testing.T) {
	evs := []*event.Event{
		ev("1", "order_received", "o1", 0, ""),
		ev("2", "payment_failed", "o1", 10, ""),
		ev("3", "payment_failed", "o1", 20, ""),
		ev("4", "payment_successful", "o1", 40, ""),
		ev("5", "order_received", "o2", 5, ""),
	}
	evs[3].Source = "agents/payments"
	got := AnalyzeCorrelations(evs)
	a := got["o1"]
	if a.EventCount != 4 || a.Duration != 40*time.Second || a.UniqueSources != 2 || a.AverageInterval != 40*time.Second/3 ||
		a.EventTypes["payment_failed"] != 2 || len(a.EventTypes) != 3 {
		t.Errorf("o1: got %+v", a)
	}
	if b := got["o2"]; b.EventCount != 1 || b.Duration != 0 || b.AverageInterval != 0 {
		t.Errorf("o2: got %+v", b)
	}
	j, _ := a.MarshalJSON()
	want := `{"event_count":4,"duration_seconds":40,"event_types":{"order_received":1,"payment_failed":2,"payment_successful":1},"unique_sources":2,"average_interval":13.333333333}`
	if string(j) != want {
		t.Errorf("JSON: got %s\nwant %s", j, want)
	}
}

// TestCorrelationKeyEmpty: a single correlation key whose value is the
// empty string makes no correlation id: the event's is kept.
func TestCorrelationKeyEmpty(t *testing.T) {
	p := pat("p", "x", "", "p", 1)
	p.CorrelationKeys = []string{"customer"}
	e := mustNew(t, Config{}, withPatterns(chor("a"), p))
	got := play(e, evs(ev("e1", "x", "c", 0, `{"customer":""}`), ev("e2", "x", "c", 0, `{"customer":"ann"}`)))
	if want := []string{"p(c:e1)@0", "p(ann:e2)@0"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := e.Metrics().Rules[0].MissingKeys; got != 1 {
		t.Errorf("missing keys: got %d, want 1", got)
	}
}
