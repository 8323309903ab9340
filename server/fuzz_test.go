package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/choreohq/choreo/event"
)

var fuzzSeeds = []string{
	`{"specversion":"1.0","id":"a","source":"s","type":"t","data":{"x":1}}`,
	`{"specversion":"1.0","source":"s","type":"t","correlationid":"c","hops":2,"ext":"v","data_base64":"AAE="}`,
	`[{"specversion":"1.0","id":"a","source":"s","type":"t"},{"specversion":"1.0","id":"b","source":"s","type":"t","data":[1,"]",{"}":"\""}]}]`,
	` [ {"specversion":"1.0","source":"s","type":"t"} , {"specversion":"1.0","source":"s","type":"t","time":"2026-01-02T03:04:05Z"} ] `,
	`[]`, `[1]`, `[{}`, `[{},]`, `{"specversion":"1.0",}`, `[{"a":"\"]"}]`, `"x"`, `[[{}]]`, `{"data":{"a":[}]}`,
	"[{\"specversion\":\"1.0\",\"source\":\"s\xff\",\"type\":\"t\"},{\"specversion\":\"1.0\",\"source\":\"s\",\"type\":\"t\",\"data\":\"\xc3\xa9\xc3\"}]",
}

// FuzzDecodeStructured checks the structured-mode body parser: it never
// panics, its errors carry a known code, what it accepts is valid JSON
// that event.Decode agrees with element by element, valid UTF-8 included,
// and its events survive a round trip.
func FuzzDecodeStructured(f *testing.F) {
	for _, s := range fuzzSeeds {
		for mode := range 3 {
			f.Add([]byte(s), uint8(mode))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, m uint8) {
		const maxBatch = 20
		mode := structured(m % 3)
		events, batch, err := decodeStructured(body, mode, maxBatch)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v, want an *apiError", err, err)
			}
			if _, ok := statusOf[ae.Code]; !ok {
				t.Fatalf("unknown code %q", ae.Code)
			}
		} else {
			if !json.Valid(body) || !utf8.Valid(body) {
				t.Fatalf("accepted invalid JSON text %q", body)
			}
			if len(events) == 0 || len(events) > maxBatch {
				t.Fatalf("%d events", len(events))
			}
			if mode == structuredSingle && batch || mode == structuredBatch && !batch {
				t.Fatalf("mode %d, batch %v", mode, batch)
			}
			for _, e := range events {
				enc := e.AppendJSON(nil)
				if !utf8.Valid(enc) {
					t.Fatalf("encoding %q is not UTF-8", enc)
				}
				back, err := event.Decode(enc)
				if err != nil {
					t.Fatalf("re-decoding %s: %v", enc, err)
				}
				if again := back.AppendJSON(nil); !bytes.Equal(again, enc) {
					t.Fatalf("round trip:\n%s\n%s", enc, again)
				}
			}
		}
		// The reference: encoding/json splits the array, event.Decode
		// reads each element.
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		if len(trimmed) == 0 {
			return
		}
		wantBatch := mode == structuredBatch || mode == structuredAuto && trimmed[0] == '['
		var refOK bool
		if wantBatch {
			var raws []json.RawMessage
			if json.Unmarshal(body, &raws) == nil && len(raws) > 0 && len(raws) <= maxBatch {
				refOK = true
				for _, r := range raws {
					if _, err := event.Decode(r); err != nil {
						refOK = false
						break
					}
				}
			}
		} else {
			_, derr := event.Decode(body)
			refOK = derr == nil
		}
		if refOK != (err == nil) {
			t.Fatalf("decodeStructured error %v, reference ok %v, for %q", err, refOK, body)
		}
	})
}

// FuzzPublish sends bodies through the whole handler: a request that
// fails leaves the log as it was, one that succeeds writes each new event.
func FuzzPublish(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(2))
	}
	cts := []string{mediaCloudEvent, mediaCloudEvents, mediaJSON}
	s := newFuzzServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		ctx := context.Background()
		before, err := s.cfg.Store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", cts[int(ct)%len(cts)])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		after, err := s.cfg.Store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case w.Code == http.StatusCreated:
			var doc struct {
				Events []struct {
					GlobalPosition uint64 `json:"global_position"`
				} `json:"events"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || len(doc.Events) == 0 {
				t.Fatalf("201 with body %q", w.Body)
			}
			for _, p := range doc.Events {
				if p.GlobalPosition >= after {
					t.Fatalf("position %d beyond the head %d", p.GlobalPosition, after)
				}
			}
		case after != before:
			t.Fatalf("status %d, yet the log grew from %d to %d: %s", w.Code, before, after, w.Body)
		case w.Code >= 500:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}
