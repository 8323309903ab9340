package jsonvalid

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// nest returns depth copies of open, then inner, then depth copies of close.
func nest(depth int, open, inner, close string) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
}

var cases = []struct {
	name string
	in   string
	want bool
}{
	// Whole input.
	{"empty", "", false},
	{"space only", " ", false},
	{"all whitespace", " \t\r\n", false},
	{"surrounding whitespace", " \t\r\n{} \t\r\n", true},
	{"form feed is not whitespace", "\f1", false},
	{"vertical tab is not whitespace", "1\v", false},
	{"nbsp is not whitespace", "\u00a01", false},
	{"nul after value", "1\x00", false},
	{"two values", "1 2", false},
	{"two objects", "{}{}", false},
	{"trailing garbage", `{"a":1}x`, false},
	{"trailing comma at top", "1,", false},
	{"bom", "\ufeff{}", false},

	// Literals.
	{"true", "true", true},
	{"false", "false", true},
	{"null", "null", true},
	{"true prefix", "tru", false},
	{"false prefix", "fals", false},
	{"null prefix", "nul", false},
	{"true suffix", "truex", false},
	{"capital true", "True", false},
	{"null then digit", "null1", false},
	{"nan", "NaN", false},
	{"infinity", "Infinity", false},
	{"undefined", "undefined", false},

	// Numbers.
	{"zero", "0", true},
	{"negative zero", "-0", true},
	{"integer", "1234567890", true},
	{"negative", "-12", true},
	{"fraction", "3.25", true},
	{"zero fraction", "0.5", true},
	{"exponent", "1e10", true},
	{"capital exponent", "1E10", true},
	{"signed exponents", "[1e+2,1e-2,1E+2,1E-2]", true},
	{"full number", "-0.125e-07", true},
	{"huge exponent", "1e999999999999999999999", true},
	{"long digits", strings.Repeat("9", 1000), true},
	{"minus only", "-", false},
	{"minus minus", "--1", false},
	{"plus", "+1", false},
	{"leading zero", "01", false},
	{"negative leading zero", "-01", false},
	{"zeros", "00", false},
	{"leading zero in array", "[01]", false},
	{"trailing dot", "1.", false},
	{"trailing dot in array", "[1.]", false},
	{"leading dot", ".5", false},
	{"minus dot", "-.5", false},
	{"two dots", "1.2.3", false},
	{"bare exponent", "1e", false},
	{"exponent sign only", "1e+", false},
	{"exponent then dot", "1e5.0", false},
	{"dot exponent", "1.e5", false},
	{"exponent no mantissa", "e5", false},
	{"hex", "0x10", false},
	{"minus space", "- 1", false},
	{"number then letter", "1a", false},

	// Strings.
	{"empty string", `""`, true},
	{"string", `"hello"`, true},
	{"long string", `"` + strings.Repeat("abcdefgh", 100) + `"`, true},
	{"all escapes", `"\" \\ \/ \b \f \n \r \t \u00e9 \uABCD"`, true},
	{"lone high surrogate", `"\ud800"`, true},
	{"lone low surrogate", `"\udc00x"`, true},
	{"utf-8", `"é 日本 🎉"`, true},
	{"invalid utf-8", "\"\xff\xfe\x80\"", true},
	{"truncated utf-8", "\"\xe6\x97\"", true},
	{"del", "\"\x7f\"", true},
	{"unterminated", `"abc`, false},
	{"unterminated long", `"` + strings.Repeat("x", 100), false},
	{"unterminated escape", `"\`, false},
	{"escaped closing quote", `"\"`, false},
	{"single quotes", `'a'`, false},
	{"bad escape", `"\a"`, false},
	{"escaped single quote", `"\'"`, false},
	{"capital U escape", `"\U0041"`, false},
	{"escape x", `"\x41"`, false},
	{"escape zero", `"\0"`, false},
	{"short unicode escape", `"\u12"`, false},
	{"short unicode escape at end", `"\u123`, false},
	{"non-hex unicode escape", `"\u12g4"`, false},
	{"nul in string", "\"a\x00b\"", false},
	{"tab in string", "\"a\tb\"", false},
	{"newline in string", "\"a\nb\"", false},
	{"unit separator in string", "\"\x1f\"", false},
	{"control char after 8 plain", "\"abcdefgh\x01ijklmnop\"", false},
	{"quote after 8 plain", `"abcdefghijklmno"x`, false},
	{"escaped control char", `"\u0000"`, true},

	// Arrays.
	{"empty array", "[]", true},
	{"spaced empty array", "[ \n ]", true},
	{"array", `[1, "a", true, null, {}, []]`, true},
	{"nested arrays", "[[[]],[[],[1]]]", true},
	{"unterminated array", "[1", false},
	{"unterminated array after comma", "[1,", false},
	{"open bracket", "[", false},
	{"close bracket", "]", false},
	{"trailing comma", "[1,]", false},
	{"leading comma", "[,1]", false},
	{"only comma", "[,]", false},
	{"duplicate comma", "[1,,2]", false},
	{"missing comma", "[1 2]", false},
	{"array closed by brace", "[1}", false},
	{"empty array closed by brace", "[}", false},
	{"colon in array", "[1:2]", false},

	// Objects.
	{"empty object", "{}", true},
	{"spaced empty object", "{ \t }", true},
	{"object", `{"a":1,"b":[true],"c":{"d":null}}`, true},
	{"spaced object", ` { "a" : 1 , "b" : 2 } `, true},
	{"duplicate keys", `{"a":1,"a":2}`, true},
	{"escaped key", `{"\u0041\n":1}`, true},
	{"unterminated object", `{"a":1`, false},
	{"unterminated after key", `{"a"`, false},
	{"unterminated after colon", `{"a":`, false},
	{"unterminated after comma", `{"a":1,`, false},
	{"open brace", "{", false},
	{"close brace", "}", false},
	{"missing colon", `{"a" 1}`, false},
	{"missing value", `{"a":}`, false},
	{"missing key", `{:1}`, false},
	{"double colon", `{"a"::1}`, false},
	{"unquoted key", `{a:1}`, false},
	{"number key", `{1:1}`, false},
	{"single-quoted key", `{'a':1}`, false},
	{"trailing comma in object", `{"a":1,}`, false},
	{"leading comma in object", `{,"a":1}`, false},
	{"duplicate comma in object", `{"a":1,,"b":2}`, false},
	{"missing comma in object", `{"a":1 "b":2}`, false},
	{"object closed by bracket", `{"a":1]`, false},
	{"empty object closed by bracket", `{]`, false},
	{"key without value", `{"a"}`, false},
	{"array as key", `{[]:1}`, false},
	{"mismatched nesting", `[{]}`, false},
	{"mismatched nesting 2", `{"a":[}]`, false},
	{"close after close", `[]]`, false},

	// Depth.
	{"arrays at max depth", nest(MaxDepth, "[", "", "]"), true},
	{"arrays beyond max depth", nest(MaxDepth+1, "[", "", "]"), false},
	{"objects at max depth", nest(MaxDepth-1, `{"a":`, "{}", "}"), true},
	{"objects beyond max depth", nest(MaxDepth, `{"a":`, "{}", "}"), false},
	{"mixed at max depth", nest(MaxDepth/2, `[{"k":`, "1", "}]"), true},
	{"mixed beyond max depth", nest(MaxDepth/2, `[{"k":`, "[1]", "}]"), false},
	{"beyond max depth unterminated", strings.Repeat("[", MaxDepth+1), false},
	{"far beyond max depth", nest(1_000_000, "[", "", "]"), false},
	{"deep then wrong close", nest(300, "[", "", "}"), false},
	{"deep mixed closes", strings.Repeat(`{"a":[`, 200) + strings.Repeat("]}", 200), true},
	{"deep mixed wrong close", strings.Repeat(`{"a":[`, 200) + "}" + strings.Repeat("]}", 199) + "]", false},

	// Big inputs.
	{"big array", "[" + strings.Repeat(`{"id":123,"name":"alice","tags":["x","y"],"ok":true},`, 20_000) + "null]", true},
	{"big array trailing comma", "[" + strings.Repeat("1,", 200_000) + "]", false},
	{"big string", `"` + strings.Repeat("a\\n", 100_000) + `"`, true},
	{"big string with nul at end", `"` + strings.Repeat("a", 300_000) + "\x00\"", false},
}

func TestValid(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			if got := Valid(b); got != tc.want {
				t.Errorf("Valid(%.40q) = %v, want %v", tc.in, got, tc.want)
			}
			if std := json.Valid(b); std != tc.want {
				t.Errorf("encoding/json.Valid(%.40q) = %v, the table says %v", tc.in, std, tc.want)
			}
		})
	}
}

