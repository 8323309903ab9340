package condition

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/choreohq/choreo/event"
)

// nativeExprs are conditions of the shapes native evaluation covers, and
// a few it does not, with literals of every kind on either side.
var nativeExprs = []string{
	// The e-commerce example.
	"data.order_value > 0",
	"data.items_available == true",
	"data.payment_status == 'confirmed'",
	"data.?order_value.orValue(0) > 1000",
	"data.?shortage_quantity.orValue(0) > 0",
	"data.?retry_count.orValue(0) < 3",
	"data.?retry_count.orValue(0) >= 3",
	"data.items_packed == true",
	"has(data.tracking_number) && data.tracking_number != null",
	"data.from == 'shipped' && data.to == 'returned'",
	// Comparisons of every kind.
	"data.a == 1", "data.a != 1", "data.a < 1", "data.a <= 1", "data.a > 1", "data.a >= 1",
	"data.a == 1.5", "data.a < 1.5", "data.a >= -2.5", "data.a == 1u", "data.a < 1u", "data.a > 0u",
	"data.a == 'x'", "data.a < 'b'", "data.a >= ''", "data.a != 'é'",
	"data.a == true", "data.a == false", "data.a < true", "data.a >= false",
	"data.a == null", "data.a != null", "data.a < null",
	"1 < data.a", "1.5 >= data.a", "'x' == data.a", "null == data.a", "2u > data.a", "true != data.a",
	"data.a == data.b", "data.a < data.b", "data.a != data.b", "data.b >= data.a",
	"data.a > 9223372036854775807", "data.a < -9223372036854775808", "data.a == 18446744073709551615u",
	"data.a >= 9007199254740993", "data.a == 9223372036854775807", "data.a > 18446744073709551615u",
	"data.a == 0", "data.a == -0.0", "data.a < 0.0",
	// Presence, optional reads, nested objects.
	"has(data.a)", "!has(data.a)", "has(data.a.b)", "has(data.a.b.c)",
	"data.?a.orValue(0) == 0", "data.?a.orValue('none') == 'none'", "data.?a.orValue(null) == null",
	"data.?a.?b.orValue(1) < 2", "data.?a.?b.?c.orValue(true) == true", "data.?a.orValue(false)",
	"data.a.b == 1", "data.a.b.c == 'x'", "data.a.b != null", "data.a.b",
	// Values used as bools, and the logical operators.
	"data.a", "!data.a", "data.a && data.b", "data.a || data.b", "!(data.a || data.b)",
	"data.a > 1 && data.b < 2", "data.a > 1 || data.b < 2", "data.a == 1 && data.b == 2 && data.c == 3",
	"data.a == 1 || data.b == 2 || data.c == 3", "(data.a > 0 || data.b > 0) && !(data.c == 'x')",
	"false && data.a", "true || data.a", "data.a || true", "data.a && false", "false || data.a",
	"!(data.a > 1) || has(data.z)", "data.amount >= 1000 && data.vip == true",
	// Repeated keys and more keys than a native program reads.
	"data.a > 1 && data.a < 5", "data.k1 == 1 || data.k2 == 2 || data.k3 == 3 || data.k4 == 4 || data.k5 == 5",
	"data.k1 == 1 || data.k2 == 2 || data.k3 == 3 || data.k4 == 4 || data.k5 == 5 || data.k6 == 6 || data.k7 == 7 || data.k8 == 8 || data.k9 == 9",
	// Shapes left to CEL.
	"data.a + 1 > 2", "data['a'] == 1", "data.a in [1, 2]", "size(data) > 1", "event.type == 'x' && data.a == 1",
	"data.a == b'x'", "data.a == [1]", "source == 'shop' || data.a == 1", "data.?a.orValue(data.b) == 1",
}

