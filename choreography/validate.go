package choreography

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/choreohq/choreo/condition"
)

// Limits of names and ids.
const (
	MaxNameLength = 128
	MaxIDLength   = 256
)

// checker collects problems.
type checker struct {
	file  string
	src   []byte // the document, to place condition issues; nil for Validate
	probs Problems
	full  bool // MaxProblems reached
}

func (c *checker) add(rule, field string, line, col int, code, msg string) {
	if c.full {
		return
	}
	if len(c.probs) == MaxProblems {
		c.probs = append(c.probs, Problem{File: c.file, Code: CodeTooManyProblems,
			Msg: fmt.Sprintf("more than %d problems; stopping", MaxProblems)})
		c.full = true
		return
	}
	c.probs = append(c.probs, Problem{File: c.file, Rule: rule, Field: field, Line: line, Col: col, Code: code, Msg: msg})
}

// sort puts the problems in file order; those without a line come first,
// and the too_many_problems marker stays last.
func (c *checker) sort() {
	n := len(c.probs)
	if c.full {
		n--
	}
	sort.SliceStable(c.probs[:n], func(i, j int) bool {
		a, b := c.probs[i], c.probs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// at reports a problem with field of the rule located by l.
func (c *checker) at(l *ruleLoc, rule, field, code, msg string) {
	line, col := l.pos(field)
	c.add(rule, field, line, col, code, msg)
}

// Validate checks a choreography built in Go as Parse checks one read
// from a file, and completes it as Parse does: it derives missing ids,
// fills in a zero MaxInterval and an empty threshold GroupBy with their
// defaults, and compiles conditions whose Program is nil. Priority is
// taken as given (zero is a valid priority). Problems have no line
// numbers. On failure it returns Problems.
func (c *Choreography) Validate() error {
	ch := &checker{}
	for i := range c.Sequences {
		if c.Sequences[i].MaxInterval == 0 {
			c.Sequences[i].MaxInterval = DefaultMaxInterval
		}
	}
	for i := range c.Complex {
		if c.Complex[i].Type == KindThreshold && c.Complex[i].GroupBy == "" {
			c.Complex[i].GroupBy = GroupCorrelation
		}
	}
	ch.validate(c, &locations{})
	if len(ch.probs) > 0 {
		return ch.probs
	}
	return nil
}

// loc returns the location of rule i of a kind, or nil.
func loc(ls []*ruleLoc, i int) *ruleLoc {
	if i < len(ls) {
		return ls[i]
	}
	return nil
}

// validate checks the meaning of a choreography whose form is sound, and
// fills in ids and programs.
func (c *checker) validate(ch *Choreography, locs *locations) {
	c.checkName(ch.Name, locs.top)
	c.checkRules(ch, locs.top)
	labels := c.ids(ch, locs)
	for i := range ch.Patterns {
		r, l, label := &ch.Patterns[i], loc(locs.patterns, i), labels.patterns[i]
		c.eventType(l, label, "event_type", r.EventType, true)
		c.target(l, label, r.Action, r.TargetCapability)
		for j, k := range r.CorrelationKeys {
			if strings.TrimSpace(k) == "" {
				c.at(l, label, "correlation_keys", CodeInvalidValue, fmt.Sprintf("correlation_keys[%d] is empty", j))
			}
		}
		c.nonNegative(l, label, "timeout", r.Timeout)
		r.Program = c.condition(l, label, "condition", r.Condition, r.Program)
	}
	for i := range ch.Sequences {
		r, l, label := &ch.Sequences[i], loc(locs.sequences, i), labels.sequences[i]
		switch {
		case len(r.Events) == 0 && !l.isBad("events"):
			c.at(l, label, "events", CodeMissingField, "a sequence needs events, a list of at least two event types")
		case len(r.Events) == 1:
			c.at(l, label, "events", CodeInvalidValue, "a sequence needs at least two events")
		}
		for j, e := range r.Events {
			c.eventType(l, label, "events", e, false, j)
		}
		if r.MaxInterval <= 0 && !l.isBad("max_interval") {
			c.at(l, label, "max_interval", CodeInvalidDuration, "max_interval must be positive")
		}
		c.nonNegative(l, label, "timeout", r.Timeout)
		c.target(l, label, r.Action, r.TargetCapability)
	}
	for i := range ch.Complex {
		r, l, label := &ch.Complex[i], loc(locs.complex, i), labels.complex[i]
		c.complexRule(r, l, label)
	}
}

// checkName checks the choreography's name.
func (c *checker) checkName(name string, l *ruleLoc) {
	switch {
	case name == "":
		c.at(l, "", "name", CodeMissingField, "the choreography has no name")
	case len(name) > MaxNameLength:
		c.at(l, "", "name", CodeInvalidValue, fmt.Sprintf("name is longer than %d bytes", MaxNameLength))
	case !safeName(name):
		c.at(l, "", "name", CodeInvalidValue,
			fmt.Sprintf("name %q may hold only letters, digits, '-', '_' and '.', and must start with a letter or digit", name))
	}
}

// checkRules reports a choreography without a rule: deployed, it would
// replace the running rules with nothing. A rule list that is present but
// not a list has been reported already.
func (c *checker) checkRules(ch *Choreography, l *ruleLoc) {
	if len(ch.Patterns)+len(ch.Sequences)+len(ch.Complex) > 0 ||
		l.isBad("patterns") || l.isBad("sequences") || l.isBad("complex_patterns") {
		return
	}
	field := ""
	for _, f := range []string{"patterns", "sequences", "complex_patterns"} {
		if l.present(f) {
			field = f
			break
		}
	}
	c.at(l, "", field, CodeMissingField, "the choreography has no rules: it needs at least one entry in patterns, sequences or complex_patterns")
}

func safeName(s string) bool {
	for i, r := range s {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'):
		case i > 0 && (r == '-' || r == '_' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// validID returns what is wrong with an explicit rule id, or "".
func validID(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > MaxIDLength:
		return fmt.Sprintf("is longer than %d bytes", MaxIDLength)
	case strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return "may not hold spaces or control characters"
	}
	return ""
}

// eventType checks an event type; "*" is allowed where wildcard is true.
// index, when given, is the position in a list field.
func (c *checker) eventType(l *ruleLoc, label, field, t string, wildcard bool, index ...int) {
	name := field
	at := func(code, msg string) { c.at(l, label, field, code, msg) }
	if len(index) > 0 {
		name = fmt.Sprintf("%s[%d]", field, index[0])
		at = func(code, msg string) {
			line, col := l.itemPos(field, index[0])
			c.add(label, field, line, col, code, msg)
		}
	}
	switch {
	case t == "":
		if len(index) > 0 {
			at(CodeInvalidValue, name+" is empty")
		} else if !l.isBad(field) {
			c.at(l, label, field, CodeMissingField, fmt.Sprintf("%s is required", field))
		}
	case t == "*" && !wildcard:
		at(CodeInvalidValue, fmt.Sprintf("%s may not be \"*\"; only a pattern's event_type matches any type", name))
	case strings.IndexFunc(t, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		at(CodeInvalidValue, fmt.Sprintf("%s %q may not hold spaces or control characters", name, t))
	}
}

// required reports an empty required string field.
func (c *checker) required(l *ruleLoc, label, field, value string) {
	if strings.TrimSpace(value) == "" && !l.isBad(field) {
		c.at(l, label, field, CodeMissingField, fmt.Sprintf("%s is required", field))
	}
}

func (c *checker) target(l *ruleLoc, label, action, capability string) {
	c.required(l, label, "action", action)
	c.required(l, label, "target_capability", capability)
}

func (c *checker) nonNegative(l *ruleLoc, label, field string, d interface{ Nanoseconds() int64 }) {
	if d.Nanoseconds() < 0 && !l.isBad(field) {
		c.at(l, label, field, CodeInvalidDuration, field+" must be positive")
	}
}

func (c *checker) positive(l *ruleLoc, label, field string, d interface{ Nanoseconds() int64 }) {
	if l.isBad(field) {
		return
	}
	switch {
	case d.Nanoseconds() == 0:
		c.at(l, label, field, CodeMissingField, field+" is required")
	case d.Nanoseconds() < 0:
		c.at(l, label, field, CodeInvalidDuration, field+" must be positive")
	}
}

func (c *checker) complexRule(r *Complex, l *ruleLoc, label string) {
	c.target(l, label, r.Action, r.TargetCapability)
	switch r.Type {
	case KindTemporalSequence:
		c.eventType(l, label, "trigger_event", r.TriggerEvent, false)
		if len(r.RequiredEvents) == 0 && !l.isBad("required_events") {
			c.at(l, label, "required_events", CodeMissingField, "required_events is required: the event types that must follow the trigger")
		}
		for j, e := range r.RequiredEvents {
			c.eventType(l, label, "required_events", e, false, j)
		}
		c.positive(l, label, "time_window", r.TimeWindow)
	case KindThreshold:
		c.eventType(l, label, "event_type", r.EventType, false)
		if !l.isBad("threshold") {
			switch {
			case r.Threshold == 0 && !l.present("threshold"):
				c.at(l, label, "threshold", CodeMissingField, "threshold is required")
			case r.Threshold < 1:
				c.at(l, label, "threshold", CodeInvalidValue, fmt.Sprintf("threshold must be at least 1, not %d", r.Threshold))
			}
		}
		c.positive(l, label, "time_window", r.TimeWindow)
		if r.GroupBy != GroupCorrelation && r.GroupBy != GroupGlobal && !l.isBad("group_by") {
			c.at(l, label, "group_by", CodeInvalidValue,
				fmt.Sprintf("group_by must be %q or %q, not %q", GroupCorrelation, GroupGlobal, r.GroupBy))
		}
	case KindStateTransition:
		c.eventType(l, label, "event_type", r.EventType, false)
		if strings.TrimSpace(r.Condition) == "" && !l.isBad("condition") {
			c.at(l, label, "condition", CodeMissingField, "a state_transition pattern needs a condition")
		}
	case KindAbsence:
		c.eventType(l, label, "event_type", r.EventType, false)
		c.eventType(l, label, "expected_event", r.ExpectedEvent, false)
		c.positive(l, label, "timeout", r.Timeout)
	case "":
		if !l.isBad("type") {
			c.at(l, label, "type", CodeMissingField, fmt.Sprintf("type is required: one of %s", strings.Join(complexKinds, ", ")))
		}
	default:
		msg := fmt.Sprintf("unknown type %q; want one of %s", r.Type, strings.Join(complexKinds, ", "))
		if s := suggest(r.Type, complexKinds); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		c.at(l, label, "type", CodeInvalidValue, msg)
	}
	if l == nil {
		c.notApplying(r, label)
	}
	r.Program = c.condition(l, label, "condition", r.Condition, r.Program)
}

// notApplying reports fields set on a complex pattern built in Go that its
// type does not use. (Parse reports them as unknown fields.)
func (c *checker) notApplying(r *Complex, label string) {
	specific, ok := complexFields[r.Type]
	if !ok {
		return
	}
	set := map[string]bool{
		"event_type":      r.EventType != "",
		"trigger_event":   r.TriggerEvent != "",
		"required_events": len(r.RequiredEvents) > 0,
		"expected_event":  r.ExpectedEvent != "",
		"time_window":     r.TimeWindow != 0,
		"threshold":       r.Threshold != 0,
		"group_by":        r.GroupBy != "",
		"timeout":         r.Timeout != 0,
		"condition":       r.Condition != "",
	}
	for _, f := range allComplexFields() {
		if set[f] && !slices.Contains(specific, f) {
			set[f] = false // report once
			c.add(label, f, 0, 0, CodeUnknownField, fmt.Sprintf("field %s does not apply to a complex pattern of type %s", f, r.Type))
		}
	}
}

// condition compiles a condition, reporting each issue at its place in
// the file, and returns the program (prog when already compiled).
func (c *checker) condition(l *ruleLoc, label, field, expr string, prog *condition.Program) *condition.Program {
	if prog != nil && prog.String() == expr {
		return prog
	}
	p, issues := condition.Compile(expr, condition.Options{})
	var v *yaml.Node
	if l != nil {
		v = l.vals[field]
	}
	for _, is := range issues {
		line, col := 0, 0
		if v != nil {
			line, col = c.place(v, is.Line, is.Col)
		}
		c.add(label, field, line, col, CodeInvalidCondition, "condition: "+is.Msg)
	}
	return p
}

// ids checks explicit ids, derives the missing ones, and returns the
// label each rule's problems carry: its explicit id, else its index path.
func (c *checker) ids(ch *Choreography, locs *locations) (labels struct{ patterns, sequences, complex []string }) {
	type ref struct {
		id    *string
		l     *ruleLoc
		label string
		field string
		base  string
	}
	var refs []ref
	for i := range ch.Patterns {
		r := &ch.Patterns[i]
		refs = append(refs, ref{&r.ID, loc(locs.patterns, i), fmt.Sprintf("patterns[%d]", i), "id", r.EventType + "->" + r.Action})
	}
	for i := range ch.Sequences {
		r := &ch.Sequences[i]
		base := "->" + r.Action
		if n := len(r.Events); n > 0 {
			base = r.Events[0] + ".." + r.Events[n-1] + base
		}
		refs = append(refs, ref{&r.ID, loc(locs.sequences, i), fmt.Sprintf("sequences[%d]", i), "sequence_id", base})
	}
	for i := range ch.Complex {
		r := &ch.Complex[i]
		key := r.EventType
		if r.Type == KindTemporalSequence {
			key = r.TriggerEvent
		}
		refs = append(refs, ref{&r.ID, loc(locs.complex, i), fmt.Sprintf("complex_patterns[%d]", i), "id", r.Type + ":" + key + "->" + r.Action})
	}
	taken := map[string]string{} // id → label of the rule that has it
	explicit := make([]bool, len(refs))
	for i, r := range refs {
		if *r.id == "" {
			if r.l.present(r.field) && !r.l.isBad(r.field) {
				c.at(r.l, r.label, r.field, CodeInvalidValue, r.field+" is empty")
			}
			continue
		}
		if msg := validID(*r.id); msg != "" {
			c.at(r.l, r.label, r.field, CodeInvalidValue, fmt.Sprintf("%s %q %s", r.field, *r.id, msg))
			continue
		}
		refs[i].label = *r.id
		explicit[i] = true
		if first, dup := taken[*r.id]; dup {
			c.at(r.l, *r.id, r.field, CodeDuplicateID, fmt.Sprintf("id %q is already used by %s", *r.id, first))
			continue
		}
		taken[*r.id] = r.label
	}
	for i, r := range refs {
		if explicit[i] || *r.id != "" {
			continue
		}
		id := r.base
		for n := 2; taken[id] != ""; n++ {
			id = fmt.Sprintf("%s#%d", r.base, n)
		}
		*r.id = id
		taken[id] = r.label
	}
	i := 0
	for range ch.Patterns {
		labels.patterns = append(labels.patterns, refs[i].label)
		i++
	}
	for range ch.Sequences {
		labels.sequences = append(labels.sequences, refs[i].label)
		i++
	}
	for range ch.Complex {
		labels.complex = append(labels.complex, refs[i].label)
		i++
	}
	return labels
}
