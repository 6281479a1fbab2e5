package connectors

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Budget paces the calls of one external account by the budget the
// provider says it has left: GitHub's x-ratelimit-remaining and
// x-ratelimit-reset, sent on every REST response. While plenty remains
// calls go at once (the Policy limiter still applies); once the remaining
// count falls to the pacing threshold, calls are spaced so the rest lasts
// until the reset, (reset-now)/remaining apart; at 0 the next call waits
// for the reset. Every response corrects the estimate, so calls made by
// other processes with the same token are seen on the next answer. A
// refusal (a rate-limited answer: GitHub's secondary rate limit, whose
// x-ratelimit-remaining is not 0) holds every call of the account until
// its wait is over (Hold), longer for each undated refusal in a row. One
// Budget is shared by every caller of the account in this process
// (Budgets); processes pace separately and converge through the headers.
type Budget struct {
	// Now and SleepUntil are the clock (nil: time.Now and a timer); tests
	// fake them.
	Now        func() time.Time
	SleepUntil func(ctx context.Context, t time.Time) error
	// MaxWait bounds a wait in the call (0: MaxBudgetWait).
	MaxWait time.Duration

	mu        sync.Mutex
	known     bool
	limit     int
	remaining int       // calls left before reset, as the provider last said
	reset     time.Time // when the provider's window starts again
	next      time.Time // the earliest start of the next paced call
	inflight  int       // calls booked and not answered yet
	held      time.Time // no call starts before this (Hold)
	heldFor   string    // the refusal that holds the account
	strikes   int       // undated refusals in a row (Hold with a floor)
}

// budgetSlack is added to a reset time before calling again at 0: reset
// headers are whole seconds, and clocks differ.
const budgetSlack = time.Second

// defaultPaceBelow is the remaining count under which calls are paced when
// the provider states no limit; with a limit, a tenth of it (at least 10).
const defaultPaceBelow = 100

func (b *Budget) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// paceBelow is the remaining count at which pacing starts.
func (b *Budget) paceBelow() int {
	if b.limit <= 0 {
		return defaultPaceBelow
	}
	return max(b.limit/10, 10)
}

// MaxBudgetWait is the longest Wait sleeps in the call: a call the budget
// puts further out is not booked, and Wait returns a *RateLimited with the
// delay, so the engine reschedules the work instead of holding a worker
// (and an HTTP timeout) for it.
const MaxBudgetWait = 20 * time.Second

// Reserve books the next call and returns how long to wait before making it.
func (b *Budget) Reserve() time.Duration {
	d, _, _ := b.reserve(-1)
	return d
}

// reserve books the next call unless it would wait longer than maxWait
// (< 0: no bound); it returns the wait, the time it was computed at, and
// whether the call was booked.
func (b *Budget) reserve(maxWait time.Duration) (time.Duration, time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	d, next := b.delayAt(now)
	if maxWait >= 0 && d > maxWait {
		return d, now, false
	}
	b.inflight++
	if !next.IsZero() {
		b.next = next
	}
	return d, now, true
}

// delayAt is how long a call booked at now waits, and the earliest start
// of the one after it when calls are being spaced (zero otherwise).
func (b *Budget) delayAt(now time.Time) (time.Duration, time.Time) {
	if now.Before(b.held) {
		return b.held.Sub(now), time.Time{}
	}
	if !b.known {
		return 0, time.Time{}
	}
	// What is left for this call: the provider's last count less the calls
	// booked and not answered yet (some of which the count may already
	// include: the estimate errs low).
	left := b.remaining - b.inflight
	if !now.Before(b.reset) {
		if now.Before(b.reset.Add(budgetSlack)) && left <= 0 {
			return b.reset.Add(budgetSlack).Sub(now), time.Time{}
		}
		// A new window began; the next answer tells its budget.
		b.known = false
		return 0, time.Time{}
	}
	if left <= 0 {
		// Nothing left before the reset: wait for it. The count is then
		// unknown until an answer.
		return b.reset.Add(budgetSlack).Sub(now), time.Time{}
	}
	if left > b.paceBelow() {
		return 0, time.Time{}
	}
	start := now
	if b.next.After(start) {
		start = b.next
	}
	return start.Sub(now), start.Add(b.reset.Sub(start) / time.Duration(left))
}

// Release ends a booked call that got no answer (a network error, or the
// wait was cancelled).
func (b *Budget) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.release()
}

func (b *Budget) release() {
	if b.inflight > 0 {
		b.inflight--
	}
}

