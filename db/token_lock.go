package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/poblysh/poblysh"
)

// TokenLock is a connection's token lock, held by one database session
// across several short transactions, so that a refresh can call the
// provider outside any transaction and store what it answered in a
// transaction of its own that commits at once, while the sweeper and
// on-demand refreshes on every worker still take turns. It is a
// session-level advisory lock keyed by the connection row rather than
// SELECT FOR UPDATE: nothing holds a transaction (or a transaction id, which
// would hold back the Signals feed) while the provider answers, and a
// session that ends releases it.
//
// The server ends the lock's session, and so frees the lock, when its
// holder stops answering: a session idle (between the holder's statements,
// in a transaction or not) for longer than Options.TokenLockIdle, and one
// whose peer vanished without closing the connection (a host powered off
// or cut off: TCP keepalive probes from 10 s idle, every 5 s, three
// unanswered; data unacknowledged for 25 s). With the server's defaults
// (the operating system's keepalive: over two hours) the connection's
// refreshes waited for a dead worker that long.
type TokenLock struct {
	conn     *sqlx.Conn
	tenantID string
	connID   string
	// reset gives the session back the settings it had (tokenLockReset,
	// then the pool's keepalive).
	reset string
}

// Bounds of token locks (Options.TokenLockIdle and TokenLockWait).
const (
	// DefaultTokenLockIdle is longer than a holder's longest gap between
	// statements on the lock's session: a refresh's provider exchanges
	// (at most three of 30 s, then its answer is stored at once).
	DefaultTokenLockIdle = 2 * time.Minute
	// DefaultTokenLockWait bounds the wait for the lock: a waiter gives up
	// (ErrTokenLockBusy) and is retried rather than hold a pool session
	// while a slow provider keeps the holder busy.
	DefaultTokenLockWait = 30 * time.Second
)

// ErrTokenLockBusy is LockTokens' error when the lock stayed held for
// longer than the wait allows. Its code is unavailable: try again later.
var ErrTokenLockBusy = errors.New("db: the connection's token lock stayed held by another session")

type tokenLockBounds struct{ idle, wait time.Duration }

// settings are what the lock's session is SET to while it holds the lock
// (tokenLockReset undoes them). lock_timeout bounds the wait for the lock
// and, while it is held, the holder's own row-lock waits.
func (b tokenLockBounds) settings() string {
	ms := func(d time.Duration) int64 { return max(d.Milliseconds(), 1) }
	return fmt.Sprintf("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; "+
		"SET tcp_user_timeout = 25000; SET idle_session_timeout = %d; SET idle_in_transaction_session_timeout = %d; "+
		"SET lock_timeout = %d", ms(b.idle), ms(b.idle), ms(b.wait))
}

// tokenLockReset gives a lock's session back the server's settings; the
// pool's own keepalive is then set again (DB.keepalive).
const tokenLockReset = "RESET tcp_keepalives_idle; RESET tcp_keepalives_interval; RESET tcp_keepalives_count; " +
	"RESET tcp_user_timeout; RESET idle_session_timeout; RESET idle_in_transaction_session_timeout; RESET lock_timeout"

const tokenLockKey = `hashtextextended('poblysh-token:' || $1, 0)`

// LockTokens waits for a connection's token lock on a session of its own,
// for at most Options.TokenLockWait (then ErrTokenLockBusy). Release it
// when done.
func (d *DB) LockTokens(ctx context.Context, tenantID, connID string) (*TokenLock, error) {
	if tenantID == "" {
		return nil, errors.New("db: tenant id is required")
	}
	c, err := d.X.Connx(ctx)
	if err != nil {
		return nil, wrapConnErr(err)
	}
	l := &TokenLock{conn: c, tenantID: tenantID, connID: connID, reset: tokenLockReset + d.keepalive}
	if _, err := c.ExecContext(ctx, d.tokenLock.settings()); err != nil {
		l.discard()
		return nil, wrapConnErr(err)
	}
	if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock(`+tokenLockKey+`)`, connID); err != nil {
		// A cancelled wait may still have been granted: never hand this
		// session back to the pool.
		l.discard()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available: lock_timeout
			return nil, &poblysh.Error{Code: poblysh.EUNAVAILABLE, Message: "another refresh of the connection's token is taking long; try again",
				Err: fmt.Errorf("%w for %s: %w", ErrTokenLockBusy, d.tokenLock.wait, err)}
		}
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

// Release unlocks and hands the session back to the pool with its
// settings reset; a session that cannot unlock (or reset) is closed
// instead, which releases the lock too.
func (l *TokenLock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var unlocked bool
	err := l.conn.GetContext(ctx, &unlocked, `SELECT pg_advisory_unlock(`+tokenLockKey+`)`, l.connID)
	if err == nil && unlocked {
		_, err = l.conn.ExecContext(ctx, l.reset)
	}
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