// nativeDocs are the data the differential tests run the conditions on:
// every JSON type in every place, missing keys, repeated keys, escapes,
// bad UTF-8, malformed text and data that is not an object.
var nativeDocs = []string{
	`{"order_value": 532, "customer_id": "cust-4", "items": 3}`,
	`{"order_value": 1500.5}`, `{"order_value": 0}`, `{"order_value": -3}`, `{"order_value": "12"}`, `{}`,
	`{"items_available": true}`, `{"items_available": false}`, `{"items_available": "true"}`, `{"items_available": 1}`,
	`{"payment_status": "confirmed"}`, `{"payment_status": "conf\u0069rmed"}`, `{"payment_status": null}`,
	`{"retry_count": 2}`, `{"retry_count": 3}`, `{"retry_count": 3.5}`, `{"retry_count": "2"}`, `{"retry_count": null}`,
	`{"shortage_quantity": 1}`, `{"tracking_number": "TRK1"}`, `{"tracking_number": null}`, `{"tracking_number": ""}`,
	`{"from": "shipped", "to": "returned"}`, `{"from": "shipped", "to": "kept"}`, `{"from": "shipped"}`, `{"to": "returned"}`,
	`{"a": 1}`, `{"a": 1.0}`, `{"a": 0.5}`, `{"a": 2}`, `{"a": -0}`, `{"a": -0.0}`, `{"a": 1e0}`, `{"a": 10e-1}`,
	`{"a": 9223372036854775807}`, `{"a": 9223372036854775808}`, `{"a": 9.3e18}`, `{"a": -9223372036854775809}`, `{"a": -1e19}`,
	`{"a": 18446744073709551615}`, `{"a": 18446744073709551616}`, `{"a": 2e19}`, `{"a": 9007199254740993}`, `{"a": 1e308}`, `{"a": 1e999}`,
	`{"a": -1e999}`, `{"a": 1.5}`, `{"a": -2.5}`, `{"a": +1}`, `{"a": 01}`, `{"a": .5}`, `{"a": 1.}`, `{"a": -}`, `{"a": 1e}`, `{"a": 0x10}`,
	`{"a": "x"}`, `{"a": "b"}`, `{"a": ""}`, `{"a": "a"}`, `{"a": "é"}`, `{"a": "\u00e9"}`, `{"a": "x\"y"}`, `{"a": "\\"}`, `{"a": "tab	here"}`,
	"{\"a\": \"\xff\"}", "{\"\xff\": 1, \"a\": 2}", `{"a": "😀"}`,
	`{"a": true}`, `{"a": false}`, `{"a": null}`, `{"a": tru}`, `{"a": nul}`, `{"a": truex}`,
	`{"a": {}}`, `{"a": {"b": 1}}`, `{"a": {"b": 2, "b": 1}}`, `{"a": {"b": {"c": "x"}}}`, `{"a": {"b": {"c": true}}}`, `{"a": {"b": null}}`,
	`{"a": {"c": 1}}`, `{"a": {"b": [1]}}`, `{"a": {"b": }}`, `{"a": {"b": 1]}`, `{"a": {"b" 1}}`, `{"a": {"b": {"c": 1e999}}}`,
	`{"a": [1]}`, `{"a": []}`, `{"a": [}`, `{"a": [1, {"b": 2}]}`,
	`{"a": 1, "b": 2}`, `{"a": 2, "b": 1}`, `{"a": "x", "b": "y"}`, `{"a": true, "b": false}`, `{"a": false, "b": true}`,
	`{"a": null, "b": null}`, `{"a": 1, "b": 1.0}`, `{"a": 1, "b": "1"}`, `{"a": {"x": 1}, "b": {"x": 1}}`,
	`{"a": 1, "a": 2}`, `{"a": 2, "a": 1}`, `{"a": 1, "a": "x"}`, `{"\u0061": 5}`, `{"\u0061": 1, "a": 2}`, `{"a\u0000": 1}`,
	`{"c": 3}`, `{"c": "x"}`, `{"a": 1, "b": 2, "c": 3}`, `{"z": 1}`,
	`{"amount": 1000, "vip": true}`, `{"amount": 999.99, "vip": true}`, `{"amount": 1000, "vip": "yes"}`,
	`{"k9": 9}`, `{"k1": 0, "k5": 5}`,
	// Malformed objects, white space, and data that is no object.
	`{"a": 1,}`, `{"a": 1 "b": 2}`, `{"a" 1}`, `{a: 1}`, `{"a": 1`, `{"a": 1}}`, `{"a": 1, "b": }`, `{"a": 1, "b": 2] }`, `{"a":1}x}`,
	` {"a": 1} `, "\n\t{\"a\": 1}\r\n", "\u00a0{\"a\": 1}\u00a0", "\v{\"a\": 1}",
	`[{"a": 1}]`, `"a"`, `1`, `null`, `true`, ``, ` `, `{`, `}`, `{}}`, `{{}`,
}

// nativeContexts returns the ways a context may hand doc to a condition.
func nativeContexts(doc string) []*fakeContext {
	raw := json.RawMessage(doc)
	ev := &event.Event{ID: "e", Type: "t", Source: "s", Data: raw}
	out := []*fakeContext{{ev: ev, data: raw}, {ev: ev, data: &raw}}
	var decoded any
	if json.Unmarshal(raw, &decoded) == nil {
		out = append(out, &fakeContext{ev: ev, data: decoded})
	}
	return out
}

// checkNative evaluates p on ctx natively and with CEL, and fails when
// the native evaluation decides something CEL does not. It reports
// whether the native evaluation decided.
func checkNative(t *testing.T, p *Program, ctx *fakeContext, doc string) bool {
	t.Helper()
	if p.native == nil {
		return false
	}
	got, decided := p.native.eval(ctx.data)
	want, err := p.evalCEL(ctx)
	if !decided {
		return false
	}
	if err != nil {
		t.Fatalf("%s on %q (%T): native %v; CEL error %v", p.text, doc, ctx.data, got, err)
	}
	if got != want {
		t.Fatalf("%s on %q (%T): native %v; CEL %v", p.text, doc, ctx.data, got, want)
	}
	return true
}

