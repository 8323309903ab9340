package choreography

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type want struct {
	code      string
	line, col int
}

func TestInvalidFiles(t *testing.T) {
	tests := []struct {
		file string
		want []want
	}{
		{"aliases.yaml", []want{{CodeUnsupported, 2, 11}, {CodeUnsupported, 6, 9}}},
		{"conditions.yaml", []want{
			{CodeInvalidCondition, 4, 37},  // plain scalar: True
			{CodeInvalidCondition, 8, 51},  // double-quoted, after escapes
			{CodeInvalidCondition, 12, 36}, // single-quoted, after doubled quotes
			{CodeInvalidCondition, 18, 18}, // literal block, line 2
			{CodeInvalidCondition, 18, 20},
			{CodeInvalidCondition, 24, 10}, // folded block, line 2
			{CodeInvalidCondition, 28, 16}, // not a bool
			{CodeInvalidCondition, 34, 21}, // unknown event field
		}},
		{"ids.yaml", []want{
			{CodeDuplicateID, 7, 9}, {CodeInvalidValue, 11, 9}, {CodeDuplicateID, 16, 18}, {CodeInvalidValue, 21, 9},
		}},
		{"missing.yaml", []want{
			{CodeMissingField, 3, 5}, {CodeMissingField, 3, 5}, {CodeMissingField, 3, 5},
			{CodeMissingField, 5, 12}, {CodeMissingField, 6, 24},
			{CodeMissingField, 8, 5},
			{CodeMissingField, 11, 5},
			{CodeMissingField, 13, 5}, {CodeMissingField, 13, 5}, {CodeMissingField, 13, 5},
			{CodeMissingField, 16, 5}, {CodeMissingField, 16, 5}, {CodeMissingField, 16, 5},
			{CodeMissingField, 19, 5}, {CodeMissingField, 19, 5},
			{CodeMissingField, 23, 5},
		}},
		{"name.yaml", []want{{CodeInvalidValue, 1, 7}, {CodeMissingField, 2, 11}}},
		{"syntax.yaml", []want{{CodeSyntax, 3, 0}}},
		{"toplevel.yaml", []want{{CodeInvalidValue, 1, 1}}},
		{"twodocs.yaml", []want{{CodeUnsupported, 2, 1}}},
		{"typo.json", []want{{CodeUnknownField, 1, 97}}},
		{"typos.yaml", []want{
			{CodeMissingField, 3, 5}, {CodeUnknownField, 5, 5},
			{CodeMissingField, 6, 5}, {CodeUnknownField, 8, 5}, {CodeUnknownField, 9, 5},
			{CodeUnknownField, 11, 5}, {CodeUnknownField, 20, 5}, {CodeUnknownField, 23, 1},
		}},
		{"values.yaml", []want{
			{CodeInvalidValue, 6, 15}, {CodeInvalidValue, 7, 23}, {CodeInvalidDuration, 8, 14},
			{CodeInvalidValue, 9, 17}, {CodeInvalidValue, 10, 13}, {CodeInvalidValue, 12, 15}, {CodeInvalidValue, 13, 34},
			{CodeInvalidValue, 15, 13},
			{CodeInvalidValue, 18, 17}, {CodeInvalidValue, 18, 22}, {CodeInvalidDuration, 19, 19},
			{CodeInvalidDuration, 23, 19},
			{CodeInvalidValue, 29, 16}, {CodeInvalidDuration, 30, 18}, {CodeInvalidValue, 31, 15},
			{CodeInvalidValue, 34, 11},
			{CodeUnknownField, 37, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tt.file)
			c, err := LoadFile(path)
			if c != nil {
				t.Errorf("LoadFile(%s) returned a choreography; want nil", path)
			}
			var probs Problems
			if !errors.As(err, &probs) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("LoadFile(%s) error = %v (%T); want Problems", path, err, err)
			}
			var got []want
			for _, p := range probs {
				got = append(got, want{p.Code, p.Line, p.Col})
				if p.File != path || p.Msg == "" {
					t.Errorf("problem %+v: want File %q and a message", p, path)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%v\ngot  %v\nwant %v", err, got, tt.want)
			}
		})
	}
}

