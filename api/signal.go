package api

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

type signalJSON struct {
	ID           string          `json:"id"`
	Source       string          `json:"source"`
	Kind         string          `json:"kind"`
	Timestamp    string          `json:"timestamp"`
	Payload      json.RawMessage `json:"payload"`
	ConnectionID string          `json:"connection_id"`
	IngestedAt   string          `json:"ingested_at"`
	Raw          json.RawMessage `json:"raw,omitempty"`
}

func signalView(s *db.Signal, withRaw bool) signalJSON {
	v := signalJSON{ID: s.ID, Source: s.Source, Kind: s.Kind, Timestamp: rfc3339(s.OccurredAt), Payload: s.Payload,
		ConnectionID: s.ConnectionID, IngestedAt: rfc3339(s.IngestedAt)}
	// raw is always there (x-omitempty: false): the object while retention
	// keeps it when one Signal is read, null afterwards and in lists.
	v.Raw = json.RawMessage("null")
	if withRaw && len(s.Raw) > 0 {
		v.Raw = s.Raw
	}
	return v
}

// FeedWaiter is what a long poll on the feed waits with (db.FeedNotifier):
// Wait calls read again whenever a Signal of the tenant may have become
// visible, until read finds something, the wait ends or ctx ends; check
// runs before each read and whenever an API key was revoked, and its
// error ends the wait.
type FeedWaiter interface {
	Wait(ctx context.Context, tenantID string, wait time.Duration, check func() error, read func() (db.FeedRead, error)) error
}

// MaxFeedWait caps the feed's wait parameter (the feed's deadline,
// Timeouts.Feed, leaves room for it).
const MaxFeedWait = 60 * time.Second

var waitRe = regexp.MustCompile(`^([0-9]{1,5})(ms|s)$`)

// feedWait reads the wait parameter: a duration in s or ms, at most
// MaxFeedWait; absent is 0 (answer at once).
func feedWait(q *query) time.Duration {
	v, ok := q.value("wait")
	if !ok {
		return 0
	}
	bad := "must be a duration in seconds or milliseconds, at most 60s (e.g. 30s, 500ms)"
	m := waitRe.FindStringSubmatch(v)
	if m == nil {
		q.problems["wait"] = bad
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	d := time.Duration(n) * time.Second
	if m[2] == "ms" {
		d = time.Duration(n) * time.Millisecond
	}
	if d > MaxFeedWait {
		q.problems["wait"] = bad
		return 0
	}
	return d
}

// handleSignalList serves the feed (no time filter: ingestion order,
// gapless, always a next_cursor) and time-range queries (timestamp order,
// next_cursor null when exhausted). With wait, a feed page that would be
// empty waits up to that long for a Signal to become visible (long
// polling, woken through feed, which holds no connection per waiter); a
// key revoked meanwhile ends the wait with 401 (reauth).
func handleSignalList(d *db.DB, feed FeedWaiter, reauth func(*http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		f := db.SignalFilter{
			Source:       q.matching("source", providerRe, "a provider name such as slack or google-drive"),
			Kind:         q.matching("kind", kindRe, "a Signal kind such as message.posted"),
			ConnectionID: q.uuid("connection_id"),
			Cursor:       q.boundCursor(512),
			Limit:        q.limit(),
			// Retracted Signals (a deleted Slack message) are hidden
			// unless asked for.
			IncludeRetracted: q.boolean("include_retracted"),
		}
		f.Since, f.Until = q.timeRange()
		_, waitGiven := q.values["wait"]
		wait := feedWait(q)
		if waitGiven && (f.Since != nil || f.Until != nil) {
			q.problems["wait"] = "applies to the feed only, not with since or until"
		}
		if err := q.err(); err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		var rows []db.Signal
		var next string
		tenant := principalOf(r).tenantID
		var err error
		switch {
		case wait > 0 && feed != nil:
			// Long polling (the feed only): each read also says whether
			// the feed horizon holds rows back, so the wait reads again
			// soon instead of waiting for a notification. The key was
			// checked once, on arrival: it is checked again before each
			// read and on every revocation (from the key cache while it
			// holds the key), so a key revoked while its request waits
			// reads nothing stored afterwards.
			check := func() error { return reauth(r) }
			err = feed.Wait(r.Context(), tenant, wait, check, func() (db.FeedRead, error) {
				p, err := d.ListFeedWaiting(r.Context(), tenant, f)
				rows, next = p.Signals, p.Next
				return db.FeedRead{Found: len(rows) > 0, HeldBack: p.HeldBack}, err
			})
		case f.Since == nil && f.Until == nil:
			rows, next, err = d.ListFeed(r.Context(), tenant, f) // the feed in one round trip
		default:
			err = d.WithTenant(r.Context(), tenant, func(tx *db.Tx) (err error) {
				rows, next, err = tx.ListSignals(r.Context(), f)
				return err
			})
		}
		if err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		writeSignalPage(w, rows, nullable(bindCursor(r, next)))
	})
}

func handleSignalGet(d *db.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		if !isUUID(id) {
			writeError(w, r, logOf(r), poblysh.NotFound("signal"))
			return
		}
		var s *db.Signal
		err := d.WithTenant(r.Context(), principalOf(r).tenantID, func(tx *db.Tx) (err error) {
			s, err = tx.FindSignal(r.Context(), id)
			return err
		})
		if err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		writeJSON(w, http.StatusOK, signalView(s, true))
	})
}