// TestNativeMatchesCEL runs every condition of the corpus on every
// document both ways.
func TestNativeMatchesCEL(t *testing.T) {
	exprs := append(append([]string{}, nativeExprs...), exampleConditions(t)...)
	decided, natives := 0, 0
	for _, expr := range exprs {
		p, iss := Compile(expr, Options{})
		if iss != nil {
			t.Fatalf("Compile(%q) = %v", expr, iss)
		}
		if p.native != nil {
			natives++
		}
		for _, doc := range nativeDocs {
			for _, ctx := range nativeContexts(doc) {
				if checkNative(t, p, ctx, doc) {
					decided++
				}
				// Eval as a whole gives CEL's answer, errors included.
				got, err := p.Eval(ctx)
				want, wantErr := p.evalCEL(ctx)
				if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Fatalf("%s on %q: Eval = %v, %v; CEL %v, %v", expr, doc, got, err, want, wantErr)
				}
			}
		}
	}
	t.Logf("%d of %d conditions native; %d evaluations decided natively", natives, len(exprs), decided)
}

// TestNativeShapes checks which conditions get a native form, and that
// the e-commerce conditions are decided natively on the data the
// workload sends.
func TestNativeShapes(t *testing.T) {
	for _, tt := range []struct {
		expr   string
		native bool
	}{
		{"data.order_value > 0", true},
		{"data.?retry_count.orValue(0) < 3", true},
		{"has(data.tracking_number) && data.tracking_number != null", true},
		{"data.a.b.c == 'x' || !data.d", true},
		{"data.?a.?b.orValue(null) == null", true},
		{"data.a + 1 > 2", false},
		{"data['a'] == 1", false},
		{"data.a in [1, 2]", false},
		{"event.type == 'x' && data.a == 1", false},
		{"data.?a.orValue(data.b) == 1", false},
		{"data.a.size() > 1", false},
		{"data.k1 == 1 || data.k2 == 2 || data.k3 == 3 || data.k4 == 4 || data.k5 == 5 || data.k6 == 6 || data.k7 == 7 || data.k8 == 8", true},
		{"data.k1 == 1 || data.k2 == 2 || data.k3 == 3 || data.k4 == 4 || data.k5 == 5 || data.k6 == 6 || data.k7 == 7 || data.k8 == 8 || data.k9 == 9", false},
		{"data.items.exists(i, i.qty > 1)", false},
	} {
		p, iss := Compile(tt.expr, Options{})
		if iss != nil {
			t.Fatalf("Compile(%q) = %v", tt.expr, iss)
		}
		if got := p.native != nil; got != tt.native {
			t.Errorf("Compile(%q): native = %v; want %v", tt.expr, got, tt.native)
		}
	}
	for _, tt := range []struct{ expr, doc string }{
		{"data.order_value > 0", `{"order_id":"order-1","customer_id":"cust-1","order_value":532,"items":2}`},
		{"data.?order_value.orValue(0) > 1000", `{"order_id":"order-1","customer_id":"cust-1","order_value":532,"items":2}`},
		{"data.items_available == true", `{"order_id":"order-1","items_available":true}`},
		{"data.payment_status == 'confirmed'", `{"order_id":"order-1","payment_status":"confirmed","amount":532}`},
		{"data.?retry_count.orValue(0) < 3", `{"order_id":"order-1","retry_count":0,"reason":"card_declined"}`},
		{"data.?shortage_quantity.orValue(0) > 0", `{"order_id":"order-1","sku":"sku-1","shortage_quantity":2}`},
		{"has(data.tracking_number) && data.tracking_number != null", `{"order_id":"order-1","tracking_number":"TRK1000001"}`},
		{"data.from == 'shipped' && data.to == 'returned'", `{"from":"shipped","to":"returned"}`},
		{"data.a == 'é'", `{"a":"é"}`},
	} {
		p, iss := Compile(tt.expr, Options{})
		if iss != nil {
			t.Fatalf("Compile(%q) = %v", tt.expr, iss)
		}
		raw := json.RawMessage(tt.doc)
		if !checkNative(t, p, &fakeContext{data: &raw}, tt.doc) {
			t.Errorf("%s on %s: not decided natively", tt.expr, tt.doc)
		}
	}
}

