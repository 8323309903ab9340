package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
)

// replayPage is how many records one read of the log takes.
const replayPage = 1024

// replayOptions is what choreo replay is told on its command line.
type replayOptions struct {
	data           string
	choreographies []string
	whatIf         string
	against        string
	maxList        int
}

// runReplay re-folds the log of a data directory through the engine,
// offline, and checks that it derives the actions the log holds; with
// --what-if, it shows what another choreography would have decided.
func runReplay(ctx context.Context, args []string, io stdio) int {
	c := newCmd("replay", "replay --data DIR [--choreography FILE]... [--what-if FILE [--against NAME]]",
		`Rebuilds the engine's state from the log in DIR, offline, and reports the
events, the actions re-derived by rule, and whether they are exactly the
actions in the log's $actions stream, as they must be: the engine is a
deterministic fold over the log. Each choreography version deployed in
the log (by choreo serve or the API) is run as the server runs it, acting
on the records between its deployment and the next; the files given with
--choreography, for logs written by choreo ingest, are run over the whole
log. It exits 1 when the actions differ.

With --what-if FILE, it also runs that choreography over the log and shows
the actions it would add or drop compared with the actions in $actions of
the choreography of the same name (--against NAME compares with another
one's, --against '*' with every action), matching actions by name and
trigger events. A --against name the log does not know (not deployed, no
action in $actions, not given with --choreography) is an error. It folds the whole log, and acts where the versions of the
choreography it is compared with acted, or on the whole log when none was
deployed in it.

Replay reads the log and nothing else: it dispatches nothing and appends
nothing. The log must not be in use: stop the server first (or replay a
copy of its directory). A progress bar is drawn on standard error when it
is a terminal.`, io)
	var o replayOptions
	c.fs.StringVar(&o.data, "data", "./choreo-data", "the log's data `directory`")
	c.fs.Func("choreography", "a choreography `file` the log was decided with outside deployments (choreo ingest); repeatable", func(s string) error {
		o.choreographies = append(o.choreographies, s)
		return nil
	})
	c.fs.StringVar(&o.whatIf, "what-if", "", "a choreography `file` to run over the log, compared with what happened")
	c.fs.StringVar(&o.against, "against", "", "with --what-if, the `name` of the choreography whose logged actions to compare with; * for all; empty: the what-if's own name")
	c.fs.IntVar(&o.maxList, "max-list", 20, "list at most `N` actions of each difference")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return c.usage("unexpected argument %q", pos[0])
	case o.data == "":
		return c.usage("--data is required")
	case o.against != "" && o.whatIf == "":
		return c.usage("--against goes with --what-if")
	case o.maxList < 0:
		return c.usage("--max-list must not be negative")
	}
	rep, err := replay(ctx, o, c.io.err)
	if err != nil {
		return c.fail(err)
	}
	if c.output == outputJSON {
		if err := c.json(rep); err != nil {
			return c.fail(err)
		}
	} else {
		rep.print(c.io.out)
	}
	if ch := rep.Check; ch != nil && !ch.Deterministic {
		printError(c.io, c.name, c.output, errorReport{Code: codeMismatch, Message: fmt.Sprintf(
			"the re-derived actions differ from those in $actions: %d not re-derived, %d re-derived otherwise, %d not in $actions",
			ch.Missing, ch.Changed, ch.Unexpected)})
		return exitFailure
	}
	return exitOK
}

// replayReport is what choreo replay reports.
type replayReport struct {
	Data           string                `json:"data"`
	Records        uint64                `json:"records"`         // records in the log
	Events         int64                 `json:"events"`          // user events, given to the engines
	TimerEvents    int64                 `json:"timer_events"`    // clock events of $timers, given to the engines
	SystemRecords  int64                 `json:"system_records"`  // other records of the $ streams, not given to them
	Choreographies []replayedChor        `json:"choreographies"`  // what was run
	Actions        int                   `json:"actions"`         // actions re-derived
	ByRule         []ruleCount           `json:"actions_by_rule"` // of those, by rule
	LoggedActions  int                   `json:"logged_actions"`  // actions in $actions
	Check          *replayCheck          `json:"check,omitempty"` // nil when not checked
	WhatIf         *whatIfReport         `json:"what_if,omitempty"`
	Skipped        []string              `json:"skipped,omitempty"` // deployed versions that could not run, and why
	byRule         map[replayRuleKey]int // feeds ByRule
}

