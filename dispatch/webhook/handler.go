package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/event"
)

// Defaults of HandlerConfig.
const (
	// DefaultMaxBodyBytes leaves room for a message carrying a trigger
	// event of the largest size the log accepts (event.DefaultMaxSize).
	DefaultMaxBodyBytes = 2 << 20 // 2 MiB
	DefaultDedupSize    = 1024
)

// HandlerConfig configures Handler. The zero value accepts unsigned
// requests of up to DefaultMaxBodyBytes and does not deduplicate.
type HandlerConfig struct {
	// Secret is the key requests must be signed with (see Verify). Empty
	// means signatures are not checked.
	Secret []byte
	// MaxSkew is how far a signature timestamp may be from the handler's
	// clock. Zero or less means DefaultMaxSkew (5 minutes).
	MaxSkew time.Duration
	// MaxBodyBytes is the largest request body accepted. Zero or less
	// means DefaultMaxBodyBytes (2 MiB).
	MaxBodyBytes int64
	// Dedup makes the handler remember the responses it gave for recent
	// idempotency keys (the Idempotency-Key header, else the message id)
	// and answer a repeated key with the same status and body, without
	// calling the function again; a replay carries the header
	// "Idempotent-Replayed: true". A request whose key is still being
	// handled waits for the first to end. Only 2xx and 422 responses are
	// remembered, so that an attempt that failed can be retried. Memory is
	// bounded by DedupSize times the largest response.
	Dedup bool
	// DedupSize is how many keys Dedup remembers, least recently used
	// forgotten first. Zero or less means DefaultDedupSize (1024).
	DedupSize int
	// Now is the clock signatures are checked against. Nil means time.Now.
	Now func() time.Time
}

// handler is what Handler returns.
type handler struct {
	secret  []byte
	maxSkew time.Duration
	maxBody int64
	now     func() time.Time
	fn      func(ctx context.Context, m *dispatch.Message) ([]*event.Event, error)
	dedup   *dedup // nil unless HandlerConfig.Dedup
}

// Handler returns an http.Handler that receives actions for fn. It answers:
//
//   - 405 to a method other than POST, 415 to a content type other than
//     application/json, 413 to a body over MaxBodyBytes;
//   - 401 when Secret is set and the signature is missing, stale or wrong;
//   - 400 to a body that is not a JSON dispatch.Message with a message_id;
//   - otherwise it calls fn with the request's context and the message,
//     and answers 200 with the events fn returned as a JSON array ("[]"
//     for none); events without a specversion get "1.0";
//   - 422 when fn returns a dispatch.Permanent error, so the dispatcher
//     dead-letters the action, and 500 for any other error or for an
//     event that fails validation (an event needs a type; id and source
//     may be left for the dispatcher to fill).
//
// Error responses have the body {"error":{"code":"…","message":"…"}}, with
// one of the Code constants. fn may be called concurrently.
func Handler(cfg HandlerConfig, fn func(ctx context.Context, m *dispatch.Message) ([]*event.Event, error)) http.Handler {
	h := &handler{
		secret:  append([]byte(nil), cfg.Secret...),
		maxSkew: cfg.MaxSkew,
		maxBody: cfg.MaxBodyBytes,
		now:     cfg.Now,
		fn:      fn,
	}
	if h.maxSkew <= 0 {
		h.maxSkew = DefaultMaxSkew
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.now == nil {
		h.now = time.Now
	}
	if cfg.Dedup {
		size := cfg.DedupSize
		if size <= 0 {
			size = DefaultDedupSize
		}
		h.dedup = newDedup(size)
	}
	return h
}

// response is a status and body the handler writes or replays.
type response struct {
	status int
	body   []byte
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeResponse(w, errorResponse(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST"))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeResponse(w, errorResponse(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
				fmt.Sprintf("want Content-Type application/json, got %.60q", ct)))
			return
		}
	}
	body, resp, ok := h.readBody(w, r)
	if !ok {
		writeResponse(w, resp)
		return
	}
	if len(h.secret) > 0 {
		if err := Verify(h.secret, r, body, h.maxSkew, h.now()); err != nil {
			writeResponse(w, errorResponse(http.StatusUnauthorized, CodeBadSignature, err.Error()))
			return
		}
	}
	var m dispatch.Message
	if err := decodeMessage(body, &m); err != nil {
		writeResponse(w, errorResponse(http.StatusBadRequest, CodeInvalidMessage, "not a message: "+err.Error()))
		return
	}
	if m.MessageID == "" {
		writeResponse(w, errorResponse(http.StatusBadRequest, CodeInvalidMessage, "message_id: required"))
		return
	}
	if h.dedup == nil {
		writeResponse(w, h.call(r.Context(), &m))
		return
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	if key == "" {
		key = m.MessageID
	}
	for {
		e, owner := h.dedup.begin(key)
		if owner {
			resp := h.call(r.Context(), &m)
			keep := resp.status < 300 || resp.status == http.StatusUnprocessableEntity
			h.dedup.finish(e, resp, keep)
			writeResponse(w, resp)
			return
		}
		select {
		case <-e.done:
		case <-r.Context().Done():
			writeResponse(w, errorResponse(http.StatusServiceUnavailable, CodeInProgress,
				"a request with the same idempotency key is still being handled"))
			return
		}
		if e.kept {
			w.Header().Set("Idempotent-Replayed", "true")
			writeResponse(w, e.resp)
			return
		}
		// The first request failed and was forgotten: handle this one.
	}
}

