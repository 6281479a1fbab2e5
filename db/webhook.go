package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/poblysh/poblysh"
)

// Route is a webhook route: deliveries carrying RouteKey at Provider belong
// to ConnectionID (and, for watch channels, to one Stream).
type Route struct {
	Provider     string `db:"provider"`
	RouteKey     string `db:"route_key"`
	ConnectionID string `db:"connection_id"`
	TenantID     string `db:"tenant_id"`
	Stream       string `db:"stream"`
	// Filled by LookupRoutes from the connection.
	Paused bool   `db:"paused"`
	Health string `db:"health"`
	// AccountID is the connection's external account id (a Jira site's
	// cloud id), filled by LookupRoutes.
	AccountID string `db:"account_id"`
}

// Active reports whether the route's connection takes deliveries (as
// Connection.Active): not paused, and its health lets work be scheduled.
func (r Route) Active() bool { return !r.Paused && poblysh.Health(r.Health).Schedulable() }

// ReplaceRoutes sets a connection's complete route set (static keys from the
// connector plus its active watch channels).
func (tx *Tx) ReplaceRoutes(ctx context.Context, connID, provider string, routes []Route) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_routes WHERE connection_id = $1 AND tenant_id = $2`, connID, tx.TenantID); err != nil {
		return wrapConnErr(err)
	}
	for _, r := range routes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_routes (provider, route_key, connection_id, tenant_id, stream)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, provider, r.RouteKey, connID, tx.TenantID, r.Stream); err != nil {
			return wrapConnErr(err)
		}
	}
	return nil
}

// RebuildRoutes recomputes a connection's webhook routes from what it has
// proved: static keys the connector derives from the account itself (a
// Slack team), the route keys of its granted resources, and its active
// watch channels that watch a target its config still names (watched
// says which: nil routes every active channel) and whose resource's
// access was not lost. Nothing a config merely names is ever routed, and
// a channel of a target it no longer names (a repository a PATCH
// removed, whose hook stays at the provider until a watch pass deletes
// it) routes nothing from the moment the change commits.
func (tx *Tx) RebuildRoutes(ctx context.Context, connID, provider string, static []string, watched func(target string) bool) error {
	resources, err := tx.ListResources(ctx, connID)
	if err != nil {
		return err
	}
	channels, err := tx.ActiveWatchChannels(ctx, connID)
	if err != nil {
		return err
	}
	lost := map[string]bool{}
	var routes []Route
	for _, k := range static {
		routes = append(routes, Route{RouteKey: k})
	}
	for _, r := range resources {
		if r.Access != AccessGranted {
			lost[r.Ref] = true
			continue
		}
		for _, k := range r.RouteKeys {
			routes = append(routes, Route{RouteKey: k})
		}
	}
	for _, c := range channels {
		if !lost[c.Target] && (watched == nil || watched(c.Target)) {
			routes = append(routes, Route{RouteKey: c.RouteKey, Stream: c.Stream})
		}
	}
	return tx.ReplaceRoutes(ctx, connID, provider, routes)
}

// LookupRoutesSQL is LookupRoutes' statement: $1 the provider, $2 the
// delivery's route keys. Exported, like RecordWebhookStatement,
// InsertSignalsStatement and SystemSignalsSQL, for the benchmark that runs
// the intake's statements on a raw pool (webhook.BenchmarkIntakeLayers).
const LookupRoutesSQL = `SELECT r.provider, r.route_key, r.connection_id, r.tenant_id, r.stream, c.paused, c.health,
		c.external_account_id AS account_id
		FROM webhook_routes r JOIN connections c ON c.id = r.connection_id AND c.deleted_at IS NULL
		WHERE r.provider = $1 AND r.route_key = ANY($2::text[])
		ORDER BY r.connection_id, r.stream`

// RecordWebhookStatement is the statement RecordWebhook sends for e, with
// its arguments. The id lists go as text[] and Postgres casts them: pgx
// has no binary encoding of a []string as uuid[], and found that out on
// every delivery (planning the encoding, building an error that quotes the
// value, then encoding it as text: about a tenth of the intake's
// transaction in a CPU profile).
func RecordWebhookStatement(e WebhookEvent) (string, []any) {
	return `INSERT INTO webhook_events
			(provider, delivery_id, event, status, tenant_ids, connection_ids, signals, raw_body, body_hash)
		VALUES ($1, $2, $3, $4, $5::text[]::uuid[], $6::text[]::uuid[], $7, $8, $9)
		ON CONFLICT DO NOTHING RETURNING id`,
		[]any{e.Provider, e.DeliveryID, e.Event, e.Status, append([]string{}, e.TenantIDs...),
			append([]string{}, e.ConnectionIDs...), e.Signals, e.RawBody, e.BodyHash}
}

// WithSystemRoutes is the webhook intake's transaction: WithSystem, or
// WithSystemSignals when lockSignals, whose opening round trip also looks
// up the routes of provider's keys (LookupRoutes) for fn.
func (d *DB) WithSystemRoutes(ctx context.Context, lockSignals bool, provider string, keys []string, fn func(*Tx, []Route) error) error {
	var routes []Route
	s := txScope{system: true, lockSignals: lockSignals, open: func(b *pgx.Batch) func(pgx.BatchResults) error {
		b.Queue(LookupRoutesSQL, provider, keys)
		return func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			routes, err = pgx.CollectRows(rows, pgx.RowToStructByName[Route])
			return err
		}
	}}
	return d.inTx(ctx, s, func(tx *Tx) error { return fn(tx, routes) })
}

// LookupRoutes finds (system scope) the connections, not deleted, a
// delivery's route keys point at, with their pause, health and account.
func (tx *Tx) LookupRoutes(ctx context.Context, provider string, keys []string) ([]Route, error) {
	var out []Route
	err := tx.SelectContext(ctx, &out, LookupRoutesSQL, provider, keys)
	return out, wrapConnErr(err)
}

// WebhookEvent is one inbound delivery, recorded once per provider delivery id.
type WebhookEvent struct {
	Provider      string
	DeliveryID    string
	Event         string
	Status        string // accepted, unroutable, ignored
	TenantIDs     []string
	ConnectionIDs []string
	Signals       int
	RawBody       []byte
	// BodyHash, when set, makes the delivery unique by it as well as by
	// DeliveryID: the same signed body under another delivery id is a replay.
	BodyHash []byte
}

// RecordWebhook stores a delivery (system scope). It returns false when the
// provider's delivery id, or the body hash, was already recorded: a
// redelivery or a replay that must change nothing. Concurrent duplicates
// serialize on the unique indexes; exactly one wins.
func (tx *Tx) RecordWebhook(ctx context.Context, e WebhookEvent) (bool, error) {
	var id string
	q, args := RecordWebhookStatement(e)
	err := tx.GetContext(ctx, &id, q, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrapConnErr(err)
	}
	return true, nil
}

// SetWebhookSignals records how many Signals a delivery stored.
func (tx *Tx) SetWebhookSignals(ctx context.Context, provider, deliveryID string, n int) error {
	_, err := tx.ExecContext(ctx, `UPDATE webhook_events SET signals = $3 WHERE provider = $1 AND delivery_id = $2`, provider, deliveryID, n)
	return wrapConnErr(err)
}
