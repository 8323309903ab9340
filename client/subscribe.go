package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/choreohq/choreo/store"
)

// Filter selects the records of a subscription. The zero value selects
// every record.
type Filter struct {
	Types       []string // any of these event types; none means every type
	Stream      string   // only this stream; "" means every stream
	Correlation string   // only this correlation id; "" means every correlation
}

func (f Filter) query(from uint64) url.Values {
	q := url.Values{}
	if from > 0 {
		q.Set("from", strconv.FormatUint(from, 10))
	}
	for _, t := range f.Types {
		q.Add("type", t)
	}
	if f.Stream != "" {
		q.Set("stream", f.Stream)
	}
	if f.Correlation != "" {
		q.Set("correlation", f.Correlation)
	}
	return q
}

// Subscribe follows the log from global position from on: first the
// records already there, then new ones as they are appended, each once, in
// log order, those f selects.
//
// When the connection drops, or the server answers 5xx, it reconnects
// with a growing pause and resumes after the last record it yielded (with
// Last-Event-ID), so no record is lost or repeated. It yields an error
// only when it stops: ctx ended (ctx.Err()), the server refused the
// request (an *Error with a 4xx status), a record could not be read, or
// the reconnection attempts allowed by WithReconnect ran out. Breaking
// out of the loop closes the connection.
func (c *Client) Subscribe(ctx context.Context, from uint64, f Filter) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		var (
			last     uint64 // global position of the last record yielded
			haveLast bool
			failures int
			backoff  = c.minBackoff
		)
		for {
			body, err := c.openSubscription(ctx, from, last, haveLast, f)
			if err == nil {
				failures, backoff = 0, c.minBackoff
				var stopped bool
				stopped, err = readStream(body, c.maxResponse, func(rec store.Record) bool {
					last, haveLast = rec.GlobalPosition, true
					return yield(rec, nil)
				})
				body.Close() // a stream is not drained: its connection is not reused
				if stopped {
					return
				}
				if err == nil {
					err = io.ErrUnexpectedEOF // the server ended the stream
				}
			}
			if ctx.Err() != nil {
				yield(store.Record{}, ctx.Err())
				return
			}
			var ae *Error
			if errors.As(err, &ae) && ae.final() || errors.Is(err, ErrProtocol) || errors.Is(err, ErrResponseTooLarge) {
				yield(store.Record{}, err)
				return
			}
			failures++
			if c.reconnects > 0 && failures > c.reconnects {
				yield(store.Record{}, fmt.Errorf("client: subscription: giving up after %d attempts: %w", failures, err))
				return
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				yield(store.Record{}, ctx.Err())
				return
			case <-t.C:
			}
			backoff = min(2*backoff, c.maxBackoff)
		}
	}
}

// openSubscription sends the subscription request and returns the body of
// the event stream.
func (c *Client) openSubscription(ctx context.Context, from, last uint64, haveLast bool, f Filter) (io.ReadCloser, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/subscribe", f.query(from), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if haveLast {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(last, 10))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		closeBody(resp.Body)
		return nil, apiError(resp, b)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		closeBody(resp.Body)
		return nil, protocolError("the subscription answered with Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return resp.Body, nil
}

// readStream reads server-sent events from r and hands each record to
// yield, until r ends or fails (the error), or yield returns false
// (stopped). maxLine bounds a line.
func readStream(r io.Reader, maxLine int64, yield func(store.Record) bool) (stopped bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		data    []byte // the event's data lines, joined with '\n'
		hasData bool
		line    []byte
	)
	for {
		line, err = readLine(br, line[:0], maxLine)
		if err != nil {
			return false, err
		}
		if len(line) == 0 { // a blank line dispatches the event
			if hasData {
				rec, err := DecodeRecord(data)
				if err != nil {
					return false, err
				}
				if !yield(rec) {
					return true, nil
				}
			}
			data, hasData = data[:0], false
			continue
		}
		if line[0] == ':' {
			continue // a comment: heartbeat
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(field) == "data" {
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
			if int64(len(data)) > maxLine {
				return false, fmt.Errorf("%w: an event of the subscription is over %d bytes", ErrResponseTooLarge, maxLine)
			}
		}
		// id is also in the record (global_position); event and retry are
		// not needed.
	}
}

// readLine reads one line into dst, without its line ending.
func readLine(br *bufio.Reader, dst []byte, max int64) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		dst = append(dst, chunk...)
		if int64(len(dst)) > max+2 {
			return nil, fmt.Errorf("%w: a line of the subscription is over %d bytes", ErrResponseTooLarge, max)
		}
		switch err {
		case nil:
			dst = dst[:len(dst)-1]
			if n := len(dst); n > 0 && dst[n-1] == '\r' {
				dst = dst[:n-1]
			}
			return dst, nil
		case bufio.ErrBufferFull:
			continue
		default:
			return nil, err
		}
	}
}
