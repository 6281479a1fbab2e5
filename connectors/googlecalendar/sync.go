package googlecalendar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	calendar "google.golang.org/api/calendar/v3"
	"google.golang.org/api/option"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// Cursor is the stored position in a calendar's events stream.
//
//	{}                                          start of a full sync
//	{"page_token": "P", "time_min": "T"}        in the middle of a full sync of events ending after T
//	{"sync_token": "S", "page_token": "P"}      in the middle of an incremental pass
//	{"sync_token": "S"}                         at rest: the next pass is incremental
//
// Google returns nextSyncToken only on the last page of a pass, so a pass
// that crashes resumes from its page token and the resting cursor holds
// only the new sync token. A full sync keeps the timeMin of its first page
// so that every page of the pass asks the same question ({"page_token": "P"}
// alone is a full sync stored before windows existed: it ends unbounded).
// A cursor in the middle of a pass may also hold "held": cancelled
// occurrences read before their series (see holdCancel), and "new_series"
// (or "many_new_series": true): the recurring series it read without
// remembering them (see passSeries).
type Cursor struct {
	SyncToken string `json:"sync_token,omitempty"`
	PageToken string `json:"page_token,omitempty"`
	TimeMin   string `json:"time_min,omitempty"`
	// Held are the Signals of id-only cancelled occurrences this pass read
	// before their series, waiting to be named after it. Never at rest;
	// absent from cursors stored before 2026-12-07 (none held).
	Held []heldCancel `json:"held,omitempty"`
	// NewSeries are the ids of the recurring series this pass read that
	// the connection did not remember: an exception of one read on a later
	// page is a first sight too, not an edit (see recall). Never at rest;
	// absent from cursors stored before 2026-12-07 (then none).
	NewSeries []string `json:"new_series,omitempty"`
	// ManyNewSeries: the pass read more than maxNewSeries of them and no
	// longer names them; every exception it reads from then on that the
	// connection never saw is a first sight.
	ManyNewSeries bool `json:"many_new_series,omitempty"`
}

// heldCancel is a cancelled occurrence's Signal waiting for its series,
// with the fingerprint written when the Signal is: a pass whose cursor is
// lost (410 mid-pass) derives the cancellation again.
type heldCancel struct {
	Series      string                 `json:"series"`
	Signal      connectors.Signal      `json:"signal"`
	Fingerprint connectors.Fingerprint `json:"fingerprint"`
}

// maxHeldCancellations bounds the cancelled occurrences a pass holds
// (Cursor.Held): each is the Signal of an event Google sends as its id,
// series and original start, well under 1 KB of cursor.
const maxHeldCancellations = 50

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
	for _, h := range c.Held {
		if !h.wellFormed() {
			return Cursor{}, fmt.Errorf("google-calendar: %w: stored cursor holds a malformed cancellation", connectors.ErrCursorExpired)
		}
	}
	return c, nil
}

// wellFormed reports a held cancellation as holdCancel stores it.
func (h heldCancel) wellFormed() bool {
	s := h.Signal
	return h.Series != "" && s.Kind == KindCancelled && s.DedupeKey != "" && s.Payload.Subject.ID != "" &&
		s.Payload.Attributes != nil && h.Fingerprint.SignalKey == s.DedupeKey
}

func (c Cursor) encode() (json.RawMessage, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("google-calendar: encode cursor: %w", err)
	}
	return b, nil
}

