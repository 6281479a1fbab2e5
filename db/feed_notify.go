package db

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"
)

// SignalsChannel is the channel db.announcer notifies, once per tenant
// (payload: the tenant id), after a transaction that inserted Signals
// through DB.WithTenant or DB.WithSystem commits.
const SignalsChannel = "poblysh_signals"

// FeedNotifier holds one LISTEN connection per process and fans its
// notifications out in memory to the feed readers that wait (long
// polling): a waiting request holds no database connection.
type FeedNotifier struct {
	connect func(context.Context) (*pgx.Conn, error)
	log     logrus.FieldLogger
	live    listenerLiveness

	mu      sync.Mutex
	tenants map[string]*tenantWake
	up      bool // the listener is connected and listening
	closed  bool
	waiters int
	keys    []*APIKeyCache // emptied on every key notification of this schema and (re)connection
	// keysWake is closed (and replaced) once the key caches were emptied:
	// every waiter checks its key again (Wait's check).
	keysWake chan struct{}
	// fences are the revocations of this process waiting for their
	// notification (fence), by token.
	fences map[string]chan struct{}
	// onKeyNote, when set (tests), runs on the listener's goroutine
	// before it handles a notification on APIKeysChannel.
	onKeyNote func(payload string)
	cancel    context.CancelFunc
	done      chan struct{}
}

// tenantWake is the broadcast of one tenant: ch is closed (and replaced)
// when a notification for the tenant arrives.
type tenantWake struct {
	ch chan struct{}
	n  int // subscriptions open
}

// NewFeedNotifier starts the listener on its own connection (not from the
// pool), made from the pool's connection settings and dialled as the
// feed's sessions are (feedSessionConfig). Close stops it.
func NewFeedNotifier(d *DB, log logrus.FieldLogger) *FeedNotifier {
	return newFeedNotifier(d, log, defaultListenerLiveness)
}

func newFeedNotifier(d *DB, log logrus.FieldLogger, live listenerLiveness) *FeedNotifier {
	cc := d.feedConfig()
	if d.schema != "" {
		cc.RuntimeParams["search_path"] = pgx.Identifier{d.schema}.Sanitize()
	}
	return startFeedNotifier(func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cc) }, log, live)
}

func startFeedNotifier(connect func(context.Context) (*pgx.Conn, error), log logrus.FieldLogger, live listenerLiveness) *FeedNotifier {
	if log == nil {
		log = logrus.StandardLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &FeedNotifier{connect: connect, log: log, live: live, tenants: map[string]*tenantWake{}, keysWake: make(chan struct{}),
		fences: map[string]chan struct{}{}, cancel: cancel, done: make(chan struct{})}
	go n.run(ctx)
	return n
}

// Close stops the listener and wakes every waiter (they answer with what
// they have, so a server shutting down is not held by long polls).
func (n *FeedNotifier) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.wakeAllLocked()
	n.mu.Unlock()
	n.cancel()
	<-n.done
}

// Waiters is the number of feed readers waiting now.
func (n *FeedNotifier) Waiters() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.waiters
}

// Listening reports whether the listener is connected.
func (n *FeedNotifier) Listening() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

