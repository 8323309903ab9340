package jsonscan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkAgainstJSON reads b whole with each primitive and fails t if one
// takes it while encoding/json decodes it to another value or refuses it.
func checkAgainstJSON(t *testing.T, b []byte) {
	t.Helper()
	agree := func(what string, got, into any, read func(s *Scanner)) {
		t.Helper()
		s := New(b)
		read(&s)
		if !s.Done() {
			return
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s took %q; encoding/json refuses it: %v", what, b, err)
		}
		if want := reflect.ValueOf(into).Elem().Interface(); !reflect.DeepEqual(reflect.ValueOf(got).Elem().Interface(), want) {
			t.Fatalf("%s of %q = %#v; encoding/json: %#v", what, b, reflect.ValueOf(got).Elem().Interface(), want)
		}
	}
	var str, wstr string
	agree("Str", &str, &wstr, func(s *Scanner) { str = s.Str() })
	var n, wn int
	agree("Int", &n, &wn, func(s *Scanner) { n = s.Int() })
	var fl, wfl float64
	agree("Float", &fl, &wfl, func(s *Scanner) { fl = s.Float() })
	var tm, wtm time.Time
	agree("Time", &tm, &wtm, func(s *Scanner) { tm = s.Time() })
	var ss, wss []string
	agree("Strs", &ss, &wss, func(s *Scanner) { ss = s.Strs(true) })
	var obj, wobj json.RawMessage
	agree("Object", &obj, &wobj, func(s *Scanner) { obj = json.RawMessage(s.Object()) })
	// SkipStrs and a shared Scanner read what Strs(false) and a copying one
	// read.
	s, skip, shared := New(b), New(b), NewShared(b)
	s.Strs(false)
	skip.SkipStrs()
	shared.Strs(false)
	if s.OK() != skip.OK() || s.b != skip.b || s.OK() != shared.OK() || s.b != shared.b {
		t.Fatalf("of %q, Strs(false) leaves %v %q, SkipStrs %v %q, a shared Scanner %v %q",
			b, s.OK(), s.b, skip.OK(), skip.b, shared.OK(), shared.b)
	}
}

func TestScanner(t *testing.T) {
	for _, in := range []string{
		`"abc"`, `""`, `"a\"b"`, `"é"`, "\"\x7f\"", `0`, `-0`, `01`, `-`, `12345678901234567890`, `1e2`, `1.0`,
		`"2026-01-02T03:04:05.123Z"`, `"2026-01-02T03:04:05+05:30"`, `"2026-01-02T24:00:00Z"`, `"2026-01-02 03:04:05Z"`,
		`1.5`, `-0.0`, `1e400`, `1E-2`, `.5`, `1.`, `-`, `00.1`, `1e+`, `123.456e-7`,
		`[]`, `["a","b"]`, `null`, `["a",]`, `[1]`, `{}`, `{"a":[{"b":"}"}]}`, `{"a":}`, `{"a":1}}`,
		`{"a":` + strings.Repeat("[", 1500) + strings.Repeat("]", 1500) + `}`,
	} {
		checkAgainstJSON(t, []byte(in))
	}
	s := New([]byte(`{"a":1,"b":["x"]}`))
	s.Lit(`{"a":`)
	a := s.Int()
	if !s.Peek(`,"b":`) {
		t.Fatal("Peek missed what follows")
	}
	s.Lit(`,"b":`)
	b := s.Strs(false)
	s.Lit("}")
	if !s.Done() || a != 1 || len(b) != 1 || b[0] != "x" {
		t.Fatalf("read %d %v, done %v", a, b, s.Done())
	}
	s = New([]byte(`null`))
	if s.Strs(false); s.OK() {
		t.Error("Strs(false) took null")
	}
	s = New([]byte(`"x"`))
	s.Fail()
	if s.Str(); s.OK() || s.Done() {
		t.Error("a failed scanner went on")
	}
}

func FuzzScanner(f *testing.F) {
	for _, in := range []string{`"abc"`, `-12`, `"2026-01-02T03:04:05Z"`, `["a"]`, `null`, `{"a":[1,{"b":"c"}]}`} {
		f.Add([]byte(in))
	}
	f.Fuzz(checkAgainstJSON)
}
