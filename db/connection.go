package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

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
	Scopes              TextArray       `db:"scopes"`
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
	// ActivationPending is what Temporal still owes the connection ("" when
	// nothing), marked at ActivationPendingAt (see MarkActivation).
	ActivationPending   Activation `db:"activation_pending"`
	ActivationPendingAt *time.Time `db:"activation_pending_at"`
}

// Active reports whether scheduled and triggered work should run.
func (c *Connection) Active() bool { return !c.Paused && c.Health.Schedulable() }

const connectionCols = `id, tenant_id, provider, external_account_id, display_name, account, scopes, config,
	health, health_reason, health_changed_at, paused, poll_interval_seconds, push_enabled,
	token_expires_at, token_refreshed_at, created_at, updated_at, last_sync_at,
	coalesce(activation_pending, '') AS activation_pending, activation_pending_at`

// ConnectionUpsert is what an OAuth callback stores.
type ConnectionUpsert struct {
	Provider          string
	ExternalAccountID string
	DisplayName       string
	Account           json.RawMessage
	Scopes            []string
	Config            json.RawMessage
	// ConnectionID, when set (a re-authorization of that connection),
	// requires the authorized account to be that connection's: another
	// account is a conflict and nothing is stored.
	ConnectionID string
}

// UpsertConnection creates the connection for (tenant, provider, external
// account) or updates the existing one (live or deleted, which it revives):
// a live one's health moves as poblysh.Health.Next decides for
// EventReauthorized (healed, unless an operator disabled it) and its pause
// and polling interval stay; a deleted one comes back as a new connection
// (healthy, not paused, the provider's polling interval). An empty config
// keeps the stored one. Tokens are stored separately with SaveTokens in
// the same transaction. created reports a new row.
func (tx *Tx) UpsertConnection(ctx context.Context, u ConnectionUpsert) (c *Connection, created bool, err error) {
	if u.ConnectionID != "" {
		if err := tx.sameAccount(ctx, u); err != nil {
			return nil, false, err
		}
	}
	// Two callbacks for one new account race to insert: the loser finds
	// the winner's row on its second look and updates it.
	for range 2 {
		var have Connection
		err := tx.GetContext(ctx, &have, `SELECT `+connectionCols+` FROM connections
			WHERE tenant_id = $1 AND provider = $2 AND external_account_id = $3 FOR UPDATE`,
			tx.TenantID, u.Provider, u.ExternalAccountID)
		if err == nil {
			c, err = tx.reauthorize(ctx, &have, u)
			return c, false, err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, wrapConnErr(err)
		}
		var row Connection
		err = tx.GetContext(ctx, &row, `INSERT INTO connections
				(tenant_id, provider, external_account_id, display_name, account, scopes, config)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant_id, provider, external_account_id) DO NOTHING
			RETURNING `+connectionCols,
			tx.TenantID, u.Provider, u.ExternalAccountID, CleanText(u.DisplayName), accountJSON(u.Account), append([]string{}, u.Scopes...), jsonOrEmpty(u.Config))
		if err == nil {
			return &row, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, wrapConnErr(err)
		}
	}
	return nil, false, &poblysh.Error{Code: poblysh.ECONFLICT, Message: "the connection is being created by another request; try again"}
}

