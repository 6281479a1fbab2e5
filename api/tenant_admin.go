package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// Tenants is what the tenant admin routes ask of Temporal (engine.Engine):
// a tenant's deletion runs as a workflow.
type Tenants interface {
	// DeleteTenant starts the tenant's deletion and answers its job;
	// revoked says the call committed the revocation of the tenant's keys,
	// also when it then failed.
	DeleteTenant(ctx context.Context, tenantID string) (job *db.Job, revoked bool, err error)
}

type tenantJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	// SyncConcurrency is the effective cap; SyncConcurrencyDefault says it
	// follows POBLYSH_TENANT_SYNC_CONCURRENCY (no value of its own).
	SyncConcurrency        int  `json:"sync_concurrency"`
	SyncConcurrencyDefault bool `json:"sync_concurrency_default"`
	Connections            int  `json:"connections"`
	APIKeys                int  `json:"api_keys"`
}

func tenantView(t *db.TenantInfo, def int) tenantJSON {
	v := tenantJSON{ID: t.ID, Name: t.Name, CreatedAt: rfc3339(t.CreatedAt), SyncConcurrency: def, SyncConcurrencyDefault: true,
		Connections: t.Connections, APIKeys: t.APIKeys}
	if t.SyncConcurrency != nil {
		v.SyncConcurrency, v.SyncConcurrencyDefault = *t.SyncConcurrency, false
	}
	return v
}

func handleTenantList(log *logrus.Logger, d *db.DB, def int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		page := db.Page{Cursor: q.boundCursor(512), Limit: q.limit()}
		if err := q.err(); err != nil {
			writeError(w, r, log, err)
			return
		}
		var ts []db.TenantInfo
		var next string
		err := d.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
			ts, next, err = tx.ListTenants(r.Context(), page)
			return err
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := make([]tenantJSON, 0, len(ts))
		for i := range ts {
			out = append(out, tenantView(&ts[i], def))
		}
		writeJSON(w, http.StatusOK, map[string]any{"tenants": out, "next_cursor": nullable(bindCursor(r, next))})
	})
}

func handleTenantGet(log *logrus.Logger, d *db.DB, def int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		if !isUUID(id) {
			writeError(w, r, log, poblysh.NotFound("tenant"))
			return
		}
		var t *db.TenantInfo
		err := d.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
			t, err = tx.GetTenant(r.Context(), id)
			return err
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, tenantView(t, def))
	})
}

func handleTenantUpdate(log *logrus.Logger, d *db.DB, def int, limit int64) http.Handler {
	type request struct {
		Name            *string         `json:"name"`
		SyncConcurrency json.RawMessage `json:"sync_concurrency"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		var req request
		if err := decodeJSON(w, r, limit, &req, false); err != nil {
			writeError(w, r, log, err)
			return
		}
		if !isUUID(id) {
			writeError(w, r, log, poblysh.NotFound("tenant"))
			return
		}
		var u db.TenantUpdate
		problems := map[string]string{}
		if req.Name != nil {
			name := strings.TrimSpace(*req.Name)
			if n := utf8.RuneCountInString(name); n < 1 || n > maxTenantName {
				problems["name"] = fmt.Sprintf("must be 1 to %d characters", maxTenantName)
			}
			u.Name = &name
		}
		switch raw := bytes.TrimSpace(req.SyncConcurrency); {
		case len(raw) == 0:
		case string(raw) == "null":
			u.ClearSyncConcurrency = true
		default:
			var n int
			if err := json.Unmarshal(raw, &n); err != nil || n < 1 || n > 1000 {
				problems["sync_concurrency"] = "must be an integer from 1 to 1000, or null for the default"
			}
			u.SyncConcurrency = &n
		}
		if len(problems) > 0 {
			writeError(w, r, log, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "invalid tenant update", Details: problems})
			return
		}
		var t *db.TenantInfo
		err := d.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
			t, err = tx.UpdateTenant(r.Context(), id, u)
			return err
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "tenant_id": id}).Info("tenant updated")
		writeJSON(w, http.StatusOK, tenantView(t, def))
	})
}

// handleTenantDelete starts a tenant's deletion after checking ?confirm=
// names the tenant, and answers 202 with the deletion's job. The deletion
// revokes the tenant's keys at once (BeginTenantDeletion): this process
// forgets them before answering (revoked).
func handleTenantDelete(log *logrus.Logger, d *db.DB, tenants Tenants, jobs Jobs, keys KeyCache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		q := newQuery(r)
		confirm := q.str("confirm", maxTenantName)
		if err := q.err(); err != nil {
			writeError(w, r, log, err)
			return
		}
		if !isUUID(id) {
			writeError(w, r, log, poblysh.NotFound("tenant"))
			return
		}
		// A tenant being deleted is found too: asking again answers its
		// running deletion, or restarts one that failed.
		var t *db.Tenant
		err := d.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
			t, err = tx.FindTenant(r.Context(), id)
			return err
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if confirm != t.Name {
			writeError(w, r, log, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "confirm must repeat the tenant's name exactly",
				Details: map[string]string{"confirm": "must equal the tenant's name"}})
			return
		}
		if tenants == nil {
			writeError(w, r, log, poblysh.Unavailable("temporal", nil))
			return
		}
		job, keysRevoked, err := tenants.DeleteTenant(r.Context(), id)
		// Also after an error that came once the keys' revocation had
		// committed (it commits before the workflow starts, and stays when
		// that start fails), but not after one that revoked nothing (the
		// tenant gone meanwhile: 404): emptying every cache of the process
		// and waiting for the fence then cost every tenant's next call and
		// this answer up to 2 s for nothing.
		if err == nil || keysRevoked {
			revoked(r, keys)
		}
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "tenant_id": id, "job_id": job.ID}).Warn("tenant deletion started")
		writeJSON(w, http.StatusAccepted, map[string]any{"job": jobView(jobs, job)})
	})
}