func TestProblemMessages(t *testing.T) {
	_, err := LoadFile(filepath.Join("testdata", "invalid", "typos.yaml"))
	if err == nil {
		t.Fatal("LoadFile succeeded; want problems")
	}
	for _, want := range []string{
		"testdata/invalid/typos.yaml:5:5: patterns[0]: unknown field target_capabilty in a pattern; did you mean target_capability?",
		"testdata/invalid/typos.yaml:8:5: patterns[1]: unknown field capability in a pattern; did you mean target_capability?",
		"testdata/invalid/typos.yaml:11:5: sequences[0]: unknown field id in a sequence; did you mean sequence_id?",
		"testdata/invalid/typos.yaml:20:5: complex_patterns[0]: field time_window does not apply to a complex pattern of type absence",
		"testdata/invalid/typos.yaml:23:1: unknown field descripton in a choreography; did you mean description?",
	} {
		if !strings.Contains(err.Error()+"\n", filepath.FromSlash(want)+"\n") {
			t.Errorf("error output lacks line %q; got:\n%v", want, err)
		}
	}
}

func TestValidFiles(t *testing.T) {
	yml, err := LoadFile(filepath.Join("testdata", "valid", "ecommerce.yaml"))
	if err != nil {
		t.Fatalf("LoadFile(ecommerce.yaml) = %v", err)
	}
	js, err := LoadFile(filepath.Join("testdata", "valid", "ecommerce.json"))
	if err != nil {
		t.Fatalf("LoadFile(ecommerce.json) = %v", err)
	}
	// Programs are compiled separately; compare everything else.
	if !reflect.DeepEqual(strip(yml), strip(js)) {
		t.Errorf("YAML and JSON forms differ:\n%+v\n%+v", strip(yml), strip(js))
	}
	if yml.Name != "ecommerce" || yml.Description != "Order processing choreography." {
		t.Errorf("Name, Description = %q, %q", yml.Name, yml.Description)
	}
	if got, want := len(yml.Patterns), 7; got != want {
		t.Fatalf("%d patterns; want %d", got, want)
	}
	p := yml.Patterns[3]
	wantP := Pattern{ID: "retry-payment", EventType: "payment_failed", Condition: "data.?retry_count.orValue(0) < 3",
		Action: "retry_payment", TargetCapability: "payment_processing", Priority: 7,
		CorrelationKeys: []string{"order_id"}, Timeout: 30 * time.Second}
	p.Program = nil
	if !reflect.DeepEqual(p, wantP) {
		t.Errorf("patterns[3] = %+v; want %+v", p, wantP)
	}
	s := yml.Sequences[0]
	wantS := Sequence{ID: "order_to_delivery", Events: []string{"order_received", "payment_successful", "shipping_complete", "delivery_confirmed"},
		MaxInterval: time.Minute, Action: "close_order", TargetCapability: "order_management", Priority: 1}
	if !reflect.DeepEqual(s, wantS) {
		t.Errorf("sequences[0] = %+v; want %+v", s, wantS)
	}
	x := yml.Complex[0]
	x.Program = nil
	wantX := Complex{ID: "absence:payment_requested->escalate_payment", Type: KindAbsence, EventType: "payment_requested",
		ExpectedEvent: "payment_successful", Timeout: 5 * time.Minute, Action: "escalate_payment", TargetCapability: "payments", Priority: 1}
	if !reflect.DeepEqual(x, wantX) {
		t.Errorf("complex_patterns[0] = %+v; want %+v", x, wantX)
	}
	for i, p := range yml.Patterns {
		if p.Program == nil || p.Program.String() != p.Condition {
			t.Errorf("patterns[%d].Program = %v; want the compiled condition %q", i, p.Program, p.Condition)
		}
	}
	for i, x := range yml.Complex {
		if x.Program == nil {
			t.Errorf("complex_patterns[%d].Program is nil", i)
		}
	}
	if !yml.Complex[0].Program.Always() || yml.Complex[3].Program.Always() {
		t.Errorf("complex programs: absence Always = %v, state_transition Always = %v; want true, false",
			yml.Complex[0].Program.Always(), yml.Complex[3].Program.Always())
	}
}

func strip(c *Choreography) Choreography {
	out := *c
	out.Patterns = append([]Pattern(nil), c.Patterns...)
	for i := range out.Patterns {
		out.Patterns[i].Program = nil
	}
	out.Complex = append([]Complex(nil), c.Complex...)
	for i := range out.Complex {
		out.Complex[i].Program = nil
	}
	return out
}

