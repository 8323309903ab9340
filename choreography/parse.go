package choreography

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxSize is the largest choreography document accepted, in bytes.
const MaxSize = 4 << 20

// Defaults applied to fields left out.
const (
	DefaultPriority    = 1
	DefaultMaxInterval = 60 * time.Second
)

// The fields of each kind of mapping, in the order the reference lists
// them.
var (
	topFields      = []string{"name", "description", "patterns", "sequences", "complex_patterns"}
	patternFields  = []string{"id", "event_type", "condition", "action", "target_capability", "priority", "correlation_keys", "timeout"}
	sequenceFields = []string{"sequence_id", "events", "max_interval", "action", "target_capability", "priority", "timeout"}
	complexCommon  = []string{"id", "type", "action", "target_capability", "priority"}
	complexFields  = map[string][]string{
		KindTemporalSequence: {"trigger_event", "required_events", "time_window"},
		KindThreshold:        {"event_type", "threshold", "time_window", "group_by"},
		KindStateTransition:  {"event_type", "condition"},
		KindAbsence:          {"event_type", "expected_event", "timeout"},
	}
	complexKinds = []string{KindTemporalSequence, KindThreshold, KindStateTransition, KindAbsence}
)

// fieldHints suggest the right field for names from the course code and
// other likely slips.
var fieldHints = map[string]string{
	"capability":           "target_capability",
	"timeout_seconds":      "timeout",
	"max_interval_seconds": "max_interval",
	"time_window_seconds":  "time_window",
	"event":                "event_type",
	"events_required":      "required_events",
	"id":                   "sequence_id",
	"sequence_id":          "id",
}

// LoadFile reads and parses the choreography in the file at path. The
// file's base name without its extension is the name used when the
// document has none. Problems carry path as their File.
func LoadFile(path string) (*Choreography, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening choreography: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading choreography %s: %w", path, err)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return parse(path, name, data)
}

// Parse parses a choreography from YAML or JSON text. The document's
// `name` wins over the name argument; the argument is used when the
// document has none. On failure the error is a Problems listing
// everything wrong, and the choreography is nil.
func Parse(name string, data []byte) (*Choreography, error) {
	return parse("", name, data)
}

func parse(file, name string, data []byte) (*Choreography, error) {
	p := &parser{checker: checker{file: file, src: data}}
	if len(data) > MaxSize {
		p.add("", "", 0, 0, CodeTooLarge, fmt.Sprintf("document is larger than %d bytes", MaxSize))
		return nil, p.probs
	}
	root := p.decode()
	c := &Choreography{Name: name}
	locs := &locations{top: &ruleLoc{}}
	if len(p.probs) > 0 {
		return nil, p.probs
	}
	if root != nil {
		p.document(root, c, locs)
	}
	p.validate(c, locs)
	if len(p.probs) > 0 {
		p.sort()
		return nil, p.probs
	}
	return c, nil
}

// parser turns a YAML node tree into a Choreography, reporting problems
// of form: syntax, unknown fields, wrong types, bad durations.
type parser struct {
	checker
}

