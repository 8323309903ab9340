// Package heaptest measures the live heap, for tests that check what a
// component keeps in memory.
package heaptest

import "runtime"

// Live returns the bytes of live heap once garbage has been collected. It
// collects twice: objects with finalizers, and what only they kept, go in
// the second.
func Live() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