// replayedChor is one choreography replay ran.
type replayedChor struct {
	Name    string `json:"name"`
	Origin  string `json:"origin"`            // "file" or "deployed"
	File    string `json:"file,omitempty"`    // for a file
	Version int    `json:"version,omitempty"` // for a deployed version
	// From and To bound the records whose actions count, for a deployed
	// version: those after its deployment record, before the record that
	// ended it (To 0: none did).
	From uint64 `json:"from,omitempty"`
	To   uint64 `json:"to,omitempty"`
}

type replayRuleKey struct{ choreography, rule, action string }

// ruleCount is how many actions one rule decided.
type ruleCount struct {
	Choreography string `json:"choreography"`
	RuleID       string `json:"rule_id"`
	Action       string `json:"action"`
	Count        int    `json:"count"`
}

// replayCheck compares the re-derived actions with those in $actions.
type replayCheck struct {
	Deterministic bool `json:"deterministic"`
	Missing       int  `json:"missing"`    // in $actions, not re-derived
	Unexpected    int  `json:"unexpected"` // re-derived, not in $actions
	// Changed counts the re-derived actions whose id is in $actions with
	// other content (another action name, capability, priority, time…).
	Changed int `json:"changed"`
	// NotYetLogged counts the re-derived actions decided on records after
	// the last one whose actions reached the log: decided when the log
	// stopped, not yet appended. They are not a difference.
	NotYetLogged int `json:"not_yet_logged"`

	MissingList      []actionDiff `json:"missing_actions,omitempty"`
	UnexpectedLst    []actionDiff `json:"unexpected_actions,omitempty"`
	ChangedList      []actionDiff `json:"changed_actions,omitempty"` // as re-derived
	NotYetLoggedList []actionDiff `json:"not_yet_logged_actions,omitempty"`
}

// whatIfReport compares the actions of a what-if choreography with those
// logged.
type whatIfReport struct {
	Choreography string `json:"choreography"`
	File         string `json:"file"`
	Against      string `json:"against"` // the choreography compared with; "*" for all
	// Windows are the versions of Against deployed in the log: the what-if
	// acts on the records they acted on. Empty: on the whole log.
	Windows     []replayedChor `json:"windows,omitempty"`
	Actions     int            `json:"actions"` // the what-if's actions
	Compared    int            `json:"compared"`
	Unchanged   int            `json:"unchanged"`
	Added       int            `json:"added"`
	Dropped     int            `json:"dropped"`
	ByRule      []ruleCount    `json:"actions_by_rule"`
	AddedList   []actionDiff   `json:"added_actions,omitempty"`
	DroppedList []actionDiff   `json:"dropped_actions,omitempty"`
}

// actionDiff is an action that differs.
type actionDiff struct {
	ID              string    `json:"id"`
	Action          string    `json:"action"`
	Choreography    string    `json:"choreography"`
	RuleID          string    `json:"rule_id"`
	CorrelationID   string    `json:"correlation_id"`
	TriggerEventIDs []string  `json:"trigger_event_ids"`
	Time            time.Time `json:"time"`
	Count           int       `json:"count,omitempty"` // for what-if differences: how many such actions, when more than one
}

func diffOf(a *engine.Action) actionDiff {
	return actionDiff{ID: a.ID, Action: a.Action, Choreography: a.Choreography, RuleID: a.RuleID,
		CorrelationID: a.CorrelationID, TriggerEventIDs: slices.Clone(a.TriggerEventIDs), Time: a.Time}
}

// replayFolder is one engine replay runs and the records whose actions count.
type replayFolder struct {
	eng      *engine.Engine
	from, to uint64 // actions of records in [from, to) count; to 0: no end
	chor     replayedChor
	// windows, when not nil, replace from and to: the actions of records
	// in any of them count, and the engine takes every record.
	windows []replayedChor
}

// counts reports whether the actions of the record at pos count.
func (f *replayFolder) counts(pos uint64) bool {
	if f.windows == nil {
		return pos >= f.from
	}
	for _, w := range f.windows {
		if pos >= w.From && (w.To == 0 || pos < w.To) {
			return true
		}
	}
	return false
}

