package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/lifecycle"
)

type jobJSON struct {
	ID            string          `json:"id"`
	ConnectionID  *string         `json:"connection_id"`
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
	Live          *engine.Live    `json:"live"`
}

// Jobs is what the job routes ask of Temporal (engine.Engine): a link to a
// workflow run in its UI, and a job's live state.
type Jobs interface {
	UILink(workflowID, runID string) string
	LiveJob(ctx context.Context, j *db.Job) (*engine.Live, error)
}

func jobView(e Jobs, j *db.Job) jobJSON {
	v := jobJSON{
		ID: j.ID, ConnectionID: nullable(j.ConnectionID), Provider: j.Provider, Kind: string(j.Kind), Stream: j.Stream,
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
// active connection of the provider (lifecycle.Sync), and answers 202 with
// the jobs, and how many connections a workflow goes on to ask
// (pending_connections: those Sync did not begin within its bound). Only an absent (or null) connection_id means every connection
// and an absent mode incremental: a given "" is refused as any other value
// outside the schema.
func handleSyncStart(log *logrus.Logger, reg *connectors.Registry, svc *lifecycle.Service, jobs Jobs, limit int64) http.Handler {
	type request struct {
		ConnectionID *string           `json:"connection_id"`
		Mode         *poblysh.SyncMode `json:"mode"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := providerFor(reg, r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		var req request
		if err := decodeJSON(w, r, limit, &req, true); err != nil {
			writeError(w, r, log, err)
			return
		}
		mode := poblysh.ModeIncremental
		if req.Mode != nil {
			mode = *req.Mode
		}
		started, err := svc.Sync(r.Context(), principalOf(r).tenantID, p, req.ConnectionID, mode)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := make([]jobJSON, 0, len(started.Jobs))
		for i := range started.Jobs {
			out = append(out, jobView(jobs, &started.Jobs[i]))
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"jobs": out, "pending_connections": started.Pending})
	})
}

func handleJobList(log *logrus.Logger, database *db.DB, jobs Jobs) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		f := db.JobFilter{
			ConnectionID: q.uuid("connection_id"),
			Provider:     q.matching("provider", providerRe, "a provider name such as slack or google-drive"),
			Kind:         q.enum("kind", "backfill", "incremental", "token_refresh", "watch_renewal", "tenant_deletion"),
			Status:       q.enum("status", "queued", "running", "succeeded", "failed", "cancelled"),
			Since:        q.time("since"),
			Page:         db.Page{Cursor: q.boundCursor(512), Limit: q.limit()},
		}
		if err := q.err(); err != nil {
			writeError(w, r, log, err)
			return
		}
		var list []db.Job
		var next string
		var err error
		if principalOf(r).admin {
			// The admin key sees the operator's jobs (tenant deletions).
			err = database.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
				list, next, err = tx.ListOperatorJobs(r.Context(), f)
				return err
			})
		} else {
			err = database.WithTenant(r.Context(), principalOf(r).tenantID, func(tx *db.Tx) (err error) {
				list, next, err = tx.ListJobs(r.Context(), f)
				return err
			})
		}
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := make([]jobJSON, 0, len(list))
		for i := range list {
			out = append(out, jobView(jobs, &list[i]))
		}
		writeJSON(w, http.StatusOK, map[string]any{"jobs": out, "next_cursor": nullable(bindCursor(r, next))})
	})
}

// handleJobGet merges the Postgres record with Temporal's live view.
func handleJobGet(log *logrus.Logger, database *db.DB, jobs Jobs) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		if !isUUID(id) {
			writeError(w, r, log, poblysh.NotFound("job"))
			return
		}
		var j *db.Job
		var err error
		if principalOf(r).admin {
			err = database.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
				j, err = tx.FindOperatorJob(r.Context(), id)
				return err
			})
		} else {
			err = database.WithTenant(r.Context(), principalOf(r).tenantID, func(tx *db.Tx) (err error) {
				j, err = tx.FindJob(r.Context(), id)
				return err
			})
		}
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		// LiveJob first: it settles a job whose workflow closed without
		// finishing it (reconciliation) and updates j.
		live, err := jobs.LiveJob(r.Context(), j)
		if err != nil {
			log.WithField("request_id", requestIDOf(r)).WithError(err).Warn("live job view unavailable")
		}
		v := jobView(jobs, j)
		v.Live = live
		writeJSON(w, http.StatusOK, v)
	})
}
