package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/choreohq/choreo/choreography"
	"github.com/choreohq/choreo/deploy"
	"github.com/choreohq/choreo/engine"
	"github.com/choreohq/choreo/engine/live"
	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// TestDeployActsOnlyAfter: a new deployment acts on the events after its
// record only, but with state built from the whole log.
func TestDeployActsOnlyAfter(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			m := open(t, st, config(newFakeClock(t0)))
			defer m.Close()
			start(t, m)

			appendEvents(t, st,
				ev("o1", "order_received", "order-1", 0),
				ev("p1", "payment_successful", "order-1", time.Minute),
				ev("o2", "order_received", "order-2", 2*time.Minute), // its payment comes after the deployment
			)
			d := deployOK(t, m, "shop", shopV1)
			if d.Name != "shop" || d.Version != 1 || d.Rules != 2 || d.Choreography == nil || string(d.Source) != shopV1 ||
				!d.DeployedAt.Equal(t0) || d.End != 0 || d.Removed {
				t.Errorf("got deployment %+v, want shop version 1 of 2 rules, deployed at %s", d, t0)
			}
			appendEvents(t, st,
				ev("p2", "payment_successful", "order-2", 3*time.Minute),
				ev("o3", "order_received", "order-3", 4*time.Minute),
				ev("p3", "payment_successful", "order-3", 5*time.Minute),
			)
			want := []string{"fulfil<-[p2]", "checkout<-[o2 p2]", "fulfil<-[p3]", "checkout<-[o3 p3]"}
			waitFor(t, "4 actions", func() bool { return len(actions(t, st)) == len(want) })
			waitFor(t, "the runner to settle", settled(m))
			var got []string
			for _, a := range actions(t, st) {
				got = append(got, a.key())
				if a.pos <= d.Position {
					t.Errorf("action %s at %d, before the deployment at %d", a.key(), a.pos, d.Position)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got actions %v, want %v", got, want)
			}

			ms := m.Metrics()
			if len(ms) != 1 {
				t.Fatalf("got metrics of %d runners, want 1", len(ms))
			}
			x := ms[0]
			if x.Name != "shop" || x.Version != 1 || !x.Current || x.EmitFrom != d.Position+1 || x.End != 0 {
				t.Errorf("got metrics %+v, want shop 1, current, emitting from %d", x, d.Position+1)
			}
			if x.ActionsDropped != 2 || x.Runner.ActionsAppended != 4 || x.Runner.EventsProcessed != 6 {
				t.Errorf("got %d actions dropped, %d appended, %d events; want 2 (of order-1), 4, 6",
					x.ActionsDropped, x.Runner.ActionsAppended, x.Runner.EventsProcessed)
			}
			if r := x.Engine.Rules; len(r) != 2 || r[0].RuleID != "fulfil" || r[0].Triggers != 3 || r[1].Triggers != 3 {
				t.Errorf("got rule metrics %+v, want fulfil and checkout with 3 triggers each (1 dropped)", r)
			}
		})
	}
}