// replay opens the log and folds it.
func replay(ctx context.Context, o replayOptions, progressTo io.Writer) (*replayReport, error) {
	var static *replayFolder
	rep := &replayReport{Data: o.data, byRule: map[replayRuleKey]int{}}
	if len(o.choreographies) > 0 {
		chs := make([]*choreography.Choreography, 0, len(o.choreographies))
		for _, f := range o.choreographies {
			ch, err := choreography.LoadFile(f)
			if err != nil {
				return nil, &cliError{Code: codeInvalidChoreography, Msg: withFile(err, f).Error()}
			}
			chs = append(chs, ch)
			rep.Choreographies = append(rep.Choreographies, replayedChor{Name: ch.Name, Origin: "file", File: f})
		}
		eng, err := engine.New(chs, engine.Config{})
		if err != nil {
			return nil, &cliError{Code: codeInvalidChoreography, Msg: err.Error()}
		}
		static = &replayFolder{eng: eng}
	}
	var whatIf *replayFolder
	if o.whatIf != "" {
		ch, err := choreography.LoadFile(o.whatIf)
		if err != nil {
			return nil, &cliError{Code: codeInvalidChoreography, Field: "--what-if", Msg: withFile(err, o.whatIf).Error()}
		}
		eng, err := engine.New([]*choreography.Choreography{ch}, engine.Config{})
		if err != nil {
			return nil, &cliError{Code: codeInvalidChoreography, Field: "--what-if", Msg: err.Error()}
		}
		whatIf = &replayFolder{eng: eng, chor: replayedChor{Name: ch.Name, File: o.whatIf}}
		against := o.against
		if against == "" {
			against = ch.Name
		}
		rep.WhatIf = &whatIfReport{Choreography: ch.Name, File: o.whatIf, Against: against}
	}

	st, err := openLog(o.data)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	deployed, skipped, err := readDeployments(ctx, st)
	if err != nil {
		return nil, err
	}
	rep.Skipped = skipped
	if whatIf != nil && o.against != "" && o.against != "*" {
		if err := checkAgainst(ctx, st, o.against, rep.Choreographies, deployed); err != nil {
			return nil, err
		}
	}
	for _, f := range deployed {
		rep.Choreographies = append(rep.Choreographies, f.chor)
		// The what-if stands in for the versions of the choreography it is
		// compared with: it acts where they acted.
		if whatIf != nil && f.chor.Name == rep.WhatIf.Against {
			whatIf.windows = append(whatIf.windows, f.chor)
			rep.WhatIf.Windows = append(rep.WhatIf.Windows, f.chor)
		}
	}
	head, err := st.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the log: %w", err)
	}
	rep.Records = head

	var (
		derived = map[string]derivedAction{}  // by id: static and deployed
		logged  = map[string]*engine.Action{} // by id, from $actions
		wi      = newActionBag()              // the what-if's, by name and triggers
		acts    []engine.Action
	)
	derive := func(f *replayFolder, pos uint64, ev *event.Event) {
		if f.to != 0 && pos >= f.to {
			return // the runner of this version stopped before this record
		}
		acts = f.eng.AppendProcess(acts[:0], ev)
		if !f.counts(pos) {
			return
		}
		for i := range acts {
			a := &acts[i]
			if f == whatIf {
				wi.add(a)
				continue
			}
			if _, ok := derived[a.ID]; !ok {
				cp := *a
				derived[a.ID] = derivedAction{&cp, pos, f}
				rep.byRule[replayRuleKey{a.Choreography, a.RuleID, a.Action}]++
			}
		}
	}
	folders := make([]*replayFolder, 0, len(deployed)+2)
	if static != nil {
		folders = append(folders, static)
	}
	folders = append(folders, deployed...)
	if whatIf != nil {
		folders = append(folders, whatIf)
	}

	bar := newReplayProgress(progressTo, head)
	defer bar.finish()
	for from := uint64(0); from < head; {
		recs, err := st.ReadAll(ctx, from, replayPage)
		if err != nil {
			return nil, fmt.Errorf("reading the log at %d: %w", from, err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			rec := &recs[i]
			if rec.GlobalPosition >= head {
				break
			}
			if rec.Stream == live.ActionsStream && rec.Event.Type == live.ActionEventType {
				var a engine.Action
				if err := a.UnmarshalJSON(rec.Event.Data); err != nil {
					return nil, fmt.Errorf("the action record at global position %d does not decode: %w", rec.GlobalPosition, err)
				}
				logged[a.ID] = &a
			}
			ev, clock, ok := live.EngineInput(rec) // as the live runner feeds its engine
			switch {
			case !ok:
				rep.SystemRecords++
				continue
			case clock:
				rep.TimerEvents++
			default:
				rep.Events++
			}
			for _, f := range folders {
				derive(f, rec.GlobalPosition, ev)
			}
		}
		from = recs[len(recs)-1].GlobalPosition + 1
		bar.update(from)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	bar.finish()

	rep.Actions = len(derived)
	rep.LoggedActions = len(logged)
	rep.ByRule = sortedRuleCounts(rep.byRule)
	if static != nil || len(deployed) > 0 {
		rep.Check = checkActions(derived, logged, o.maxList)
	}
	if whatIf != nil {
		rep.WhatIf.compare(wi, logged, o.maxList)
	}
	return rep, nil
}

// openLog opens the log in dir for reading. It refuses a directory that
// holds no log, rather than create one, and explains a locked one.
func openLog(dir string) (*pebble.Store, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, &cliError{Code: codeInvalidInput, Field: "--data", Msg: err.Error()}
	}
	if !fi.IsDir() {
		return nil, &cliError{Code: codeInvalidInput, Field: "--data", Msg: dir + " is not a directory"}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(m) == 0 {
		return nil, &cliError{Code: codeInvalidInput, Field: "--data", Msg: "no log in " + dir}
	}
	st, err := pebble.Open(dir, &pebble.Options{
		CacheSize: 16 << 20, MemTableSize: 4 << 20,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		if isLocked(err) {
			return nil, &cliError{Code: codeLogLocked, Field: "--data", Msg: fmt.Sprintf(
				"the log in %s is in use by another process (a running choreo serve or ingest): stop it, or replay a copy of the directory", dir)}
		}
		return nil, fmt.Errorf("opening the log: %w", err)
	}
	return st, nil
}

// isLocked reports whether opening a log failed on its lock file: held by
// another process (EAGAIN or EACCES from the lock), or by this one.
func isLocked(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EWOULDBLOCK) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// checkAgainst returns a not_found error when name, given with --against,
// is no choreography of the log: none of files (given with
// --choreography), of the deployed versions, nor of the actions in
// $actions. Compared with nothing, every action of the what-if would be
// reported as added.
func checkAgainst(ctx context.Context, st store.Store, name string, files []replayedChor, deployed []*replayFolder) error {
	known := map[string]bool{}
	for _, c := range files {
		known[c.Name] = true
	}
	for _, f := range deployed {
		known[f.chor.Name] = true
	}
	if known[name] {
		return nil
	}
	for from := uint64(0); ; {
		recs, err := st.ReadStream(ctx, live.ActionsStream, from, replayPage)
		if err != nil {
			return fmt.Errorf("reading %s: %w", live.ActionsStream, err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			if recs[i].Event.Type != live.ActionEventType {
				continue
			}
			var a struct {
				Choreography string `json:"choreography"`
			}
			if json.Unmarshal(recs[i].Event.Data, &a) == nil && a.Choreography != "" {
				if a.Choreography == name {
					return nil
				}
				known[a.Choreography] = true
			}
		}
		from = recs[len(recs)-1].StreamPosition + 1
	}
	msg := fmt.Sprintf("no choreography %q in the log: none deployed under that name, no action of it in %s", name, live.ActionsStream)
	if len(known) > 0 {
		names := slices.Sorted(maps.Keys(known))
		msg += "; the log knows " + strings.Join(names, ", ")
	}
	return &cliError{Code: codeNotFound, Field: "--against", Msg: msg}
}

// deployedData is the part of a deployment record replay needs.
type deployedData struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Source  string `json:"source"`
	SHA256  string `json:"sha256"`
}

// readDeployments reads the deployment stream and returns a replayFolder for
// each deployed version that can run, acting on the records after its
// deployment record and before the next record about its name, as the
// deployment manager runs it; and why others could not run.
func readDeployments(ctx context.Context, st store.Store) ([]*replayFolder, []string, error) {
	var (
		out      []*replayFolder
		skipped  []string
		current  = map[string]*replayFolder{} // the latest version of each name
		versions = map[string]int{}
	)
	for from := uint64(0); ; {
		recs, err := st.ReadStream(ctx, deploy.Stream, from, replayPage)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", deploy.Stream, err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			rec := &recs[i]
			ev := rec.Event
			if ev.Type != deploy.EventDeployed && ev.Type != deploy.EventRemoved {
				continue
			}
			name := ev.Subject
			if f := current[name]; f != nil {
				f.to, f.chor.To = rec.GlobalPosition, rec.GlobalPosition
				delete(current, name)
			}
			if ev.Type != deploy.EventDeployed {
				continue
			}
			var d deployedData
			err := json.Unmarshal(ev.Data, &d)
			sum := sha256.Sum256([]byte(d.Source))
			if err != nil || d.Name == "" || d.Name != name || d.Version != versions[name]+1 || hex.EncodeToString(sum[:]) != d.SHA256 {
				skipped = append(skipped, fmt.Sprintf("the deployment record at global position %d is malformed", rec.GlobalPosition))
				continue
			}
			versions[name] = d.Version
			ch, err := choreography.Parse(name, []byte(d.Source))
			var eng *engine.Engine
			if err == nil {
				eng, err = engine.New([]*choreography.Choreography{ch}, engine.Config{})
			}
			if err != nil {
				skipped = append(skipped, fmt.Sprintf("%s version %d does not load: %v", name, d.Version, err))
				continue
			}
			f := &replayFolder{eng: eng, from: rec.GlobalPosition + 1,
				chor: replayedChor{Name: name, Origin: "deployed", Version: d.Version, From: rec.GlobalPosition + 1}}
			current[name] = f
			out = append(out, f)
		}
		from = recs[len(recs)-1].StreamPosition + 1
	}
	return out, skipped, nil
}

// derivedAction is an action replay derived: where, and by which engine.
type derivedAction struct {
	a   *engine.Action
	pos uint64 // the global position of the record that decided it
	f   *replayFolder
}

// checkActions compares the re-derived actions with the logged ones, by
// id. A runner appends its actions in the order it decides them, so the
// actions a runner decided after the last one of its actions in the log
// were decided when the log stopped (the server stopped or crashed)
// before it appended them; it appends them when it runs again. Those are
// counted apart, not as a difference.
func checkActions(derived map[string]derivedAction, logged map[string]*engine.Action, maxList int) *replayCheck {
	c := &replayCheck{}
	lastLogged := map[*replayFolder]uint64{}
	for id, d := range derived {
		if _, ok := logged[id]; ok && d.pos >= lastLogged[d.f] {
			lastLogged[d.f] = d.pos + 1
		}
	}
	var missing, unexpected, pending, changed []actionDiff
	for id, a := range logged {
		if _, ok := derived[id]; !ok {
			c.Missing++
			missing = append(missing, diffOf(a))
		}
	}
	for id, d := range derived {
		if l, ok := logged[id]; ok {
			if !bytes.Equal(l.AppendJSON(nil), d.a.AppendJSON(nil)) {
				c.Changed++
				changed = append(changed, diffOf(d.a))
			}
			continue
		}
		if d.pos >= lastLogged[d.f] {
			c.NotYetLogged++
			pending = append(pending, diffOf(d.a))
			continue
		}
		c.Unexpected++
		unexpected = append(unexpected, diffOf(d.a))
	}
	c.Deterministic = c.Missing == 0 && c.Unexpected == 0 && c.Changed == 0
	c.MissingList = firstDiffs(missing, maxList)
	c.ChangedList = firstDiffs(changed, maxList)
	c.UnexpectedLst = firstDiffs(unexpected, maxList)
	c.NotYetLoggedList = firstDiffs(pending, maxList)
	return c
}

// actionBag counts actions by name and trigger events, keeping one of
// each for the report.
type actionBag struct {
	n       int
	byKey   map[string]*actionDiff
	byRule  map[replayRuleKey]int
	ordered []string // keys in the order first seen
}

func newActionBag() *actionBag {
	return &actionBag{byKey: map[string]*actionDiff{}, byRule: map[replayRuleKey]int{}}
}

// actionKey identifies an action across choreographies and rules: its
// name and its trigger events.
func actionKey(a *engine.Action) string {
	return a.Action + "\x00" + strings.Join(a.TriggerEventIDs, "\x00")
}

func (b *actionBag) add(a *engine.Action) {
	b.n++
	b.byRule[replayRuleKey{a.Choreography, a.RuleID, a.Action}]++
	k := actionKey(a)
	if d := b.byKey[k]; d != nil {
		d.Count++
		return
	}
	d := diffOf(a)
	d.Count = 1
	b.byKey[k] = &d
	b.ordered = append(b.ordered, k)
}

// compare fills the report with the differences between the what-if's
// actions and the logged actions of r.Against.
func (r *whatIfReport) compare(wi *actionBag, logged map[string]*engine.Action, maxList int) {
	was := newActionBag()
	for _, a := range logged {
		if r.Against == "*" || a.Choreography == r.Against {
			was.add(a)
		}
	}
	r.Actions, r.Compared = wi.n, was.n
	r.ByRule = sortedRuleCounts(wi.byRule)
	var added, dropped []actionDiff
	for _, k := range wi.ordered {
		w := wi.byKey[k]
		n := 0
		if l := was.byKey[k]; l != nil {
			n = l.Count
		}
		r.Unchanged += min(w.Count, n)
		if w.Count > n {
			d := *w
			d.Count = w.Count - n
			r.Added += d.Count
			added = append(added, d)
		}
	}
	for k, l := range was.byKey {
		n := 0
		if w := wi.byKey[k]; w != nil {
			n = w.Count
		}
		if l.Count > n {
			d := *l
			d.Count = l.Count - n
			r.Dropped += d.Count
			dropped = append(dropped, d)
		}
	}
	r.AddedList = firstDiffs(added, maxList)
	r.DroppedList = firstDiffs(dropped, maxList)
}

// firstDiffs sorts diffs by time, action and triggers, and keeps the
// first n. Counts of one are left out.
func firstDiffs(diffs []actionDiff, n int) []actionDiff {
	slices.SortFunc(diffs, func(a, b actionDiff) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Action, b.Action),
			slices.Compare(a.TriggerEventIDs, b.TriggerEventIDs), cmp.Compare(a.ID, b.ID))
	})
	diffs = diffs[:min(n, len(diffs))]
	for i := range diffs {
		if diffs[i].Count == 1 {
			diffs[i].Count = 0
		}
	}
	return diffs
}