// decode parses the text into a node tree and returns the root mapping,
// or nil when the document is empty or broken.
func (p *parser) decode() (root *yaml.Node) {
	defer func() {
		// The YAML library is not known to panic, but bad input must
		// never crash the caller.
		if r := recover(); r != nil {
			p.add("", "", 0, 0, CodeSyntax, fmt.Sprintf("malformed document: %v", r))
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(p.src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		p.syntax(err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		p.add("", "", extra.Line, extra.Column, CodeUnsupported, "a choreography file holds one YAML document; found another")
		return nil
	case !errors.Is(err, io.EOF):
		p.syntax(err)
		return nil
	}
	p.noAliases(&doc)
	if len(p.probs) > 0 || len(doc.Content) == 0 {
		return nil
	}
	root = doc.Content[0]
	if root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.add("", "", root.Line, root.Column, CodeInvalidValue, "a choreography must be a mapping with name, patterns, sequences and complex_patterns")
		return nil
	}
	return root
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntax reports a YAML error, with its line when the message has one.
func (p *parser) syntax(err error) {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	p.add("", "", line, 0, CodeSyntax, msg)
}

// noAliases reports anchors and aliases, which choreographies do not use:
// they would let a small file expand into a huge one.
func (p *parser) noAliases(n *yaml.Node) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.add("", "", n.Line, n.Column, CodeUnsupported, "YAML anchors and aliases are not supported")
		return
	}
	for _, c := range n.Content {
		p.noAliases(c)
	}
}

// ruleLoc records where a rule's fields are in the file.
type ruleLoc struct {
	node *yaml.Node            // the rule's mapping
	keys map[string]*yaml.Node // field name → key node
	vals map[string]*yaml.Node // field name → value node
	bad  map[string]bool       // fields present but already reported
}

// isBad reports whether field was present but already reported.
func (l *ruleLoc) isBad(field string) bool {
	return l != nil && l.bad[field]
}

func (l *ruleLoc) present(field string) bool {
	return l != nil && l.keys[field] != nil
}

// pos returns the position of field's value, its key, or the rule.
func (l *ruleLoc) pos(field string) (int, int) {
	if l == nil {
		return 0, 0
	}
	if n := l.vals[field]; n != nil {
		return n.Line, n.Column
	}
	if n := l.keys[field]; n != nil {
		return n.Line, n.Column
	}
	if l.node != nil {
		return l.node.Line, l.node.Column
	}
	return 0, 0
}

// itemPos returns the position of item i of the list in field, or of
// the field when there is no such item.
func (l *ruleLoc) itemPos(field string, i int) (int, int) {
	if l != nil {
		if v := l.vals[field]; v != nil && v.Kind == yaml.SequenceNode && i < len(v.Content) {
			return v.Content[i].Line, v.Content[i].Column
		}
	}
	return l.pos(field)
}

// locations holds the ruleLoc of every rule; nil entries for rules built
// in Go.
type locations struct {
	top       *ruleLoc
	patterns  []*ruleLoc
	sequences []*ruleLoc
	complex   []*ruleLoc
}

// fields reads the mapping n, reporting keys that are not strings,
// duplicates and fields not in allowed. label names the rule in problems;
// kind is what the mapping is, for messages.
func (p *parser) fields(n *yaml.Node, label, kind string, allowed []string, others []string) *ruleLoc {
	l := &ruleLoc{node: n, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}, bad: map[string]bool{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float") {
			p.add(label, "", k.Line, k.Column, CodeInvalidValue, "field names must be strings")
			continue
		}
		name := k.Value
		if prev := l.keys[name]; prev != nil {
			p.add(label, name, k.Line, k.Column, CodeDuplicateField,
				fmt.Sprintf("field %s appears twice (first on line %d)", name, prev.Line))
			continue
		}
		if !contains(allowed, name) {
			msg := fmt.Sprintf("unknown field %s in %s", quoteName(name), kind)
			if h, ok := fieldHints[name]; ok && contains(allowed, h) {
				msg += fmt.Sprintf("; did you mean %s?", h)
			} else if contains(others, name) {
				msg = fmt.Sprintf("field %s does not apply to %s", name, kind)
			} else if s := suggest(name, allowed); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			p.add(label, name, k.Line, k.Column, CodeUnknownField, msg)
			continue
		}
		l.keys[name], l.vals[name] = k, v
	}
	return l
}

func quoteName(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"'") {
		return strconv.Quote(s)
	}
	return s
}

// document reads the top-level mapping.
func (p *parser) document(root *yaml.Node, c *Choreography, locs *locations) {
	top := p.fields(root, "", "a choreography", topFields, nil)
	locs.top = top
	if v := top.vals["name"]; v != nil && !isNull(v) {
		if s, ok := p.str(top, "", "name", v); ok && s != "" {
			c.Name = s
		}
	}
	if v := top.vals["description"]; v != nil && !isNull(v) {
		c.Description, _ = p.str(top, "", "description", v)
	}
	for i, n := range p.list(top, "", "patterns") {
		var r Pattern
		locs.patterns = append(locs.patterns, p.pattern(fmt.Sprintf("patterns[%d]", i), n, &r))
		c.Patterns = append(c.Patterns, r)
	}
	for i, n := range p.list(top, "", "sequences") {
		var r Sequence
		locs.sequences = append(locs.sequences, p.sequence(fmt.Sprintf("sequences[%d]", i), n, &r))
		c.Sequences = append(c.Sequences, r)
	}
	for i, n := range p.list(top, "", "complex_patterns") {
		var r Complex
		locs.complex = append(locs.complex, p.complex(fmt.Sprintf("complex_patterns[%d]", i), n, &r))
		c.Complex = append(c.Complex, r)
	}
}

// list returns the items of the sequence in field, reporting a value that
// is not a sequence.
func (p *parser) list(l *ruleLoc, label, field string) []*yaml.Node {
	v := l.vals[field]
	if v == nil || isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.bad(l, label, field, CodeInvalidValue, fmt.Sprintf("%s must be a list", field))
		return nil
	}
	return v.Content
}