// reauthorize updates an existing (locked) row for a new authorization of
// its account. A deleted connection whose Signals' purge has not ended
// (DeleteConnection) is not revived until it has (ErrPurgePending): the
// revived connection reads its account from the start again, and every
// Signal it stored collided with its old copy (dropped as a duplicate),
// which the purge then deleted. A live connection a delete is tearing
// down (MarkDisconnecting, heeded for disconnectingHeeded) is not touched
// (ErrBeingDisconnected): clearing the delete's mark let a watch pass
// take its lease and register hooks the delete, which had listed what to
// stop, never stopped, and the delete then removed the connection the
// callback had answered "connected". The mark is cleared only when a
// deleted connection is revived.
func (tx *Tx) reauthorize(ctx context.Context, have *Connection, u ConnectionUpsert) (*Connection, error) {
	pending, err := tx.SignalPurgePending(ctx, have.ID)
	if err != nil {
		return nil, err
	}
	if pending {
		return nil, ErrPurgePending()
	}
	var row struct {
		Deleted       bool `db:"deleted"`
		Disconnecting bool `db:"disconnecting"`
	}
	err = tx.GetContext(ctx, &row, `SELECT deleted_at IS NOT NULL AS deleted, deleted_at IS NULL
			AND coalesce(disconnecting_at >= now() - interval '`+disconnectingHeeded+`', false) AS disconnecting
		FROM connections WHERE id = $1 AND tenant_id = $2`, have.ID, tx.TenantID)
	if err != nil {
		return nil, wrapConnErr(err)
	}
	if row.Disconnecting {
		return nil, ErrBeingDisconnected()
	}
	cfg := jsonOrEmpty(u.Config)
	if string(cfg) == "{}" {
		cfg = jsonOrEmpty(have.Config)
	}
	h, reason := have.Health.Next(poblysh.HealthEvent{Kind: poblysh.EventReauthorized})
	if row.Deleted {
		// A new connection that reuses the row: nothing an operator set on
		// the deleted one carries over (a pause kept it disabled, and its
		// activation then skipped the connect's backfill).
		h, reason = poblysh.HealthHealthy, "reconnected"
	}
	if reason == "" {
		reason = have.HealthReason
	}
	var c Connection
	err = tx.GetContext(ctx, &c, `UPDATE connections SET display_name = $3, account = $4, scopes = $5, config = $6,
			health = $7, health_reason = $8, health_changed_at = `+healthStamp(have.Health, h)+`,
			refresh_failures = 0, deleted_at = NULL,
			paused = CASE WHEN deleted_at IS NULL THEN paused ELSE false END,
			poll_interval_seconds = CASE WHEN deleted_at IS NULL THEN poll_interval_seconds END,
			disconnecting_at = CASE WHEN deleted_at IS NULL THEN disconnecting_at END, updated_at = now()
		WHERE id = $1 AND tenant_id = $2
		RETURNING `+connectionCols,
		have.ID, tx.TenantID, CleanText(u.DisplayName), accountJSON(u.Account), append([]string{}, u.Scopes...), cfg,
		h, reason)
	return &c, wrapConnErr(err)
}

// ErrPurgePending is the conflict of connecting an account again while
// the purge of its deleted connection's Signals has not ended.
func ErrPurgePending() error {
	return &poblysh.Error{Code: poblysh.ECONFLICT,
		Message: "the previous Signals of this connection are still being purged; connect again in a few minutes"}
}

// ErrBeingDisconnected is the conflict of connecting an account again
// while a delete of its connection is under way.
func ErrBeingDisconnected() error {
	return &poblysh.Error{Code: poblysh.ECONFLICT,
		Message: "this account's connection is being disconnected; nothing was connected: try again in a minute"}
}

// sameAccount checks that a re-authorization landed on the account of the
// connection it was started for.
func (tx *Tx) sameAccount(ctx context.Context, u ConnectionUpsert) error {
	var have struct {
		Provider string `db:"provider"`
		Account  string `db:"external_account_id"`
		Name     string `db:"display_name"`
	}
	err := tx.GetContext(ctx, &have, `SELECT provider, external_account_id, display_name FROM connections
		WHERE id = $1 AND tenant_id = $2`, u.ConnectionID, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return poblysh.NotFound("connection")
	}
	if err != nil {
		return wrapConnErr(err)
	}
	if have.Provider != u.Provider || have.Account != u.ExternalAccountID {
		return &poblysh.Error{Code: poblysh.ECONFLICT, Message: "this re-authorization was started for the connection of " +
			have.Name + ", but another account (" + u.DisplayName + ") was authorized; sign in to the provider as " +
			have.Name + " and start again, or connect the other account with POST /api/v1/connect/" + u.Provider}
	}
	return nil
}

// accountJSON is the provider's account as stored: its names are the
// provider's words (CleanJSON).
func accountJSON(b json.RawMessage) []byte {
	if out, ok := CleanJSON(jsonOrEmpty(b)); ok {
		return out
	}
	return jsonOrEmpty(b)
}

func jsonOrEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// FindConnection returns a live connection of the tenant.
func (tx *Tx) FindConnection(ctx context.Context, id string) (*Connection, error) {
	return tx.findConnection(ctx, id, "")
}

// LockConnection is FindConnection with the row locked until tx ends, so
// what tx computes from it is stored before a change to it can commit (a
// PATCH waits), and after any change that committed first. The lock is
// the one an UPDATE of the row takes (FOR NO KEY UPDATE): inserts that
// only reference the connection (its Signals, routes, jobs) do not wait.
func (tx *Tx) LockConnection(ctx context.Context, id string) (*Connection, error) {
	return tx.findConnection(ctx, id, " FOR NO KEY UPDATE")
}

// ShareConnection is FindConnection with the row held FOR SHARE until tx
// ends: a change to the row (a PATCH of its config) waits for tx, or
// committed before it and tx reads it. Transactions that share it do not
// wait for each other (one stream's page for another's).
func (tx *Tx) ShareConnection(ctx context.Context, id string) (*Connection, error) {
	return tx.findConnection(ctx, id, " FOR SHARE")
}

func (tx *Tx) findConnection(ctx context.Context, id, lock string) (*Connection, error) {
	var c Connection
	err := tx.GetContext(ctx, &c, `SELECT `+connectionCols+` FROM connections
		WHERE id = $1 AND ($2 = '' OR tenant_id = $2::uuid) AND deleted_at IS NULL`+lock, id, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("connection")
	}
	return &c, wrapConnErr(err)
}

// FindConnectionByAccount returns the tenant's connection (live or deleted)
// to an external account of a provider.
func (tx *Tx) FindConnectionByAccount(ctx context.Context, provider, accountID string) (*Connection, error) {
	var c Connection
	err := tx.GetContext(ctx, &c, `SELECT `+connectionCols+` FROM connections
		WHERE tenant_id = $1 AND provider = $2 AND external_account_id = $3`, tx.TenantID, provider, accountID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("connection")
	}
	return &c, wrapConnErr(err)
}

// FindLiveConnectionByAccount returns the tenant's live connection to an
// external account of a provider (not found when it is deleted).
func (tx *Tx) FindLiveConnectionByAccount(ctx context.Context, provider, accountID string) (*Connection, error) {
	var c Connection
	err := tx.GetContext(ctx, &c, `SELECT `+connectionCols+` FROM connections
		WHERE tenant_id = $1 AND provider = $2 AND external_account_id = $3 AND deleted_at IS NULL`, tx.TenantID, provider, accountID)
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
	return trimPage(cs, f.Page.Limit, func(c Connection) pageKey { return pageKey{Time: c.CreatedAt, ID: c.ID} })
}

// ListProviderConnections returns every live connection of a provider,
// oldest first (the order of ProviderConnectionsPage).
func (tx *Tx) ListProviderConnections(ctx context.Context, provider string) ([]Connection, error) {
	var cs []Connection
	err := tx.SelectContext(ctx, &cs, `SELECT `+connectionCols+` FROM connections
		WHERE tenant_id = $1 AND provider = $2 AND deleted_at IS NULL ORDER BY created_at, id`, tx.TenantID, provider)
	return cs, wrapConnErr(err)
}

// ProviderConnectionsPage pages through the live connections of a
// provider in ListProviderConnections' order: page.Limit of them after
// page.Cursor (ConnectionCursor of the last one read), and the cursor of
// the next page ("" after the last). A sync of every connection that
// outlasts its request goes on from the connection the request stopped
// at (lifecycle.Service.SyncFrom).
func (tx *Tx) ProviderConnectionsPage(ctx context.Context, provider string, page Page) ([]Connection, string, error) {
	after, err := page.decode()
	if err != nil {
		return nil, "", err
	}
	var cs []Connection
	err = tx.SelectContext(ctx, &cs, `SELECT `+connectionCols+` FROM connections
		WHERE tenant_id = $1 AND provider = $2 AND deleted_at IS NULL
			AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
		ORDER BY created_at, id LIMIT $5`, tx.TenantID, provider, after.Time, after.ID, page.Limit+1)
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	return trimPage(cs, page.Limit, func(c Connection) pageKey { return pageKey{Time: c.CreatedAt, ID: c.ID} })
}

