// Package db is the Postgres adapter: a pgx pool with sqlx on top, embedded
// forward-only migrations, and one store file per noun. Every tenant-scoped
// statement runs in a transaction that sets poblysh.tenant_id, so row-level
// security backs up the WHERE tenant_id filter each query also carries.
package db

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/poblysh/poblysh"
)

// DB is the application's database handle.
type DB struct {
	Pool *pgxpool.Pool
	X    *sqlx.DB
	// announce wakes the feed's long polls after Signals commit.
	announce *announcer
	// schema is Options.Schema: the listener listens from it.
	schema string
	// feed is the connection settings of the feed's own sessions, the
	// announcer's and the listener's (feedSessionConfig).
	feed *pgx.ConnConfig
	// tokenLock bounds token locks (Options.TokenLockIdle, TokenLockWait).
	tokenLock tokenLockBounds
	// writerIdle is Options.SignalWriterIdle (0 in a DB not made by Open:
	// DefaultSignalWriterIdle).
	writerIdle time.Duration
	// keepalive is what sets a pool session's TCP keepalive (keepaliveSQL;
	// "" in a DB not made by Open): a token lock's release sets it again.
	keepalive string
	// probe is Ping's pool of one session, outside Pool: a Pool whose
	// every session is taken (token locks held while providers answer)
	// is busy, not down, and must not fail the readiness probe.
	probe *pgxpool.Pool
}

// Options tune Open.
type Options struct {
	// Role is SET on every connection (row-level security then applies even
	// when the URL names a superuser). "" keeps the login role.
	Role string
	// Schema sets search_path on every connection (tests use one per test).
	Schema string
	// MaxConns caps the pool; 0 keeps pgx's default.
	MaxConns int32
	// Timeout bounds Open's connection and checks; 0 is openTimeout.
	Timeout time.Duration
	// TokenLockIdle is how long a token lock's session may sit idle before
	// the server ends it, which frees the lock (LockTokens); 0 is
	// DefaultTokenLockIdle. Tests shorten it.
	TokenLockIdle time.Duration
	// TokenLockWait bounds the wait for a token lock; 0 is
	// DefaultTokenLockWait.
	TokenLockWait time.Duration
	// SignalWriterIdle is how long a transaction that writes Signals may
	// sit idle between its statements before the server ends its session
	// (txScope.sql); 0 is DefaultSignalWriterIdle. Tests shorten it.
	SignalWriterIdle time.Duration
}

// DefaultSignalWriterIdle bounds how long a transaction that writes
// Signals may sit idle in the middle (idle_in_transaction_session_timeout,
// for that transaction only). Every such transaction holds back every
// tenant's feed until it ends (the feed horizon, FeedHorizonSQL), and one
// whose client stopped (a worker's process frozen, its host cut off or
// powered off) ended only when the server dropped the session: with the
// server's defaults, when TCP keepalive gave up, over two hours later. The
// writers send their statements one after the other, with no provider or
// other slow call between them (a webhook delivery's nudges of Temporal,
// the slowest, are bounded at 1 s per connection and the whole delivery at
// 30 s); 30 s is far above any gap they leave.
const DefaultSignalWriterIdle = 30 * time.Second

// poolKeepalive is the server-side TCP keepalive every pool session asks
// for: a session whose client vanished (a host powered off or cut off: no
// FIN, no RST) is ended by the server after about 25 s idle (probes from
// 10 s, every 5 s, three unanswered) or 25 s of data it sent
// unacknowledged (tcp_user_timeout), instead of after the operating
// system's keepalive default (7,200 s idle, then nine probes 75 s apart).
// A writer of Signals that vanished held every tenant's feed that long.
// The token lock's session asks for the same (tokenLockBounds.settings),
// and the feed's own sessions dial with the client's side of it
// (feedSessionConfig).
var poolKeepalive = []struct{ name, value string }{
	{"tcp_keepalives_idle", strconv.Itoa(int(feedKeepAliveIdle.Seconds()))},
	{"tcp_keepalives_interval", strconv.Itoa(int(feedKeepAliveInterval.Seconds()))},
	{"tcp_keepalives_count", strconv.Itoa(feedKeepAliveCount)},
	{"tcp_user_timeout", strconv.FormatInt(feedUserTimeout.Milliseconds(), 10)},
}