func (n *FeedNotifier) run(ctx context.Context) {
	defer close(n.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := n.listen(ctx)
		n.setUp(false)
		if ctx.Err() != nil {
			return
		}
		n.log.WithError(err).Warn("feed listener lost its connection; waiting readers poll until it is back")
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenerLiveness is how the listener checks its session: it waits for
// notifications in slices of idle, and after a slice without one pings the
// server, which must answer within ping. A session whose server stopped
// answering without closing the connection (a host cut off, a failover:
// no FIN, no RST) is so found gone within idle + ping, and the listener
// goes down (setUp(false)): its waiters read again every second and the
// API-key caches ask Postgres, until a new session listens. Before, the
// listener waited on such a session for good and stayed up: waiters were
// woken by nothing, and a key revoked through another process was served
// from the cache for up to apiKeyTTL.
type listenerLiveness struct {
	idle time.Duration // a slice of waiting for notifications
	ping time.Duration // the deadline of the ping after a quiet slice
}

var defaultListenerLiveness = listenerLiveness{idle: 15 * time.Second, ping: 5 * time.Second}

// listen connects, listens and dispatches until the connection fails.
func (n *FeedNotifier) listen(ctx context.Context) error {
	conn, err := n.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+SignalsChannel+"; LISTEN "+APIKeysChannel); err != nil {
		return err
	}
	// Key notifications carry the schema of the changed keys: several
	// schemas may share a database (tests; stacks side by side).
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	// Anything committed while no one listened: every waiter looks again.
	n.setUp(true)
	for {
		wctx, cancel := context.WithTimeout(ctx, n.live.idle)
		note, err := conn.WaitForNotification(wctx)
		quiet := wctx.Err() != nil
		cancel()
		if err != nil {
			if ctx.Err() != nil || !quiet || conn.IsClosed() {
				return err
			}
			// A quiet slice: a session whose server stopped answering
			// without closing it looks just like this.
			if err := n.ping(ctx, conn); err != nil {
				return err
			}
			continue
		}
		if note.Channel == APIKeysChannel {
			n.mu.Lock()
			hook := n.onKeyNote
			n.mu.Unlock()
			if hook != nil {
				hook(note.Payload)
			}
			if token, ok := strings.CutPrefix(note.Payload, fencePrefix); ok {
				// Notifications come in commit order: every one of a
				// revocation committed before this fence was sent has
				// been handled above.
				n.fenced(token)
				continue
			}
			if note.Payload == "" || note.Payload == schema {
				n.resetKeys()
			}
			continue
		}
		n.wake(note.Payload)
	}
}

// ping asks the listener's session for an answer within live.ping.
func (n *FeedNotifier) ping(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, n.live.ping)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("no answer to a ping within %s after %s without a notification: %w", n.live.ping, n.live.idle, err)
	}
	return nil
}

func (n *FeedNotifier) setUp(up bool) {
	n.mu.Lock()
	same := n.up == up // a failed reconnection changes nothing
	n.mu.Unlock()
	if same {
		return
	}
	// Empty the key caches before the state changes, so that a key
	// cached by a lookup that already saw the new state stays cached (and
	// entries are served only while up, so going down needs no ordering).
	n.resetKeys()
	n.mu.Lock()
	n.up = up
	n.wakeAllLocked()
	n.mu.Unlock()
}

// resetKeys empties the API-key caches (outside n.mu: a cache locks its
// own mutex, then may ask Listening), then wakes every waiter to check its
// key again: a long poll authenticated once must not read on with a key
// revoked meanwhile. The caches are empty by then, so each check asks
// Postgres once (a key found valid is cached again).
func (n *FeedNotifier) resetKeys() {
	n.mu.Lock()
	keys := append([]*APIKeyCache(nil), n.keys...)
	n.mu.Unlock()
	for _, c := range keys {
		c.reset()
	}
	n.mu.Lock()
	close(n.keysWake)
	n.keysWake = make(chan struct{})
	n.mu.Unlock()
}

// fencePrefix starts the payload of a fence's notification on
// APIKeysChannel (a token follows). A listener of an earlier version takes
// it for another schema's and ignores it.
const fencePrefix = "fence:"

// fence sends a notification of its own on APIKeysChannel, through d, and
// waits until this process's listener has received it, or ctx ends.
// Postgres delivers notifications in the order their transactions
// committed, so once it is here, so is (and was handled) every
// notification of a transaction that committed before fence was called.
func (n *FeedNotifier) fence(ctx context.Context, d *DB) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("fence token: %w", err)
	}
	token := hex.EncodeToString(b[:])
	got := make(chan struct{})
	n.mu.Lock()
	n.fences[token] = got // before the notification: it cannot be missed
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.fences, token)
		n.mu.Unlock()
	}()
	err := d.WithSystem(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, APIKeysChannel, fencePrefix+token)
		return wrapConnErr(err)
	})
	if err != nil {
		return fmt.Errorf("send the key cache's fence: %w", err)
	}
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the listener did not receive the key cache's fence: %w", ctx.Err())
	}
}

// fenced marks a fence's notification received (one of another process,
// or of another schema, is no one's here).
func (n *FeedNotifier) fenced(token string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if got := n.fences[token]; got != nil {
		close(got)
		delete(n.fences, token)
	}
}

func (n *FeedNotifier) wake(tenantID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t := n.tenants[tenantID]; t != nil {
		close(t.ch)
		t.ch = make(chan struct{})
	}
}

func (n *FeedNotifier) wakeAllLocked() {
	for _, t := range n.tenants {
		close(t.ch)
		t.ch = make(chan struct{})
	}
}

