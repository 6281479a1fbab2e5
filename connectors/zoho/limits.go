package zoho

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
)

// Zoho Accounts lets a refresh token mint at most 10 access tokens in 10
// minutes (https://www.zoho.com/crm/developer/docs/api/v8/token-validity.html;
// the 11th is refused with "Access Denied"). The engine refreshes only when
// a call needs a token and serializes refreshes per connection; this budget
// is the last guard in the process: an 11th refresh inside the window is
// refused here as a rate limit instead of being sent.
const (
	budgetMax    = 10
	budgetWindow = 10 * time.Minute
)

// budget counts refreshes per refresh token (by hash; tokens are never
// kept) in a sliding window.
type budget struct {
	mu   sync.Mutex
	now  func() time.Time
	used map[[32]byte][]time.Time
}

func newBudget(now func() time.Time) *budget {
	return &budget{now: now, used: map[[32]byte][]time.Time{}}
}

// take spends one refresh of token, or returns a *connectors.RateLimited
// saying when the oldest refresh of the window leaves it.
func (b *budget) take(token string) error {
	key := sha256.Sum256([]byte(token))
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	kept := b.used[key][:0]
	for _, t := range b.used[key] {
		if now.Sub(t) < budgetWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) >= budgetMax {
		b.used[key] = kept
		return &connectors.RateLimited{RetryAfter: budgetWindow - now.Sub(kept[0]),
			Reason: fmt.Sprintf("%d access tokens in %s for one refresh token (Zoho's limit)", budgetMax, budgetWindow)}
	}
	b.used[key] = append(kept, now)
	return nil
}

// Locks remembers Zoho's lock periods. Cliq and Mail answer a throttled
// call (over an API's threshold per minute) with a lock: every further call
// to that API fails until the lock period ends, and calls during the lock
// are reported to extend it
// (https://www.zoho.com/cliq/help/restapi/v2/messages/ "Lock period").
// After one throttled answer the connector locks the (account, API) pair
// here and fails fast with the time left, sending nothing, so no retry
// storm reaches Zoho while it is locked. Each worker process learns a lock
// from its own first throttled answer.
type Locks struct {
	mu    sync.Mutex
	now   func() time.Time
	until map[string]time.Time
}

// NewLocks returns an empty set on the given clock.
func NewLocks(now func() time.Time) *Locks {
	return &Locks{now: now, until: map[string]time.Time{}}
}

// Check returns a *connectors.RateLimited with the time left when key is
// locked, nil otherwise.
func (l *Locks) Check(key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.until[key]
	if !ok {
		return nil
	}
	left := u.Sub(l.now())
	if left <= 0 {
		delete(l.until, key)
		return nil
	}
	return &connectors.RateLimited{RetryAfter: left, Reason: "Zoho lock period after a throttled call"}
}

// Lock locks key for d (a longer lock already held stays).
func (l *Locks) Lock(key string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.now().Add(d)
	if cur, ok := l.until[key]; !ok || u.After(cur) {
		l.until[key] = u
	}
}

// Pacer keeps calls of one account to one API under a number per minute:
// Zoho's thresholds are per user and per API, and the answer to going over
// them is a lock of minutes, so the connectors pace themselves below them
// rather than find out. It paces in the process until the service hands
// it the shared pacer (Use): then every process books its turns in one
// budget per user and API, as Zoho counts them (the streams of one user's
// channels run on any worker, and several connections may be one user's).
type Pacer struct {
	prefix string
	mu     sync.Mutex
	m      map[string]*rate.Limiter
	shared connectors.Pacer
}

// NewPacer returns an empty pacer whose shared budgets are named
// prefix + key (the product: "zoho-cliq:").
func NewPacer(prefix string) *Pacer { return &Pacer{prefix: prefix, m: map[string]*rate.Limiter{}} }

// Use makes p book every turn in the shared pacer s.
func (p *Pacer) Use(s connectors.Pacer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shared = s
}

func (p *Pacer) sharedPacer() connectors.Pacer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shared
}

// Limiter returns the limiter of key at perMinute (burst 2).
func (p *Pacer) Limiter(key string, perMinute int) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.m[key]
	if !ok {
		if perMinute <= 0 {
			perMinute = 10
		}
		l = rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), 2)
		p.m[key] = l
	}
	return l
}

// Wait waits for key's next slot; a slot later than ctx allows is a rate
// limit carrying the delay, so the engine retries when the slot is there.
// With the shared pacer the turn is booked for every process, and only
// when the caller will wait for it (a booking is not given back, as with
// Slack's tiers); in the process alone an unused turn is given back.
func (p *Pacer) Wait(ctx context.Context, key string, perMinute int, what string) error {
	reason := "pacing " + what + " under Zoho's threshold"
	if s := p.sharedPacer(); s != nil {
		if perMinute <= 0 {
			perMinute = 10
		}
		return connectors.TakeTurn(ctx, s, p.prefix+key, time.Minute/time.Duration(perMinute), 2, reason)
	}
	r := p.Limiter(key, perMinute).Reserve()
	err := connectors.WaitTurn(ctx, r.Delay(), reason)
	if err != nil {
		r.Cancel()
	}
	return err
}