// FetchPage reads one page of events.list for the stream's calendar.
//
// Every call sends singleEvents=false (recurring series and their exceptions
// as stored, not expanded instances) and showDeleted=true: incremental passes
// always include deleted events and Google asks that the other parameters
// match the initial sync. The initial (full) sync sends timeMin = now minus
// the connection's backfill_days (default 30) and no timeMax: events that
// ended before the window are skipped, future ones are all read. Google
// refuses timeMin together with a syncToken, so incremental passes send
// none and return every change since the token. A 410 GONE (sync token
// expired) surfaces as connectors.ErrCursorExpired; the engine then clears
// the cursor and runs this full sync again, which re-derives the same
// dedupe keys.
//
// Whether a changed event is a Signal depends on what the connection saw
// before (req.Memory): see normalizeEvent and recall. events.list's order
// is "unspecified, stable", so a cancelled occurrence may come pages before
// its series: its Signal waits in the cursor for the series (holdCancel).
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	calID, err := calendarOfStream(req.Stream)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(req.Connection.Config)
	if err != nil {
		return nil, fmt.Errorf("google-calendar: connection config: %w", err)
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
	switch {
	case cur.SyncToken != "":
		call = call.SyncToken(cur.SyncToken)
	case cur.PageToken == "":
		// A new full sync: its window is fixed here for all its pages.
		cur.TimeMin = req.Now.UTC().AddDate(0, 0, -cfg.backfillDays()).Format(time.RFC3339)
		call = call.TimeMin(cur.TimeMin)
	case cur.TimeMin != "":
		call = call.TimeMin(cur.TimeMin)
	}
	// A full sync stored mid-pass before windows existed has a page token
	// and no time_min: it ends as it started, unbounded.
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
	if err := json.Unmarshal(capture.Body(), &body); err != nil || len(body.Items) != len(resp.Items) {
		return nil, fmt.Errorf("google-calendar: list events of %s: %w: unreadable response body", calID, connectors.ErrTransient)
	}

	cal := calendarRef{ID: canonicalCalendar(req.Connection, calID), Key: calendarKey(req.Connection, calID), Name: resp.Summary}
	events := make([]*decoded, 0, len(body.Items))
	for _, raw := range body.Items {
		d, err := decodeEvent(cal, raw)
		if err != nil {
			return nil, err
		}
		events = append(events, d)
	}
	priors, err := recall(ctx, req.Memory, cal, events, cur.isNewSeries)
	if err != nil {
		return nil, err
	}
	seriesOnPage(cal, events, priors)
	newSeries, manyNewSeries := passSeries(cur, events, priors)
	page := &connectors.Page{Items: len(body.Items), Fingerprints: map[string]connectors.Fingerprint{}}
	more := resp.NextPageToken != ""
	held := releaseHeld(cal, page, cur.Held, seriesListed(cal, events, priors))
	for i, d := range events {
		sigs, fp := normalizeEvent(cal, d, priors[i], req.Now)
		if more && len(sigs) == 1 && waitsForSeries(d, priors[i]) {
			held = holdCancel(cal, page, held, heldCancel{Series: d.ev.RecurringEventId, Signal: sigs[0], Fingerprint: fp})
			continue
		}
		page.Signals = append(page.Signals, sigs...)
		if was := priors[i].fp; was == nil || *was != fp {
			page.Fingerprints[eventKey(cal.key(), d.ev.Id)] = fp // only what changed is written
		}
	}
	if !more {
		for _, h := range held {
			emitHeld(cal, page, h) // the pass ends: as they are
		}
		held = nil
	}
	next := Cursor{SyncToken: cur.SyncToken}
	switch {
	case more:
		next = Cursor{SyncToken: cur.SyncToken, PageToken: resp.NextPageToken, TimeMin: cur.TimeMin, Held: held,
			NewSeries: newSeries, ManyNewSeries: manyNewSeries}
	case resp.NextSyncToken != "":
		next, page.Done = Cursor{SyncToken: resp.NextSyncToken}, true
	default:
		// Neither token (not expected): keep the previous sync token; with
		// none, the next pass is a full sync again, which stores nothing
		// twice.
		page.Done = true
	}
	if page.Next, err = next.encode(); err != nil {
		return nil, err
	}
	return page, nil
}

// waitsForSeries reports a cancelled occurrence sent as its id, series and
// original start whose series nothing names yet: neither a stored Signal
// nor the same page.
func waitsForSeries(d *decoded, p prior) bool {
	return idOnlyCancel(d) && d.ev.RecurringEventId != "" && p.last == nil
}

