package event_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"

	"github.com/choreohq/choreo/event"
)

func TestClone(t *testing.T) {
	full := `{"specversion":"1.0","id":"e-1","source":"agents/a","type":"order_received",` +
		`"time":"2025-01-02T03:04:05.123+02:00","datacontenttype":"application/json","dataschema":"urn:s",` +
		`"subject":"s","correlationid":"order-1","causationid":"c-1","hops":3,"ext":17,"other":"x",` +
		`"data":{"order_value":42}}`
	b64 := `{"specversion":"1.0","id":"e-2","source":"agents/a","type":"blob","datacontenttype":"application/octet-stream","data_base64":"AAEC"}`
	bare := `{"specversion":"1.0","id":"e-3","source":"agents/a","type":"t"}`
	emptyExt := &event.Event{SpecVersion: "1.0", ID: "e-4", Source: "s", Type: "t",
		Data: json.RawMessage{}, Extensions: map[string]json.RawMessage{}}
	for _, src := range []string{full, b64, bare} {
		ev, err := event.Decode([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		checkClone(t, ev)
	}
	checkClone(t, emptyExt)
}

func checkClone(t *testing.T, ev *event.Event) {
	t.Helper()
	c := ev.Clone()
	if !reflect.DeepEqual(c, ev) || !c.Time.Equal(ev.Time) {
		t.Fatalf("clone %+v, want %+v", c, ev)
	}
	// Nothing is shared: the clone's strings and bytes live elsewhere.
	for _, p := range [][2]string{{c.ID, ev.ID}, {c.Source, ev.Source}, {c.Type, ev.Type}, {c.CorrelationID, ev.CorrelationID}} {
		if p[0] != "" && unsafe.StringData(p[0]) == unsafe.StringData(p[1]) {
			t.Fatalf("clone shares %q with the event", p[0])
		}
	}
	if len(ev.Data) > 0 {
		was := c.Data[0]
		ev.Data[0] ^= 0xff
		if c.Data[0] != was {
			t.Fatal("clone shares its data with the event")
		}
		ev.Data[0] ^= 0xff
	}
	for k, v := range ev.Extensions {
		if len(v) > 0 && unsafe.SliceData(c.Extensions[k]) == unsafe.SliceData(v) {
			t.Fatalf("clone shares extension %q with the event", k)
		}
	}
	if (ev.Data == nil) != (c.Data == nil) || (ev.DataBase64 == nil) != (c.DataBase64 == nil) || (ev.Extensions == nil) != (c.Extensions == nil) {
		t.Fatal("clone changes which of data, data_base64 and extensions are absent")
	}
}

func BenchmarkClone(b *testing.B) {
	ev, err := event.Decode([]byte(`{"specversion":"1.0","id":"0190b2a4-7c1e-7000-8000-000000000001","source":"agents/storefront",` +
		`"type":"order_received","time":"2025-01-01T00:00:00Z","correlationid":"order-1","data":{"order_id":"order-1","order_value":152}}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = ev.Clone()
	}
}
