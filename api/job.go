package api

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/engine"
)

type jobJSON struct {
	ID            string          `json:"id"`
	ConnectionID  string          `json:"connection_id"`
	Provider      string          `json:"provider"`
	Kind          string          `json:"kind"`
	Stream        string          `json:"stream"`
	Trigger       string          `json:"trigger"`
	Status        string          `json:"status"`
	CreatedAt     string          `json:"created_at"`
	StartedAt     *string         `json:"started_at"`
	FinishedAt    *string         `json:"finished_at"`
	Pages         int             `json:"pages"`
	SignalsStored int             `json:"signals_stored"`
	Duplicates    int             `json:"duplicates"`
	Error         *string         `json:"error"`
	ErrorContext  json.RawMessage `json:"error_context"`
	WorkflowID    string          `json:"workflow_id"`
	RunID         string          `json:"run_id"`
	TemporalUIURL string          `json:"temporal_ui_url"`
	Live          *engine.Live    `json:"live,omitempty"`
}

func jobView(e *engine.Engine, j *db.Job) jobJSON {
	v := jobJSON{
		ID: j.ID, ConnectionID: j.ConnectionID, Provider: j.Provider, Kind: string(j.Kind), Stream: j.Stream,
		Trigger: string(j.Trigger), Status: string(j.Status), CreatedAt: rfc3339(j.CreatedAt),
		StartedAt: rfc3339p(j.StartedAt), FinishedAt: rfc3339p(j.FinishedAt), Pages: j.Pages,
		SignalsStored: j.SignalsStored, Duplicates: j.Duplicates, Error: j.Error, ErrorContext: j.ErrorContext,
		WorkflowID: j.WorkflowID, RunID: j.RunID, TemporalUIURL: e.UILink(j.WorkflowID, j.RunID),
	}
	if len(v.ErrorContext) == 0 {
		v.ErrorContext = json.RawMessage("null")
	}
	return v
}

// handleSyncStart starts or joins a sync of one connection, or of every
// active connection of the provider, and answers 202 with the jobs.
func handleSyncStart(d Deps) http.Handler {
	type request struct {
		ConnectionID string           `json:"connection_id"`
		Mode         poblysh.SyncMode `json:"mode"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenantID := principalOf(r).tenantID
		p, err := providerFor(d.Registry, r)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		var req request
		if err := decodeJSON(w, r, d.MaxBodyBytes, &req, true); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if req.Mode == "" {
			req.Mode = poblysh.ModeIncremental
		}
		if !req.Mode.Valid() {
			writeError(w, r, d.Log, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "invalid mode",
				Details: map[string]string{"mode": "must be incremental or backfill"}})
			return
		}
		var conns []db.Connection
		if req.ConnectionID != "" {
			c, err := findConnection(r.Context(), d, tenantID, req.ConnectionID)
			if err == nil && c.Provider != p.Spec.Name {
				err = poblysh.NotFound("connection")
			}
			if err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			if !c.Active() {
				writeError(w, r, d.Log, inactiveConflict(c))
				return
			}
			conns = append(conns, *c)
		} else {
			var all []db.Connection
			err := d.DB.WithTenant(r.Context(), tenantID, func(tx *db.Tx) (err error) {
				all, err = tx.ListProviderConnections(r.Context(), p.Spec.Name)
				return err
			})
			if err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			if len(all) == 0 {
				writeError(w, r, d.Log, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: "no " + p.Spec.Name + " connection to sync"})
				return
			}
			for _, c := range all {
				if c.Active() {
					conns = append(conns, c)
				}
			}
			if len(conns) == 0 {
				writeError(w, r, d.Log, inactiveConflict(&all[0]))
				return
			}
		}
		out := []jobJSON{}
		for i := range conns {
			jobs, err := d.Engine.RequestSync(r.Context(), &conns[i], req.Mode, poblysh.TriggerManual)
			if err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			for j := range jobs {
				out = append(out, jobView(d.Engine, &jobs[j]))
			}
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"jobs": out})
	})
}

func inactiveConflict(c *db.Connection) error {
	msg := "connection " + c.ID + " is " + string(c.Health)
	if c.Paused {
		msg = "connection " + c.ID + " is paused; resume it with PATCH /api/v1/connections/" + c.ID
	} else if c.Health == poblysh.HealthNeedsReauth {
		msg += ": reconnect it with POST /api/v1/connect/" + c.Provider
	}
	return &poblysh.Error{Code: poblysh.ECONFLICT, Message: msg}
}

func handleJobList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		f := db.JobFilter{
			ConnectionID: q.uuid("connection_id"),
			Provider:     q.str("provider", 64),
			Kind:         q.enum("kind", "backfill", "incremental", "token_refresh", "watch_renewal"),
			Status:       q.enum("status", "queued", "running", "succeeded", "failed", "cancelled"),
			Since:        q.time("since"),
			Page:         db.Page{Cursor: q.str("cursor", 512), Limit: q.limit()},
		}
		if err := q.err(); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		var jobs []db.Job
		var next string
		err := d.DB.WithTenant(r.Context(), principalOf(r).tenantID, func(tx *db.Tx) (err error) {
			jobs, next, err = tx.ListJobs(r.Context(), f)
			return err
		})
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		out := make([]jobJSON, 0, len(jobs))
		for i := range jobs {
			out = append(out, jobView(d.Engine, &jobs[i]))
		}
		writeJSON(w, http.StatusOK, map[string]any{"jobs": out, "next_cursor": nullable(next)})
	})
}

// handleJobGet merges the Postgres record with Temporal's live view.
func handleJobGet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		if !isUUID(id) {
			writeError(w, r, d.Log, poblysh.NotFound("job"))
			return
		}
		var j *db.Job
		err := d.DB.WithTenant(r.Context(), principalOf(r).tenantID, func(tx *db.Tx) (err error) {
			j, err = tx.FindJob(r.Context(), id)
			return err
		})
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		v := jobView(d.Engine, j)
		live, err := d.Engine.LiveJob(r.Context(), j)
		if err != nil {
			d.Log.WithField("request_id", requestIDOf(r)).WithError(err).Warn("live job view unavailable")
		}
		v.Live = live
		writeJSON(w, http.StatusOK, v)
	})
}