// TestRedeploy: version 2 replaces version 1 at its record — version 1
// acts before it, version 2 after, nothing twice — and deploying the
// same source again changes nothing.
func TestRedeploy(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			m := open(t, st, config(newFakeClock(t0)))
			defer m.Close()
			start(t, m)

			v1 := deployOK(t, m, "shop", shopV1)
			appendEvents(t, st,
				ev("o1", "order_received", "order-1", 0),
				ev("p1", "payment_successful", "order-1", time.Minute),
				ev("o2", "order_received", "order-2", 2*time.Minute), // paid under version 2
			)
			v2 := deployOK(t, m, "shop", shopV2)
			if v2.Version != 2 || v2.Position <= v1.Position {
				t.Fatalf("got version %d at %d, want 2 after %d", v2.Version, v2.Position, v1.Position)
			}
			// At once, while version 1's runner may still be reading.
			appendEvents(t, st,
				ev("p2", "payment_successful", "order-2", 3*time.Minute),
				ev("o3", "order_received", "order-3", 4*time.Minute),
				ev("p3", "payment_successful", "order-3", 5*time.Minute),
			)
			waitFor(t, "6 actions", func() bool { return len(actions(t, st)) == 6 })
			waitFor(t, "version 1 to retire", settled(m))

			got := byKey(t, actions(t, st))
			for key, action := range map[string]string{
				"fulfil<-[p1]":      "initiate_fulfillment", // version 1
				"checkout<-[o1 p1]": "ship",
				"fulfil<-[p2]":      "fulfil_v2", // version 2
				"checkout<-[o2 p2]": "ship",      // begun under version 1, completed under 2
				"fulfil<-[p3]":      "fulfil_v2",
				"checkout<-[o3 p3]": "ship",
			} {
				if a, ok := got[key]; !ok || a.Action.Action != action {
					t.Errorf("action %s: got %q (present %t), want %q", key, a.Action.Action, ok, action)
				}
			}
			if len(got) != 6 {
				t.Errorf("got %d actions, want 6", len(got))
			}

			// The same source again: nothing new.
			before := deployed(t, st)
			d, changed, err := m.Deploy(context.Background(), "shop", []byte(shopV2))
			if err != nil || changed || d.Version != 2 || d.Position != v2.Position {
				t.Errorf("got version %d at %d, changed %t, error %v; want version 2 at %d, unchanged",
					d.Version, d.Position, changed, err, v2.Position)
			}
			if after := deployed(t, st); after != before {
				t.Errorf("got %d deployment records after an identical deploy, want %d", after, before)
			}

			h := m.History("shop")
			if len(h) != 2 || h[0].End != v2.Position || h[0].Removed || h[0].Choreography != nil ||
				h[1].End != 0 || h[1].Choreography == nil {
				t.Errorf("got history %+v, want version 1 ended at %d and dropped, version 2 current", h, v2.Position)
			}
			if g, ok := m.Get("shop"); !ok || g.Version != 2 {
				t.Errorf("got %+v, %t from Get, want version 2", g, ok)
			}
			retired := 0
			for _, r := range readStream(t, st, deploy.Stream) {
				if r.Event.Type == deploy.EventRetired {
					retired++
				}
			}
			if retired != 1 {
				t.Errorf("got %d retirement records, want 1", retired)
			}
		})
	}
}

// deployed counts the deployment records in the log.
func deployed(t testing.TB, st store.Store) int {
	t.Helper()
	n := 0
	for _, r := range readStream(t, st, deploy.Stream) {
		if r.Event.Type == deploy.EventDeployed {
			n++
		}
	}
	return n
}

// TestRedeployUnderLoad deploys new versions while events stream in: each
// payment is fulfilled exactly once, by the version whose interval holds
// it, and not at all before the first deployment.
func TestRedeployUnderLoad(t *testing.T) {
	versions, events := 6, 300
	if testing.Short() {
		versions, events = 3, 100
	}
	source := func(n int) string {
		return fmt.Sprintf("name: load\npatterns:\n  - id: fulfil\n    event_type: paid\n    action: act_%d\n    target_capability: c\n", n)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			m := open(t, st, config(newFakeClock(t0)))
			defer m.Close()
			start(t, m)

			var wg sync.WaitGroup
			done := make(chan struct{})
			wg.Go(func() {
				defer close(done)
				for i := range events {
					appendEvents(t, st, ev(fmt.Sprintf("e%03d", i), "paid", fmt.Sprintf("o%d", i), time.Duration(i)*time.Second))
				}
			})
			for n := 1; n <= versions; n++ {
				deployOK(t, m, "load", source(n))
			}
			wg.Wait()
			<-done
			last := head(t, st)
			waitFor(t, "the runners to settle", func() bool {
				ms := m.Metrics()
				return settled(m)() && len(ms) == 1 && ms[0].Runner.Position >= last
			})

			hist := m.History("load")
			if len(hist) != versions {
				t.Fatalf("got %d versions, want %d", len(hist), versions)
			}
			// The version in charge at global position p.
			owner := func(p uint64) int {
				for _, d := range hist {
					if p > d.Position && (d.End == 0 || p < d.End) {
						return d.Version
					}
				}
				return 0
			}
			pos := make(map[string]uint64)
			for i := range events {
				id := fmt.Sprintf("e%03d", i)
				r, err := st.Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				pos[id] = r.GlobalPosition
			}
			got := byKey(t, actions(t, st))
			for id, p := range pos {
				a, ok := got[fmt.Sprintf("fulfil<-[%s]", id)]
				want := owner(p)
				switch {
				case want == 0 && ok:
					t.Errorf("event %s at %d, before the first deployment, got action %s", id, p, a.Action.Action)
				case want != 0 && !ok:
					t.Errorf("event %s at %d: no action, want one of version %d", id, p, want)
				case want != 0 && a.Action.Action != fmt.Sprintf("act_%d", want):
					t.Errorf("event %s at %d: got action %s, want act_%d", id, p, a.Action.Action, want)
				}
			}
		})
	}
}

