package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

type connectionJSON struct {
	ID                  string          `json:"id"`
	Provider            string          `json:"provider"`
	ExternalAccountID   string          `json:"external_account_id"`
	DisplayName         string          `json:"display_name"`
	Scopes              []string        `json:"scopes"`
	Health              string          `json:"health"`
	HealthReason        string          `json:"health_reason"`
	HealthChangedAt     string          `json:"health_changed_at"`
	Paused              bool            `json:"paused"`
	Config              json.RawMessage `json:"config"`
	PollIntervalSeconds int             `json:"poll_interval_seconds"`
	PushEnabled         bool            `json:"push_enabled"`
	TokenExpiresAt      *string         `json:"token_expires_at"`
	LastSyncAt          *string         `json:"last_sync_at"`
	CreatedAt           string          `json:"created_at"`
	UpdatedAt           string          `json:"updated_at"`
	ReconnectURL        *string         `json:"reconnect_url"`
	Cursors             []cursorJSON    `json:"cursors"`
	SignalCounts        map[string]int  `json:"signal_counts"`
	Watches             []watchJSON     `json:"watches"`
}

type cursorJSON struct {
	Stream    string `json:"stream"`
	UpdatedAt string `json:"updated_at"`
	HasCursor bool   `json:"has_cursor"`
}

type watchJSON struct {
	Target    string  `json:"target"`
	ChannelID string  `json:"channel_id"`
	ExpiresAt *string `json:"expires_at"`
}

// connectionView renders a connection with its cursors, Signal counts and
// watches; a connection that needs re-auth also gets a fresh re-connect URL.
// Tokens are never part of it.
func connectionView(ctx context.Context, d Deps, c *db.Connection) (connectionJSON, error) {
	v := connectionJSON{
		ID: c.ID, Provider: c.Provider, ExternalAccountID: c.ExternalAccountID, DisplayName: c.DisplayName,
		Scopes: append([]string{}, c.Scopes...), Health: string(c.Health), HealthReason: c.HealthReason,
		HealthChangedAt: rfc3339(c.HealthChangedAt), Paused: c.Paused, Config: c.Config,
		PollIntervalSeconds: int(d.Engine.PollInterval(c).Seconds()), PushEnabled: c.PushEnabled,
		TokenExpiresAt: rfc3339p(c.TokenExpiresAt), LastSyncAt: rfc3339p(c.LastSyncAt),
		CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt),
		Cursors: []cursorJSON{}, SignalCounts: map[string]int{}, Watches: []watchJSON{},
	}
	if len(v.Config) == 0 {
		v.Config = json.RawMessage(`{}`)
	}
	err := d.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		cursors, err := tx.ListCursors(ctx, c.ID)
		if err != nil {
			return err
		}
		for _, cu := range cursors {
			v.Cursors = append(v.Cursors, cursorJSON{Stream: cu.Stream, UpdatedAt: rfc3339(cu.UpdatedAt), HasCursor: cu.HasCursor})
		}
		if v.SignalCounts, err = tx.SignalCounts(ctx, c.ID); err != nil {
			return err
		}
		watches, err := tx.ActiveWatchChannels(ctx, c.ID)
		for _, w := range watches {
			v.Watches = append(v.Watches, watchJSON{Target: w.Target, ChannelID: w.ChannelID, ExpiresAt: rfc3339p(w.ExpiresAt)})
		}
		return err
	})
	if err != nil {
		return v, err
	}
	if c.Health == poblysh.HealthNeedsReauth {
		if p, ok := d.Registry.Get(c.Provider); ok && p.Configured() {
			u, _, _, err := authorizationURL(ctx, d, c.TenantID, p, "", nil)
			if err == nil {
				v.ReconnectURL = &u
			}
		}
	}
	return v, nil
}

// findConnection loads a connection of the caller's tenant (404 otherwise,
// including malformed ids and other tenants' connections).
func findConnection(ctx context.Context, d Deps, tenantID, id string) (*db.Connection, error) {
	if !isUUID(id) {
		return nil, poblysh.NotFound("connection")
	}
	var c *db.Connection
	err := d.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
		c, err = tx.FindConnection(ctx, id)
		return err
	})
	return c, err
}

func handleConnectionList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		f := db.ConnectionFilter{
			Provider: q.str("provider", 64),
			Health:   q.enum("health", "healthy", "degraded", "needs_reauth", "disabled"),
			Page:     db.Page{Cursor: q.str("cursor", 512), Limit: q.limit()},
		}
		if err := q.err(); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		var cs []db.Connection
		var next string
		err := d.DB.WithTenant(r.Context(), principalOf(r).tenantID, func(tx *db.Tx) (err error) {
			cs, next, err = tx.ListConnections(r.Context(), f)
			return err
		})
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		out := make([]connectionJSON, 0, len(cs))
		for i := range cs {
			v, err := connectionView(r.Context(), d, &cs[i])
			if err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			out = append(out, v)
		}
		writeJSON(w, http.StatusOK, map[string]any{"connections": out, "next_cursor": nullable(next)})
	})
}

