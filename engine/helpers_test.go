package engine

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/event"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// ev makes an event of type typ in correlation corr at t0+sec seconds;
// sec < 0 means no time.
func ev(id, typ, corr string, sec float64, data string) *event.Event {
	e := &event.Event{SpecVersion: "1.0", ID: id, Source: "test", Type: typ, CorrelationID: corr}
	if sec >= 0 {
		e.Time = t0.Add(time.Duration(sec * float64(time.Second)))
	}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

func mustNew(t testing.TB, cfg Config, chs ...*choreography.Choreography) *Engine {
	t.Helper()
	e, err := New(chs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// summary renders actions as "action(corr:trigger,trigger)@seconds" strings.
func summary(as []Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Action + "(" + a.CorrelationID + ":" + strings.Join(a.TriggerEventIDs, ",") + ")@" +
			strconv.FormatFloat(a.Time.Sub(t0).Seconds(), 'g', -1, 64)
	}
	return out
}

// ecommerce loads examples/ecommerce.yaml.
func ecommerce() *choreography.Choreography {
	ch, err := choreography.LoadFile(filepath.Join("..", "examples", "ecommerce.yaml"))
	if err != nil {
		panic(err)
	}
	return ch
}
