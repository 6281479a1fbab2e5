package connectors_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// fakeClock is a clock whose sleeps advance it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// SleepUntil advances the clock to at least t: concurrent sleepers leave
// it at the latest wake-up.
func (c *fakeClock) SleepUntil(_ context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
	return nil
}

// simClock is a fake clock for concurrent callers whose sleeps behave as
// on a real clock: a sleeper wakes when the clock reaches its time, and
// the clock moves (to the earliest wake-up) only while every caller
// sleeps. (fakeClock jumps to the latest wake-up of any sleeper, so
// concurrent callers were delayed by each other's waits and a run took
// longer than the budget needs, depending on how they interleaved.)
type simClock struct {
	fakeClock
	active   int // callers awake; each calls done when it finishes
	sleepers []simSleeper
}

type simSleeper struct {
	at   time.Time
	wake chan struct{}
}

func (c *simClock) SleepUntil(_ context.Context, t time.Time) error {
	c.mu.Lock()
	if !t.After(c.t) {
		c.mu.Unlock()
		return nil
	}
	wake := make(chan struct{})
	c.sleepers = append(c.sleepers, simSleeper{at: t, wake: wake})
	c.active--
	c.advanceLocked()
	c.mu.Unlock()
	<-wake
	return nil
}

func (c *simClock) done() {
	c.mu.Lock()
	c.active--
	c.advanceLocked()
	c.mu.Unlock()
}

// advanceLocked moves the clock to the earliest wake-up and wakes every
// sleeper due then, once no caller is awake.
func (c *simClock) advanceLocked() {
	if c.active > 0 || len(c.sleepers) == 0 {
		return
	}
	next := c.sleepers[0].at
	for _, s := range c.sleepers {
		if s.at.Before(next) {
			next = s.at
		}
	}
	c.t = next
	keep := c.sleepers[:0]
	for _, s := range c.sleepers {
		if s.at.After(next) {
			keep = append(keep, s)
			continue
		}
		c.active++
		close(s.wake)
	}
	c.sleepers = keep
}

// budgetProvider plays GitHub's primary rate limit on a fake clock: limit
// calls per window, x-ratelimit-* on every answer, 403 once exhausted.
type budgetProvider struct {
	clock  interface{ Now() time.Time }
	limit  int
	window time.Duration

	mu       sync.Mutex
	reset    time.Time
	used     int
	ok       int
	refused  int
	accepted []time.Time
}