// readBody reads the request body, or returns the error response to give.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, response, bool) {
	tooLarge := func() response {
		return errorResponse(http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("the body is over the limit of %d bytes", h.maxBody))
	}
	if r.ContentLength > h.maxBody {
		return nil, tooLarge(), false
	}
	rd := http.MaxBytesReader(w, r.Body, h.maxBody)
	var body []byte
	var err error
	if r.ContentLength > 0 {
		body = make([]byte, r.ContentLength)
		var n int
		n, err = io.ReadFull(rd, body)
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("the body ended after %d of %d bytes", n, r.ContentLength)
		}
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge(), false
		}
		return nil, errorResponse(http.StatusBadRequest, CodeInvalidMessage, "reading the body: "+err.Error()), false
	}
	return body, response{}, true
}

// call runs fn and turns its outcome into a response.
func (h *handler) call(ctx context.Context, m *dispatch.Message) response {
	if h.fn == nil {
		return errorResponse(http.StatusInternalServerError, CodeAgentError, "no function to handle actions")
	}
	evs, err := h.fn(ctx, m)
	if err != nil {
		if dispatch.IsPermanent(err) {
			return errorResponse(http.StatusUnprocessableEntity, CodeRejected, err.Error())
		}
		return errorResponse(http.StatusInternalServerError, CodeAgentError, err.Error())
	}
	b := make([]byte, 0, 256*len(evs)+2)
	b = append(b, '[')
	for i, e := range evs {
		if e == nil {
			return errorResponse(http.StatusInternalServerError, CodeAgentError, "event "+strconv.Itoa(i)+" is nil")
		}
		c := *e // do not change the caller's event
		if err := checkEvent(&c); err != nil {
			return errorResponse(http.StatusInternalServerError, CodeAgentError, "event "+strconv.Itoa(i)+": "+err.Error())
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = c.AppendJSON(b)
	}
	b = append(b, ']')
	return response{status: http.StatusOK, body: b}
}

func errorResponse(status int, code, msg string) response {
	var v struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	v.Error.Code, v.Error.Message = code, msg
	b, _ := json.Marshal(&v) // strings only: cannot fail
	return response{status: status, body: b}
}

func writeResponse(w http.ResponseWriter, resp response) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}
