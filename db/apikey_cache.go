package db

import (
	"context"
	"errors"
	"sync"
	"time"
)

// APIKeysChannel is the channel migration 0017's trigger notifies when an
// API key is revoked or deleted.
const APIKeysChannel = "poblysh_api_keys"

// apiKeyTTL bounds how long a verified key is served from memory; it is
// also how often last_used_at is refreshed (at most once a minute per key
// and process, as before the cache).
const apiKeyTTL = time.Minute

// APIKeyCache answers API-key lookups from memory: a small map from the
// key's hash to its tenant, filled by AuthenticateAPIKey. It is trusted
// only while the process's listener (FeedNotifier) is connected: every
// revocation or deletion of a key notifies, and the notification empties
// the cache; while the listener is down every lookup goes to Postgres.
// A lookup that raced with a notification is not cached (generation).
type APIKeyCache struct {
	d *DB
	n *FeedNotifier

	mu      sync.Mutex
	gen     uint64
	entries map[string]apiKeyEntry
}

type apiKeyEntry struct {
	tenantID, keyID string
	until           time.Time
}

// maxAPIKeyEntries caps the map; when full it is emptied (keys are few).
const maxAPIKeyEntries = 10_000

// NewAPIKeyCache attaches a cache to the process's notifier.
func NewAPIKeyCache(d *DB, n *FeedNotifier) *APIKeyCache {
	c := &APIKeyCache{d: d, n: n, entries: map[string]apiKeyEntry{}}
	n.mu.Lock()
	n.keys = append(n.keys, c)
	n.mu.Unlock()
	return c
}

// Invalidate drops every entry of the process's caches and has every
// waiting long poll check its key again (a key was revoked by this
// process: it need not wait for its own notification).
func (c *APIKeyCache) Invalidate() { c.n.resetKeys() }

// revokedWait bounds how long Revoked waits for the process's listener.
// The notification takes milliseconds when Postgres and the listener's
// session are well; past that, the revocation is answered anyway.
const revokedWait = 2 * time.Second

// Revoked is called by a request that revoked keys, after the revocation
// committed and before it answers. It forgets every cached key of this
// process at once (Invalidate), then waits, at most revokedWait and while
// ctx lasts, until this process's listener has received a notification
// sent after the revocation (FeedNotifier.fence): Postgres delivers
// notifications in commit order, so the revocation's own has reached this
// process by then, and it went out to every other process's listener at
// the same commit. Each of those forgets the key when its listener reads
// it: normally within the same milliseconds, which the answer no longer
// outruns; not guaranteed, since nothing here hears from the other
// processes. The error says the wait ended without the notification:
// this process's listener is down (nothing to wait with), slow or silent.
func (c *APIKeyCache) Revoked(ctx context.Context) error {
	c.Invalidate()
	if !c.n.Listening() {
		return errors.New("the listener is down: the revocation's notification cannot be waited for")
	}
	ctx, cancel := context.WithTimeout(ctx, revokedWait)
	defer cancel()
	return c.n.fence(ctx, c.d)
}

// reset drops every entry (a key changed, or the listener connected or
// lost its connection).
func (c *APIKeyCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// Authenticate resolves a presented key to its tenant: from memory when
// the key was verified less than a minute ago and the listener is up,
// else through AuthenticateAPIKey (which refreshes last_used_at).
func (c *APIKeyCache) Authenticate(ctx context.Context, key string) (string, error) {
	h := string(HashAPIKey(key))
	up := c.n.Listening()
	c.mu.Lock()
	e, ok := c.entries[h]
	gen := c.gen
	c.mu.Unlock()
	if up && ok && time.Now().Before(e.until) {
		return e.tenantID, nil
	}
	var tenantID, keyID string
	err := c.d.WithSystem(ctx, func(tx *Tx) (err error) {
		tenantID, keyID, err = tx.AuthenticateAPIKey(ctx, key)
		return err
	})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if up && c.gen == gen { // the listener went down, or a key changed, since: not cached
		if len(c.entries) >= maxAPIKeyEntries {
			clear(c.entries)
		}
		c.entries[h] = apiKeyEntry{tenantID: tenantID, keyID: keyID, until: time.Now().Add(apiKeyTTL)}
	}
	return tenantID, nil
}
