package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Position is where a published event landed.
type Position struct {
	ID             string // the event id
	Stream         string // the stream it was appended to
	StreamPosition uint64 // its position within Stream
	GlobalPosition uint64 // its position in the whole log
}

// A PublishOption sets a parameter of Publish and PublishBatch.
type PublishOption func(*publishParams)

type publishParams struct {
	stream   string
	expected store.ExpectedVersion
}

// WithStream appends the events to stream. Without it the server uses the
// first event's correlation id.
func WithStream(stream string) PublishOption {
	return func(p *publishParams) { p.stream = stream }
}

// WithExpectedVersion makes the append conditional on the stream's
// version: store.NoStream, store.Exact(v) or store.Any (the default).
// A mismatch fails with an *Error whose code is wrong_expected_version
// (errors.Is(err, store.ErrWrongVersion)).
func WithExpectedVersion(v store.ExpectedVersion) PublishOption {
	return func(p *publishParams) { p.expected = v }
}

func (p *publishParams) query() url.Values {
	q := url.Values{}
	if p.stream != "" {
		q.Set("stream", p.stream)
	}
	switch {
	case p.expected == store.NoStream:
		q.Set("expected_version", "no_stream")
	case p.expected >= 0:
		q.Set("expected_version", strconv.FormatInt(int64(p.expected), 10))
	}
	return q
}

// Publish appends one event. An event without an id or correlation id is
// given them first, in place (event.Fill), so that retrying a Publish
// whose answer was lost cannot append the event twice: the server answers
// a repeat with the first positions.
func (c *Client) Publish(ctx context.Context, e *event.Event, opts ...PublishOption) ([]Position, error) {
	if e == nil {
		return nil, errors.New("client: Publish of a nil event")
	}
	e.Fill()
	return c.publish(ctx, "application/cloudevents+json", e.AppendJSON(nil), 1, opts)
}

// PublishBatch appends events to one stream as one atomic batch: all or
// none. Events are completed in place as by Publish.
func (c *Client) PublishBatch(ctx context.Context, events []*event.Event, opts ...PublishOption) ([]Position, error) {
	body := make([]byte, 0, 256*len(events)+2)
	body = append(body, '[')
	for i, e := range events {
		if e == nil {
			return nil, errors.New("client: PublishBatch of a nil event")
		}
		e.Fill()
		if i > 0 {
			body = append(body, ',')
		}
		body = e.AppendJSON(body)
	}
	body = append(body, ']')
	return c.publish(ctx, "application/cloudevents-batch+json", body, len(events), opts)
}

func (c *Client) publish(ctx context.Context, contentType string, body []byte, n int, opts []PublishOption) ([]Position, error) {
	p := publishParams{expected: store.Any}
	for _, o := range opts {
		o(&p)
	}
	req, err := c.newRequest(ctx, http.MethodPost, "/v1/events", p.query(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	b, err := c.do(req)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Events []struct {
			ID             string `json:"id"`
			Stream         string `json:"stream"`
			StreamPosition uint64 `json:"stream_position"`
			GlobalPosition uint64 `json:"global_position"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, protocolError("decoding the positions: %v", err)
	}
	if len(doc.Events) != n {
		return nil, protocolError("%d positions for %d events", len(doc.Events), n)
	}
	pos := make([]Position, n)
	for i, d := range doc.Events {
		pos[i] = Position{ID: d.ID, Stream: d.Stream, StreamPosition: d.StreamPosition, GlobalPosition: d.GlobalPosition}
	}
	return pos, nil
}

// ReadAll returns up to limit records of the log from global position
// from on, and the position to read the next page from. The server caps
// limit at 1000; zero or less asks for its default page (100).
func (c *Client) ReadAll(ctx context.Context, from uint64, limit int) ([]store.Record, uint64, error) {
	return c.readPage(ctx, "/v1/events", from, limit)
}

// ReadStream returns up to limit records of stream from stream position
// from on, and the stream position to read the next page from. An unknown
// stream reads as empty.
func (c *Client) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]store.Record, uint64, error) {
	if stream == "" {
		return nil, 0, errors.New("client: ReadStream of an empty stream name")
	}
	return c.readPage(ctx, "/v1/streams/"+url.PathEscape(stream), from, limit)
}

func (c *Client) readPage(ctx context.Context, path string, from uint64, limit int) ([]store.Record, uint64, error) {
	q := url.Values{}
	if from > 0 {
		q.Set("from", strconv.FormatUint(from, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	req, err := c.newRequest(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, 0, err
	}
	b, err := c.do(req)
	if err != nil {
		return nil, 0, err
	}
	var doc struct {
		Events []json.RawMessage `json:"events"`
		Next   *uint64           `json:"next"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, 0, protocolError("decoding the page: %v", err)
	}
	if doc.Next == nil {
		return nil, 0, protocolError("the page has no next position")
	}
	recs := make([]store.Record, len(doc.Events))
	for i, raw := range doc.Events {
		if recs[i], err = DecodeRecord(raw); err != nil {
			return nil, 0, err
		}
	}
	return recs, *doc.Next, nil
}

// Get returns the record of the event with id. An unknown id is an *Error
// with code not_found (errors.Is(err, store.ErrNotFound)).
func (c *Client) Get(ctx context.Context, id string) (store.Record, error) {
	if id == "" {
		return store.Record{}, errors.New("client: Get of an empty id")
	}
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return store.Record{}, err
	}
	b, err := c.do(req)
	if err != nil {
		return store.Record{}, err
	}
	return DecodeRecord(b)
}