// seriesListed maps each event of a page to the payload a cancelled
// occurrence of it takes: the event itself, else (an id-only cancellation)
// its last stored Signal, else nil (listed, but nothing names it).
func seriesListed(cal calendarRef, events []*decoded, priors []prior) map[string]*connectors.Payload {
	out := make(map[string]*connectors.Payload, len(events))
	for i, d := range events {
		if idOnlyCancel(d) {
			out[d.ev.Id] = priors[i].last
			continue
		}
		p := eventPayload(cal, d)
		out[d.ev.Id] = &p
	}
	return out
}

// releaseHeld emits onto page the held cancellations whose series the
// page lists, named after it, and returns those still waiting.
func releaseHeld(cal calendarRef, page *connectors.Page, held []heldCancel, listed map[string]*connectors.Payload) []heldCancel {
	var wait []heldCancel
	for _, h := range held {
		series, ok := listed[h.Series]
		if !ok {
			wait = append(wait, h)
			continue
		}
		if series != nil {
			fillFromLast(&h.Signal.Payload, series)
		}
		emitHeld(cal, page, h)
	}
	return wait
}

// holdCancel keeps h in the pass until its series is listed or the pass
// ends, in place of an earlier listing of the same occurrence. Past
// maxHeldCancellations the one held longest is emitted onto page now, as
// it is ("(no title)").
func holdCancel(cal calendarRef, page *connectors.Page, held []heldCancel, h heldCancel) []heldCancel {
	held = slices.DeleteFunc(held, func(o heldCancel) bool { return o.Signal.DedupeKey == h.Signal.DedupeKey })
	held = append(held, h)
	if len(held) > maxHeldCancellations {
		emitHeld(cal, page, held[0])
		held = held[1:]
	}
	return held
}

// emitHeld adds a held cancellation and its fingerprint to page.
func emitHeld(cal calendarRef, page *connectors.Page, h heldCancel) {
	page.Signals = append(page.Signals, h.Signal)
	page.Fingerprints[eventKey(cal.key(), h.Signal.Payload.Subject.ID)] = h.Fingerprint
}

