package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// ErrCursorMoved means another writer advanced the cursor since it was read;
// the page must be fetched again from the new position.
var ErrCursorMoved = errors.New("db: sync cursor moved under us")

// Cursor is a stream's stored position.
type Cursor struct {
	Value   json.RawMessage
	Version int64
	// UpdatedAt is when the cursor last moved (or was reset); zero when
	// none is stored.
	UpdatedAt time.Time
}

// GetCursor returns a stream's cursor (zero Cursor when none is stored).
func (tx *Tx) GetCursor(ctx context.Context, connID, stream string) (Cursor, error) {
	var row struct {
		Value     []byte    `db:"cursor"`
		Version   int64     `db:"version"`
		UpdatedAt time.Time `db:"updated_at"`
	}
	err := tx.GetContext(ctx, &row, `SELECT cursor, version, updated_at FROM sync_cursors
		WHERE connection_id = $1 AND stream = $2 AND tenant_id = $3`, connID, stream, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return Cursor{}, nil
	}
	if err != nil {
		return Cursor{}, wrapConnErr(err)
	}
	return Cursor{Value: row.Value, Version: row.Version, UpdatedAt: row.UpdatedAt}, nil
}

// AdvanceCursor stores next if the cursor is still at version seen
// (optimistic check), in the caller's transaction — the one that stores the
// page's Signals. It returns ErrCursorMoved when another writer won.
func (tx *Tx) AdvanceCursor(ctx context.Context, connID, stream string, next json.RawMessage, seen int64) error {
	var val any
	if len(next) > 0 {
		val = []byte(next)
	}
	// Only a writer that saw no cursor (version 0) inserts the first one; a
	// row deleted under a running page (the connection was deleted) must
	// not come back from its stale version. The first one is written only
	// for a live connection, whose row it holds FOR SHARE: a delete (its
	// first statement updates that row) either waits for this page, and
	// then removes what it stored, or comes first and this page stores
	// nothing (ErrCursorMoved rolls its Signals back). Without it, the first
	// page of a stream without a cursor row outlived a purging delete.
	var res sql.Result
	var err error
	if seen == 0 {
		res, err = tx.ExecContext(ctx, `INSERT INTO sync_cursors (connection_id, stream, tenant_id, cursor, version)
			SELECT $1, $2, $3, $4, 1 FROM connections WHERE id = $1 AND tenant_id = $3 AND deleted_at IS NULL FOR SHARE
			ON CONFLICT (connection_id, stream) DO NOTHING`, connID, stream, tx.TenantID, val)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE sync_cursors SET cursor = $4, version = version + 1, updated_at = now()
			WHERE connection_id = $1 AND stream = $2 AND tenant_id = $3 AND version = $5`, connID, stream, tx.TenantID, val, seen)
	}
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrCursorMoved
	}
	return nil
}

// ResetCursor clears a stream's cursor so the next page starts a full read.
func (tx *Tx) ResetCursor(ctx context.Context, connID, stream string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_cursors (connection_id, stream, tenant_id, cursor, version)
		VALUES ($1, $2, $3, NULL, 1)
		ON CONFLICT (connection_id, stream) DO UPDATE SET cursor = NULL,
			version = sync_cursors.version + 1, updated_at = now()`, connID, stream, tx.TenantID)
	return wrapConnErr(err)
}

// MoveCursor moves a stream's cursor to another stream of the connection
// (the stream's resource moved: connectors.ResourceMover), so the new
// stream goes on from there. A target that has a cursor keeps it; the
// source's row goes either way, and a writer still holding it finds it
// moved (ErrCursorMoved). It reports whether the cursor moved.
func (tx *Tx) MoveCursor(ctx context.Context, connID, from, to string) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO sync_cursors (connection_id, stream, tenant_id, cursor, version)
		SELECT connection_id, $3, tenant_id, cursor, 1 FROM sync_cursors
		WHERE connection_id = $1 AND stream = $2 AND tenant_id = $4 AND cursor IS NOT NULL
		ON CONFLICT (connection_id, stream) DO NOTHING`, connID, from, to, tx.TenantID)
	if err != nil {
		return false, wrapConnErr(err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `DELETE FROM sync_cursors WHERE connection_id = $1 AND stream = $2 AND tenant_id = $3`,
		connID, from, tx.TenantID); err != nil {
		return false, wrapConnErr(err)
	}
	return n == 1, nil
}

// CursorInfo summarizes a stream's position for the API.
type CursorInfo struct {
	Stream    string    `db:"stream"`
	UpdatedAt time.Time `db:"updated_at"`
	HasCursor bool      `db:"has_cursor"`
}

// ListCursors summarizes every stream cursor of a connection.
func (tx *Tx) ListCursors(ctx context.Context, connID string) ([]CursorInfo, error) {
	var out []CursorInfo
	err := tx.SelectContext(ctx, &out, `SELECT stream, updated_at, cursor IS NOT NULL AS has_cursor
		FROM sync_cursors WHERE connection_id = $1 AND tenant_id = $2 ORDER BY stream`, connID, tx.TenantID)
	return out, wrapConnErr(err)
}