// keepaliveSQL SETs poolKeepalive, except what the URL sets itself (a
// parameter, or in options): an operator's choice. Any role may. Sent with
// the session's other settings (Open's AfterConnect), in their round trip;
// "" when the URL sets them all.
func keepaliveSQL(cc *pgx.ConnConfig) string {
	var b strings.Builder
	for _, p := range poolKeepalive {
		if _, set := cc.RuntimeParams[p.name]; set || strings.Contains(cc.RuntimeParams["options"], p.name) {
			continue
		}
		fmt.Fprintf(&b, "; SET %s = %s", p.name, p.value)
	}
	return b.String()
}

// openTimeout bounds Open by default, as the Temporal dial is bounded:
// a Postgres that accepts TCP but never answers (a stuck proxy) must fail
// the start, naming the server, not hang it with nothing logged.
const openTimeout = 15 * time.Second

// connectTimeout is the connect_timeout of a URL that sets none (pgx has
// no default): without it a connection the pool opens later, or the
// feed's listener, waits for such a server for good.
const connectTimeout = 10 * time.Second

// setsConnectTimeout reports whether a URL (or key=value DSN) sets
// connect_timeout itself: an explicit 0, which means wait for good, is the
// operator's to choose.
func setsConnectTimeout(url string) bool { return strings.Contains(url, "connect_timeout=") }

// Open connects, checks the connection, and verifies the effective role
// cannot bypass row-level security.
func Open(ctx context.Context, url string, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse DATABASE_URL: %w", redact(err))
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 && !setsConnectTimeout(url) {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	keepalive := keepaliveSQL(cfg.ConnConfig)
	timeout := openTimeout
	if opt.Timeout > 0 {
		timeout = opt.Timeout
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// Plan every execution with its real parameters. Cached generic
		// plans cannot see that a feed cursor near the start of a large
		// feed matches most rows, and pick a bitmap scan plus sort that
		// reads them all (seconds at 1M Signals) instead of walking the
		// index for one page. Planning costs well under a millisecond.
		//
		// Run every transaction under READ COMMITTED, whatever the server,
		// database or role sets as default_transaction_isolation: the
		// feed's page statement must take a newer snapshot than its
		// horizon's (FeedHorizonSQL), and the retraction re-apply reads
		// what committed before it. Under a stricter default the feed
		// skipped a writer that committed between the horizon's reads.
		//
		// And the server's side of TCP keepalive (poolKeepalive).
		//
		// One simple-protocol round trip sets them all.
		if _, err := c.Exec(ctx, "SET plan_cache_mode = force_custom_plan; SET default_transaction_isolation = 'read committed'"+keepalive); err != nil {
			return err
		}
		if opt.Schema != "" {
			if _, err := c.Exec(ctx, "SELECT set_config('search_path', $1, false)", pgx.Identifier{opt.Schema}.Sanitize()); err != nil {
				return err
			}
		}
		if opt.Role != "" {
			if _, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{opt.Role}.Sanitize()); err != nil {
				return fmt.Errorf("SET ROLE %s (run migrations first, and grant the role to the login user): %w", opt.Role, err)
			}
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(octx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: %w", redact(err))
	}
	// Ping's session: the login role as the URL gives it, no set-up (it
	// runs only Ping's empty statement), opened at the first Ping.
	pcfg := cfg.Copy()
	pcfg.MaxConns, pcfg.MinConns, pcfg.MinIdleConns, pcfg.AfterConnect = 1, 0, 0, nil
	probe, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: %w", redact(err))
	}
	feed := feedSessionConfig(cfg.ConnConfig)
	d := &DB{schema: opt.Schema, Pool: pool, probe: probe, X: sqlx.NewDb(stdlib.OpenDBFromPool(pool), "pgx"), feed: feed,
		tokenLock:  tokenLockBounds{idle: cmp.Or(opt.TokenLockIdle, DefaultTokenLockIdle), wait: cmp.Or(opt.TokenLockWait, DefaultTokenLockWait)},
		writerIdle: cmp.Or(opt.SignalWriterIdle, DefaultSignalWriterIdle), keepalive: keepalive,
		announce: newAnnouncer(func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, feed) },
			defaultNotifyTimeout)}
	bypass, err := d.bypassesRLS(octx)
	if err != nil {
		d.Close()
		if ctx.Err() == nil && (octx.Err() != nil || pgconn.Timeout(err)) {
			// Name what timed out and the server, never the URL (it
			// may hold the password).
			what, after := "connecting and checking the role", timeout
			if octx.Err() == nil {
				what, after = "connect_timeout", cfg.ConnConfig.ConnectTimeout
			}
			return nil, fmt.Errorf("db: Postgres at %s did not answer within %s (%s): check DATABASE_URL, and that the server, or a proxy before it, answers",
				net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))), after, what)
		}
		return nil, fmt.Errorf("db: connect: %w", redact(err))
	}
	if bypass {
		d.Close()
		return nil, errors.New("db: the application role bypasses row-level security (superuser or BYPASSRLS); set POBLYSH_DB_ROLE to a restricted role such as poblysh_app")
	}
	return d, nil
}

