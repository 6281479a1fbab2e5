package googlecalendar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	calendar "google.golang.org/api/calendar/v3"
	"google.golang.org/api/option"

	"github.com/poblysh/poblysh/connectors"
)

// maxPageBody bounds one events.list response (2500 full events fit easily).
const maxPageBody = 64 << 20

// Cursor is the stored position in a calendar's events stream.
//
//	{}                                        start of a full (unbounded) sync
//	{"page_token": "P"}                       in the middle of a full sync
//	{"sync_token": "S", "page_token": "P"}    in the middle of an incremental pass
//	{"sync_token": "S"}                       at rest: the next pass is incremental
//
// Google returns nextSyncToken only on the last page of a pass, so a pass
// that crashes resumes from its page token and the resting cursor holds
// only the new sync token.
type Cursor struct {
	SyncToken string `json:"sync_token,omitempty"`
	PageToken string `json:"page_token,omitempty"`
}

// decodeCursor reads a stored cursor; nil, "" and null are the start. A
// cursor that does not decode is treated as expired so the engine resyncs.
func decodeCursor(raw json.RawMessage) (Cursor, error) {
	var c Cursor
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return c, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Cursor{}, fmt.Errorf("google-calendar: %w: stored cursor does not decode", connectors.ErrCursorExpired)
	}
	return c, nil
}

func (c Cursor) encode() json.RawMessage {
	b, _ := json.Marshal(c) // two strings: cannot fail
	return b
}

// FetchPage reads one page of events.list for the stream's calendar.
//
// Every call sends singleEvents=false (recurring series and their exceptions
// as stored, not expanded instances) and showDeleted=true: incremental passes
// always include deleted events and Google asks that the other parameters
// match the initial sync. The initial sync has no syncToken and no
// timeMin/timeMax: a bounded listing cannot be continued with sync tokens, so
// a backfill reads the calendar's whole history. A 410 GONE (sync token
// expired) surfaces as connectors.ErrCursorExpired; the engine then clears
// the cursor and runs this full sync again, which re-derives the same dedupe
// keys.
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	calID, err := calendarOfStream(req.Stream)
	if err != nil {
		return nil, err
	}
	cur, err := decodeCursor(req.Cursor)
	if err != nil {
		return nil, err
	}
	svc, capture, err := c.service(ctx, req.HTTP, true)
	if err != nil {
		return nil, err
	}
	call := svc.Events.List(calID).
		SingleEvents(false).
		ShowDeleted(true).
		MaxResults(c.pageSize).
		Context(ctx)
	if cur.SyncToken != "" {
		call = call.SyncToken(cur.SyncToken)
	}
	if cur.PageToken != "" {
		call = call.PageToken(cur.PageToken)
	}
	resp, err := call.Do()
	if err != nil {
		return nil, fmt.Errorf("google-calendar: list events of %s: %w", calID, c.apiError(err))
	}
	var body struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(capture.body(), &body); err != nil || len(body.Items) != len(resp.Items) {
		return nil, fmt.Errorf("google-calendar: list events of %s: %w: unreadable response body", calID, connectors.ErrTransient)
	}

	cal := calendarRef{ID: canonicalCalendar(req.Connection, calID), Name: resp.Summary}
	page := &connectors.Page{Items: len(body.Items)}
	for _, raw := range body.Items {
		sigs, err := normalizeEvent(cal, raw, req.Now)
		if err != nil {
			return nil, err
		}
		page.Signals = append(page.Signals, sigs...)
	}
	switch {
	case resp.NextPageToken != "":
		page.Next = Cursor{SyncToken: cur.SyncToken, PageToken: resp.NextPageToken}.encode()
	case resp.NextSyncToken != "":
		page.Next, page.Done = Cursor{SyncToken: resp.NextSyncToken}.encode(), true
	default:
		// Neither token (not expected without timeMin): keep the previous
		// sync token; with none, the next pass is a full sync again, which
		// stores nothing twice.
		page.Next, page.Done = Cursor{SyncToken: cur.SyncToken}.encode(), true
	}
	return page, nil
}

// service builds a Calendar client on the engine's authorized, paced and
// classifying client. With capture, the raw body of the last response is
// kept so Signals carry each event exactly as Google sent it.
func (c *Connector) service(ctx context.Context, hc *http.Client, capture bool) (*calendar.Service, *bodyCapture, error) {
	if hc == nil {
		return nil, nil, fmt.Errorf("google-calendar: no HTTP client")
	}
	var bc *bodyCapture
	if capture {
		clone := *hc
		bc = &bodyCapture{base: hc.Transport}
		clone.Transport = bc
		hc = &clone
	}
	svc, err := calendar.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(c.cfg.Endpoints.APIURL))
	if err != nil {
		return nil, nil, fmt.Errorf("google-calendar: calendar client: %w", err)
	}
	return svc, bc, nil
}

// bodyCapture is a RoundTripper that reads each successful response body in
// full, keeps it, and hands the SDK an identical copy.
type bodyCapture struct {
	base http.RoundTripper
	mu   sync.Mutex
	last []byte
}

// RoundTrip implements http.RoundTripper.
func (b *bodyCapture) RoundTrip(req *http.Request) (*http.Response, error) {
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBody+1))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: reading body", req.Method, req.URL.Path, connectors.ErrTransient)
	}
	if len(data) > maxPageBody {
		return nil, fmt.Errorf("%s %s: %w: response larger than %d bytes", req.Method, req.URL.Path, connectors.ErrTransient, maxPageBody)
	}
	b.mu.Lock()
	b.last = data
	b.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

func (b *bodyCapture) body() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}
