package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Identity names the database this process works on: a short hash of the
// server's address and port, the database and the schema (tests use one
// schema per test). Workers put it into their Temporal identity, so a worker
// can tell whether the other pollers of its task queue share its database.
// It is a hash so that no host or database name reaches Temporal.
func (d *DB) Identity(ctx context.Context) (string, error) {
	var where string
	err := d.Pool.QueryRow(ctx, `SELECT coalesce(host(inet_server_addr()), 'socket') || ':' ||
		coalesce(inet_server_port()::text, '') || '/' || current_database() || '/' || current_schema()`).Scan(&where)
	if err != nil {
		return "", fmt.Errorf("db: identity: %w", wrapConnErr(err))
	}
	sum := sha256.Sum256([]byte(where))
	return hex.EncodeToString(sum[:6]), nil
}