// rule starts reading the mapping n of a rule: its label is the explicit
// id when there is a usable one.
func (p *parser) rule(label, idField string, n *yaml.Node, allowed, others []string, kind string) (*ruleLoc, string, string, bool) {
	if n.Kind != yaml.MappingNode {
		p.add(label, "", n.Line, n.Column, CodeInvalidValue, fmt.Sprintf("each entry must be a mapping of fields (a %s)", kind))
		return nil, label, "", false
	}
	// Read the id first, so that every problem names the rule by it.
	id := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == idField && v.Kind == yaml.ScalarNode && v.Tag == "!!str" && validID(v.Value) == "" {
			id = v.Value
		}
	}
	if id != "" {
		label = id
	}
	return p.fields(n, label, kind, allowed, others), label, id, true
}

func (p *parser) pattern(label string, n *yaml.Node, r *Pattern) *ruleLoc {
	l, label, _, ok := p.rule(label, "id", n, patternFields, append(append([]string{"sequence_id", "events", "max_interval"}, complexCommon...), allComplexFields()...), "a pattern")
	if !ok {
		return nil
	}
	r.Priority = DefaultPriority
	r.ID = p.optStr(l, label, "id")
	r.EventType = p.optStr(l, label, "event_type")
	r.Condition = p.optStr(l, label, "condition")
	r.Action = p.optStr(l, label, "action")
	r.TargetCapability = p.optStr(l, label, "target_capability")
	p.optInt(l, label, "priority", &r.Priority)
	r.CorrelationKeys = p.strList(l, label, "correlation_keys")
	p.optDuration(l, label, "timeout", &r.Timeout)
	return l
}

func (p *parser) sequence(label string, n *yaml.Node, r *Sequence) *ruleLoc {
	l, label, _, ok := p.rule(label, "sequence_id", n, sequenceFields, append(append([]string{"event_type", "condition", "correlation_keys"}, complexCommon...), allComplexFields()...), "a sequence")
	if !ok {
		return nil
	}
	r.Priority = DefaultPriority
	r.MaxInterval = DefaultMaxInterval
	r.ID = p.optStr(l, label, "sequence_id")
	r.Events = p.strList(l, label, "events")
	p.optDuration(l, label, "max_interval", &r.MaxInterval)
	r.Action = p.optStr(l, label, "action")
	r.TargetCapability = p.optStr(l, label, "target_capability")
	p.optInt(l, label, "priority", &r.Priority)
	p.optDuration(l, label, "timeout", &r.Timeout)
	return l
}

func allComplexFields() []string {
	var all []string
	for _, k := range complexKinds {
		all = append(all, complexFields[k]...)
	}
	return all
}

func (p *parser) complex(label string, n *yaml.Node, r *Complex) *ruleLoc {
	if n.Kind != yaml.MappingNode {
		p.add(label, "", n.Line, n.Column, CodeInvalidValue, "each entry must be a mapping of fields (a complex pattern)")
		return nil
	}
	// The type decides which fields are allowed.
	typ := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "type" && v.Kind == yaml.ScalarNode {
			typ = v.Value
		}
	}
	allowed := append(append([]string{}, complexCommon...), allComplexFields()...)
	kind := "a complex pattern"
	var others []string
	if specific, ok := complexFields[typ]; ok {
		allowed = append(append([]string{}, complexCommon...), specific...)
		kind = "a complex pattern of type " + typ
		others = append(append([]string{}, allComplexFields()...), "max_interval", "events", "sequence_id", "correlation_keys")
	}
	l, label, _, ok := p.rule(label, "id", n, allowed, others, kind)
	if !ok {
		return nil
	}
	r.Priority = DefaultPriority
	r.ID = p.optStr(l, label, "id")
	r.Type = p.optStr(l, label, "type")
	r.EventType = p.optStr(l, label, "event_type")
	r.TriggerEvent = p.optStr(l, label, "trigger_event")
	r.RequiredEvents = p.strList(l, label, "required_events")
	r.ExpectedEvent = p.optStr(l, label, "expected_event")
	p.optDuration(l, label, "time_window", &r.TimeWindow)
	p.optInt(l, label, "threshold", &r.Threshold)
	r.GroupBy = p.optStr(l, label, "group_by")
	p.optDuration(l, label, "timeout", &r.Timeout)
	r.Condition = p.optStr(l, label, "condition")
	r.Action = p.optStr(l, label, "action")
	r.TargetCapability = p.optStr(l, label, "target_capability")
	p.optInt(l, label, "priority", &r.Priority)
	if r.Type == KindThreshold && r.GroupBy == "" && !l.present("group_by") {
		r.GroupBy = GroupCorrelation
	}
	return l
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// bad reports a problem with field's value and marks the field as
// reported, so validation does not also call it missing.
func (p *parser) bad(l *ruleLoc, label, field, code, msg string) {
	line, col := l.pos(field)
	p.add(label, field, line, col, code, msg)
	l.bad[field] = true
}