func sortedRuleCounts(m map[replayRuleKey]int) []ruleCount {
	out := make([]ruleCount, 0, len(m))
	for k, n := range m {
		out = append(out, ruleCount{Choreography: k.choreography, RuleID: k.rule, Action: k.action, Count: n})
	}
	slices.SortFunc(out, func(a, b ruleCount) int {
		return cmp.Or(cmp.Compare(a.Choreography, b.Choreography), cmp.Compare(b.Count, a.Count), cmp.Compare(a.RuleID, b.RuleID), cmp.Compare(a.Action, b.Action))
	})
	return out
}

// print writes the report for people.
func (r *replayReport) print(w io.Writer) {
	fmt.Fprintf(w, "replayed %d records of %s: %s, %s, %s\n", r.Records, r.Data,
		plural(int(r.Events), "event"), plural(int(r.TimerEvents), "timer event"), plural(int(r.SystemRecords), "other system record"))
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	fmt.Fprintln(w, "\nchoreographies")
	if len(r.Choreographies) == 0 {
		fmt.Fprintln(w, "  none given with --choreography, none deployed in the log")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, ch := range r.Choreographies {
		if ch.Origin == "file" {
			fmt.Fprintf(tw, "  %s\tfrom %s\n", ch.Name, ch.File)
			continue
		}
		end := ""
		if ch.To != 0 {
			end = fmt.Sprintf(", ended by #%d", ch.To)
		}
		fmt.Fprintf(tw, "  %s v%d\tdeployed at #%d, acting from #%d%s\n", ch.Name, ch.Version, ch.From-1, ch.From, end)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nre-derived actions: %d\n", r.Actions)
	printRuleCounts(w, r.ByRule)

	switch c := r.Check; {
	case c == nil:
		fmt.Fprintf(w, "\n$actions holds %s; not compared: no choreography deployed in the log, none given with --choreography\n", plural(r.LoggedActions, "action"))
	case c.Deterministic && c.NotYetLogged > 0:
		fmt.Fprintf(w, "\ndeterminism: ok: the %d actions in $actions are re-derived, and %d more decided on the last records, which the engine appends when it runs again\n",
			r.LoggedActions, c.NotYetLogged)
		printDiffs(w, "not yet in $actions", "+", c.NotYetLoggedList, c.NotYetLogged)
	case c.Deterministic:
		fmt.Fprintf(w, "\ndeterminism: ok: the %s re-derived are exactly those in $actions\n", plural(r.Actions, "action"))
	default:
		fmt.Fprintf(w, "\ndeterminism: MISMATCH: of the %d actions in $actions, %d were not re-derived and %d were re-derived otherwise; %d re-derived actions are not in $actions\n",
			r.LoggedActions, c.Missing, c.Changed, c.Unexpected)
		if c.Missing > 0 {
			fmt.Fprintln(w, "(a log written by choreo ingest needs its choreographies given with --choreography)")
		}
		printDiffs(w, "not re-derived", "-", c.MissingList, c.Missing)
		printDiffs(w, "re-derived otherwise", "~", c.ChangedList, c.Changed)
		printDiffs(w, "not in $actions", "+", c.UnexpectedLst, c.Unexpected)
	}

	if wi := r.WhatIf; wi != nil {
		against := "the " + plural(wi.Compared, "action") + " of " + wi.Against + " in $actions"
		if wi.Against == "*" {
			against = "every action in $actions (" + plural(wi.Compared, "action") + ")"
		}
		where := "over the whole log"
		if len(wi.Windows) > 0 {
			where = "in place of " + plural(len(wi.Windows), "deployed version") + " of " + wi.Against
		}
		fmt.Fprintf(w, "\nwhat if %s (%s) had run %s, compared with %s:\n", wi.Choreography, wi.File, where, against)
		fmt.Fprintf(w, "  %s, %d unchanged, %d added, %d dropped\n", plural(wi.Actions, "action"), wi.Unchanged, wi.Added, wi.Dropped)
		printRuleCounts(w, wi.ByRule)
		printDiffs(w, "added", "+", wi.AddedList, wi.Added)
		printDiffs(w, "dropped", "-", wi.DroppedList, wi.Dropped)
		fmt.Fprintln(w, "  nothing was dispatched or appended")
	}
}

func printRuleCounts(w io.Writer, counts []ruleCount) {
	if len(counts) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, rc := range counts {
		fmt.Fprintf(tw, "  %s/%s\t%s\t%d\n", rc.Choreography, rc.RuleID, rc.Action, rc.Count)
	}
	tw.Flush()
}

// printDiffs lists actions under a title; total is how many actions
// there are in all, of which diffs, each counting Count times (once when
// zero), is the start.
func printDiffs(w io.Writer, title, mark string, diffs []actionDiff, total int) {
	if len(diffs) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	listed := 0
	for _, d := range diffs {
		count := ""
		if d.Count > 1 {
			count = fmt.Sprintf(" ×%d", d.Count)
		}
		listed += max(d.Count, 1)
		fmt.Fprintf(tw, "  %s %s\t%s%s\t%s\t%s/%s\ttriggers %s\n", mark, fmtTime(d.Time), d.Action, count, clip(d.CorrelationID, 40),
			d.Choreography, d.RuleID, clip(strings.Join(d.TriggerEventIDs, ","), 80))
	}
	tw.Flush()
	if total > listed {
		fmt.Fprintf(w, "    … and %d more (--max-list shows more)\n", total-listed)
	}
}

// replayProgress draws a progress bar on a terminal.
type replayProgress struct {
	w     io.Writer
	total uint64
	on    bool
	drawn bool
	last  time.Time
}

// newReplayProgress returns a bar for total records, drawn on w when w is a
// terminal.
func newReplayProgress(w io.Writer, total uint64) *replayProgress {
	return &replayProgress{w: w, total: total, on: total > 0 && ttyWriter(w)}
}

func (p *replayProgress) update(done uint64) {
	if !p.on {
		return
	}
	now := time.Now()
	if p.drawn && now.Sub(p.last) < 100*time.Millisecond && done < p.total {
		return
	}
	p.last, p.drawn = now, true
	const width = 30
	frac := float64(min(done, p.total)) / float64(p.total)
	n := int(frac * width)
	fmt.Fprintf(p.w, "\rreplaying [%s%s] %3.0f%%  %d/%d records", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, done, p.total)
}

// finish clears the bar.
func (p *replayProgress) finish() {
	if p.drawn {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 80))
		p.drawn = false
	}
}

// ttyWriter reports whether w is a terminal.
func ttyWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