func (p *budgetProvider) headers(h http.Header) (refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	if p.reset.IsZero() || !now.Before(p.reset) {
		p.reset, p.used = now.Add(p.window).Truncate(time.Second), 0
	}
	refuse = p.used >= p.limit
	if refuse {
		p.refused++
	} else {
		p.used++
		p.ok++
		p.accepted = append(p.accepted, now)
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(p.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(p.limit-p.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(p.reset.Unix(), 10))
	return refuse
}

func (p *budgetProvider) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if p.headers(w.Header()) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"API rate limit exceeded"}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{}`))
}

// TestBudgetSpreadsRemainingUntilReset: an answer saying 10 remain and the
// reset is in 60 s spreads the next 10 calls over the 60 s, every one
// before the reset, and the 11th waits for the reset.
func TestBudgetSpreadsRemainingUntilReset(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	start := clock.Now()
	reset := start.Add(60 * time.Second)
	b := &connectors.Budget{Now: clock.Now, SleepUntil: clock.SleepUntil, MaxWait: time.Hour}
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "10")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	b.Observe(h)

	var at []time.Time
	for left := 10; left > 0; left-- {
		require.NoError(t, b.Wait(context.Background()))
		at = append(at, clock.Now())
		h.Set("X-RateLimit-Remaining", strconv.Itoa(left-1))
		b.Observe(h)
	}
	require.Equal(t, start, at[0], "the first call goes at once")
	for i := 1; i < len(at); i++ {
		gap := at[i].Sub(at[i-1])
		require.InDelta(t, 6.0, gap.Seconds(), 0.01, "call %d: (reset-now)/remaining apart", i)
	}
	require.True(t, at[9].Before(reset), "the last call is made before the reset")
	require.GreaterOrEqual(t, at[9].Sub(start), 50*time.Second, "spread over the window, not burst")

	// Nothing left: the next call waits for the reset.
	require.NoError(t, b.Wait(context.Background()))
	require.False(t, clock.Now().Before(reset), "the 11th call waits for the reset")
}

// TestBudgetUnpacedWhilePlentyRemains: far from the limit, calls are not
// delayed; pacing starts at a tenth of the limit.
func TestBudgetUnpacedWhilePlentyRemains(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	b := &connectors.Budget{Now: clock.Now, SleepUntil: clock.SleepUntil}
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4000")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(clock.Now().Add(time.Hour).Unix(), 10))
	b.Observe(h)
	for range 100 {
		require.Zero(t, b.Reserve())
	}
	h.Set("X-RateLimit-Remaining", "500")
	b.Observe(h)
	require.Zero(t, b.Reserve(), "the first paced call goes at once")
	require.Positive(t, b.Reserve(), "at a tenth of the limit calls are spaced")

	// Without headers (another provider's answers) nothing is paced.
	free := &connectors.Budget{Now: clock.Now, SleepUntil: clock.SleepUntil}
	free.Observe(http.Header{})
	for range 10 {
		require.Zero(t, free.Reserve())
	}
}

// TestTransportRunsAtTheBudget: callers of one account sharing a Budget
// make more calls than a window grants; the transport spaces them so none
// is refused, and they finish in the windows the budget needs.
func TestTransportRunsAtTheBudget(t *testing.T) {
	const workers, calls = 3, 10
	clock := &simClock{fakeClock: fakeClock{t: time.Unix(1_800_000_000, 0)}, active: workers}
	start := clock.Now()
	p := &budgetProvider{clock: clock, limit: 10, window: time.Minute}
	srv := httptest.NewServer(p)
	defer srv.Close()
	budgets := connectors.NewBudgets()
	b := budgets.For("github", "42")
	require.Same(t, b, budgets.For("github", "42"), "one budget per account, shared")
	require.NotSame(t, b, budgets.For("github", "43"))
	b.Now, b.SleepUntil, b.MaxWait = clock.Now, clock.SleepUntil, time.Hour
	client := &http.Client{Transport: &connectors.Transport{Provider: "github", Budget: b}}

	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer clock.done()
			for range calls {
				resp, err := client.Get(srv.URL + "/repos/o/r/issues")
				if err != nil {
					errs <- err
					continue
				}
				_ = resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Zero(t, p.refused, "no call was refused for the rate limit")
	require.Equal(t, workers*calls, p.ok)
	elapsed := clock.Now().Sub(start)
	require.GreaterOrEqual(t, elapsed, 2*time.Minute, "30 calls at 10 a minute need three windows")
	require.Less(t, elapsed, 3*time.Minute, "and finish within the third")
}

// TestBudgetLongWaitIsRateLimited: a call the budget puts further out than
// MaxWait is not booked and not made: Wait answers a rate limit with the
// delay, so the engine reschedules instead of holding a worker. An answer
// to a rejected token (401, the anonymous budget) and another resource's
// headers leave the account's budget alone.
func TestBudgetLongWaitIsRateLimited(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	reset := clock.Now().Add(40 * time.Minute)
	b := &connectors.Budget{Now: clock.Now, SleepUntil: clock.SleepUntil}
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	b.Observe(h)
	err := b.Wait(context.Background())
	var rl *connectors.RateLimited
	require.ErrorAs(t, err, &rl)
	require.InDelta(t, (40*time.Minute + time.Second).Seconds(), rl.RetryAfter.Seconds(), 1)
	require.Equal(t, time.Unix(1_800_000_000, 0), clock.Now(), "no sleep")

	// After the reset the call goes; a search answer does not count.
	clock.t = reset.Add(2 * time.Second)
	require.NoError(t, b.Wait(context.Background()))
	search := http.Header{}
	search.Set("X-RateLimit-Resource", "search")
	search.Set("X-RateLimit-Remaining", "0")
	search.Set("X-RateLimit-Reset", strconv.FormatInt(clock.Now().Add(time.Minute).Unix(), 10))
	b.Observe(search)
	require.Zero(t, b.Reserve(), "the search budget is not the core budget")

	// Through the transport: a 401 carrying the anonymous budget is ignored.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	fresh := &connectors.Budget{}
	client := &http.Client{Transport: &connectors.Transport{Provider: "github", Budget: fresh}}
	for range 3 {
		_, err := client.Get(srv.URL)
		require.ErrorIs(t, err, connectors.ErrUnauthorized, "never a budget wait")
	}
}

// TestBudgetIgnoresAnswersAboutAnotherBudget is the stall that reverted
// the first version: under the full suite an injected garbage answer for
// an expired token carried GitHub's anonymous budget (60, 59 left, reset
// in an hour); taken as the account's and never raised again in that
// window (the lowest count wins within a window), it held every later call
// to one a minute. Now a garbage success, a 5xx and a 401 teach the budget
// nothing, and an answer with another limit replaces the estimate instead
// of lowering it, so the next real answer heals it.
func TestBudgetIgnoresAnswersAboutAnotherBudget(t *testing.T) {
	anonymous := func(h http.Header) {
		h.Set("X-RateLimit-Limit", "60")
		h.Set("X-RateLimit-Remaining", "59")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		h.Set("X-RateLimit-Resource", "core")
	}
	user := func(h http.Header, remaining int) {
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(30*time.Minute).Unix(), 10))
		h.Set("X-RateLimit-Resource", "core")
	}
	var mu sync.Mutex
	answer := "user"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		a := answer
		mu.Unlock()
		switch a {
		case "html":
			anonymous(w.Header())
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>Service Unavailable</body></html>"))
		case "truncated":
			anonymous(w.Header())
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":`))
		case "502":
			anonymous(w.Header())
			w.WriteHeader(http.StatusBadGateway)
		default:
			user(w.Header(), 4990)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	b := &connectors.Budget{}
	client := &http.Client{Transport: &connectors.Transport{Provider: "github", Budget: b}}
	get := func(a string) error {
		mu.Lock()
		answer = a
		mu.Unlock()
		resp, err := client.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	require.NoError(t, get("user"))
	for _, a := range []string{"html", "truncated", "502"} {
		require.Error(t, get(a), a)
		require.NoError(t, get("user"))
		for range 5 {
			require.Zero(t, b.Reserve(), "after a %s answer the account's budget still has plenty", a)
			b.Release()
		}
	}

	// An answer with another limit replaces the estimate; the next answer
	// about the account's own budget replaces it back.
	h := http.Header{}
	anonymous(h)
	require.Zero(t, b.Reserve())
	b.Observe(h)
	user(h, 4000)
	require.Zero(t, b.Reserve())
	b.Observe(h)
	for range 20 {
		require.Zero(t, b.Reserve(), "4,000 of 5,000 left: not paced")
		b.Release()
	}
}

