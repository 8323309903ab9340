package condition

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// Random conditions of the native shapes over random data, checked against
// CEL, and raw data checked against the same data decoded: native
// evaluation must never decide differently from CEL.

var randomLits = []string{"0", "1", "-1", "1.0", "1.5", "-0.0", "0.0", "1u", "0u", "2u",
	"9223372036854775807", "-9223372036854775808", "18446744073709551615u", "9007199254740993",
	"9007199254740992", "1e300", "-1e300", "'x'", "''", "'é'", "'a'", "'\\u00e9'", "true", "false", "null",
	"9.223372036854775807e18", "1.8446744073709552e19", "0.1", "'\\x00'", "'1'", "'true'", "'null'"}

var randomKeys = []string{"a", "b", "c"}

var randomOps = []string{"==", "!=", "<", "<=", ">", ">="}

var randomScalars = []string{"0", "1", "-1", "1.0", "1.5", "-0", "-0.0", "0.0", "2", "1e0", "10e-1", "1E2", "-1e-400",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"18446744073709551615", "18446744073709551616", "9007199254740993", "9007199254740992", "1e300", "1e999", "-1e999",
	"123456789012345", "1234567890123456", "0.1", "01", "+1", ".5", "1.", "-", "1e", "0x10",
	`"x"`, `""`, `"é"`, `"a"`, `"\u00e9"`, `"\u0000"`, `"1"`, `"true"`, `"null"`, "\"\xff\"", `"\x"`, `"a\"b"`,
	"true", "false", "null", "tru", "nul", "[]", "[1]", "[1,", "{}", "{", `{"a":}`, `{"a":1,}`, `{1]`}

var randomDocKeys = []string{`"a"`, `"b"`, `"c"`, `"\u0061"`, `"a\u0000"`, `"A"`, "\"\xff\"", `"d"`}

type randomGen struct{ r *rand.Rand }

func (g randomGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g randomGen) path(sep string) string {
	s := "data" + sep + g.pick(randomKeys)
	for g.r.IntN(3) == 0 {
		s += sep + g.pick(randomKeys)
	}
	return s
}

func (g randomGen) opt() string { return g.path(".?") + ".orValue(" + g.pick(randomLits) + ")" }

func (g randomGen) operand() string {
	switch g.r.IntN(3) {
	case 0:
		return g.pick(randomLits)
	case 1:
		return g.path(".")
	}
	return g.opt()
}

func (g randomGen) boolean(depth int) string {
	k := g.r.IntN(10)
	if depth > 2 {
		k = g.r.IntN(5)
	}
	switch k {
	case 0, 1, 2:
		return g.operand() + " " + g.pick(randomOps) + " " + g.operand()
	case 3:
		return "has(" + g.path(".") + ")"
	case 4:
		return g.pick([]string{g.path("."), g.opt(), "true", "false"})
	case 5, 6:
		return "(" + g.boolean(depth+1) + " && " + g.boolean(depth+1) + ")"
	case 7, 8:
		return "(" + g.boolean(depth+1) + " || " + g.boolean(depth+1) + ")"
	}
	return "!(" + g.boolean(depth+1) + ")"
}

func (g randomGen) object(depth int) string {
	var parts []string
	for range g.r.IntN(4) {
		v := g.pick(randomScalars)
		if depth < 3 && g.r.IntN(4) == 0 {
			v = g.object(depth + 1)
		}
		parts = append(parts, g.pick(randomDocKeys)+g.pick([]string{":", ": ", " :\n"})+v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// TestNativeRandomConditions evaluates random conditions of the native
// shapes on random data natively and with CEL, and checks that Eval as a
// whole is CEL's answer, errors included.
func TestNativeRandomConditions(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	g := randomGen{rand.New(rand.NewPCG(1, 7))}
	decided := 0
	for range n {
		expr := g.boolean(0)
		p, iss := Compile(expr, Options{})
		if iss != nil || p.native == nil {
			continue
		}
		for range 20 {
			doc := g.object(0)
			for _, ctx := range nativeContexts(doc) {
				if checkNative(t, p, ctx, doc) {
					decided++
				}
				got, err := p.Eval(ctx)
				want, wantErr := p.evalCEL(ctx)
				if got != want || (err == nil) != (wantErr == nil) {
					t.Fatalf("%s on %q (%T): Eval = %v, %v; CEL %v, %v", expr, doc, ctx.data, got, err, want, wantErr)
				}
			}
		}
	}
	if decided == 0 {
		t.Fatal("no evaluation decided natively")
	}
}

// TestRandomRawMatchesDecoded: keys and string values with escapes at
// every offset of the eight-byte scan give the same results on raw text
// as on data decoded by encoding/json, by index and by a quoted field.
func TestRandomRawMatchesDecoded(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	pieces := []string{"a", "b", `\\`, `\"`, `\u0061`, `\n`, "é", `\/`, "xxxxxxx", "😀", `\ud83d\ude00`, `\ud800`, " "}
	str := func() string {
		var sb strings.Builder
		for range r.IntN(8) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return `"` + sb.String() + `"`
	}
	ws := []string{"", " ", "\n\t", "\r\n  "}
	w := func() string { return ws[r.IntN(len(ws))] }
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for range 3000 {
		var keys, parts []string
		for range 1 + r.IntN(5) {
			k := str()
			keys = append(keys, k)
			parts = append(parts, w()+k+w()+":"+w()+str()+w())
		}
		doc := "{" + strings.Join(parts, ",") + "}"
		var m map[string]any
		if json.Unmarshal([]byte(doc), &m) != nil {
			continue
		}
		var key string
		json.Unmarshal([]byte(keys[r.IntN(len(keys))]), &key)
		val := m[key].(string)
		exprs := []string{"data[" + quote(key) + "] == " + quote(val), "data[" + quote(key) + "] < 'b'"}
		if key != "" && !strings.ContainsAny(key, "`\\\n") {
			exprs = append(exprs, "data.`"+key+"` == "+quote(val))
		}
		for _, expr := range exprs {
			p, iss := Compile(expr, Options{})
			if iss != nil {
				continue
			}
			ctxs := nativeContexts(doc)
			want, wantErr := p.Eval(ctxs[2])
			for _, ctx := range ctxs[:2] {
				checkNative(t, p, ctx, doc)
				got, err := p.Eval(ctx)
				if got != want || (err == nil) != (wantErr == nil) {
					t.Fatalf("%s on %q (%T) = %v, %v; decoded %v, %v", expr, doc, ctx.data, got, err, want, wantErr)
				}
			}
		}
	}
}