// TestRemove: a removed choreography acts on nothing from its removal on;
// deployed again, it takes the next version.
func TestRemove(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			m := open(t, st, config(newFakeClock(t0)))
			defer m.Close()
			start(t, m)

			deployOK(t, m, "shop", shopV1)
			appendEvents(t, st, ev("p1", "payment_successful", "order-1", 0))
			waitFor(t, "1 action", func() bool { return len(actions(t, st)) == 1 })
			if err := m.Remove(context.Background(), "shop"); err != nil {
				t.Fatal(err)
			}
			appendEvents(t, st, ev("p2", "payment_successful", "order-2", time.Minute))
			waitFor(t, "the runner to retire", func() bool { return len(m.Metrics()) == 0 })
			if got := len(actions(t, st)); got != 1 {
				t.Errorf("got %d actions after the removal, want 1", got)
			}
			if d, ok := m.Get("shop"); ok {
				t.Errorf("got %+v from Get after the removal, want none", d)
			}
			if l := m.List(); len(l) != 0 {
				t.Errorf("got %d deployments listed, want 0", len(l))
			}
			if h := m.History("shop"); len(h) != 1 || !h[0].Removed || h[0].End == 0 {
				t.Errorf("got history %+v, want version 1 removed", h)
			}
			err := m.Remove(context.Background(), "shop")
			if !errors.Is(err, deploy.ErrNotFound) || deploy.Code(err) != deploy.CodeNotFound {
				t.Errorf("got %v (code %q) removing again, want ErrNotFound (not_found)", err, deploy.Code(err))
			}
			if err := m.Remove(context.Background(), "nothing"); deploy.Code(err) != deploy.CodeNotFound {
				t.Errorf("got %v removing an unknown name, want not_found", err)
			}

			// Deployed again, even with the same source: version 2, acting
			// after its record only.
			d := deployOK(t, m, "shop", shopV1)
			if d.Version != 2 {
				t.Errorf("got version %d, want 2", d.Version)
			}
			appendEvents(t, st, ev("p3", "payment_successful", "order-3", 2*time.Minute))
			waitFor(t, "2 actions", func() bool { return len(actions(t, st)) == 2 })
			waitFor(t, "the runner to settle", settled(m))
			got := byKey(t, actions(t, st))
			if _, ok := got["fulfil<-[p2]"]; ok {
				t.Error("p2, between the removal and the new deployment, got an action")
			}
			if _, ok := got["fulfil<-[p3]"]; !ok {
				t.Error("p3, after the new deployment, got no action")
			}
		})
	}
}

