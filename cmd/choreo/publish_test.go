package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPublishOne(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	ctx := context.Background()
	dir := t.TempDir()

	code, out, stderr := e.run(t, "", runPublish, "--type", "order_received", "--source", "shop/web", "--id", "o-1",
		"--correlation", "order-1", "--subject", "cart", "--data", `{ "total": 12.5 }`, "--time", "2026-03-01T10:00:00Z")
	wantExit(t, code, stderr, exitOK)
	if !strings.HasPrefix(out, "o-1\tstream order-1\tposition 0\tglobal ") {
		t.Errorf("output %q", out)
	}
	rec, err := e.st.Get(ctx, "o-1")
	if err != nil {
		t.Fatal(err)
	}
	ev := rec.Event
	if rec.Stream != "order-1" || ev.Type != "order_received" || ev.Source != "shop/web" || ev.CorrelationID != "order-1" || ev.Subject != "cart" ||
		string(ev.Data) != `{"total":12.5}` || !ev.Time.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("stored %+v in %s", ev, rec.Stream)
	}

	// Data from a file, the time now, an id and correlation made up, JSON
	// output.
	data := writeFile(t, dir, "data.json", `{"total": 3}`)
	before := time.Now().Add(-time.Second)
	code, out, stderr = e.run(t, "", runPublish, "--type", "order_received", "--data", "@"+data, "--output", "json")
	wantExit(t, code, stderr, exitOK)
	var pos positionJSON
	if err := json.Unmarshal([]byte(out), &pos); err != nil || pos.ID == "" || pos.Stream != pos.ID {
		t.Fatalf("JSON output %q: %v", out, err)
	}
	rec, err = e.st.Get(ctx, pos.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Event.Source != defaultSource || string(rec.Event.Data) != `{"total":3}` || rec.Event.Time.Before(before) {
		t.Errorf("stored %+v", rec.Event)
	}
	// --data @- reads standard input.
	code, _, stderr = e.run(t, `{"from":"stdin"}`, runPublish, "--type", "t", "--data", "@-", "--id", "in-1")
	wantExit(t, code, stderr, exitOK)
	if rec, err := e.st.Get(ctx, "in-1"); err != nil || string(rec.Event.Data) != `{"from":"stdin"}` {
		t.Errorf("data from stdin: %v, %v", rec.Event, err)
	}

	// The API's errors, with their code and field.
	code, _, stderr = e.run(t, "", runPublish, "--type", "t", "--stream", "order-1", "--expected-version", "no_stream")
	wantExit(t, code, stderr, exitFailure, "wrong_expected_version: expected_version:", "(HTTP 409)")
	code, _, stderr = e.run(t, "", runPublish, "--type", "t", "--stream", "order-1", "--expected-version", "0", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	code, _, stderr = e.run(t, "", runPublish, "--type", "choreo.timer")
	wantExit(t, code, stderr, exitFailure, "reserved_type")
	code, _, stderr = e.run(t, "", runPublish, "--type", "t", "--stream", "$actions", "--output", "json")
	wantExit(t, code, stderr, exitFailure)
	if r := jsonError(t, stderr); r.Code != "reserved_stream" || r.Field != "stream" || r.Status != 400 {
		t.Errorf("JSON error %+v", r)
	}
	// Bad input of the command's own.
	code, _, stderr = e.run(t, "", runPublish, "--type", "t", "--data", "{nope")
	wantExit(t, code, stderr, exitFailure, "invalid_input: --data: not JSON")
	code, _, stderr = e.run(t, "", runPublish, "--type", "t", "--data", "@"+filepath.Join(dir, "missing.json"))
	wantExit(t, code, stderr, exitFailure, "invalid_input: --data")

	for _, args := range [][]string{
		{},                                     // no --type, no FILE
		{"--type", "t", "a.jsonl"},             // flags of one event with a file
		{"a.jsonl", "b.jsonl"},                 // two files
		{"--expected-version", "0", "a.jsonl"}, // needs --stream
		{"--type", "t", "--expected-version", "soon"},
		{"--type", "t", "--time", "noon"},
		{"--batch", "0", "a.jsonl"},
	} {
		if code, _, stderr := e.run(t, "", runPublish, args...); code != exitUsage {
			t.Errorf("publish %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
}

func TestPublishFile(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	ctx := context.Background()
	dir := t.TempDir()

	// Two correlations interleaved, one event without an id: in file
	// order, each in its correlation's stream.
	var lines []string
	for i, corr := range []string{"a", "a", "a", "b", "a", "b", "b"} {
		lines = append(lines, fmt.Sprintf(`{"specversion":"1.0","id":"f-%d","source":"s","type":"t","correlationid":%q}`, i, corr))
	}
	lines = append(lines, "", `{"specversion":"1.0","source":"s","type":"t","correlationid":"b"}`)
	file := writeFile(t, dir, "events.jsonl", strings.Join(lines, "\n")+"\n")
	code, out, stderr := e.run(t, "", runPublish, file, "--batch", "2")
	wantExit(t, code, stderr, exitOK)
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != 9 || got[8] != "published 8 events in 6 requests" {
		t.Fatalf("output:\n%s", out)
	}
	head, _ := e.st.Head(ctx)
	recs, err := e.st.ReadAll(ctx, 0, int(head))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range recs {
		if !strings.HasPrefix(r.Stream, "$") {
			order = append(order, r.Stream+":"+r.Event.ID)
		}
	}
	if want := "a:f-0 a:f-1 a:f-2 b:f-3 a:f-4 b:f-5 b:f-6"; strings.Join(order[:7], " ") != want || !strings.HasPrefix(order[7], "b:") {
		t.Errorf("log order %v, want %s then b's last", order, want)
	}
	// Again: the ids are in the log, nothing is appended twice; standard
	// input works the same; JSON output is one position a line.
	code, out, stderr = e.run(t, strings.Join(lines[:7], "\n"), runPublish, "-", "--output", "json")
	wantExit(t, code, stderr, exitOK)
	if n := strings.Count(out, "\n"); n != 7 {
		t.Errorf("JSON output has %d lines, want 7:\n%s", n, out)
	}
	if head2, _ := e.st.Head(ctx); head2 != head {
		t.Errorf("publishing the same ids again moved the head from %d to %d", head, head2)
	}
	// A line without an id gets a new one each time: published again, it
	// is appended again, as the help says.
	code, _, stderr = e.run(t, lines[8], runPublish, "-")
	wantExit(t, code, stderr, exitOK)
	if recs, err := e.st.ReadStream(ctx, "b", 0, 100); err != nil || len(recs) != 5 {
		t.Errorf("stream b holds %d events after the id-less line again (%v), want 5", len(recs), err)
	}
	_, _, help := e.run(t, "", runPublish, "-h")
	if !strings.Contains(help, "without an id gets a new one each time") || strings.Contains(help, "appends nothing twice") {
		t.Errorf("publish -h does not say that lines without ids are appended again:\n%s", help)
	}

	// One stream, conditional: the first request on no_stream, each later
	// one on the version the one before left.
	code, _, stderr = e.run(t, "", runPublish, file, "--stream", "all", "--expected-version", "no_stream", "--batch", "3")
	wantExit(t, code, stderr, exitFailure, "duplicate_id_conflict") // ids already in other streams
	fresh := writeFile(t, dir, "fresh.jsonl", strings.Repeat(`{"specversion":"1.0","source":"s","type":"t"}`+"\n", 7))
	code, out, stderr = e.run(t, "", runPublish, fresh, "--stream", "all", "--expected-version", "no_stream", "--batch", "3")
	wantExit(t, code, stderr, exitOK)
	if !strings.Contains(out, "position 6\t") || !strings.HasSuffix(out, "published 7 events in 3 requests\n") {
		t.Errorf("output:\n%s", out)
	}
	code, _, stderr = e.run(t, "", runPublish, fresh, "--stream", "all", "--expected-version", "no_stream")
	wantExit(t, code, stderr, exitFailure, "wrong_expected_version")
}

func TestPublishFileErrors(t *testing.T) {
	noLeaks(t)
	e := newCLIEnv(t)
	ctx := context.Background()
	dir := t.TempDir()

	// The server refuses the second event of the second request: the
	// error names its line and field, the first request stays, the
	// second wrote nothing.
	file := writeFile(t, dir, "bad.jsonl", `{"specversion":"1.0","id":"ok-1","source":"s","type":"t","correlationid":"x"}
{"specversion":"1.0","id":"ok-2","source":"s","type":"t","correlationid":"y"}
{"specversion":"1.0","id":"bad","source":"s","type":"choreo.mine","correlationid":"y"}
`)
	code, out, stderr := e.run(t, "", runPublish, file)
	wantExit(t, code, stderr, exitFailure, "reserved_type: line 3: type:", "(HTTP 400)", "1 events were published before the failure")
	if !strings.HasPrefix(out, "ok-1\t") || strings.Contains(out, "ok-2") {
		t.Errorf("output %q", out)
	}
	if _, err := e.st.Get(ctx, "ok-1"); err != nil {
		t.Errorf("the first request's event: %v", err)
	}
	if _, err := e.st.Get(ctx, "ok-2"); err == nil {
		t.Errorf("the failed request's first event was appended")
	}
	code, _, stderr = e.run(t, "", runPublish, file, "--output", "json")
	wantExit(t, code, stderr, exitFailure)
	if r := jsonError(t, stderr); r.Code != "reserved_type" || r.Field != "line 3: type" {
		t.Errorf("JSON error %+v", r)
	}

	// A line that is not an event is found before anything is sent for it.
	file = writeFile(t, dir, "garbage.jsonl", `{"specversion":"1.0","id":"g-1","source":"s","type":"t"}`+"\n{garbage\n")
	code, _, stderr = e.run(t, "", runPublish, file)
	wantExit(t, code, stderr, exitFailure, "invalid_json: line 2:")
	file = writeFile(t, dir, "noon.jsonl", `{"specversion":"1.0","id":"n-1","source":"s","type":"t","time":"noon"}`+"\n")
	code, _, stderr = e.run(t, "", runPublish, file)
	wantExit(t, code, stderr, exitFailure, "invalid_field: line 1: time: not an RFC 3339 timestamp")
	code, _, stderr = e.run(t, "", runPublish, filepath.Join(dir, "missing.jsonl"))
	wantExit(t, code, stderr, exitFailure, "invalid_input")
}