// feedConfig is a copy of the settings of the feed's own sessions (a DB
// not made by Open has them from its pool's).
func (d *DB) feedConfig() *pgx.ConnConfig {
	if d.feed != nil {
		return d.feed.Copy()
	}
	return feedSessionConfig(d.Pool.Config().ConnConfig)
}

// bypassesRLS reports whether the effective role bypasses row-level
// security (superuser or BYPASSRLS).
func (d *DB) bypassesRLS(ctx context.Context) (bool, error) {
	var bypass bool
	err := d.Pool.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&bypass)
	return bypass, err
}

// Close closes the pools.
func (d *DB) Close() {
	d.announce.close()
	_ = d.X.Close()
	d.Pool.Close()
	if d.probe != nil {
		d.probe.Close()
	}
}

// Ping checks Postgres answers, on a session of its own outside Pool
// (opened at the first Ping, kept for the next): a Pool whose every
// session is taken is busy, not down. A DB not made by Open pings Pool.
func (d *DB) Ping(ctx context.Context) error {
	if d.probe == nil {
		return d.Pool.Ping(ctx)
	}
	return d.probe.Ping(ctx)
}

// Tx is a transaction scoped to one tenant (or to the system). Its
// statements run on the session that holds the transaction (runTx).
type Tx struct {
	*sqlx.Conn
	TenantID string
	// signalsLocked records LockSignals (the feed horizon's writer lock).
	signalsLocked bool
	// writerIdle is the idle bound LockSignals sets (txScope.writerIdle).
	writerIdle time.Duration
	// inserted lists the tenants this transaction stored Signals for
	// (announced to the feed's listeners after commit).
	inserted []string
}

// WithTenant runs fn in a transaction where row-level security admits only
// tenantID's rows. The transaction commits when fn returns nil.
func (d *DB) WithTenant(ctx context.Context, tenantID string, fn func(*Tx) error) error {
	if tenantID == "" {
		return errors.New("db: tenant id is required")
	}
	return d.inTx(ctx, txScope{tenantID: tenantID}, fn)
}

// WithTenantSignals is WithTenant for a transaction that stores Signals:
// its first statement also takes the signals writer lock (Tx.LockSignals),
// one round trip for both.
func (d *DB) WithTenantSignals(ctx context.Context, tenantID string, fn func(*Tx) error) error {
	if tenantID == "" {
		return errors.New("db: tenant id is required")
	}
	return d.inTx(ctx, txScope{tenantID: tenantID, lockSignals: true}, fn)
}

// WithSystem runs fn in a transaction that may see every tenant. Use it only
// where no tenant is known yet: API key lookup, webhook routing, OAuth
// callbacks, sweeps, retention, re-encryption.
func (d *DB) WithSystem(ctx context.Context, fn func(*Tx) error) error {
	return d.inTx(ctx, txScope{system: true}, fn)
}

// WithSystemSignals is WithSystem for a transaction that stores Signals
// (webhook intake), taking the signals writer lock in its first statement.
func (d *DB) WithSystemSignals(ctx context.Context, fn func(*Tx) error) error {
	return d.inTx(ctx, txScope{system: true, lockSignals: true}, fn)
}

// withSystemWriter is WithSystem for a transaction that changes Signals
// without storing any (a purge, a retention step): bounded in how long it
// may sit idle as a writer is (txScope.writesSignals).
func (d *DB) withSystemWriter(ctx context.Context, fn func(*Tx) error) error {
	return d.inTx(ctx, txScope{system: true, writesSignals: true}, fn)
}

// withTenantWriter is withSystemWriter in a tenant's scope (a re-applied
// retraction).
func (d *DB) withTenantWriter(ctx context.Context, tenantID string, fn func(*Tx) error) error {
	if tenantID == "" {
		return errors.New("db: tenant id is required")
	}
	return d.inTx(ctx, txScope{tenantID: tenantID, writesSignals: true}, fn)
}