// TestRestart: a manager opened again over the same log runs what is
// left and appends nothing new; versions deployed while no Run ran act on
// their own intervals when Run starts.
func TestRestart(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			st := b.open(t, dir)
			clock := newFakeClock(t0)

			// Deployments and events while nothing runs: version 1 has p1
			// and o2, version 2 has p2, and "other" was removed.
			m := open(t, st, config(clock))
			deployOK(t, m, "shop", shopV1)
			other := strings.NewReplacer("name: shop", "name: other", "id: fulfil", "id: other_fulfil").Replace(shopV1)
			deployOK(t, m, "other", other)
			appendEvents(t, st,
				ev("p1", "payment_successful", "order-1", 0),
				ev("o2", "order_received", "order-2", time.Minute))
			if err := m.Remove(context.Background(), "other"); err != nil {
				t.Fatal(err)
			}
			deployOK(t, m, "shop", shopV2)
			appendEvents(t, st, ev("p2", "payment_successful", "order-2", 2*time.Minute))
			if n := len(actions(t, st)); n != 0 {
				t.Fatalf("got %d actions before Run, want 0", n)
			}
			if ms := m.Metrics(); len(ms) != 3 || ms[0].Running {
				t.Fatalf("got metrics %+v, want 3 runners (other 1, shop 1 and 2) waiting for Run", ms)
			}
			stop := start(t, m)
			waitFor(t, "the runners to settle", settled(m))
			stop()
			m.Close()

			want := map[string]string{
				"fulfil<-[p1]":      "initiate_fulfillment",
				"fulfil<-[p2]":      "fulfil_v2",
				"checkout<-[o2 p2]": "ship",
			}
			check := func(when string) {
				t.Helper()
				got := byKey(t, actions(t, st))
				for _, a := range got {
					if a.Choreography == "other" && a.key() != "other_fulfil<-[p1]" {
						t.Errorf("%s: other acted on %s after its removal", when, a.key())
					}
				}
				for key, action := range want {
					if a, ok := got[key]; !ok || a.Choreography != "shop" || a.Action.Action != action {
						t.Errorf("%s: action %s: got %q of %q (present %t), want %q of shop", when, key, a.Action.Action, a.Choreography, ok, action)
					}
				}
				if len(got) != len(want)+1 { // other's fulfil of p1
					t.Errorf("%s: got %d actions, want %d", when, len(got), len(want)+1)
				}
			}
			check("first run")
			list, hist, h := m.List(), m.History("shop"), head(t, st)
			before := actions(t, st)

			// Restart: the same deployments, nothing appended.
			if b.durable {
				st.Close()
				st = b.open(t, dir)
			}
			defer st.Close()
			m2 := open(t, st, config(clock))
			defer m2.Close()
			if ms := m2.Metrics(); len(ms) != 1 || ms[0].Name != "shop" || ms[0].Version != 2 {
				t.Errorf("got runners %+v after the restart, want shop version 2 only: the others retired", ms)
			}
			start(t, m2)
			waitFor(t, "the restarted runner to settle", settled(m2))
			check("restart")
			if got := actions(t, st); !slices.EqualFunc(got, before, func(a, b logged) bool { return a.ID == b.ID && a.pos == b.pos }) {
				t.Errorf("got %d actions after the restart, want the same %d", len(got), len(before))
			}
			if got := head(t, st); got != h {
				t.Errorf("got head %d after the restart, want %d", got, h)
			}
			if got := m2.List(); !sameDeployments(got, list) {
				t.Errorf("got list %+v after the restart, want %+v", got, list)
			}
			if got := m2.History("shop"); !sameDeployments(got, hist) {
				t.Errorf("got history %+v after the restart, want %+v", got, hist)
			}
		})
	}
}

// sameDeployments compares deployments but for Choreography, compiled
// anew by each manager.
func sameDeployments(a, b []deploy.Deployment) bool {
	return slices.EqualFunc(a, b, func(x, y deploy.Deployment) bool {
		return x.Name == y.Name && x.Version == y.Version && x.SHA256 == y.SHA256 &&
			string(x.Source) == string(y.Source) && x.DeployedAt.Equal(y.DeployedAt) &&
			x.Position == y.Position && x.Rules == y.Rules && x.End == y.End && x.Removed == y.Removed &&
			(x.Choreography == nil) == (y.Choreography == nil)
	})
}