func TestDefaultsAndIDs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "valid", "defaults.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("from-argument", data)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if c.Name != "from-argument" {
		t.Errorf("Name = %q; want the argument", c.Name)
	}
	var ids []string
	for _, p := range c.Patterns {
		ids = append(ids, p.ID)
	}
	wantIDs := []string{"order_received->check_inventory", "order_received->check_inventory#2", "*->audit"}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("pattern ids = %q; want %q", ids, wantIDs)
	}
	if got := []int{c.Patterns[0].Priority, c.Patterns[2].Priority}; !reflect.DeepEqual(got, []int{1, 0}) {
		t.Errorf("priorities = %v; want default 1 and explicit 0", got)
	}
	if !c.Patterns[0].Program.Always() || !c.Patterns[1].Program.Always() {
		t.Error("empty and \"true\" conditions should compile to Always programs")
	}
	s := c.Sequences[0]
	if s.ID != "a..c->done" || s.MaxInterval != 90*time.Second || s.Priority != 1 {
		t.Errorf("sequence = %+v; want id a..c->done, max_interval 90s, priority 1", s)
	}
	x := c.Complex[0]
	if x.ID != "threshold_pattern:login_failed->lock" || x.GroupBy != GroupCorrelation || x.TimeWindow != 2500*time.Millisecond {
		t.Errorf("complex = %+v; want derived id, group_by correlation, time_window 2.5s", x)
	}
	// The document's name wins over the argument.
	c, err = Parse("ignored", append([]byte("name: named\n"), data...))
	if err != nil || c.Name != "named" {
		t.Errorf("Parse with name = %v, %v; want name %q", c, err, "named")
	}
	// With no name anywhere, that is the one problem.
	_, err = Parse("", data)
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 || probs[0].Code != CodeMissingField || probs[0].Field != "name" {
		t.Errorf("Parse without name = %v; want one missing_field for name", err)
	}
}

