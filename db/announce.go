package db

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// announcer tells the feed's listeners (FeedNotifier, in every process)
// that tenants have new Signals: after a transaction that inserted
// Signals commits, its tenants are queued here and a background loop sends
// one NOTIFY per tenant on a session of its own, batching whatever queued
// up while the previous send ran.
//
// Why not a trigger on signals (NOTIFY in the writing transaction):
// Postgres serializes the commits of every transaction that notifies (a
// cluster-wide lock held through the commit's WAL flush, see
// PreCommit_Notify in src/backend/commands/async.c); measured here, that
// cut the raw two-insert webhook transaction from 1,232 to 536 tx/s at 16
// clients. Here the writers never notify; only this loop does, serially,
// with synchronous_commit off (its transactions change no data).
//
// An announcement lost to a failed connection only delays a long poll to
// its timeout (the reader's next poll finds the rows); nothing is lost.
//
// Each NOTIFY has notifyTimeout (defaultNotifyTimeout) to be answered: a
// session whose server stopped answering without closing the connection
// (a host cut off, a failover: no FIN, no RST) is closed then and its
// tenants go out again on a new session. Without the bound the NOTIFY
// waited for the kernel to give up on the connection (tcp_retries2, about
// 15 minutes), and no Signal this process stored woke a long poll in any
// process meanwhile. The session is dialled as the listener's is
// (feedSessionConfig): the kernel gives up on it sooner too.
type announcer struct {
	connect func(context.Context) (*pgx.Conn, error)
	// notifyTimeout bounds each NOTIFY (defaultNotifyTimeout).
	notifyTimeout time.Duration

	mu      sync.Mutex
	pending map[string]struct{}
	kick    chan struct{}
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

// defaultNotifyTimeout bounds each NOTIFY: it takes well under a
// millisecond when the server answers.
const defaultNotifyTimeout = 5 * time.Second

func newAnnouncer(connect func(context.Context) (*pgx.Conn, error), notifyTimeout time.Duration) *announcer {
	ctx, cancel := context.WithCancel(context.Background())
	return &announcer{connect: connect, notifyTimeout: notifyTimeout, pending: map[string]struct{}{}, kick: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// announce queues tenants (never blocks; starts the loop on first use).
func (a *announcer) announce(tenants []string) {
	if a == nil || len(tenants) == 0 {
		return
	}
	a.mu.Lock()
	for _, t := range tenants {
		a.pending[t] = struct{}{}
	}
	if !a.started && a.ctx.Err() == nil {
		a.started = true
		go a.run()
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *announcer) close() {
	if a == nil { // a DB not made by Open
		return
	}
	a.mu.Lock()
	started := a.started
	a.mu.Unlock()
	a.cancel()
	if started {
		<-a.done
	}
}

func (a *announcer) run() {
	defer close(a.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.kick:
		}
		for {
			a.mu.Lock()
			if len(a.pending) == 0 {
				a.mu.Unlock()
				break
			}
			tenants := make([]string, 0, len(a.pending))
			for t := range a.pending {
				tenants = append(tenants, t)
			}
			clear(a.pending)
			a.mu.Unlock()
			err := func() error {
				if conn == nil || conn.IsClosed() {
					c, err := a.connect(a.ctx) // bounded by connect_timeout
					if err != nil {
						return err
					}
					conn = c
					ctx, cancel := context.WithTimeout(a.ctx, a.notifyTimeout)
					defer cancel()
					if _, err := c.Exec(ctx, `SET synchronous_commit = off`); err != nil {
						return err
					}
				}
				ctx, cancel := context.WithTimeout(a.ctx, a.notifyTimeout)
				defer cancel()
				_, err := conn.Exec(ctx, `SELECT pg_notify('`+SignalsChannel+`', t) FROM unnest($1::text[]) AS t`, tenants)
				return err
			}()
			if err == nil {
				backoff = 50 * time.Millisecond
				continue
			}
			if conn != nil { // a session that failed or did not answer in time is not used again
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = conn.Close(ctx)
				cancel()
				conn = nil
			}
			a.mu.Lock() // retry them with the next batch
			for _, t := range tenants {
				a.pending[t] = struct{}{}
			}
			a.mu.Unlock()
			select {
			case <-a.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}