// TestEveryPrefix checks every prefix of a document, which ends the input
// in every state, and the document with each byte replaced by a byte of
// JSON's syntax.
func TestEveryPrefix(t *testing.T) {
	doc := []byte(` {"a" : [1, -0.5e+3, "x\"\\\/\b\f\n\r\t\u00e9y", true, false, null, {}, []], "b":{"c":"abcdefghijklmnopq"}} `)
	for n := range len(doc) + 1 {
		checkSame(t, doc[:n])
	}
	b := make([]byte, len(doc))
	for i := range doc {
		for _, c := range []byte("{}[]:,\" \\-0.eEu1a\x00\n") {
			copy(b, doc)
			b[i] = c
			checkSame(t, b)
		}
	}
}

func TestAllocs(t *testing.T) {
	// 256 levels, the most Valid keeps off the heap.
	b := []byte(nest(128, `[{"k":`, `"v"`, "}]"))
	if n := testing.AllocsPerRun(100, func() { Valid(b) }); n != 0 {
		t.Errorf("Valid allocates %v times per call, want 0", n)
	}
}

func checkSame(t *testing.T, b []byte) {
	t.Helper()
	if got, want := Valid(b), json.Valid(b); got != want {
		t.Fatalf("Valid(%q) = %v, encoding/json.Valid gives %v", b, got, want)
	}
}