func TestIDsStableUnderUnrelatedEdits(t *testing.T) {
	const base = `
patterns:
  - {event_type: a, action: x, target_capability: c}
  - {event_type: b, action: y, target_capability: c}
`
	const edited = `
patterns:
  - {event_type: z, action: new, target_capability: c}
  - {event_type: b, action: y, target_capability: c}
  - {event_type: a, action: x, target_capability: c, priority: 5}
`
	c1, err1 := Parse("n", []byte(base))
	c2, err2 := Parse("n", []byte(edited))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if c1.Patterns[0].ID != c2.Patterns[2].ID || c1.Patterns[1].ID != c2.Patterns[1].ID {
		t.Errorf("ids changed: %q %q -> %q %q", c1.Patterns[0].ID, c1.Patterns[1].ID, c2.Patterns[2].ID, c2.Patterns[1].ID)
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"60s", time.Minute, ""},
		{"5m", 5 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"60", time.Minute, ""},
		{"2.5", 2500 * time.Millisecond, ""},
		{`"45"`, 45 * time.Second, ""},
		{"0.001", time.Millisecond, ""},
		{"1e3", 1000 * time.Second, ""},
		{"0", 0, "must be positive"},
		{"0s", 0, "must be positive"},
		{"-5s", 0, "must be positive"},
		{"-1", 0, "must be positive"},
		{"1d", 0, "days and weeks are not units"},
		{"soon", 0, "bad duration"},
		{`""`, 0, "empty duration"},
		{".inf", 0, "bad duration"},
		{".nan", 0, "bad duration"},
		{"1e300", 0, "too long"},
		{"9999999999999h", 0, "too long"},
		{"0x10", 16 * time.Second, ""}, // a YAML integer
		{`"0x10"`, 0, "bad duration"},
		{"1e-12", 0, "shorter than a nanosecond"},
		{"[1]", 0, "want a duration"},
		{"true", 0, "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			doc := "name: d\nsequences:\n  - {events: [a, b], action: x, target_capability: y, max_interval: " + tt.in + "}\n"
			c, err := Parse("d", []byte(doc))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("max_interval %s: %v", tt.in, err)
				}
				if got := c.Sequences[0].MaxInterval; got != tt.want {
					t.Errorf("max_interval %s = %v; want %v", tt.in, got, tt.want)
				}
				return
			}
			var probs Problems
			if !errors.As(err, &probs) || len(probs) != 1 || probs[0].Code != CodeInvalidDuration || !strings.Contains(probs[0].Msg, tt.wantErr) {
				t.Errorf("max_interval %s: error %v; want one invalid_duration containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	big := make([]byte, MaxSize+1)
	_, err := Parse("big", big)
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 || probs[0].Code != CodeTooLarge {
		t.Errorf("Parse of %d bytes = %v; want one too_large problem", len(big), err)
	}

	var b strings.Builder
	b.WriteString("name: many\npatterns:\n")
	for range MaxProblems {
		b.WriteString("  - {event_type: a}\n") // two problems each
	}
	_, err = Parse("", []byte(b.String()))
	if !errors.As(err, &probs) || len(probs) != MaxProblems+1 || probs[MaxProblems].Code != CodeTooManyProblems {
		t.Errorf("got %d problems, last %v; want %d then too_many_problems", len(probs), probs[len(probs)-1], MaxProblems)
	}
}

// TestNoRules: a document without a rule is refused, so that deploying it
// cannot replace the running rules with nothing; the problem points at the
// empty rule list when there is one.
func TestNoRules(t *testing.T) {
	for _, tt := range []struct {
		doc       string
		field     string
		line, col int
	}{
		{"", "", 0, 0},
		{"# nothing\n", "", 0, 0},
		{"null\n", "", 0, 0},
		{"{}", "", 1, 1},
		{"name: x\n", "", 1, 1},
		{"name: x\npatterns: []\n", "patterns", 2, 11},
		{"name: x\nsequences:\ncomplex_patterns: []\n", "sequences", 2, 11},
	} {
		c, err := Parse("empty", []byte(tt.doc))
		var probs Problems
		if !errors.As(err, &probs) || c != nil {
			t.Errorf("Parse(%q) = %v, %v; want Problems", tt.doc, c, err)
			continue
		}
		want := Problem{Field: tt.field, Line: tt.line, Col: tt.col, Code: CodeMissingField}
		if len(probs) != 1 || probs[0].Code != want.Code || probs[0].Field != want.Field || probs[0].Line != want.Line || probs[0].Col != want.Col {
			t.Errorf("Parse(%q) = %v (%+v); want one %s at %d:%d on %q", tt.doc, err, probs, want.Code, want.Line, want.Col, want.Field)
		}
		if !strings.Contains(err.Error(), "no rules") {
			t.Errorf("Parse(%q) = %v; want a message saying it has no rules", tt.doc, err)
		}
	}
	// A rule list that is not a list is one problem, not two.
	_, err := Parse("x", []byte("patterns: 3\n"))
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 || probs[0].Code != CodeInvalidValue {
		t.Errorf("Parse(patterns: 3) = %v; want one invalid_value", err)
	}
	// Built in Go, the same.
	err = (&Choreography{Name: "built"}).Validate()
	if !errors.As(err, &probs) || len(probs) != 1 || probs[0].Code != CodeMissingField {
		t.Errorf("Validate of a choreography without rules = %v; want one missing_field", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("LoadFile(absent) = %v; want a not-exist error, not Problems", err)
	}
	path := filepath.Join(t.TempDir(), "orders.yaml")
	if err := os.WriteFile(path, []byte("patterns: [{event_type: a, action: b, target_capability: c}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(path)
	if err != nil || c.Name != "orders" {
		t.Errorf("LoadFile without name = %v, %v; want name from the file name", c, err)
	}
}

func TestEventTypes(t *testing.T) {
	c, err := LoadFile(filepath.Join("testdata", "valid", "ecommerce.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"delivery_confirmed", "inventory_confirmed", "order_received", "order_shipped", "order_updated",
		"payment_failed", "payment_requested", "payment_successful", "shipping_complete"}
	if got := c.EventTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventTypes() = %q; want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	c := &Choreography{
		Name: "built",
		Patterns: []Pattern{
			{EventType: "a", Condition: "data.x > 1", Action: "act", TargetCapability: "cap", Priority: 3},
		},
		Sequences: []Sequence{{Events: []string{"a", "b"}, Action: "s", TargetCapability: "cap"}},
		Complex: []Complex{
			{Type: KindThreshold, EventType: "a", Threshold: 2, TimeWindow: time.Minute, Action: "t", TargetCapability: "cap"},
		},
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	if c.Patterns[0].ID != "a->act" || c.Patterns[0].Program == nil || c.Sequences[0].MaxInterval != DefaultMaxInterval ||
		c.Complex[0].GroupBy != GroupCorrelation || c.Complex[0].Program == nil {
		t.Errorf("Validate did not complete the choreography: %+v", c)
	}

	bad := &Choreography{
		Name:      "bad",
		Patterns:  []Pattern{{EventType: "a", Condition: "data.x >", Action: "act"}},
		Sequences: []Sequence{{Events: []string{"a"}, Action: "s", TargetCapability: "cap", MaxInterval: -time.Second}},
		Complex:   []Complex{{Type: KindAbsence, EventType: "a", ExpectedEvent: "b", Timeout: time.Minute, Threshold: 3, Action: "t", TargetCapability: "c"}},
	}
	err := bad.Validate()
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("Validate = %v; want Problems", err)
	}
	wantCodes := []string{CodeMissingField, CodeInvalidCondition, CodeInvalidValue, CodeInvalidDuration, CodeUnknownField}
	if got := probs.Codes(); !reflect.DeepEqual(got, wantCodes) {
		t.Errorf("codes = %v; want %v\n%v", got, wantCodes, err)
	}
}