func (d *DB) inTx(ctx context.Context, s txScope, fn func(*Tx) error) error {
	s.writerIdle = d.signalWriterIdle()
	for attempt := 0; ; attempt++ {
		err := d.onSession(ctx, func(c *sqlx.Conn) error { return runTx(ctx, c, s, fn, d.announce.announce) })
		var stale *staleSessionError
		if !errors.As(err, &stale) {
			return err
		}
		if attempt == 2 {
			return wrapConnErr(stale.err)
		}
		// Nothing ran: take another session, as database/sql's BeginTx
		// retries a connection found bad.
	}
}

// signalWriterIdle is the DB's Options.SignalWriterIdle.
func (d *DB) signalWriterIdle() time.Duration { return cmp.Or(d.writerIdle, DefaultSignalWriterIdle) }

// txScope is what a transaction may see (one tenant, or the system), and
// whether it takes the signals writer lock at its start.
type txScope struct {
	tenantID    string
	system      bool
	lockSignals bool
	// writesSignals: the transaction changes Signals without taking the
	// writer lock (a retraction, a purge, a retention step); any statement
	// that changes rows of signals holds the feed horizon as the lock does,
	// so it is bounded as a writer is (writerIdle).
	writesSignals bool
	// writerIdle is how long the transaction may sit idle once it takes
	// the signals lock, or from its start when writesSignals
	// (Options.SignalWriterIdle; 0: DefaultSignalWriterIdle).
	writerIdle time.Duration
	// open, when set, queues statements that go to Postgres with BEGIN
	// and the scope, in the same round trip, and returns what reads their
	// results (begin).
	open func(*pgx.Batch) func(pgx.BatchResults) error
}

// sql is a transaction's first statement: its scope, and the signals
// writer lock when asked for (set_config writes nothing, so the lock is
// still taken before the transaction's first write).
//
// A transaction that takes the lock, or writes Signals otherwise, also
// sets idle_in_transaction_session_timeout for itself (writerIdle): it
// holds back every tenant's feed until it ends, so a client that stops in
// its middle (a frozen process, a host gone) has the server end its
// session, and the transaction, once it has sent nothing for that long.
// In the same statement: no round trip of its own. Reset at its end.
//
// A transaction that stores Signals (a webhook delivery, a sync page) runs
// the same few statements of fixed shape, row by row and key by key, over
// and over: it lets Postgres reuse their generic plans (plan_cache_mode
// auto, for this transaction only) instead of the session's custom plan
// per execution, which the feed's reads need (Open) and these writes do
// not. Planning was about a quarter of the intake's statement time.
func (s txScope) sql() (string, []any) {
	first, lock := "SELECT ", ""
	if s.lockSignals {
		first, lock = "SELECT set_config('plan_cache_mode', 'auto', true), ", ", poblysh_lock_signals()"
	}
	if s.lockSignals || s.writesSignals {
		first += writerIdleSQL(s.writerIdle) + ", "
	}
	if s.system {
		return first + `set_config('poblysh.system', 'on', true)` + lock, nil
	}
	return first + `set_config('poblysh.tenant_id', $1, true)` + lock, []any{s.tenantID}
}

// SystemSignalsSQL is the first statement of a WithSystemSignals
// transaction (the webhook intake's), exported with LookupRoutesSQL.
var SystemSignalsSQL, _ = txScope{system: true, lockSignals: true}.sql()

// writerIdleSQL sets the transaction's idle_in_transaction_session_timeout
// to d (0: DefaultSignalWriterIdle), in milliseconds. A literal, not a
// parameter: the statement that opens the transaction keeps none where it
// had none (a parameter there is planned at every execution, change 19 of
// docs/performance.md).
func writerIdleSQL(d time.Duration) string {
	ms := max(cmp.Or(d, DefaultSignalWriterIdle).Milliseconds(), 1)
	return "set_config('idle_in_transaction_session_timeout', '" + strconv.FormatInt(ms, 10) + "', true)"
}

// onSession runs fn on a session taken from the pool, and gives it back
// (also when fn panics).
func (d *DB) onSession(ctx context.Context, fn func(*sqlx.Conn) error) error {
	c, err := d.X.Connx(ctx)
	if err != nil {
		return wrapConnErr(err)
	}
	defer func() { _ = c.Close() }()
	return fn(c)
}

