package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Identity names the database this process works on. Workers put it into
// their Temporal identity, so a worker can tell whether the other pollers
// of its task queue share its database. Both parts are short hashes, so
// that no host or database name reaches Temporal.
type Identity struct {
	// Database hashes the database's own id (the one row of
	// database_identity, a random UUID drawn by migration 0037), its name
	// and the schema (tests use one schema per test): every connection to
	// the database has it, whatever address it reaches the server at, and
	// no other database has it (a copy keeps the id: see the migration).
	Database string
	// Address hashes the server's address and port, the database's name
	// and the schema: what earlier versions reported as the identity. Two
	// servers reached alike (a Unix socket, 127.0.0.1:5432 on two hosts,
	// one container address in two compose projects) share it; it is kept
	// only for the workers of a rolling upgrade (engine.CheckTaskQueue).
	Address string
}

// Identity reads the database's identity.
func (d *DB) Identity(ctx context.Context) (Identity, error) {
	var id *string
	var where string
	err := d.Pool.QueryRow(ctx, `SELECT
		(SELECT id::text FROM database_identity) || '/' || current_database() || '/' || current_schema(),
		coalesce(host(inet_server_addr()), 'socket') || ':' || coalesce(inet_server_port()::text, '') || '/' ||
			current_database() || '/' || current_schema()`).Scan(&id, &where)
	if err != nil {
		return Identity{}, fmt.Errorf("db: identity: %w", wrapConnErr(err))
	}
	if id == nil {
		return Identity{}, fmt.Errorf("db: identity: database_identity has no row; as the database owner: INSERT INTO database_identity DEFAULT VALUES")
	}
	return Identity{Database: shortHash(*id), Address: shortHash(where)}, nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
