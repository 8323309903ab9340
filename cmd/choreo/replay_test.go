package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/internal/workload"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
)

// ingestLog builds a log with choreo ingest from the example files and
// returns its directory and the ingest report.
func ingestLog(t *testing.T) (string, ingestReport) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	rep, stderr, code := ingest(t, "--data", dir, "--choreography", exampleChoreography, "--events", exampleEvents)
	if code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, stderr)
	}
	return dir, rep
}

// replayJSON runs choreo replay with --output json and decodes its report.
func replayJSON(t *testing.T, wantCode int, args ...string) replayReport {
	t.Helper()
	code, out, stderr := runWith(t, context.Background(), "", runReplay, append(args, "--output", "json")...)
	wantExit(t, code, stderr, wantCode)
	var rep replayReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	return rep
}

func logHead(t *testing.T, dir string) uint64 {
	t.Helper()
	st, err := pebble.Open(dir, &pebble.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	head, err := st.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// offlineSummary is choreo run --summary over the example events.
func offlineSummary(t *testing.T, choreographyFile string) map[string]int {
	t.Helper()
	code, out, stderr := runWith(t, context.Background(), "", runRun, "--summary", "--choreography", choreographyFile, "--events", exampleEvents)
	wantExit(t, code, stderr, exitOK)
	var m map[string]int
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReplayIngestLog(t *testing.T) {
	noLeaks(t)
	dir, ing := ingestLog(t)

	rep := replayJSON(t, exitOK, "--data", dir, "--choreography", exampleChoreography)
	if rep.Records != ing.LogHead || rep.Events != int64(ing.Events) || rep.Actions != ing.NewActions || rep.LoggedActions != ing.NewActions {
		t.Fatalf("report %+v after ingest %+v", rep, ing)
	}
	if c := rep.Check; c == nil || !c.Deterministic || c.Missing != 0 || c.Unexpected != 0 || c.NotYetLogged != 0 {
		t.Fatalf("check %+v", rep.Check)
	}
	byAction := map[string]int{}
	for _, rc := range rep.ByRule {
		if rc.Choreography != "ecommerce" || rc.RuleID == "" {
			t.Errorf("rule count %+v", rc)
		}
		byAction[rc.Action] += rc.Count
	}
	if mustJSON(byAction) != mustJSON(ing.Actions) {
		t.Errorf("actions by name %v, ingest decided %v", byAction, ing.Actions)
	}
	if len(rep.Choreographies) != 1 || rep.Choreographies[0].Origin != "file" {
		t.Errorf("choreographies %+v", rep.Choreographies)
	}

	code, out, stderr := runWith(t, context.Background(), "", runReplay, "--data", dir, "--choreography", exampleChoreography)
	wantExit(t, code, stderr, exitOK)
	for _, want := range []string{fmt.Sprintf("replayed %d records of %s: 196 events", ing.LogHead, dir), "ecommerce  from ",
		fmt.Sprintf("re-derived actions: %d\n", ing.NewActions), "ecommerce/order_received", "determinism: ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not hold %q:\n%s", want, out)
		}
	}
	if stderr != "" {
		t.Errorf("stderr %q: no progress bar when it is not a terminal", stderr)
	}

	// Without the choreography there is nothing to compare with.
	rep = replayJSON(t, exitOK, "--data", dir)
	if rep.Check != nil || rep.Actions != 0 || rep.LoggedActions != ing.NewActions {
		t.Errorf("without choreographies: %+v", rep)
	}
	// Another choreography does not derive what the log holds: exit 1.
	// A rule renamed derives other ids...
	other := writeFile(t, t.TempDir(), "other.yaml", strings.Replace(mustRead(t, exampleChoreography), "id: order_received", "id: order_received_v2", 1))
	rep = replayJSON(t, exitFailure, "--data", dir, "--choreography", other, "--max-list", "2")
	if c := rep.Check; c == nil || c.Deterministic || c.Missing != ing.Actions["check_inventory"] || c.Unexpected != ing.Actions["check_inventory"] || c.Changed != 0 ||
		len(c.MissingList) != 2 || c.MissingList[0].RuleID != "order_received" || len(c.UnexpectedLst) != 2 || c.UnexpectedLst[0].RuleID != "order_received_v2" {
		t.Fatalf("check %+v", rep.Check)
	}
	code, out, stderr = runWith(t, context.Background(), "", runReplay, "--data", dir, "--choreography", other, "--max-list", "1")
	wantExit(t, code, stderr, exitFailure, fmt.Sprintf("choreo replay: mismatch: the re-derived actions differ from those in $actions: %d not re-derived", ing.Actions["check_inventory"]))
	if code != exitFailure || !strings.Contains(out, "determinism: MISMATCH") || !strings.Contains(out, "- 2025-01-01T00:00:00.000Z  check_inventory") ||
		!strings.Contains(out, "+ 2025-01-01T00:00:00.000Z  check_inventory") || !strings.Contains(out, fmt.Sprintf("… and %d more", ing.Actions["check_inventory"]-1)) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	// ...an action renamed the same ids with other content.
	other = writeFile(t, t.TempDir(), "other.yaml", strings.Replace(mustRead(t, exampleChoreography), "action: check_inventory", "action: look_at_stock", 1))
	rep = replayJSON(t, exitFailure, "--data", dir, "--choreography", other)
	if c := rep.Check; c == nil || c.Deterministic || c.Missing != 0 || c.Unexpected != 0 || c.Changed != ing.Actions["check_inventory"] || c.ChangedList[0].Action != "look_at_stock" {
		t.Fatalf("check %+v", rep.Check)
	}

	// Replay appended nothing.
	if head := logHead(t, dir); head != ing.LogHead {
		t.Errorf("the log's head moved from %d to %d", ing.LogHead, head)
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReplayWhatIf(t *testing.T) {
	noLeaks(t)
	dir, ing := ingestLog(t)
	src := mustRead(t, exampleChoreography)
	changed := strings.NewReplacer("data.?order_value.orValue(0) > 1000", "data.?order_value.orValue(0) > 3000",
		"action: request_product_review", "action: ask_for_review").Replace(src)
	if changed == src {
		t.Fatal("the example changed: update the test")
	}
	whatIf := writeFile(t, t.TempDir(), "what-if.yaml", changed)
	was, would := offlineSummary(t, exampleChoreography), offlineSummary(t, whatIf)

	rep := replayJSON(t, exitOK, "--data", dir, "--what-if", whatIf, "--max-list", "100")
	wi := rep.WhatIf
	if wi == nil || rep.Check != nil {
		t.Fatalf("report %+v", rep)
	}
	wantAdded := would["ask_for_review"]
	wantDropped := was["request_product_review"] + was["request_manual_review"] - would["request_manual_review"]
	if wi.Choreography != "ecommerce" || wi.Against != "ecommerce" || len(wi.Windows) != 0 || wi.Compared != ing.NewActions ||
		wi.Added != wantAdded || wi.Dropped != wantDropped || wi.Unchanged != ing.NewActions-wantDropped || wi.Actions != wi.Unchanged+wi.Added {
		t.Fatalf("what-if %+v; want %d added, %d dropped", wi, wantAdded, wantDropped)
	}
	if wantDropped <= would["ask_for_review"]-was["request_product_review"] || len(wi.AddedList) != wantAdded || len(wi.DroppedList) != wantDropped {
		t.Fatalf("lists: %d added, %d dropped", len(wi.AddedList), len(wi.DroppedList))
	}
	for _, d := range wi.AddedList {
		if d.Action != "ask_for_review" || len(d.TriggerEventIDs) != 1 {
			t.Errorf("added %+v", d)
		}
	}

	// With the check, and against every logged action.
	rep = replayJSON(t, exitOK, "--data", dir, "--choreography", exampleChoreography, "--what-if", whatIf, "--against", "*")
	if rep.Check == nil || !rep.Check.Deterministic || rep.WhatIf.Against != "*" || rep.WhatIf.Compared != ing.NewActions {
		t.Fatalf("report %+v", rep)
	}
	// Against a choreography the log does not know: an error naming it
	// and the ones it knows, not a comparison with nothing.
	code, _, stderr := runWith(t, context.Background(), "", runReplay, "--data", dir, "--what-if", whatIf, "--against", "nobody")
	wantExit(t, code, stderr, exitFailure, `choreo replay: not_found: --against: no choreography "nobody" in the log`, "; the log knows ecommerce\n")
	code, _, stderr = runWith(t, context.Background(), "", runReplay, "--data", dir, "--what-if", whatIf, "--against", "nobody", "--output", "json")
	wantExit(t, code, stderr, exitFailure)
	if r := jsonError(t, stderr); r.Code != codeNotFound || r.Field != "--against" {
		t.Errorf("JSON error %+v", r)
	}
	// A name known from the actions in $actions alone (choreo ingest
	// deploys nothing) is compared with.
	rep = replayJSON(t, exitOK, "--data", dir, "--what-if", whatIf, "--against", "ecommerce")
	if rep.WhatIf.Against != "ecommerce" || rep.WhatIf.Compared != ing.NewActions {
		t.Fatalf("against ecommerce: %+v", rep.WhatIf)
	}

	code, out, stderr := runWith(t, context.Background(), "", runReplay, "--data", dir, "--what-if", whatIf, "--max-list", "1")
	wantExit(t, code, stderr, exitOK)
	for _, want := range []string{"what if ecommerce (" + whatIf + ") had run over the whole log, compared with the " + fmt.Sprint(ing.NewActions) + " actions of ecommerce in $actions:",
		fmt.Sprintf("%d added, %d dropped", wantAdded, wantDropped), "  added\n  + ", "ask_for_review", "  dropped\n  - ", "more (--max-list shows more)",
		"nothing was dispatched or appended"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not hold %q:\n%s", want, out)
		}
	}
	if head := logHead(t, dir); head != ing.LogHead {
		t.Errorf("the log's head moved from %d to %d", ing.LogHead, head)
	}
}

// TestReplayDeployments replays a log whose choreography was deployed,
// replaced and removed while the engine ran, as choreo serve runs it.
func TestReplayDeployments(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	st, err := pebble.Open(dir, &pebble.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := deploy.Open(ctx, st, deploy.Config{Logger: slog.New(slog.DiscardHandler), RunnerConfig: live.Config{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(runCtx) }) //nolint:errcheck // ends with runCtx
	doc := func(action string) []byte {
		return []byte("name: shop\npatterns:\n  - id: p\n    event_type: order_received\n    action: " + action + "\n    target_capability: stock\n")
	}
	publish := func(ids ...string) {
		for _, id := range ids {
			// No time: the engine takes the time the log recorded.
			if _, err := st.Append(ctx, "o-"+id, store.Any, []*event.Event{{SpecVersion: "1.0", ID: id, Source: "s", Type: "order_received"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	actions := func() int {
		recs, err := st.ReadStream(ctx, live.ActionsStream, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	publish("e0") // before any deployment: nothing acts on it
	if _, _, err := m.Deploy(ctx, "shop", doc("check_stock")); err != nil {
		t.Fatal(err)
	}
	publish("e1", "e2")
	eventually(t, "version 1's actions", func() bool { return actions() == 2 })
	v2, _, err := m.Deploy(ctx, "shop", doc("reserve_stock"))
	if err != nil {
		t.Fatal(err)
	}
	publish("e3", "e4")
	eventually(t, "version 2's actions", func() bool { return actions() == 4 })
	if err := m.Remove(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	publish("e5")
	stop()
	wg.Wait()
	m.Close()
	st.Close()

	rep := replayJSON(t, exitOK, "--data", dir)
	if rep.Actions != 4 || rep.LoggedActions != 4 || rep.Check == nil || !rep.Check.Deterministic || rep.Events != 6 {
		t.Fatalf("report %+v, check %+v", rep, rep.Check)
	}
	if len(rep.Choreographies) != 2 || rep.Choreographies[0].Version != 1 || rep.Choreographies[0].To != v2.Position ||
		rep.Choreographies[1].From != v2.Position+1 || rep.Choreographies[1].To == 0 {
		t.Fatalf("choreographies %+v", rep.Choreographies)
	}

	// What if version 1 had stayed: it acts where shop's versions acted.
	whatIf := writeFile(t, t.TempDir(), "shop.yaml", string(doc("check_stock")))
	rep = replayJSON(t, exitOK, "--data", dir, "--what-if", whatIf)
	wi := rep.WhatIf
	if wi == nil || len(wi.Windows) != 2 || wi.Actions != 4 || wi.Unchanged != 2 || wi.Added != 2 || wi.Dropped != 2 {
		t.Fatalf("what-if %+v", wi)
	}
	if got := wi.AddedList[0].TriggerEventIDs[0] + wi.AddedList[1].TriggerEventIDs[0]; got != "e3e4" || wi.DroppedList[0].Action != "reserve_stock" {
		t.Errorf("added %+v, dropped %+v", wi.AddedList, wi.DroppedList)
	}
	code, out, _ := runWith(t, context.Background(), "", runReplay, "--data", dir, "--what-if", whatIf)
	if code != exitOK || !strings.Contains(out, "shop v1  deployed at #1, acting from #2, ended by #") ||
		!strings.Contains(out, "had run in place of 2 deployed versions of shop") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

// TestReplayServeLog replays the log choreo serve wrote while the example
// events were published to it with choreo publish: timers fired by the
// wall clock included, the same actions come out.
func TestReplayServeLog(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server")
	}
	noLeaks(t, pebbleLockLeak)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg := serveConfig{data: dir, addr: "127.0.0.1:0", choreographies: []string{exampleChoreography}, shutdown: 5 * time.Second}
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	var url string
	select {
	case addr := <-ready:
		url = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	var once sync.Once
	var serveErr error
	stopServe := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	defer stopServe()
	code, _, stderr := runWith(t, context.Background(), "", runPublish, exampleEvents, "--server", url)
	wantExit(t, code, stderr, exitOK)
	// Until the engine has caught up, its timers included.
	eventually(t, "the engine caught up", func() bool {
		_, out, _ := runWith(t, context.Background(), "", runMetrics, "--server", url, "--output", "json")
		var m struct {
			Engine struct {
				Deployments []struct {
					Runner struct {
						Lag uint64 `json:"lag"`
					} `json:"runner"`
					Engine struct {
						PendingTimers int `json:"pending_timers"`
					} `json:"engine"`
				} `json:"deployments"`
			} `json:"engine"`
		}
		json.Unmarshal([]byte(out), &m)
		d := m.Engine.Deployments
		return len(d) == 1 && d[0].Runner.Lag == 0 && d[0].Engine.PendingTimers == 0
	})
	// Replay refuses the log while the server holds it.
	code, _, stderr = runWith(t, context.Background(), "", runReplay, "--data", dir)
	wantExit(t, code, stderr, exitFailure, "choreo replay: log_in_use: --data: the log in "+dir+" is in use")
	if err := stopServe(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	rep := replayJSON(t, exitOK, "--data", dir)
	offline := offlineSummary(t, exampleChoreography)
	total := 0
	for _, n := range offline {
		total += n
	}
	// The server fired every timer by the clock; choreo run fires those
	// due by the last event's time. Every action run decides is there.
	if rep.Check == nil || !rep.Check.Deterministic || rep.Actions < total || rep.TimerEvents == 0 {
		t.Fatalf("report %+v, check %+v; choreo run decides %d actions", rep, rep.Check, total)
	}
}

func TestReplayErrors(t *testing.T) {
	noLeaks(t, pebbleLockLeak)
	dir, _ := ingestLog(t)

	// A log in use.
	st, err := pebble.Open(dir, &pebble.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runWith(t, context.Background(), "", runReplay, "--data", dir, "--output", "json")
	st.Close()
	wantExit(t, code, stderr, exitFailure)
	if r := jsonError(t, stderr); r.Code != codeLogLocked || r.Field != "--data" {
		t.Errorf("JSON error %+v", r)
	}

	empty := t.TempDir()
	code, _, stderr = runWith(t, context.Background(), "", runReplay, "--data", empty)
	wantExit(t, code, stderr, exitFailure, "invalid_input: --data: no log in "+empty)
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("replay wrote to an empty directory: %v", entries)
	}
	code, _, stderr = runWith(t, context.Background(), "", runReplay, "--data", filepath.Join(empty, "nope"))
	wantExit(t, code, stderr, exitFailure, "invalid_input: --data:")
	bad := writeFile(t, t.TempDir(), "bad.yaml", "name: x\npatterns:\n  - id: p\n    event_type: t\n")
	code, _, stderr = runWith(t, context.Background(), "", runReplay, "--data", dir, "--what-if", bad)
	wantExit(t, code, stderr, exitFailure, "invalid_choreography: --what-if\n", bad+":3:")
	code, _, stderr = runWith(t, context.Background(), "", runReplay, "--data", dir, "--choreography", bad)
	wantExit(t, code, stderr, exitFailure, "invalid_choreography", bad+":3:")

	// An interrupted replay stops.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, _, stderr = runWith(t, ctx, "", runReplay, "--data", dir)
	wantExit(t, code, stderr, exitFailure, "interrupted")

	for _, args := range [][]string{{"extra"}, {"--data", ""}, {"--against", "x"}, {"--max-list", "-1"}} {
		if code, _, stderr := runWith(t, context.Background(), "", runReplay, args...); code != exitUsage {
			t.Errorf("replay %q: exit %d, want 2; stderr %q", args, code, stderr)
		}
	}
}

func TestReplayProgress(t *testing.T) {
	var b bytes.Buffer
	if p := newReplayProgress(&b, 10); p.on {
		t.Fatal("a progress bar on a buffer")
	}
	p := &replayProgress{w: &b, total: 200, on: true}
	p.update(50)
	if !strings.Contains(b.String(), "\rreplaying [#######.......................]  25%  50/200 records") {
		t.Errorf("bar %q", b.String())
	}
	p.update(60) // within 100 ms of the last: not drawn
	if strings.Contains(b.String(), "60/200") {
		t.Errorf("drawn too often: %q", b.String())
	}
	p.update(200) // the end is always drawn
	p.finish()
	if !strings.Contains(b.String(), "200/200") || !strings.HasSuffix(b.String(), "\r") {
		t.Errorf("bar %q", b.String())
	}
}

// BenchmarkReplay re-folds a log of 1,000 generated orders written by
// choreo ingest, checking every action against $actions.
func BenchmarkReplay(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "log")
	var in bytes.Buffer
	if _, err := workload.WriteJSONL(&in, workload.Config{Seed: 5, Orders: 1000, Concurrency: 200}); err != nil {
		b.Fatal(err)
	}
	var errb bytes.Buffer
	if code := runIngest(context.Background(), []string{"--data", dir, "--choreography", exampleChoreography, "--events", "-"},
		stdio{&in, io.Discard, &errb}); code != 0 {
		b.Fatalf("ingest: exit %d: %s", code, errb.String())
	}
	o := replayOptions{data: dir, choreographies: []string{exampleChoreography}, maxList: 20}
	var rep *replayReport
	for b.Loop() {
		var err error
		if rep, err = replay(context.Background(), o, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	if !rep.Check.Deterministic {
		b.Fatalf("check %+v", rep.Check)
	}
	b.ReportMetric(float64(rep.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(rep.Records), "records")
}