// Observe ends a booked call with its answer's headers and reads the
// rate-limit ones. Without them (or with values it cannot read) the budget
// stays as it was.
func (b *Budget) Observe(h http.Header) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.release()
	if otherResource(h) {
		return
	}
	remaining, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	if err != nil || remaining < 0 {
		return
	}
	now := b.now()
	d, ok := parseReset(h.Get("X-RateLimit-Reset"), now)
	if !ok {
		return
	}
	reset := now.Add(d)
	limit, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit")))
	if err != nil || limit <= 0 {
		limit = b.limit
	}
	switch {
	case !b.known || reset.After(b.reset.Add(budgetSlack)) || limit != b.limit:
		// First answer, a new window, or another budget (the limit
		// changed: an Enterprise or app installation's grant, or a stray
		// answer about another one): take the provider's count as it is,
		// so one odd answer never pins the estimate low for the window.
		b.known, b.remaining, b.reset, b.limit = true, remaining, reset, limit
		b.next = time.Time{}
	default:
		// Same window: answers can arrive out of order; the lowest count
		// is the latest (it includes calls other processes made with the
		// same token).
		b.remaining = min(b.remaining, remaining)
	}
}

// Hold keeps every call of the account from starting until d from now,
// after the provider refused one for a while, and returns how long the
// account is held. A dated d (retry-after, a reset) is held as it is. A
// floor (RateLimited.Floor: GitHub's "at least one minute" for a secondary
// rate limit it did not date) is held for d, 2d, 4d… (at most
// FloorBackoffCap) at the first, second, third… refusal in a row: "If
// your request continues to fail due to a secondary rate limit, wait for
// an exponentially increasing amount of time between retries". A refusal
// that arrives while the account is held answers a call made before the
// hold: it is the same refusal, held as long again from it, not longer.
// An accepted call after the hold (Accepted), or a quiet longer than
// FloorBackoffCap after it, ends the refusals in a row.
func (b *Budget) Hold(d time.Duration, floor bool, reason string) time.Duration {
	if d <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if floor {
		switch {
		case b.strikes > 0 && now.Before(b.held):
		case b.strikes > 0 && now.Sub(b.held) > FloorBackoffCap:
			b.strikes = 1
		default:
			b.strikes++
		}
		grown := d
		for i := 1; i < b.strikes && grown < FloorBackoffCap; i++ {
			grown *= 2
		}
		d = max(d, min(grown, FloorBackoffCap))
	}
	if until := now.Add(d); until.After(b.held) {
		b.held, b.heldFor = until, reason
	}
	return b.held.Sub(now)
}

// Accepted records an answer that was no refusal: the undated refusals
// in a row end, unless the account is held (the call was made before the
// hold began).
func (b *Budget) Accepted() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.now().Before(b.held) {
		b.strikes = 0
	}
}

// otherResource reports whether h is about another of GitHub's budgets
// (search, GraphQL…, x-ratelimit-resource): a Budget tracks the core REST
// budget.
func otherResource(h http.Header) bool {
	r := h.Get("X-RateLimit-Resource")
	return r != "" && r != "core"
}

// Wait books the next call and sleeps until it may be made, or returns a
// *RateLimited without booking it when that is further out than
// MaxBudgetWait or the context's deadline. Every call booked must end with
// Observe (its answer) or Release (none); Wait releases it itself when it
// fails.
func (b *Budget) Wait(ctx context.Context) error {
	maxWait := MaxBudgetWait
	if b.MaxWait > 0 {
		maxWait = b.MaxWait
	}
	if dl, ok := ctx.Deadline(); ok {
		maxWait = min(maxWait, clampPositive(dl.Sub(b.now())))
	}
	d, now, booked := b.reserve(maxWait)
	if !booked {
		return &RateLimited{RetryAfter: d, Reason: b.describe(now)}
	}
	var err error
	switch {
	case d <= 0:
		err = ctx.Err()
	case b.SleepUntil != nil:
		err = b.SleepUntil(ctx, now.Add(d))
	default:
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
		}
	}
	if err != nil {
		b.Release()
	}
	return err
}

// describe says why a call waits: the budget as last answered.
func (b *Budget) describe(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.held) {
		return fmt.Sprintf("the account is held after the provider refused a call (%s) for %s more",
			b.heldFor, b.held.Sub(now).Round(time.Second))
	}
	return fmt.Sprintf("the provider's rate-limit budget is spent until its reset (%d of %d left, %d calls in flight, resets in %s)",
		b.remaining, b.limit, b.inflight, b.reset.Sub(now).Round(time.Second))
}

// Budgets holds one Budget per (provider, external account), shared by
// every caller in the process.
type Budgets struct {
	mu sync.Mutex
	m  map[string]*Budget
}

// NewBudgets returns an empty set.
func NewBudgets() *Budgets { return &Budgets{m: map[string]*Budget{}} }

// For returns the budget of one external account.
func (s *Budgets) For(provider, account string) *Budget {
	key := provider + "\x00" + account
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[key]
	if !ok {
		b = &Budget{}
		s.m[key] = b
	}
	return b
}