// TestBudgetHoldGrowsWithUndatedRefusalsInARow: a refusal the provider did
// not date (GitHub's secondary rate limit without retry-after: "wait for at
// least one minute … If your request continues to fail …, wait for an
// exponentially increasing amount of time") holds every call of the
// account, for the minute, then 2, 4… minutes while the refusals go on, up
// to FloorBackoffCap. A refusal of a call made before the hold began is the
// same refusal; an accepted call after the hold starts again at the
// minute; a dated refusal is held as it is and does not grow.
func TestBudgetHoldGrowsWithUndatedRefusalsInARow(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	b := &connectors.Budget{Now: clock.Now, SleepUntil: clock.SleepUntil}
	// held asserts the next call waits d, answered as a rate limit (no
	// sleep in the call), and moves the clock past it.
	held := func(d time.Duration) {
		t.Helper()
		start := clock.Now()
		err := b.Wait(context.Background())
		var rl *connectors.RateLimited
		require.ErrorAs(t, err, &rl)
		require.Equal(t, d, rl.RetryAfter)
		require.False(t, rl.Floor, "the hold's end is a date")
		require.Contains(t, rl.Reason, "secondary rate limit")
		require.Equal(t, start, clock.Now(), "no sleep")
		clock.t = start.Add(d)
		require.NoError(t, b.Wait(context.Background()), "the call goes when the hold ends")
	}
	require.Equal(t, time.Minute, b.Hold(time.Minute, true, "secondary rate limit"))
	held(time.Minute)
	require.Equal(t, 2*time.Minute, b.Hold(time.Minute, true, "secondary rate limit"))
	// A call booked before this hold, refused with it: not another strike
	// (not 4 minutes), the 2 minutes count from this refusal.
	clock.t = clock.t.Add(10 * time.Second)
	require.Equal(t, 2*time.Minute, b.Hold(time.Minute, true, "secondary rate limit"))
	held(2 * time.Minute)
	for _, want := range []time.Duration{4, 8, 16, 30, 30} {
		require.Equal(t, want*time.Minute, b.Hold(time.Minute, true, "secondary rate limit"))
		held(want * time.Minute)
	}

	// An accepted call ends the refusals in a row.
	b.Accepted()
	require.Equal(t, time.Minute, b.Hold(time.Minute, true, "secondary rate limit"))
	held(time.Minute)
	// So does a long quiet after the last hold (no call, nothing learnt).
	require.Equal(t, 2*time.Minute, b.Hold(time.Minute, true, "secondary rate limit"))
	clock.t = clock.t.Add(2*time.Minute + connectors.FloorBackoffCap + time.Second)
	require.Equal(t, time.Minute, b.Hold(time.Minute, true, "secondary rate limit"))
	held(time.Minute)

	// A dated refusal holds for its date, not longer, and again not longer.
	for range 3 {
		require.Equal(t, 45*time.Second, b.Hold(45*time.Second, false, "secondary rate limit (retry-after)"))
		held(45 * time.Second)
	}
	// A short hold is slept in the call.
	b.Hold(5*time.Second, false, "secondary rate limit")
	start := clock.Now()
	require.NoError(t, b.Wait(context.Background()))
	require.Equal(t, start.Add(5*time.Second), clock.Now())
}