// TestConcurrentDeploy: deployments of one name from many goroutines, on
// one manager and on two over the same store, get dense versions.
func TestConcurrentDeploy(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			clock := newFakeClock(t0)
			m1 := open(t, st, config(clock))
			defer m1.Close()
			m2 := open(t, st, config(clock))
			defer m2.Close()

			deployAll := func(ms ...*deploy.Manager) []int {
				var (
					mu       sync.Mutex
					versions []int
					wg       sync.WaitGroup
				)
				for i := range 8 {
					m := ms[i%len(ms)]
					wg.Go(func() {
						src := shopV1 + fmt.Sprintf("description: deploy %d of %p\n", i, ms)
						d, changed, err := m.Deploy(context.Background(), "shop", []byte(src))
						if err != nil || !changed {
							t.Errorf("deploy %d: changed %t, error %v", i, changed, err)
							return
						}
						if string(d.Source) != src {
							t.Errorf("deploy %d: got version %d with another source", i, d.Version)
						}
						mu.Lock()
						versions = append(versions, d.Version)
						mu.Unlock()
					})
				}
				wg.Wait()
				slices.Sort(versions)
				return versions
			}
			if got, want := deployAll(m1), []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
				t.Errorf("one manager: got versions %v, want %v", got, want)
			}
			if got, want := deployAll(m1, m2), []int{9, 10, 11, 12, 13, 14, 15, 16}; !slices.Equal(got, want) {
				t.Errorf("two managers: got versions %v, want %v", got, want)
			}
			// Both managers read the other's records: one history.
			if _, _, err := m1.Deploy(context.Background(), "sync", []byte("name: sync\npatterns: [{event_type: x, action: a, target_capability: c}]\n")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := m2.Deploy(context.Background(), "sync", []byte("name: sync\npatterns: [{event_type: x, action: a, target_capability: c}]\n")); err != nil {
				t.Fatal(err)
			}
			h1, h2 := m1.History("shop"), m2.History("shop")
			if len(h1) != 16 || !sameDeployments(h1, h2) {
				t.Errorf("got histories of %d and %d versions, want the same 16", len(h1), len(h2))
			}
			for i, d := range h1 {
				if d.Version != i+1 {
					t.Errorf("history[%d] is version %d", i, d.Version)
				}
				if i > 0 && h1[i-1].End != d.Position {
					t.Errorf("version %d ends at %d, want %d where version %d begins", i, h1[i-1].End, d.Position, d.Version)
				}
			}
			if got := len(m2.History("sync")); got != 1 {
				t.Errorf("got %d versions of an identical source deployed by two managers, want 1", got)
			}
		})
	}
}

// TestOtherManager: a deployment made by another manager over the same
// store takes over from this manager's running version at its record.
func TestOtherManager(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	clock := newFakeClock(t0)
	a := open(t, st, config(clock))
	defer a.Close()
	start(t, a)
	deployOK(t, a, "shop", shopV1)
	appendEvents(t, st, ev("p1", "payment_successful", "order-1", 0))
	waitFor(t, "1 action", func() bool { return len(actions(t, st)) == 1 })

	b := open(t, st, config(clock)) // never runs
	defer b.Close()
	v2 := deployOK(t, b, "shop", shopV2)
	appendEvents(t, st, ev("p2", "payment_successful", "order-2", time.Minute))
	waitFor(t, "2 actions", func() bool { return len(actions(t, st)) == 2 })
	waitFor(t, "a to settle on version 2", func() bool {
		ms := a.Metrics()
		return settled(a)() && len(ms) == 1 && ms[0].Version == 2
	})
	got := byKey(t, actions(t, st))
	if a := got["fulfil<-[p2]"]; a.Action.Action != "fulfil_v2" {
		t.Errorf("got %q for p2, want fulfil_v2 of version 2", a.Action.Action)
	}
	if d, ok := a.Get("shop"); !ok || d.Version != 2 || d.Position != v2.Position {
		t.Errorf("got %+v from a, want version 2 at %d", d, v2.Position)
	}
}

