package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/lib/pq"

	"github.com/poblysh/poblysh"
)

// Connection is a tenant's link to one external account at a provider.
// Token ciphertexts are loaded only by the token functions, never by reads
// that serve the API.
type Connection struct {
	ID                  string          `db:"id"`
	TenantID            string          `db:"tenant_id"`
	Provider            string          `db:"provider"`
	ExternalAccountID   string          `db:"external_account_id"`
	DisplayName         string          `db:"display_name"`
	Account             json.RawMessage `db:"account"`
	Scopes              pq.StringArray  `db:"scopes"`
	Config              json.RawMessage `db:"config"`
	Health              poblysh.Health  `db:"health"`
	HealthReason        string          `db:"health_reason"`
	HealthChangedAt     time.Time       `db:"health_changed_at"`
	Paused              bool            `db:"paused"`
	PollIntervalSeconds *int            `db:"poll_interval_seconds"`
	PushEnabled         bool            `db:"push_enabled"`
	TokenExpiresAt      *time.Time      `db:"token_expires_at"`
	TokenRefreshedAt    *time.Time      `db:"token_refreshed_at"`
	CreatedAt           time.Time       `db:"created_at"`
	UpdatedAt           time.Time       `db:"updated_at"`
	LastSyncAt          *time.Time      `db:"last_sync_at"`
}

// Active reports whether scheduled and triggered work should run.
func (c *Connection) Active() bool { return !c.Paused && c.Health.Schedulable() }

const connectionCols = `id, tenant_id, provider, external_account_id, display_name, account, scopes, config,
	health, health_reason, health_changed_at, paused, poll_interval_seconds, push_enabled,
	token_expires_at, token_refreshed_at, created_at, updated_at, last_sync_at`

// ConnectionUpsert is what an OAuth callback stores.
type ConnectionUpsert struct {
	Provider          string
	ExternalAccountID string
	DisplayName       string
	Account           json.RawMessage
	Scopes            []string
	Config            json.RawMessage
}

// UpsertConnection creates the connection for (tenant, provider, external
// account) or updates the existing one: re-connecting heals needs_reauth and
// degraded health, revives a deleted connection, keeps an operator's pause
// and disabled state. Tokens are stored separately with SaveTokens in the
// same transaction. created reports a new row.
func (tx *Tx) UpsertConnection(ctx context.Context, u ConnectionUpsert) (c *Connection, created bool, err error) {
	var row struct {
		Connection
		Inserted bool `db:"inserted"`
	}
	err = tx.GetContext(ctx, &row, `INSERT INTO connections
			(tenant_id, provider, external_account_id, display_name, account, scopes, config)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant_id, provider, external_account_id) DO UPDATE SET
			display_name = excluded.display_name,
			account = excluded.account,
			scopes = excluded.scopes,
			config = CASE WHEN excluded.config = '{}'::jsonb THEN connections.config ELSE excluded.config END,
			health = CASE WHEN connections.health = 'disabled' THEN 'disabled' ELSE 'healthy' END,
			health_reason = CASE WHEN connections.health = 'disabled' THEN connections.health_reason ELSE 'reconnected' END,
			health_changed_at = CASE WHEN connections.health IN ('healthy', 'disabled') THEN connections.health_changed_at ELSE now() END,
			refresh_failures = 0,
			deleted_at = NULL,
			updated_at = now()
		RETURNING `+connectionCols+`, (xmax = 0) AS inserted`,
		tx.TenantID, u.Provider, u.ExternalAccountID, u.DisplayName, jsonOrEmpty(u.Account), pq.StringArray(append([]string{}, u.Scopes...)), jsonOrEmpty(u.Config))
	if err != nil {
		return nil, false, wrapConnErr(err)
	}
	return &row.Connection, row.Inserted, nil
}

func jsonOrEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// FindConnection returns a live connection of the tenant.
func (tx *Tx) FindConnection(ctx context.Context, id string) (*Connection, error) {
	var c Connection
	err := tx.GetContext(ctx, &c, `SELECT `+connectionCols+` FROM connections
		WHERE id = $1 AND ($2 = '' OR tenant_id = $2::uuid) AND deleted_at IS NULL`, id, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("connection")
	}
	return &c, wrapConnErr(err)
}

// ConnectionFilter narrows ListConnections.
type ConnectionFilter struct {
	Provider string
	Health   string
	Page     Page
}

// ListConnections pages through the tenant's live connections, newest first.
func (tx *Tx) ListConnections(ctx context.Context, f ConnectionFilter) ([]Connection, string, error) {
	after, err := f.Page.decode()
	if err != nil {
		return nil, "", err
	}
	var cs []Connection
	err = tx.SelectContext(ctx, &cs, `SELECT `+connectionCols+` FROM connections
		WHERE tenant_id = $1 AND deleted_at IS NULL
		  AND ($2 = '' OR provider = $2) AND ($3 = '' OR health = $3)
		  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
		ORDER BY created_at DESC, id DESC LIMIT $6`,
		tx.TenantID, f.Provider, f.Health, after.Time, after.ID, f.Page.Limit+1)
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	cs, next := trimPage(cs, f.Page.Limit, func(c Connection) pageKey { return pageKey{Time: c.CreatedAt, ID: c.ID} })
	return cs, next, nil
}

