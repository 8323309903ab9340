package pebble_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/pebble"
	"github.com/choreohq/choreo/store/storetest"
)

const crashEnv = "CHOREO_CRASH_CHILD_DIR"

// TestCrashRecovery kills a process that appends under load with SIGKILL at
// random moments, then reopens its log and checks that every acknowledged
// append is there, that no batch is there in part, and that positions are
// dense.
func TestCrashRecovery(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir, os.Getenv("CHOREO_CRASH_ROUND"))
		return
	}
	rounds := 24
	if testing.Short() {
		rounds = 5
	}
	dir := t.TempDir()
	acked := map[string]ack{} // batch id → what the child was told
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, "CHOREO_CRASH_ROUND="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Let it get going, then kill it at a random moment.
		first, ok := <-lines
		if !ok {
			cmd.Wait()
			t.Fatalf("round %d: child wrote nothing", round)
		}
		time.Sleep(time.Duration(20+rand.IntN(250)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		n := 0
		for _, line := range append([]string{first}, drain(lines)...) {
			a, err := parseAck(line)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			acked[a.batch] = a
			n++
		}
		cmd.Wait()

		s, err := pebble.Open(dir, nil)
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		all := storetest.CheckLog(t, s)
		batches := map[string][]store.Record{}
		for _, r := range all {
			batches[batchOf(r.Event.ID)] = append(batches[batchOf(r.Event.ID)], r)
		}
		for id, recs := range batches {
			if want := sizeOf(recs[0].Event.ID); len(recs) != want {
				t.Fatalf("round %d: batch %s has %d of its %d events: a partial batch", round, id, len(recs), want)
			}
			for i := 1; i < len(recs); i++ {
				if recs[i].GlobalPosition != recs[i-1].GlobalPosition+1 {
					t.Fatalf("round %d: batch %s not contiguous", round, id)
				}
			}
		}
		for id, a := range acked {
			recs, ok := batches[id]
			if !ok {
				t.Fatalf("round %d: acknowledged batch %s lost", round, id)
			}
			if recs[0].GlobalPosition != a.global || recs[0].StreamPosition != a.stream || len(recs) != a.n {
				t.Fatalf("round %d: batch %s at %d/%d (%d events), acknowledged at %d/%d (%d)", round, id,
					recs[0].GlobalPosition, recs[0].StreamPosition, len(recs), a.global, a.stream, a.n)
			}
		}
		s.Close()
		t.Logf("round %d: %d appends acknowledged before SIGKILL, log holds %d events", round, n, len(all))
	}
}

func drain(c chan string) []string {
	var out []string
	for l := range c {
		out = append(out, l)
	}
	return out
}

type ack struct {
	batch          string
	n              int
	global, stream uint64
}

func parseAck(line string) (ack, error) {
	var a ack
	_, err := fmt.Sscanf(line, "ack %s %d %d %d", &a.batch, &a.n, &a.global, &a.stream)
	if err != nil {
		return a, fmt.Errorf("bad line from child %q: %v", line, err)
	}
	return a, nil
}

// Event ids are "<batch>.<index>.<size>".
func batchOf(id string) string { return id[:strings.IndexByte(id, '.')] }
func sizeOf(id string) int {
	n, _ := strconv.Atoi(id[strings.LastIndexByte(id, '.')+1:])
	return n
}

// crashChild appends batches from 16 goroutines, four of them deferring
// their fsyncs, until it is killed, printing one line per acknowledged
// append.
func crashChild(dir, round string) {
	s, err := pebble.Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				batch := fmt.Sprintf("r%sw%di%d", round, w, i)
				n := 1 + rand.IntN(5)
				stream := fmt.Sprintf("s%d", rand.IntN(8))
				evs := make([]*event.Event, n)
				for k := range n {
					evs[k] = storetest.Ev(fmt.Sprintf("%s.%d.%d", batch, k, n), "t", stream)
				}
				// A quarter of the writers defer their fsyncs, so that
				// deferred appends are held and shared under the kill too.
				var pos []store.Position
				var err error
				if w%4 == 0 {
					pos, err = s.AppendDeferred(context.Background(), stream, store.Any, evs).Wait()
				} else {
					pos, err = s.Append(context.Background(), stream, store.Any, evs)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s %d %d %d\n", batch, n, pos[0].Global, pos[0].Stream)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
