package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
)

// TokenLock is a connection's token lock, held by one database session
// across several short transactions, so that a refresh can call the
// provider outside any transaction and store what it answered in a
// transaction of its own that commits at once, while the sweeper and
// on-demand refreshes on every worker still take turns. It is a
// session-level advisory lock keyed by the connection row rather than
// SELECT FOR UPDATE: nothing holds a transaction (or a transaction id, which
// would hold back the Signals feed) while the provider answers, and a
// session that dies releases it.
type TokenLock struct {
	conn     *sqlx.Conn
	tenantID string
	connID   string
}

const tokenLockKey = `hashtextextended('poblysh-token:' || $1, 0)`

// LockTokens waits for a connection's token lock on a session of its own.
// Release it when done.
func (d *DB) LockTokens(ctx context.Context, tenantID, connID string) (*TokenLock, error) {
	if tenantID == "" {
		return nil, errors.New("db: tenant id is required")
	}
	c, err := d.X.Connx(ctx)
	if err != nil {
		return nil, wrapConnErr(err)
	}
	l := &TokenLock{conn: c, tenantID: tenantID, connID: connID}
	if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock(`+tokenLockKey+`)`, connID); err != nil {
		// A cancelled wait may still have been granted: never hand this
		// session back to the pool.
		l.discard()
		return nil, wrapConnErr(err)
	}
	return l, nil
}

// Tx runs fn in a short transaction of the lock's tenant on the lock's
// session; it commits when fn returns nil.
func (l *TokenLock) Tx(ctx context.Context, fn func(*Tx) error) error {
	err := runTx(ctx, l.conn, txScope{tenantID: l.tenantID}, fn, nil) // token writes only: no Signals to announce
	var stale *staleSessionError
	if errors.As(err, &stale) {
		return wrapConnErr(stale.err) // the lock died with its session
	}
	return err
}

// Alive reports whether the lock's session still answers (a session that
// died took the lock with it).
func (l *TokenLock) Alive(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return l.conn.PingContext(ctx) == nil
}

// Release unlocks and hands the session back to the pool; a session that
// cannot unlock is closed instead, which releases the lock too.
func (l *TokenLock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var unlocked bool
	err := l.conn.GetContext(ctx, &unlocked, `SELECT pg_advisory_unlock(`+tokenLockKey+`)`, l.connID)
	if err != nil || !unlocked {
		l.discard()
		return
	}
	_ = l.conn.Close()
}

// discard closes the session's network connection, so the pool drops it.
func (l *TokenLock) discard() {
	_ = l.conn.Raw(func(dc any) error {
		if c, ok := dc.(*stdlib.Conn); ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = c.Conn().Close(ctx)
		}
		return driver.ErrBadConn
	})
	_ = l.conn.Close()
}
