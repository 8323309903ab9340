package agent_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/choreohq/choreo/agent"
	"github.com/choreohq/choreo/store"
	"github.com/choreohq/choreo/store/mem"
)

// benchRegistry registers n agents. Each has "common", one of 10 "rare-k"
// capabilities and one of 4 "group-k"; loads cycle through 0, 0.05, …,
// 0.95, so about 85% are under MaxLoad and agents of equal load tie.
func benchRegistry(b *testing.B, n int) *agent.Registry {
	b.Helper()
	st := mem.New(store.Options{})
	b.Cleanup(func() { st.Close() })
	r := open(b, st, agent.Config{})
	for i := range n {
		p := profile(fmt.Sprintf("agent-%03d", i), float64(i%20)/20,
			"common", fmt.Sprintf("rare-%d", i%10), fmt.Sprintf("group-%d", i%4))
		if _, err := r.Register(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

func BenchmarkDiscover(b *testing.B) {
	r := benchRegistry(b, 100)
	for _, bc := range []struct {
		name string
		caps []string
	}{
		{"common", []string{"common"}},              // 85 of 100 agents offered
		{"rare", []string{"rare-3"}},                // 10 candidates
		{"two-caps", []string{"common", "group-1"}}, // walks the 25 of group-1
		{"none", []string{"unknown"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var dst []agent.Profile
			b.ReportAllocs()
			for b.Loop() {
				dst = r.AppendDiscover(dst[:0], bc.caps)
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	r := benchRegistry(b, 100)
	caps := []string{"common"}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := r.Pick(caps); !ok {
				b.Fatal("no agent")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok := r.Pick(caps); !ok {
					b.Error("no agent")
					return
				}
			}
		})
	})
}

func BenchmarkHeartbeat(b *testing.B) {
	r := benchRegistry(b, 100)
	ctx := context.Background()
	load := 0.5
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Heartbeat(ctx, fmt.Sprintf("agent-%03d", i%100), agent.Heartbeat{Load: &load}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