// exampleConditions returns the conditions of the example choreographies.
func exampleConditions(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if _, c, ok := strings.Cut(line, "condition:"); ok {
				if c = strings.TrimSpace(c); c != "" {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// nativePrograms are the programs of nativeExprs, compiled once.
var nativePrograms = sync.OnceValue(func() []*Program {
	var ps []*Program
	for _, expr := range nativeExprs {
		if p, iss := Compile(expr, Options{}); iss == nil && p.native != nil {
			ps = append(ps, p)
		}
	}
	return ps
})

// FuzzNativeData compares native evaluation with CEL for every native
// condition of the corpus on random data.
func FuzzNativeData(f *testing.F) {
	for _, doc := range nativeDocs {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, p := range nativePrograms() {
			for _, ctx := range nativeContexts(doc) {
				checkNative(t, p, ctx, doc)
			}
		}
	})
}

// FuzzNative compares native evaluation with CEL on random conditions
// and data.
func FuzzNative(f *testing.F) {
	for i, expr := range nativeExprs {
		for j, doc := range nativeDocs {
			if (i+j)%13 == 0 {
				f.Add(expr, doc)
			}
		}
	}
	f.Fuzz(func(t *testing.T, expr, doc string) {
		p, iss := Compile(expr, Options{})
		if iss != nil || p.native == nil {
			return
		}
		for _, ctx := range nativeContexts(doc) {
			checkNative(t, p, ctx, doc)
		}
	})
}

// skipStringRef is the plain form of skipString: search for each quote
// and count the backslashes before it.
func skipStringRef(b []byte, i int) (int, bool, error) {
	esc := false
	j := i + 1
	for {
		k := strings.IndexByte(string(b[j:]), '"')
		if k < 0 {
			return 0, false, errTruncated
		}
		j += k
		n := 0
		for m := j - 1; m > i && b[m] == '\\'; m-- {
			n++
		}
		if strings.IndexByte(string(b[i+1:j]), '\\') >= 0 {
			esc = true
		}
		if n%2 == 0 {
			return j + 1, esc, nil
		}
		j++
	}
}

// keyIsRef is the plain form of keyMatcher.is.
func keyIsRef(k []byte, esc bool, key string) bool {
	if esc || !utf8.Valid(k) {
		var s string
		return json.Unmarshal(k, &s) == nil && s == key
	}
	return string(k[1:len(k)-1]) == key
}

// FuzzScanPrimitives compares the scanning helpers with their plain
// forms: skipString, keyMatcher.is and parseNumber.
func FuzzScanPrimitives(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"a\\"`, `"a\\\"b"`, `"\u0061"`, "\"\xff\"", `"` + strings.Repeat(`x\\`, 30) + `\"y"`, `"unterminated\`,
		"123", "-0", "-00", "007", "1e5", "123456789012345", "1234567890123456", "-", "+1", "1.5", "-9"} {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		b = append([]byte{'"'}, b...)
		end, esc, err := skipString(b, 0)
		wend, wesc, werr := skipStringRef(b, 0)
		if end != wend || esc != wesc || (err == nil) != (werr == nil) {
			t.Fatalf("skipString(%q) = %d, %v, %v; want %d, %v, %v", b, end, esc, err, wend, wesc, werr)
		}
		if err == nil {
			k := b[:end]
			if got, want := newKeyMatcher(key).is(k, esc), keyIsRef(k, esc, key); got != want {
				t.Fatalf("key %q is %q = %v; want %v", k, key, got, want)
			}
		}
		if num := b[1:]; len(num) > 0 {
			got, err := parseNumber(num)
			want, werr := strconv.ParseFloat(string(num), 64)
			if (err == nil) != (werr == nil) || math.Float64bits(got) != math.Float64bits(want) && err == nil {
				t.Fatalf("parseNumber(%q) = %v, %v; want %v, %v", num, got, err, want, werr)
			}
		}
	})
}

// TestEscapedKeys: a key written with escapes in the event's JSON is the
// key it decodes to, whether the condition reads the raw JSON or data
// already decoded.
func TestEscapedKeys(t *testing.T) {
	for _, tt := range []struct{ expr, doc string }{
		{"data.a == 1", `{"\u0061": 1}`},
		{"has(data.a)", `{"\u0061": 1}`},
		{"data.status == 'failed'", `{"st\u0061tus": "failed"}`},
		{"data.order.total > 10", `{"order": {"tot\u0061l": 11}}`},
		{`data["a\nb"] == 2`, `{"a\nb": 2}`},
		{`data["a\\b"] == 3`, `{"a\\b": 3}`},
		{"data.a == 1", `{"a": 0, "\u0061": 1}`}, // the last of the duplicates counts
	} {
		p, iss := Compile(tt.expr, Options{})
		if iss != nil {
			t.Fatalf("Compile(%q) = %v", tt.expr, iss)
		}
		for _, ctx := range nativeContexts(tt.doc) {
			got, err := p.Eval(ctx)
			if !got || err != nil {
				t.Errorf("%s on %s (%T) = %v, %v; want true", tt.expr, tt.doc, ctx.data, got, err)
			}
		}
	}
}