// TestOtherManagerUnseen: a deployment by another manager that this one
// has not read when its runner meets the record still ends the running
// version there: the runner learns of it from the log.
func TestOtherManagerUnseen(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t, t.TempDir())
			defer st.Close()
			clock := newFakeClock(t0)
			a := open(t, st, config(clock))
			defer a.Close()
			deployOK(t, a, "shop", shopV1)
			appendEvents(t, st, ev("p1", "payment_successful", "order-1", 0))

			other := open(t, st, config(clock)) // never runs
			defer other.Close()
			deployOK(t, other, "shop", shopV2)
			var evs []*event.Event
			for i := range 50 {
				evs = append(evs, ev(fmt.Sprintf("q%02d", i), "payment_successful", fmt.Sprintf("order-q%d", i), time.Minute))
			}
			appendEvents(t, st, evs...)

			// a's version 1 starts with all of it in the log, and version 2
			// unknown to a.
			start(t, a)
			waitFor(t, "51 actions", func() bool { return len(actions(t, st)) == 51 })
			waitFor(t, "a to settle on version 2", func() bool {
				ms := a.Metrics()
				return settled(a)() && len(ms) == 1 && ms[0].Version == 2
			})
			for _, x := range actions(t, st) {
				want := "fulfil_v2"
				if x.key() == "fulfil<-[p1]" {
					want = "initiate_fulfillment"
				}
				if x.Action.Action != want {
					t.Errorf("action %s: got %s, want %s", x.key(), x.Action.Action, want)
				}
			}
			byKey(t, actions(t, st))
		})
	}
}

// TestInvalid: a document that does not load is refused with every
// problem and its position, and nothing is appended.
func TestInvalid(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	m := open(t, st, config(newFakeClock(t0)))
	defer m.Close()

	bad := `name: shop
patterns:
  - event_type: payment_successful
    condition: data.amount >
    target_capability: order_fulfillment
  - event_type: order_received
    action: check
    target_capability: inventory
    priority: high
`
	_, _, err := m.Deploy(context.Background(), "shop", []byte(bad))
	var ps choreography.Problems
	if !errors.As(err, &ps) || deploy.Code(err) != deploy.CodeInvalidChoreography {
		t.Fatalf("got %v (code %q), want choreography.Problems (invalid_choreography)", err, deploy.Code(err))
	}
	if len(ps) < 3 {
		t.Errorf("got %d problems, want at least 3 (condition, action, priority): %v", len(ps), ps)
	}
	for _, p := range ps {
		if p.Line == 0 || p.Col == 0 {
			t.Errorf("problem %q has no line and column", p)
		}
	}

	tests := []struct {
		name, as, source, code string
	}{
		{"syntax", "shop", "name: shop\npatterns: [\n", deploy.CodeInvalidChoreography},
		{"not utf-8", "shop", "name: shop\n# \xff\n", deploy.CodeInvalidChoreography},
		{"bad name", "a/b", "patterns: []\n", deploy.CodeInvalidChoreography},
		{"no name", "", "patterns: []\n", deploy.CodeInvalidChoreography},
		{"mismatch", "other", shopV1, deploy.CodeNameMismatch},
		// Loads, but its record is over the log's event size limit.
		{"too large", "shop", shopV1 + "# " + strings.Repeat("x", event.DefaultMaxSize) + "\n", event.CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := m.Deploy(context.Background(), tt.as, []byte(tt.source))
			if got := deploy.Code(err); got != tt.code {
				t.Errorf("got %v (code %q), want code %q", err, got, tt.code)
			}
		})
	}
	if _, _, err := m.Deploy(context.Background(), "other", []byte(shopV1)); !errors.Is(err, deploy.ErrNameMismatch) ||
		!strings.Contains(err.Error(), `"shop"`) {
		t.Errorf("got %v, want ErrNameMismatch naming the document's name", err)
	}
	if n := len(readStream(t, st, deploy.Stream)); n != 0 {
		t.Errorf("got %d records after refused deployments, want 0", n)
	}
	if l := m.List(); len(l) != 0 {
		t.Errorf("got %d deployments, want 0", len(l))
	}
}