// str reads a string scalar.
func (p *parser) str(l *ruleLoc, label, field string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
		p.bad(l, label, field, CodeInvalidValue, fmt.Sprintf("%s must be a string, not %s", field, describe(v)))
		return "", false
	}
	return v.Value, true
}

// optStr reads an optional string field; absent and null read as "".
func (p *parser) optStr(l *ruleLoc, label, field string) string {
	v := l.vals[field]
	if v == nil || isNull(v) {
		return ""
	}
	s, _ := p.str(l, label, field, v)
	return s
}

func (p *parser) optInt(l *ruleLoc, label, field string, dst *int) {
	v := l.vals[field]
	if v == nil || isNull(v) {
		return
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!int" {
		var i int64
		if err := v.Decode(&i); err == nil && i >= math.MinInt32 && i <= math.MaxInt32 {
			*dst = int(i)
			return
		}
		p.bad(l, label, field, CodeInvalidValue, fmt.Sprintf("%s %s is out of range", field, v.Value))
		return
	}
	p.bad(l, label, field, CodeInvalidValue, fmt.Sprintf("%s must be an integer, not %s", field, describe(v)))
}

func (p *parser) strList(l *ruleLoc, label, field string) []string {
	v := l.vals[field]
	if v == nil || isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.bad(l, label, field, CodeInvalidValue, fmt.Sprintf("%s must be a list of strings, not %s", field, describe(v)))
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
			p.add(label, field, item.Line, item.Column, CodeInvalidValue,
				fmt.Sprintf("%s[%d] must be a string, not %s", field, i, describe(item)))
			l.bad[field] = true
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

func (p *parser) optDuration(l *ruleLoc, label, field string, dst *time.Duration) {
	v := l.vals[field]
	if v == nil || isNull(v) {
		return
	}
	d, err := parseDurationNode(v)
	if err != nil {
		p.bad(l, label, field, CodeInvalidDuration, fmt.Sprintf("%s: %v", field, err))
		return
	}
	*dst = d
}

// describe names the kind of a node's value for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!int":
		return "the integer " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "null"
	case "!!str":
		return strconv.Quote(n.Value)
	}
	return n.Tag + " " + strconv.Quote(n.Value)
}

// parseDurationNode reads a duration: Go syntax such as 90s, 5m or 1h30m,
// or a number of seconds, written as a YAML number or a string.
func parseDurationNode(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, fmt.Errorf("want a duration such as 60s, 5m or 1h30m, or a number of seconds; got %s", describe(n))
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		var f float64
		if err := n.Decode(&f); err != nil {
			return 0, fmt.Errorf("bad number %s", n.Value)
		}
		return secondsDuration(f, n.Value)
	}
	return parseDuration(n.Value)
}

// parseDuration reads a duration written as a string.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration")
	}
	d, err := time.ParseDuration(t)
	if err == nil {
		if d <= 0 {
			return 0, fmt.Errorf("duration %s must be positive", s)
		}
		return d, nil
	}
	if f, ferr := strconv.ParseFloat(t, 64); ferr == nil && !strings.ContainsAny(t, "xXpP_") {
		return secondsDuration(f, s)
	}
	switch {
	case strings.HasSuffix(t, "d") || strings.HasSuffix(t, "w"):
		return 0, fmt.Errorf("bad duration %q: days and weeks are not units; write hours, such as 24h", s)
	case goDuration.MatchString(t):
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return 0, fmt.Errorf("bad duration %q; write it like 60s, 5m, 1h30m or 250ms, or as a number of seconds", s)
}

// goDuration matches text in Go's duration syntax, so that a failure to
// parse it means overflow.
var goDuration = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// secondsDuration converts a number of seconds.
func secondsDuration(f float64, text string) (time.Duration, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, fmt.Errorf("bad duration %s", text)
	case f <= 0:
		return 0, fmt.Errorf("duration %s must be positive", text)
	case f*float64(time.Second) >= math.MaxInt64:
		return 0, fmt.Errorf("duration %s is too long", text)
	}
	d := time.Duration(math.Round(f * float64(time.Second)))
	if d <= 0 {
		return 0, fmt.Errorf("duration %s is shorter than a nanosecond", text)
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the field of allowed closest to name, when it is close
// enough to be a slip.
func suggest(name string, allowed []string) string {
	if h, ok := fieldHints[strings.ToLower(name)]; ok && contains(allowed, h) {
		return h
	}
	best, bestDist := "", 3
	if len(name) <= 4 {
		bestDist = 2
	}
	lower := strings.ToLower(name)
	for _, a := range allowed {
		if len(lower) >= 4 && strings.HasPrefix(a, lower) {
			return a
		}
		if d := editDistance(lower, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
