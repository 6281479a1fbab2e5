package db

import (
	"context"
	"time"
)

// WatchChannel is a registered push channel or webhook of a connection.
type WatchChannel struct {
	ID           string     `db:"id"`
	TenantID     string     `db:"tenant_id"`
	ConnectionID string     `db:"connection_id"`
	Provider     string     `db:"provider"`
	ChannelID    string     `db:"channel_id"`
	ResourceID   string     `db:"resource_id"`
	Target       string     `db:"target"`
	Stream       string     `db:"stream"`
	RouteKey     string     `db:"route_key"`
	ExpiresAt    *time.Time `db:"expires_at"`
	CreatedAt    time.Time  `db:"created_at"`
	StoppedAt    *time.Time `db:"stopped_at"`
}

const watchCols = `id, tenant_id, connection_id, provider, channel_id, resource_id, target, stream, route_key, expires_at, created_at, stopped_at`

// InsertWatchChannel stores a new channel (idempotent on provider + channel id).
func (tx *Tx) InsertWatchChannel(ctx context.Context, w WatchChannel) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO watch_channels
			(tenant_id, connection_id, provider, channel_id, resource_id, target, stream, route_key, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (provider, channel_id) DO NOTHING`,
		tx.TenantID, w.ConnectionID, w.Provider, w.ChannelID, w.ResourceID, w.Target, w.Stream, w.RouteKey, w.ExpiresAt)
	return wrapConnErr(err)
}

// ActiveWatchChannels lists a connection's channels that are not stopped.
func (tx *Tx) ActiveWatchChannels(ctx context.Context, connID string) ([]WatchChannel, error) {
	var out []WatchChannel
	err := tx.SelectContext(ctx, &out, `SELECT `+watchCols+` FROM watch_channels
		WHERE connection_id = $1 AND tenant_id = $2 AND stopped_at IS NULL ORDER BY target, created_at`, connID, tx.TenantID)
	return out, wrapConnErr(err)
}

// MarkWatchStopped records that a channel no longer delivers.
func (tx *Tx) MarkWatchStopped(ctx context.Context, id string) error {
	_, err := tx.ExecContext(ctx, `UPDATE watch_channels SET stopped_at = coalesce(stopped_at, now())
		WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID)
	return wrapConnErr(err)
}

// WatchesDue lists (system scope) the connections with an active channel
// due for renewal at now: within a day of expiry, or within the last third
// of its lifetime for short-lived channels.
func (tx *Tx) WatchesDue(ctx context.Context, now time.Time, limit int) ([]DueConnection, error) {
	var out []DueConnection
	err := tx.SelectContext(ctx, &out, `SELECT DISTINCT c.id, c.tenant_id, c.provider FROM watch_channels w
		JOIN connections c ON c.id = w.connection_id
		WHERE w.stopped_at IS NULL AND w.expires_at IS NOT NULL
		  AND w.expires_at <= $1::timestamptz + least(interval '24 hours', (w.expires_at - w.created_at) / 3)
		  AND c.deleted_at IS NULL AND NOT c.paused AND c.health IN ('healthy', 'degraded')
		LIMIT $2`, now, limit)
	return out, wrapConnErr(err)
}
