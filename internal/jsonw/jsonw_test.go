package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
)

func check(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := StringHTML(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("StringHTML(%q) = %s, encoding/json gives %s", s, got, want)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	if got := String(nil, s); !bytes.Equal(got, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))) {
		t.Fatalf("String(%q) = %s, encoding/json gives %s", s, got, buf.Bytes())
	}
}

func TestMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " back \ slash`, "ctl \x00\x01\x1f\n\r\t\b\f", "<a&b>", "é ü 日本", "bad \xff utf8", "\u2028\u2029", "\x7f"} {
		check(t, s)
	}
}

func FuzzString(f *testing.F) {
	f.Add("hello <world> & \"you\"\n")
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}