// TestSkipsMalformed: records of the stream that do not decode are
// skipped, and the versions around them are still read.
func TestSkipsMalformed(t *testing.T) {
	st := backends[0].open(t, "")
	defer st.Close()
	m := open(t, st, config(newFakeClock(t0)))
	deployOK(t, m, "shop", shopV1)
	m.Close()
	for _, data := range []string{
		`{"name":"shop","version":2,"source":"name: shop\n","sha256":"00"}`, // wrong digest
		`{"name":"shop","version":7,"source":"","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}`,
		`{"name":"shop","version":"two"}`,
	} {
		e := ev("", deploy.EventDeployed, "", 0)
		e.Subject, e.Data = "shop", []byte(data)
		if _, err := st.Append(context.Background(), deploy.Stream, store.Any, []*event.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	m2 := open(t, st, config(newFakeClock(t0)))
	defer m2.Close()
	if h := m2.History("shop"); len(h) != 1 {
		t.Fatalf("got %d versions, want 1", len(h))
	}
	// The next deployment follows the skipped records.
	if d := deployOK(t, m2, "shop", shopV2); d.Version != 2 {
		t.Errorf("got version %d, want 2", d.Version)
	}
}

func TestLifecycle(t *testing.T) {
	if _, err := deploy.Open(context.Background(), nil, deploy.Config{}); !errors.Is(err, deploy.ErrInvalidConfig) {
		t.Errorf("got %v for a nil store, want ErrInvalidConfig", err)
	}
	st := backends[0].open(t, "")
	defer st.Close()
	for _, cfg := range []deploy.Config{
		{SyncInterval: -1},
		{RunnerConfig: live.Config{MaxBatch: -1}},
		{EngineConfig: engine.Config{MaxPartials: -1}},
	} {
		if _, err := deploy.Open(context.Background(), st, cfg); !errors.Is(err, deploy.ErrInvalidConfig) {
			t.Errorf("got %v for %+v, want ErrInvalidConfig", err, cfg)
		}
	}

	m := open(t, st, config(newFakeClock(t0)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	deployOK(t, m, "shop", shopV1)
	waitFor(t, "the runner to start", settled(m))
	if err := m.Run(context.Background()); !errors.Is(err, deploy.ErrRunning) {
		t.Errorf("got %v from a second Run, want ErrRunning", err)
	}
	for range 2 {
		if err := m.Close(); err != nil {
			t.Errorf("got %v from Close, want nil", err)
		}
	}
	if err := <-errc; !errors.Is(err, deploy.ErrClosed) {
		t.Errorf("got %v from Run after Close, want ErrClosed", err)
	}
	if err := m.Run(context.Background()); !errors.Is(err, deploy.ErrClosed) {
		t.Errorf("got %v from Run after Close, want ErrClosed", err)
	}
	if _, _, err := m.Deploy(context.Background(), "shop", []byte(shopV2)); !errors.Is(err, deploy.ErrClosed) || deploy.Code(err) != store.CodeClosed {
		t.Errorf("got %v from Deploy after Close, want ErrClosed", err)
	}
	if err := m.Remove(context.Background(), "shop"); !errors.Is(err, deploy.ErrClosed) {
		t.Errorf("got %v from Remove after Close, want ErrClosed", err)
	}
	if _, ok := m.Get("shop"); !ok {
		t.Error("Get after Close: the deployment is gone")
	}

	// The store closing under Run ends it with the store's error.
	st2 := backends[0].open(t, "")
	m2 := open(t, st2, config(newFakeClock(t0)))
	defer m2.Close()
	deployOK(t, m2, "shop", shopV1)
	errc2 := make(chan error, 1)
	go func() { errc2 <- m2.Run(context.Background()) }()
	waitFor(t, "the runner to start", settled(m2))
	st2.Close()
	select {
	case err := <-errc2:
		if !errors.Is(err, store.ErrClosed) || deploy.Code(err) != store.CodeClosed {
			t.Errorf("got %v after the store closed, want store.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the store closed")
	}
}