// subscribe returns the channel that the tenant's next notification
// closes, the one the next emptying of the key caches closes, and whether
// the listener is up (when it is not, notifications may be missed and the
// waiter polls).
func (n *FeedNotifier) subscribe(tenantID string) (<-chan struct{}, <-chan struct{}, bool, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.tenants[tenantID]
	if t == nil {
		t = &tenantWake{ch: make(chan struct{})}
		n.tenants[tenantID] = t
	}
	return t.ch, n.keysWake, n.up, n.closed
}

// keysChanged returns the channel the next emptying of the key caches
// closes.
func (n *FeedNotifier) keysChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.keysWake
}

func (n *FeedNotifier) enter(tenantID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.tenants[tenantID]
	if t == nil {
		t = &tenantWake{ch: make(chan struct{})}
		n.tenants[tenantID] = t
	}
	t.n++
	n.waiters++
}

func (n *FeedNotifier) leave(tenantID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.waiters--
	if t := n.tenants[tenantID]; t != nil {
		if t.n--; t.n == 0 {
			delete(n.tenants, tenantID)
		}
	}
}

// heldBackDelays are the re-reads while the feed horizon withholds rows
// of the reader's tenant (FeedPage.HeldBack): they show when an older
// writer, of any tenant, ends, and that end notifies nobody of this
// tenant. Writers' transactions are short, so the reader re-reads soon,
// backing off to heldBackDelays' last value while it lasts.
var heldBackDelays = []time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond,
	200 * time.Millisecond,
}

// pollWhileDown is how often a waiter re-reads while the listener is not
// connected.
const pollWhileDown = time.Second

// FeedRead is one read of a waiting reader: whether it found something
// new, and whether rows were held back (FeedPage.HeldBack).
type FeedRead struct {
	Found, HeldBack bool
}

// Wait runs read until it reports something new (found), the wait ends
// (timeout), ctx ends (the client went away), or the notifier closes. It
// reads once at once; then again after every notification for the tenant,
// soon and repeatedly while the read says rows are held back by the feed
// horizon (see heldBackDelays), and every second while the listener is
// down. read runs its own transaction each time, so each read sees the
// latest commits and the current feed horizon; no connection is held
// between reads.
//
// check (nil: none) says whether the reader may still read (its API key):
// it runs before every read, and whenever the API-key caches are emptied
// (a key revoked or deleted in any process, the listener up or down),
// without a read. Its error ends the wait with that error, so a key
// revoked while its long poll waits reads nothing stored afterwards.
//
// A notification that arrived before the reader subscribed is not missed:
// the read after subscribing sees its rows, visible or held back; likewise
// a key change and the check.
func (n *FeedNotifier) Wait(ctx context.Context, tenantID string, wait time.Duration, check func() error, read func() (FeedRead, error)) error {
	n.enter(tenantID)
	defer n.leave(tenantID)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	held := 0 // consecutive reads that found rows held back
	for {
		ch, keys, up, closed := n.subscribe(tenantID) // before the read: a commit after it closes ch
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		r, err := read()
		if err != nil || r.Found || closed {
			return err
		}
		var timer *time.Timer
		switch {
		case r.HeldBack:
			timer = time.NewTimer(heldBackDelays[min(held, len(heldBackDelays)-1)])
			held++
		case !up:
			timer = time.NewTimer(pollWhileDown)
		default:
			held = 0
		}
		var tick <-chan time.Time
		if timer != nil {
			tick = timer.C
		}
		again, err := n.sleep(ctx, ch, keys, tick, deadline.C, check)
		stop(timer)
		if !again || err != nil {
			return err
		}
	}
}

// sleep waits for the tenant's wake (ch) or the tick (again: read
// again), or the deadline or ctx's end (not again: the wait is over). A
// wake of the key caches (keys) meanwhile runs check alone, whose error
// ends the wait, and sleeps on: nothing new to read came with it.
func (n *FeedNotifier) sleep(ctx context.Context, ch, keys <-chan struct{}, tick, deadline <-chan time.Time, check func() error) (again bool, err error) {
	for {
		select {
		case <-keys:
			keys = n.keysChanged() // before the check: a change after it closes keys
			if check != nil {
				if err := check(); err != nil {
					return false, err
				}
			}
		case <-ch:
			return true, nil
		case <-tick:
			return true, nil
		case <-deadline:
			return false, nil
		case <-ctx.Done():
			return false, nil
		}
	}
}

func stop(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
