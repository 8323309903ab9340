package choreography

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that it returns
// either a choreography or problems.
func FuzzParse(f *testing.F) {
	valid, _ := filepath.Glob(filepath.Join("testdata", "valid", "*"))
	invalid, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*"))
	files := append(valid, invalid...)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("name: x\npatterns: [{event_type: a, condition: \"data.\\u00e9 >\", action: b, target_capability: c}]"))
	f.Add([]byte("patterns:\n  - condition: >\n      a &&\n\n      b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned %v, %v; want exactly one of them", c, err)
		}
		if err != nil {
			probs, ok := err.(Problems)
			if !ok || len(probs) == 0 {
				t.Fatalf("Parse error %T %v; want Problems", err, err)
			}
			_ = probs.Error()
			return
		}
		for _, p := range c.Patterns {
			if p.Program == nil || p.ID == "" {
				t.Fatalf("pattern %+v lacks a program or an id", p)
			}
		}
		_ = c.EventTypes()
	})
}