// TestTransportHoldsTheAccountOnARefusal: the transport holds the account's
// budget when an answer is a rate limit (the provider's classifier says
// whether its delay is only a floor), so the account's other calls wait
// without calling; the refusals in a row grow the hold, and an accepted
// call ends them.
func TestTransportHoldsTheAccountOnARefusal(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	var mu sync.Mutex
	refuse, calls := true, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		w.Header().Set("X-RateLimit-Remaining", "4987")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(clock.Now().Add(40*time.Minute).Unix(), 10))
		w.Header().Set("Content-Type", "application/json")
		if refuse {
			w.WriteHeader(http.StatusForbidden)
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	b := &connectors.Budget{Now: clock.Now, SleepUntil: clock.SleepUntil}
	classify := func(resp *http.Response) error {
		if resp.StatusCode == http.StatusForbidden {
			return &connectors.RateLimited{RetryAfter: time.Minute, Reason: "secondary rate limit", Floor: true}
		}
		return connectors.ClassifyResponse(resp)
	}
	client := &http.Client{Transport: &connectors.Transport{Provider: "github", Budget: b, Classify: classify}}
	// call returns the wait the call was answered with (0: it succeeded)
	// and whether it reached the provider.
	call := func(ok bool) (time.Duration, bool) {
		t.Helper()
		mu.Lock()
		refuse, calls = !ok, 0
		mu.Unlock()
		resp, err := client.Get(srv.URL)
		mu.Lock()
		called := calls > 0
		mu.Unlock()
		if err == nil {
			_ = resp.Body.Close()
			return 0, called
		}
		d, isLimit := connectors.RetryAfter(err)
		require.True(t, isLimit, "%v", err)
		return d, called
	}
	d, called := call(false)
	require.True(t, called)
	require.Equal(t, time.Minute, d, "the provider's floor, as it said")
	d, called = call(true)
	require.False(t, called, "held: the account's next call waits without calling")
	require.Equal(t, time.Minute, d)

	clock.t = clock.t.Add(time.Minute)
	_, called = call(false)
	require.True(t, called)
	d, called = call(true)
	require.False(t, called)
	require.Equal(t, 2*time.Minute, d, "refused again: held twice as long")

	clock.t = clock.t.Add(2 * time.Minute)
	d, called = call(true)
	require.True(t, called)
	require.Zero(t, d, "accepted")
	_, called = call(false)
	require.True(t, called)
	d, called = call(true)
	require.False(t, called)
	require.Equal(t, time.Minute, d, "the accepted call ended the refusals in a row")
}