// ListProviderConnections returns every live connection of a provider.
func (tx *Tx) ListProviderConnections(ctx context.Context, provider string) ([]Connection, error) {
	var cs []Connection
	err := tx.SelectContext(ctx, &cs, `SELECT `+connectionCols+` FROM connections
		WHERE tenant_id = $1 AND provider = $2 AND deleted_at IS NULL ORDER BY created_at`, tx.TenantID, provider)
	return cs, wrapConnErr(err)
}

// ConnectionPatch changes operator-controlled fields; nil leaves a field alone.
type ConnectionPatch struct {
	Config *json.RawMessage
	Paused *bool
	// PollInterval: nil leaves it, a pointer to nil resets to the default.
	PollInterval **int
}

// UpdateConnection applies a patch and returns the new row.
func (tx *Tx) UpdateConnection(ctx context.Context, id string, p ConnectionPatch) (*Connection, error) {
	var cfg []byte
	if p.Config != nil {
		cfg = *p.Config
	}
	setPoll := p.PollInterval != nil
	var poll *int
	if setPoll {
		poll = *p.PollInterval
	}
	var c Connection
	err := tx.GetContext(ctx, &c, `UPDATE connections SET
			config = coalesce($3::jsonb, config),
			paused = coalesce($4, paused),
			poll_interval_seconds = CASE WHEN $5 THEN $6::int ELSE poll_interval_seconds END,
			updated_at = now()
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL
		RETURNING `+connectionCols, id, tx.TenantID, cfg, p.Paused, setPoll, poll)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("connection")
	}
	return &c, wrapConnErr(err)
}

// SetHealth moves a connection to a health state with a reason; the change
// time moves only when the state changes. Callers decide precedence (an
// operator's disabled state is only lifted by the operator).
func (tx *Tx) SetHealth(ctx context.Context, id string, h poblysh.Health, reason string) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET
			health_changed_at = CASE WHEN health = $3 THEN health_changed_at ELSE now() END,
			health = $3, health_reason = $4, updated_at = now()
		WHERE id = $1 AND ($2 = '' OR tenant_id = $2::uuid)`,
		id, tx.TenantID, h, reason)
	return wrapConnErr(err)
}

// SetPushEnabled records whether webhooks or watch channels deliver for it.
func (tx *Tx) SetPushEnabled(ctx context.Context, id string, on bool) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET push_enabled = $3, updated_at = now()
		WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID, on)
	return wrapConnErr(err)
}

// MarkSynced records a finished sync pass and heals degraded health.
func (tx *Tx) MarkSynced(ctx context.Context, id string) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET last_sync_at = now(),
			health_changed_at = CASE WHEN health = 'degraded' THEN now() ELSE health_changed_at END,
			health_reason = CASE WHEN health = 'degraded' THEN 'recovered' ELSE health_reason END,
			health = CASE WHEN health = 'degraded' THEN 'healthy' ELSE health END
		WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID)
	return wrapConnErr(err)
}

// DeleteConnection soft-deletes a connection: tokens are erased, routes and
// cursors removed; Signals are kept unless purge is true. The row stays so
// kept Signals still name their connection, and re-connecting the same
// account revives it.
func (tx *Tx) DeleteConnection(ctx context.Context, id string, purge bool) error {
	res, err := tx.ExecContext(ctx, `UPDATE connections SET deleted_at = now(), access_token_ct = NULL,
			refresh_token_ct = NULL, token_key_id = NULL, token_expires_at = NULL, push_enabled = false, updated_at = now()
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`, id, tx.TenantID)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return poblysh.NotFound("connection")
	}
	for _, q := range []string{
		`DELETE FROM webhook_routes WHERE connection_id = $1 AND tenant_id = $2`,
		`DELETE FROM sync_cursors WHERE connection_id = $1 AND tenant_id = $2`,
	} {
		if _, err := tx.ExecContext(ctx, q, id, tx.TenantID); err != nil {
			return wrapConnErr(err)
		}
	}
	if purge {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signals WHERE connection_id = $1 AND tenant_id = $2`, id, tx.TenantID); err != nil {
			return wrapConnErr(err)
		}
	}
	return nil
}

// SignalCounts returns the connection's Signal count per kind.
func (tx *Tx) SignalCounts(ctx context.Context, id string) (map[string]int, error) {
	var rows []struct {
		Kind  string `db:"kind"`
		Count int    `db:"n"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT kind, count(*) AS n FROM signals
		WHERE connection_id = $1 AND tenant_id = $2 GROUP BY kind`, id, tx.TenantID); err != nil {
		return nil, wrapConnErr(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Kind] = r.Count
	}
	return out, nil
}
