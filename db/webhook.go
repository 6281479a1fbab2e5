package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lib/pq"
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
}

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

// LookupRoutes finds (system scope) the live connections a delivery's route
// keys point at.
func (tx *Tx) LookupRoutes(ctx context.Context, provider string, keys []string) ([]Route, error) {
	var out []Route
	err := tx.SelectContext(ctx, &out, `SELECT r.provider, r.route_key, r.connection_id, r.tenant_id, r.stream, c.paused, c.health
		FROM webhook_routes r JOIN connections c ON c.id = r.connection_id AND c.deleted_at IS NULL
		WHERE r.provider = $1 AND r.route_key = ANY($2::text[])
		ORDER BY r.connection_id, r.stream`, provider, pq.StringArray(keys))
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
}

// RecordWebhook stores a delivery (system scope). It returns false when the
// provider's delivery id was already recorded: a redelivery that must change
// nothing. Concurrent duplicates serialize on the unique index; exactly one
// wins.
func (tx *Tx) RecordWebhook(ctx context.Context, e WebhookEvent) (bool, error) {
	var id string
	err := tx.GetContext(ctx, &id, `INSERT INTO webhook_events
			(provider, delivery_id, event, status, tenant_ids, connection_ids, signals, raw_body)
		VALUES ($1, $2, $3, $4, $5::uuid[], $6::uuid[], $7, $8)
		ON CONFLICT (provider, delivery_id) DO NOTHING RETURNING id`,
		e.Provider, e.DeliveryID, e.Event, e.Status, pq.StringArray(append([]string{}, e.TenantIDs...)),
		pq.StringArray(append([]string{}, e.ConnectionIDs...)), e.Signals, e.RawBody)
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
