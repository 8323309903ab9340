package jsonvalid

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// benchDocs are the inputs of the benchmarks: the data of a typical event,
// and documents of records with strings and numbers of about 4 KiB and
// 256 KiB, like the records the dispatcher appends.
var benchDocs = []struct {
	name string
	doc  []byte
}{
	{"event-200B", []byte(`{"order_id":"ord-7f3a9c2e","customer":{"id":"cus-1029","tier":"gold"},"items":[{"sku":"A-100","qty":2,"price":19.99},{"sku":"B-220","qty":1,"price":5.5}],"total":45.48,"paid":true}`)},
	{"doc-4KiB", records(4 << 10)},
	{"doc-256KiB", records(256 << 10)},
}

// records returns an indented JSON array of records about size bytes long.
func records(size int) []byte {
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; b.Len() < size-200; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `  {"id": %d, "name": "agent-%d", "score": %.4f, "status": "completed", "note": "step %d of the fulfilment choreography finished without retries", "tags": ["alpha", "beta"], "ok": %t, "parent": null}`,
			i, i%97, float64(i)*1.37e-2, i, i%3 == 0)
	}
	b.WriteString("\n]")
	return []byte(b.String())
}

func TestBenchDocs(t *testing.T) {
	for _, d := range benchDocs {
		if !Valid(d.doc) || !json.Valid(d.doc) {
			t.Errorf("%s is not valid JSON", d.name)
		}
	}
}

func BenchmarkValid(b *testing.B) { benchmark(b, Valid) }

func BenchmarkStdValid(b *testing.B) { benchmark(b, json.Valid) }

func benchmark(b *testing.B, valid func([]byte) bool) {
	for _, d := range benchDocs {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.doc)))
			for b.Loop() {
				if !valid(d.doc) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