// recall reads what the connection remembers of a page's events, in two
// queries: their fingerprints and their series', then the stored Signals
// that an id-only cancellation takes its title from (the event's last
// Signal), that tell an event seen before fingerprints existed (its
// created Signal), that an exception of a remembered series is compared
// with (the series' last Signal) and that tell a cancellation of an event
// remembered live, by a connection that saw it cancelled before, from its
// first (the first cancellation's Signal). A
// series counts as remembered when it was before this pass: newSeries
// reports those the pass read first. Without a memory every event is new.
func recall(ctx context.Context, mem connectors.Memory, cal calendarRef, events []*decoded, newSeries func(id string) bool) ([]prior, error) {
	out := make([]prior, len(events))
	if mem == nil || len(events) == 0 {
		return out, nil
	}
	keys := make([]string, len(events))
	series := make([]string, len(events)) // an occurrence's series, or ""
	ask := make([]string, 0, len(events))
	for i, d := range events {
		keys[i] = eventKey(cal.key(), d.ev.Id)
		ask = append(ask, keys[i])
		if d.ev.RecurringEventId != "" && (idOnlyCancel(d) || d.ev.Status != "cancelled") {
			series[i] = eventKey(cal.key(), d.ev.RecurringEventId)
			ask = append(ask, series[i])
		}
	}
	fps, err := mem.Fingerprints(ctx, ask)
	if err != nil {
		return nil, fmt.Errorf("google-calendar: read fingerprints: %w", err)
	}
	lookup := make([]string, len(events))       // the stored Signal to read per event, or ""
	seriesLookup := make([]string, len(events)) // its series' last Signal, or ""
	firstCancel := make([]string, len(events))  // its first cancellation's key, or ""
	var want []string
	for i, d := range events {
		fp, seen := fps[keys[i]]
		if seen {
			out[i].fp = &fp
		}
		sfp, seriesSeen := fps[series[i]]
		if !seen && seriesSeen && !idOnlyCancel(d) && !newSeries(d.ev.RecurringEventId) {
			// A new exception of a series remembered before this pass:
			// one of its occurrences was edited (see normalizeEvent).
			out[i].series = &sfp
			seriesLookup[i] = sfp.SignalKey
			want = append(want, sfp.SignalKey)
		}
		switch {
		case idOnlyCancel(d) && seen:
			lookup[i] = fp.SignalKey
		case idOnlyCancel(d) && seriesSeen:
			// A cancelled occurrence of a recurring event, never seen on
			// its own (Google sends only id, recurringEventId,
			// originalStartTime and status): its title, actor and link
			// are the series'.
			lookup[i] = sfp.SignalKey
		case !seen:
			lookup[i] = keys[i] + ":created"
		}
		if lookup[i] != "" {
			want = append(want, lookup[i])
		}
		if d.ev.Status == "cancelled" && sawCancelled(out[i].fp, keys[i]) && !strings.HasPrefix(fp.SignalKey, keys[i]+":cancelled") {
			// Cancelled, remembered live, and seen cancelled before by
			// this connection: one after a restore if the first is
			// stored. (A connection that never saw it cancelled sees its
			// first cancellation, even when a sibling connection stored
			// it already.)
			firstCancel[i] = keys[i] + ":cancelled"
			want = append(want, firstCancel[i])
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	stored, err := mem.Signals(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("google-calendar: read stored Signals: %w", err)
	}
	for i := range events {
		if p, ok := stored[lookup[i]]; ok && lookup[i] != "" {
			out[i].last = &p
			out[i].legacy = out[i].fp == nil
		}
		if p, ok := stored[seriesLookup[i]]; ok && seriesLookup[i] != "" {
			out[i].seriesLast = &p
		}
		if firstCancel[i] != "" {
			_, out[i].cancelled = stored[firstCancel[i]]
		}
	}
	return out, nil
}

// seriesOnPage gives an id-only cancelled occurrence whose series nothing
// remembers yet the series' payload when the series is on the same page
// (a backfill reads both at once), and a new exception of a remembered
// series the series as the page lists it (its state now).
func seriesOnPage(cal calendarRef, events []*decoded, out []prior) {
	byID := map[string]*decoded{}
	for _, d := range events {
		byID[d.ev.Id] = d
	}
	for i, d := range events {
		s, ok := byID[d.ev.RecurringEventId]
		if !ok || d.ev.RecurringEventId == "" || idOnlyCancel(s) {
			continue
		}
		switch {
		case out[i].last == nil && idOnlyCancel(d):
			p := eventPayload(cal, s)
			out[i].last = &p
		case out[i].series != nil:
			p := eventPayload(cal, s)
			out[i].seriesLast = &p
		}
	}
}

// idOnlyCancel reports a cancellation that carries no title, which Google
// sends for deleted events and cancelled occurrences alike.
func idOnlyCancel(d *decoded) bool {
	return d.ev.Status == "cancelled" && strings.TrimSpace(d.ev.Summary) == ""
}

// service builds a Calendar client on the engine's authorized, paced and
// classifying client. With capture, the raw body of the last response is
// kept so Signals carry each event exactly as Google sent it.
func (c *Connector) service(ctx context.Context, hc *http.Client, capture bool) (*calendar.Service, *google.BodyCapture, error) {
	if hc == nil {
		return nil, nil, fmt.Errorf("google-calendar: no HTTP client")
	}
	var bc *google.BodyCapture
	if capture {
		hc, bc = google.Capture(hc)
	}
	svc, err := calendar.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(c.Config.Endpoints.APIURL))
	if err != nil {
		return nil, nil, fmt.Errorf("google-calendar: calendar client: %w", err)
	}
	return svc, bc, nil
}
