package api

import (
	"encoding/json"
	"net/http"

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
	if withRaw {
		v.Raw = json.RawMessage("null")
		if len(s.Raw) > 0 {
			v.Raw = s.Raw
		}
	}
	return v
}

// handleSignalList serves the feed (no time filter: ingestion order,
// gapless, always a next_cursor) and time-range queries (timestamp order,
// next_cursor null when exhausted).
func handleSignalList(d *db.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		f := db.SignalFilter{
			Source:       q.str("source", 64),
			Kind:         q.str("kind", 64),
			ConnectionID: q.uuid("connection_id"),
			Since:        q.time("since"),
			Until:        q.time("until"),
			Cursor:       q.str("cursor", 512),
			Limit:        q.limit(),
		}
		if f.Since != nil && f.Until != nil && !f.Until.After(*f.Since) {
			q.problems["until"] = "must be after since"
		}
		if err := q.err(); err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		var rows []db.Signal
		var next string
		err := d.WithTenant(r.Context(), principalOf(r).tenantID, func(tx *db.Tx) (err error) {
			rows, next, err = tx.ListSignals(r.Context(), f)
			return err
		})
		if err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		out := make([]signalJSON, 0, len(rows))
		for i := range rows {
			out = append(out, signalView(&rows[i], false))
		}
		writeJSON(w, http.StatusOK, map[string]any{"signals": out, "next_cursor": nullable(next)})
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
