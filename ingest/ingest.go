// Package ingest stores connector Signals: the one path from what a
// connector produced to rows in Postgres, shared by the webhook intake and
// the sync page activity. It converts Signals to rows (refusing incomplete
// ones), inserts them idempotently for a connection, and counts what was
// stored, what was a duplicate and, for pushed Signals, how late they
// arrived.
//
// There is no Signal filter here: routing decides which connections a
// delivery reaches (only resources they proved), and connectors normalize
// only what their config selects.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/metrics"
)

// ErrIncomplete is a Signal without kind, dedupe key or timestamp: a
// connector bug that no retry fixes.
var ErrIncomplete = errors.New("connector produced a Signal without kind, dedupe key or timestamp")

// Batch is one delivery's or one page's Signals from one provider, ready
// to store for each connection they reach.
type Batch struct {
	Provider string
	Rows     []db.NewSignal
	// Retracts is the provider's connectors.Spec.Retracts: a store of the
	// batch is followed, once committed, by Reapply.
	Retracts bool
}

// NewBatch converts connector Signals for storage: times in UTC, payloads
// as JSON with attributes never null, raw provider payloads kept only when
// they are valid JSON, and every text cleaned for Postgres (no NUL, valid
// UTF-8; see db.CleanText).
func NewBatch(provider string, in []connectors.Signal) (*Batch, error) {
	rows, err := Rows(in)
	if err != nil {
		return nil, err
	}
	return &Batch{Provider: provider, Rows: rows}, nil
}

// Earliest and Latest bound the times a Signal's timestamp can hold: the
// years RFC 3339 can write (the feed's format), well inside Postgres's
// timestamptz range (4713 BC to 294276 AD), at the microseconds Postgres
// keeps. (Latest was 9999-12-31T23:59:59.999999999Z: a time in the last
// half microsecond of 9999 was kept and rounded on insert to year 10000.)
var (
	Earliest = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	Latest   = time.Date(9999, time.December, 31, 23, 59, 59, 999_999_000, time.UTC)
)

// Rows converts connector Signals to rows (NewBatch without a provider).
//
// A time outside Earliest–Latest (a provider's epoch milliseconds of
// 99999999999999999, say) would fail the whole insert, so its page or
// delivery at every retry, and could not be written as RFC 3339: such a
// Signal is stored with the time it was converted instead, and its raw
// object keeps the provider's value. The bounds hold for the time stored:
// a time is checked as the insert rounds it, to microseconds.
func Rows(in []connectors.Signal) ([]db.NewSignal, error) {
	out := make([]db.NewSignal, 0, len(in))
	var now time.Time
	for _, s := range in {
		if s.Kind == "" || s.DedupeKey == "" || s.OccurredAt.IsZero() {
			return nil, ErrIncomplete
		}
		at := s.OccurredAt.UTC()
		if stored := at.Round(time.Microsecond); stored.Before(Earliest) || stored.After(Latest) {
			if now.IsZero() {
				now = time.Now().UTC()
			}
			at = now
		}
		if s.Payload.Attributes == nil {
			s.Payload.Attributes = map[string]any{}
		}
		if strings.TrimSpace(s.Payload.Context.Name) == "" {
			// The contract names every context (architecture §6); a
			// provider that does not name one (a Zoho Mail mailbox Zoho
			// gave no address for, a calendar without a summary) is named
			// by its id, as Slack and Zoho Cliq name theirs.
			s.Payload.Context.Name = s.Payload.Context.ID
		}
		payload, err := json.Marshal(s.Payload)
		if err != nil {
			return nil, err
		}
		payload, _ = db.CleanJSON(payload) // json.Marshal's output is JSON
		var raw []byte
		if len(s.Raw) > 0 {
			if r, ok := db.CleanJSON(s.Raw); ok {
				raw = r
			}
		}
		out = append(out, db.NewSignal{
			Kind: db.CleanText(s.Kind), OccurredAt: at, DedupeKey: db.CleanText(s.DedupeKey),
			AliasKeys: cleanKeys(s.AliasKeys), MatchKeys: cleanKeys(s.MatchKeys),
			Payload: payload, Raw: raw,
		})
	}
	return out, nil
}

// cleanKeys returns keys as Postgres text can hold them (nil stays nil).
func cleanKeys(keys []string) []string {
	if keys == nil {
		return nil
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = db.CleanText(k)
	}
	return out
}

// Store inserts the batch for one connection of tenantID in tx (a tenant's
// transaction, or the system scope's for the webhook intake). A Signal
// whose dedupe key or alias is already stored for the tenant is a
// duplicate, never an error. Count the result once tx has committed.
func (b *Batch) Store(ctx context.Context, tx *db.Tx, tenantID, connectionID string) (db.Stored, error) {
	return tx.InsertSignalsFor(ctx, tenantID, connectionID, b.Provider, b.Rows)
}

// Reapply re-applies, once a store of the batch for tenantID has
// committed, the retractions recorded for its keys
// (db.DB.ReapplyRetractions): one that committed while the store ran
// could not mark the rows the store had not committed yet (a Slack message
// deleted while the page that read it, or its own delivery, was being
// stored). extra are keys to re-apply with them (a delivery's own
// retractions). Nothing runs for a batch of a provider that never
// retracts, without extra keys.
func (b *Batch) Reapply(ctx context.Context, d *db.DB, tenantID string, extra []string) error {
	keys := extra
	if b.Retracts && len(b.Rows) > 0 {
		keys = make([]string, 0, len(b.Rows)+len(extra))
		for _, r := range b.Rows {
			keys = append(keys, r.DedupeKey)
		}
		keys = append(keys, extra...)
	}
	_, err := d.ReapplyRetractions(ctx, tenantID, b.Provider, keys)
	return err
}

// Count records a committed insert in metrics: Signals stored per kind and
// duplicates skipped.
func (b *Batch) Count(st db.Stored) {
	for _, k := range st.Kinds {
		metrics.SignalsStored.WithLabelValues(b.Provider, k).Inc()
	}
	if st.Duplicates > 0 {
		metrics.SignalDuplicates.WithLabelValues(b.Provider).Add(float64(st.Duplicates))
	}
}

// ObserveLag records, for pushed Signals, how long after the provider's
// event they were stored. Sync pages read history, whose age says nothing
// about the service: only the webhook intake calls it.
func (b *Batch) ObserveLag(now time.Time) {
	for _, r := range b.Rows {
		metrics.IngestLag.WithLabelValues(b.Provider).Observe(now.Sub(r.OccurredAt).Seconds())
	}
}