// ConnectionCursor is the ProviderConnectionsPage cursor whose page
// starts after c.
func ConnectionCursor(c *Connection) (string, error) {
	return encodePageKey(pageKey{Time: c.CreatedAt, ID: c.ID})
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

// SetPushEnabled records whether webhooks or watch channels deliver for it.
func (tx *Tx) SetPushEnabled(ctx context.Context, id string, on bool) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET push_enabled = $3, updated_at = now()
		WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID, on)
	return wrapConnErr(err)
}

// RenameAccount stores what the provider now names a connection's account
// (its display name and account JSON; the external id stays) over the
// account JSON the caller read, was. It reports false, storing nothing,
// when the row holds another account JSON since (a re-authorization stored
// a fresher one) or the connection is deleted.
func (tx *Tx) RenameAccount(ctx context.Context, id string, was, account json.RawMessage, displayName string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE connections SET display_name = $3, account = $4, updated_at = now()
		WHERE id = $1 AND tenant_id = $5 AND account = $2::jsonb AND deleted_at IS NULL`,
		id, jsonOrEmpty(was), CleanText(displayName), accountJSON(account), tx.TenantID)
	if err != nil {
		return false, wrapConnErr(err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapConnErr(err)
}

// DeleteConnection soft-deletes a connection: tokens are erased, routes and
// cursors removed, its queued and running jobs cancelled; Signals are kept
// unless purge is true, and so are the fingerprints of the objects they
// describe: re-connecting the same account revives the row and reads on
// from them (without them a revived Calendar connection stored an
// "updated" for every event edited since its creation, by the rule for
// events first seen before fingerprints existed). With purge, the
// fingerprints go and the connection is marked for its Signals' purge,
// which DB.PurgeConnectionSignals runs in short transactions once this one
// has committed: deleting them here held every tenant's feed back for as
// long as the delete ran (the feed horizon waits for transactions that
// write Signals).
//
// The order is the lock order of a sync page's store transaction (Signals,
// cursor, fingerprints, then the job), so a delete beside a running page
// waits for it instead of deadlocking with it; the connection's row comes
// first, and a page writing its stream's first cursor holds that row
// (AdvanceCursor), so one of the two waits for the other before either
// touches anything else the other holds. Cancelling the jobs first
// (as the API's delete once did) held the job row while waiting for the
// page's cursor, and the page waited for the job (SQLSTATE 40P01, a 500).
func (tx *Tx) DeleteConnection(ctx context.Context, id string, purge bool) error {
	res, err := tx.ExecContext(ctx, `UPDATE connections SET deleted_at = now(), access_token_ct = NULL,
			refresh_token_ct = NULL, prev_refresh_token_ct = NULL, token_expires_at = NULL, push_enabled = false,
			activation_pending = NULL, activation_pending_at = NULL, backfill_held = false,
			watch_retry_at = NULL, watch_retry_since = NULL, updated_at = now()
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
		`DELETE FROM connection_resources WHERE connection_id = $1 AND tenant_id = $2`,
		`DELETE FROM account_claims WHERE connection_id = $1 AND tenant_id = $2`,
	} {
		if _, err := tx.ExecContext(ctx, q, id, tx.TenantID); err != nil {
			return wrapConnErr(err)
		}
	}
	if purge {
		for _, q := range []string{
			`UPDATE connections SET signals_purge_before = 'infinity' WHERE id = $1 AND tenant_id = $2`,
			`DELETE FROM fingerprints WHERE connection_id = $1 AND tenant_id = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, id, tx.TenantID); err != nil {
				return wrapConnErr(err)
			}
		}
	}
	return tx.CancelOpenJobs(ctx, id, "connection deleted")
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

// LiveConnectionIDs answers which of ids name connections not deleted (run
// with WithSystem).
func (tx *Tx) LiveConnectionIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	var live []string
	if err := tx.SelectContext(ctx, &live, `SELECT id FROM connections WHERE id = ANY($1::text[]::uuid[]) AND deleted_at IS NULL`, ids); err != nil {
		return nil, wrapConnErr(err)
	}
	out := make(map[string]bool, len(live))
	for _, id := range live {
		out[id] = true
	}
	return out, nil
}
