package webhook

import "net/http"

// FastPathDials returns how many connections tr's fast path has dialed,
// or -1 when tr has no fast path.
func FastPathDials(tr *Transport) int64 {
	if tr.lean == nil {
		return -1
	}
	return tr.lean.dials.Load()
}

// HTTPTransport returns the net/http transport of tr's own client, to be
// changed before the first delivery.
func HTTPTransport(tr *Transport) *http.Transport { return tr.httpTransport }