func FuzzValid(f *testing.F) {
	for _, tc := range cases {
		if len(tc.in) <= 1<<10 {
			f.Add([]byte(tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkSame(t, b) })
}

// TestRandomDocuments compares Valid with encoding/json.Valid on documents
// made by marshalling random values, and on mutations of them.
func TestRandomDocuments(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const docs = 3000
	var mutated, invalid int
	for range docs {
		doc, err := json.Marshal(randomValue(r, 0))
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(2) == 0 {
			var buf bytes.Buffer
			if err := json.Indent(&buf, doc, " ", "\t"); err != nil {
				t.Fatal(err)
			}
			doc = buf.Bytes()
		}
		if !Valid(doc) {
			t.Fatalf("Valid(%q) = false for a marshalled value", doc)
		}
		for range 5 {
			m := mutate(r, doc)
			mutated++
			if !json.Valid(m) {
				invalid++
			}
			checkSame(t, m)
		}
	}
	// The mutations must exercise both answers for the test to mean much.
	if invalid < mutated/10 || invalid > mutated*9/10 {
		t.Errorf("%d of %d mutations invalid; want a mix", invalid, mutated)
	}
}

func randomValue(r *rand.Rand, depth int) any {
	n := 7
	if depth >= 4 {
		n = 5 // scalars only
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		switch r.IntN(4) {
		case 0:
			return r.Int64() - math.MaxInt64/2
		case 1:
			return r.IntN(10)
		case 2:
			return math.Ldexp(r.Float64(), r.IntN(200)-100)
		default:
			return -r.NormFloat64() * 1e3
		}
	case 3, 4:
		return randomString(r)
	case 5:
		a := make([]any, r.IntN(6))
		for i := range a {
			a[i] = randomValue(r, depth+1)
		}
		return a
	default:
		m := make(map[string]any)
		for range r.IntN(6) {
			m[randomString(r)] = randomValue(r, depth+1)
		}
		return m
	}
}

func randomString(r *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 \"\\/\b\f\n\r\t\x00\x1f\x7f<>&é日🎉\u2028"
	runes := []rune(alphabet)
	s := make([]rune, r.IntN(40))
	for i := range s {
		s[i] = runes[r.IntN(len(runes))]
	}
	return string(s)
}

// mutate returns a copy of doc with a few bytes changed, inserted or
// deleted, or cut short, favouring bytes that matter to JSON's syntax.
func mutate(r *rand.Rand, doc []byte) []byte {
	const syntax = "{}[]:,\"\\ \t\n-+.0123456789eEtrufalsn\x00\x1f\x80\xff/bu"
	m := bytes.Clone(doc)
	for range 1 + r.IntN(3) {
		if len(m) == 0 {
			break
		}
		i := r.IntN(len(m))
		c := syntax[r.IntN(len(syntax))]
		switch r.IntN(5) {
		case 0:
			m[i] = c
		case 1:
			m = append(m[:i], append([]byte{c}, m[i:]...)...)
		case 2:
			m = append(m[:i], m[i+1:]...)
		case 3:
			m = m[:i]
		default:
			m[i], m[len(m)-1-i] = m[len(m)-1-i], m[i]
		}
	}
	return m
}