func handleConnectionGet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := findConnection(r.Context(), d, principalOf(r).tenantID, mux.Vars(r)["id"])
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		v, err := connectionView(r.Context(), d, c)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// handleConnectionUpdate changes config (validated by the provider), pause
// state and polling interval, then brings schedules, routes and watch
// channels in line. Pausing is the operator's switch: health becomes
// disabled and no scheduled or triggered work runs until resumed.
func handleConnectionUpdate(d Deps) http.Handler {
	type request struct {
		Config       json.RawMessage `json:"config"`
		Paused       *bool           `json:"paused"`
		PollInterval json.RawMessage `json:"poll_interval_seconds"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenantID := principalOf(r).tenantID
		c, err := findConnection(r.Context(), d, tenantID, mux.Vars(r)["id"])
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		var req request
		if err := decodeJSON(w, r, d.MaxBodyBytes, &req, false); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		p, ok := d.Registry.Get(c.Provider)
		if !ok {
			writeError(w, r, d.Log, poblysh.NotFound("provider"))
			return
		}
		var patch db.ConnectionPatch
		if len(req.Config) > 0 && string(req.Config) != "null" {
			cfg, err := validateConfig(p, req.Config)
			if err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			patch.Config = &cfg
		}
		patch.Paused = req.Paused
		if len(req.PollInterval) > 0 {
			var secs *int
			if err := json.Unmarshal(req.PollInterval, &secs); err != nil {
				writeError(w, r, d.Log, poblysh.Invalid("invalid request", map[string]string{"poll_interval_seconds": "must be an integer or null"}))
				return
			}
			if minSecs := int(p.Spec.Policy.MinPollInterval.Seconds()); secs != nil && (*secs < 60 || *secs < minSecs) {
				writeError(w, r, d.Log, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "polling interval too short",
					Details: map[string]string{"poll_interval_seconds": fmt.Sprintf("must be at least %d", max(60, minSecs))}})
				return
			}
			patch.PollInterval = &secs
		}
		err = d.DB.WithTenant(r.Context(), tenantID, func(tx *db.Tx) error {
			if c, err = tx.UpdateConnection(r.Context(), c.ID, patch); err != nil {
				return err
			}
			if req.Paused == nil {
				return nil
			}
			if *req.Paused {
				return tx.SetHealth(r.Context(), c.ID, poblysh.HealthDisabled, "paused by an operator")
			}
			if c.Health == poblysh.HealthDisabled {
				return tx.SetHealth(r.Context(), c.ID, poblysh.HealthHealthy, "resumed by an operator")
			}
			return nil
		})
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if c, err = findConnection(r.Context(), d, tenantID, c.ID); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		// Config or pause changed: routes, channels and schedules follow;
		// resumed or reconfigured connections catch up incrementally.
		catchUp := patch.Config != nil || (req.Paused != nil && !*req.Paused)
		if _, err := d.Engine.Activate(r.Context(), c, false, poblysh.TriggerManual); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if catchUp && c.Active() {
			if _, err := d.Engine.RequestSync(r.Context(), c, poblysh.ModeIncremental, poblysh.TriggerManual); err != nil {
				writeError(w, r, d.Log, err)
				return
			}
		}
		v, err := connectionView(r.Context(), d, c)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// handleConnectionDelete disconnects: schedules and workflows stop, watch
// channels and hooks are removed at the provider, the token is revoked where
// possible, tokens are erased, and Signals are kept unless purge_signals.
func handleConnectionDelete(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenantID := principalOf(r).tenantID
		q := newQuery(r)
		purge := q.boolean("purge_signals")
		if err := q.err(); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		c, err := findConnection(r.Context(), d, tenantID, mux.Vars(r)["id"])
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		warnings, err := d.Engine.Disconnect(r.Context(), c, d.KeyRing)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		err = d.DB.WithTenant(r.Context(), tenantID, func(tx *db.Tx) error {
			if err := tx.CancelOpenJobs(r.Context(), c.ID, "connection deleted"); err != nil {
				return err
			}
			return tx.DeleteConnection(r.Context(), c.ID, purge)
		})
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		d.Log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "tenant_id": tenantID, "connection_id": c.ID,
			"purge_signals": purge, "warnings": warnings}).Info("connection deleted")
		w.WriteHeader(http.StatusNoContent)
	})
}
