package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
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
	WebhookURL          *string         `json:"webhook_url"`
	TokenExpiresAt      *string         `json:"token_expires_at"`
	LastSyncAt          *string         `json:"last_sync_at"`
	CreatedAt           string          `json:"created_at"`
	UpdatedAt           string          `json:"updated_at"`
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
// watches. It only reads: re-authorization is offered by
// POST /connections/{id}/reconnect, never made up while listing. Tokens are
// never part of it.
func connectionView(ctx context.Context, database *db.DB, reg *connectors.Registry, c *db.Connection) (connectionJSON, error) {
	v := connectionJSON{
		ID: c.ID, Provider: c.Provider, ExternalAccountID: c.ExternalAccountID, DisplayName: c.DisplayName,
		Scopes: append([]string{}, c.Scopes...), Health: string(c.Health), HealthReason: c.HealthReason,
		HealthChangedAt: rfc3339(c.HealthChangedAt), Paused: c.Paused, Config: c.Config,
		PollIntervalSeconds: int(lifecycle.PollInterval(reg, c).Seconds()), PushEnabled: c.PushEnabled,
		TokenExpiresAt: rfc3339p(c.TokenExpiresAt), LastSyncAt: rfc3339p(c.LastSyncAt),
		CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt),
		Cursors: []cursorJSON{}, SignalCounts: map[string]int{}, Watches: []watchJSON{},
	}
	if len(v.Config) == 0 {
		v.Config = json.RawMessage(`{}`)
	}
	v.WebhookURL = webhookURL(reg, c)
	err := database.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
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
	return v, err
}

// webhookURL is the URL to configure by hand at the provider for this
// connection (connectors.WebhookURLer: a Zoho Cliq bot, a Zoho Mail
// outgoing webhook), nil for other providers. It carries a secret token,
// so it is only ever in the answers to the tenant's own API key (listing,
// reading and updating connections), never in the OAuth callback's answer,
// which goes to a browser, and is never logged.
func webhookURL(reg *connectors.Registry, c *db.Connection) *string {
	p, ok := reg.Get(c.Provider)
	if !ok {
		return nil
	}
	w, ok := p.Connector.(connectors.WebhookURLer)
	if !ok {
		return nil
	}
	if u := w.ConnectionWebhookURL(lifecycle.View(c)); u != "" {
		return &u
	}
	return nil
}

func handleConnectionList(log *logrus.Logger, database *db.DB, reg *connectors.Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		f := db.ConnectionFilter{
			Provider: q.matching("provider", providerRe, "a provider name such as slack or google-drive"),
			Health:   q.enum("health", "healthy", "degraded", "needs_reauth", "disabled"),
			Page:     db.Page{Cursor: q.boundCursor(512), Limit: q.limit()},
		}
		if err := q.err(); err != nil {
			writeError(w, r, log, err)
			return
		}
		var cs []db.Connection
		var next string
		err := database.WithTenant(r.Context(), principalOf(r).tenantID, func(tx *db.Tx) (err error) {
			cs, next, err = tx.ListConnections(r.Context(), f)
			return err
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := make([]connectionJSON, 0, len(cs))
		for i := range cs {
			v, err := connectionView(r.Context(), database, reg, &cs[i])
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			out = append(out, v)
		}
		writeJSON(w, http.StatusOK, map[string]any{"connections": out, "next_cursor": nullable(bindCursor(r, next))})
	})
}

func handleConnectionGet(log *logrus.Logger, database *db.DB, reg *connectors.Registry, svc *lifecycle.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := svc.Find(r.Context(), principalOf(r).tenantID, mux.Vars(r)["id"])
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		v, err := connectionView(r.Context(), database, reg, c)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// handleConnectionReconnect starts a re-authorization of a connection
// (lifecycle.Reconnect): a fresh start-page URL, answered like POST /connect.
func handleConnectionReconnect(log *logrus.Logger, svc *lifecycle.Service, limit int64) http.Handler {
	type request struct {
		RedirectURI string `json:"redirect_uri"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, limit, &req, true); err != nil {
			writeError(w, r, log, err)
			return
		}
		a, err := svc.Reconnect(r.Context(), principalOf(r).tenantID, mux.Vars(r)["id"], req.RedirectURI)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, authorizationJSON(a))
	})
}

// handleConnectionUpdate changes config, pause state and polling interval
// (lifecycle.Update) and answers the connection.
func handleConnectionUpdate(log *logrus.Logger, database *db.DB, reg *connectors.Registry, svc *lifecycle.Service, limit int64) http.Handler {
	type request struct {
		Config       json.RawMessage `json:"config"`
		Paused       *bool           `json:"paused"`
		PollInterval json.RawMessage `json:"poll_interval_seconds"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, limit, &req, false); err != nil {
			writeError(w, r, log, err)
			return
		}
		c, err := svc.Update(r.Context(), principalOf(r).tenantID, mux.Vars(r)["id"],
			lifecycle.Update{Config: req.Config, Paused: req.Paused, PollInterval: req.PollInterval})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		v, err := connectionView(r.Context(), database, reg, c)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// handleConnectionDelete disconnects and deletes a connection
// (lifecycle.Delete): Signals are kept unless purge_signals.
func handleConnectionDelete(log *logrus.Logger, svc *lifecycle.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenantID, id := principalOf(r).tenantID, mux.Vars(r)["id"]
		q := newQuery(r)
		purge := q.boolean("purge_signals")
		if err := q.err(); err != nil {
			writeError(w, r, log, err)
			return
		}
		warnings, err := svc.Delete(r.Context(), tenantID, id, purge)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "tenant_id": tenantID, "connection_id": id,
			"purge_signals": purge, "warnings": warnings}).Info("connection deleted")
		w.WriteHeader(http.StatusNoContent)
	})
}