// runTx runs fn in a transaction on the session c (taken from the pool
// for it, or held: a token lock's), scoped by s. After commit, the tenants
// it stored Signals for go to announce (may be nil).
//
// The transaction is driven on the session rather than with database/sql's
// BeginTx so that BEGIN and the scope's statement go to Postgres together,
// in one round trip (begin). Whatever happens, the session goes back to
// the pool outside any transaction, or is closed (end). An opening that
// failed because the session was already dead is a *staleSessionError:
// nothing ran, and inTx tries another session.
func runTx(ctx context.Context, c *sqlx.Conn, s txScope, fn func(*Tx) error, announce func([]string)) error {
	if err := begin(ctx, c, s); err != nil {
		return err
	}
	done := false
	defer func() {
		// Also runs on panic and runtime.Goexit (a failed test assertion).
		if !done {
			_ = end(c, false)
		}
	}()
	t := &Tx{Conn: c, TenantID: s.tenantID, signalsLocked: s.lockSignals, writerIdle: s.writerIdle}
	if err := fn(t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		// As database/sql's transactions do: a context that ended rolls
		// the transaction back (deferred).
		return err
	}
	done = true
	if err := end(c, true); err != nil {
		return wrapConnErr(err)
	}
	if announce != nil {
		announce(t.inserted)
	}
	return nil
}

// staleSessionError is an opening that failed on a session that was dead
// before the transaction began.
type staleSessionError struct{ err error }

func (e *staleSessionError) Error() string { return e.err.Error() }
func (e *staleSessionError) Unwrap() error { return e.err }

// begin sends BEGIN, the scope's first statement (txScope.sql) and the
// scope's opening statements (txScope.open) in one pipeline: one round
// trip where database/sql's BeginTx waits for BEGIN's answer before the
// first statement can go.
func begin(ctx context.Context, c *sqlx.Conn, s txScope) error {
	query, args := s.sql()
	var err error
	stale := false
	_ = c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			err = fmt.Errorf("db: unexpected driver connection %T", dc)
			return err
		}
		pc := sc.Conn()
		if pc.IsClosed() {
			stale, err = true, errors.New("db: the pooled session is closed")
			return driver.ErrBadConn
		}
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(query, args...)
		var read func(pgx.BatchResults) error
		if s.open != nil {
			read = s.open(b)
		}
		br := pc.SendBatch(ctx, b)
		if _, err = br.Exec(); err == nil {
			if _, err = br.Exec(); err == nil && read != nil {
				err = read(br)
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil && (pc.IsClosed() || pgconn.SafeToRetry(err)) && ctx.Err() == nil {
			stale = true
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case stale:
		_ = end(c, false)
		return &staleSessionError{err: err}
	}
	_ = end(c, false)
	if s.lockSignals {
		return fmt.Errorf("db: begin and lock signals: %w", wrapConnErr(err))
	}
	return wrapConnErr(err)
}

// end commits (commit) or rolls back the session's transaction. A session
// it cannot bring back outside a transaction (a COMMIT or ROLLBACK that
// failed, a connection lost) is closed, so the pool drops it rather than
// hand out a session inside a transaction. COMMIT of a transaction that
// an earlier statement aborted answers ROLLBACK: that is an error
// (pgx.ErrTxCommitRollback), as with database/sql.
func end(c *sqlx.Conn, commit bool) error {
	var err error
	_ = c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return driver.ErrBadConn
		}
		pc := sc.Conn()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		switch {
		case pc.IsClosed():
			err = errors.New("db: conn closed inside the transaction")
		case commit:
			var tag pgconn.CommandTag
			if tag, err = pc.Exec(ctx, "COMMIT"); err == nil && tag.String() == "ROLLBACK" {
				err = pgx.ErrTxCommitRollback
			}
		case pc.PgConn().TxStatus() != 'I':
			_, err = pc.Exec(ctx, "ROLLBACK")
		}
		if !pc.IsClosed() && pc.PgConn().TxStatus() == 'I' {
			return nil
		}
		_ = pc.Close(ctx)
		return driver.ErrBadConn
	})
	return err
}

// wrapConnErr turns connection-level failures into a domain "unavailable"
// error so the API answers 503 instead of 500.
func wrapConnErr(err error) error {
	if err == nil {
		return nil
	}
	if IsUnavailable(err) {
		return poblysh.Unavailable("database", err)
	}
	return err
}

// IsUnavailable reports whether err means Postgres could not be reached or
// is shutting down.
func IsUnavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception, 57P: operator intervention (shutdown).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "failed to connect") ||
		strings.Contains(msg, "conn closed") || strings.Contains(msg, "driver: bad connection") ||
		strings.Contains(msg, "unexpected EOF")
}

// redact strips a possible password from connection errors.
func redact(err error) error {
	var pe *pgconn.ConnectError
	if errors.As(err, &pe) {
		return errors.New("could not connect to Postgres (check DATABASE_URL and that the server is running)")
	}
	if strings.Contains(err.Error(), "@") {
		return errors.New("invalid connection string")
	}
	return err
}
