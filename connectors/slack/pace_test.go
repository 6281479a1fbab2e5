package slack

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// TestTierBudgets: every Web API call of a sync or a proof books a turn of
// its method's tier in the workspace's budget (one key per workspace and
// tier, the keys a shared Pacer keeps in Postgres).
func TestTierBudgets(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	p := f.conn.currentPacer().(*testPacer)
	_, _, _ = f.drain(t, conn, fastClient(tok.AccessToken), "history:"+slacksandbox.ChannelGeneral, nil)
	_ = f.prove(t, conn, tok)
	count := map[string]int{}
	for _, k := range p.booked() {
		count[k]++
	}
	team := slacksandbox.DefaultTeamID
	require.Equal(t, f.methodCalls("conversations.history")+f.methodCalls("conversations.replies")+
		f.methodCalls("conversations.info")+f.methodCalls("users.conversations"), count["slack:"+team+":tier3"])
	require.Equal(t, f.methodCalls("users.info"), count["slack:"+team+":tier4"])
	require.Positive(t, count["slack:"+team+":tier4"])
	require.Len(t, count, 2, "nothing else is booked: %v", count)
}

// TestWaitTurn: a turn within the caller's deadline is waited for; one
// beyond it fails at once with a rate limit carrying the delay.
func TestWaitTurn(t *testing.T) {
	c := &Connector{pacer: newLocalPacer()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for range tier2.burst {
		require.NoError(t, c.waitTurn(ctx, "T1", tier2), "the burst goes through")
	}
	err := c.waitTurn(ctx, "T1", tier2)
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	d, _ := connectors.RetryAfter(err)
	require.InDelta(t, tier2.every.Seconds(), d.Seconds(), 0.5)
	require.NoError(t, c.waitTurn(ctx, "T2", tier2), "another workspace has its own budget")
	require.NoError(t, c.waitTurn(ctx, "", tier2), "no account (a code exchange): not paced")
}

// TestLocalPacerBooksOnlyWithinTheWait: a turn further out than the
// caller's bound is not booked (the wait says when it would be due), as
// db.Pacer's (TestPacerBooksOnlyWithinTheWait).
func TestLocalPacerBooksOnlyWithinTheWait(t *testing.T) {
	t.Parallel()
	p := newLocalPacer()
	every := time.Hour
	reserve := func(within time.Duration) (time.Duration, bool) {
		d, booked, err := p.Reserve(context.Background(), "slack:T1:non-marketplace", every, 1, within)
		require.NoError(t, err)
		return d, booked
	}
	d, booked := reserve(0)
	require.True(t, booked, "the first call is due now")
	require.Zero(t, d)
	for range 3 {
		d, booked = reserve(3 * time.Minute)
		require.False(t, booked, "due in an hour, past the caller's 3 minutes")
		require.InDelta(t, every.Seconds(), d.Seconds(), 5)
	}
	d, booked = reserve(-1)
	require.True(t, booked, "no bound")
	require.InDelta(t, every.Seconds(), d.Seconds(), 5, "the refused calls took no turn")
}

// TestNonMarketplaceBudgetIsSpent: the channels of a non-Marketplace
// workspace share one history/replies call a minute, and together they
// make nearly every call it allows, with the process's pacer and with
// Postgres's. Each stream is a channel's pages, as the engine runs them:
// each page has the activity's 3-minute deadline, and a rate-limited page
// comes back after its RetryAfter (and the engine's 250 ms). Before
// 2026-12-07 every page booked its turn before looking at its deadline:
// turns past it were booked and never used, so with 4 channels or more the
// budget ran ever further ahead of the clock and no call was made again
// (3 or 4 calls in 30 minutes). Scaled: one minute is 150 ms, every case
// at once; the bounds leave room for a loaded machine (a page stalled past
// its deadline loses its turn).
func TestNonMarketplaceBudgetIsSpent(t *testing.T) {
	t.Parallel()
	const (
		minute  = 150 * time.Millisecond
		minutes = 30
	)
	type result struct{ calls, stalled int64 }
	run := func(p connectors.Pacer, team string, streams int) (result, error) {
		c := &Connector{pacer: p, nonMarketplace: true, slowEvery: minute}
		stop := time.Now().Add(minutes * minute)
		var calls, stalled atomic.Int64
		errs := make(chan error, streams)
		var wg sync.WaitGroup
		for range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					ctx, cancel := context.WithTimeout(context.Background(), 3*minute)
					err := c.pace(ctx, team)
					expired := ctx.Err() != nil
					cancel()
					d, limited := connectors.RetryAfter(err)
					switch {
					case err == nil:
						calls.Add(1) // the page's conversations.history call
					case limited:
						time.Sleep(d + 250*time.Millisecond*minute/time.Minute)
					case expired:
						// The page's time ran out while it booked or waited
						// (a stalled machine): the engine retries it.
						stalled.Add(1)
					default:
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return result{calls.Load(), stalled.Load()}, <-errs
	}
	pg := db.Pacer{DB: dbtest.NewSchema(t).DB}
	type scenario struct {
		pacer   string
		streams int
	}
	var scenarios []scenario
	for _, pacer := range []string{"local", "postgres"} {
		for _, streams := range []int{1, 6, 10} {
			scenarios = append(scenarios, scenario{pacer, streams})
		}
	}
	results := make([]result, len(scenarios))
	errs := make([]error, len(scenarios))
	var wg sync.WaitGroup
	for i, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p connectors.Pacer = newLocalPacer()
			if sc.pacer == "postgres" {
				p = pg
			}
			results[i], errs[i] = run(p, fmt.Sprintf("T%s%d", sc.pacer, sc.streams), sc.streams)
		}()
	}
	wg.Wait()
	for i, sc := range scenarios {
		r := results[i]
		t.Logf("%s pacer, %d channels: %d calls in %d budget minutes (%d pages stalled)", sc.pacer, sc.streams, r.calls, minutes, r.stalled)
		require.NoError(t, errs[i])
		require.GreaterOrEqual(t, r.calls, int64(minutes*2/3), "%s pacer, %d channels: the budget allows %d", sc.pacer, sc.streams, minutes+1)
		require.LessOrEqual(t, r.calls, int64(minutes+3), "%s pacer, %d channels: never more than the budget", sc.pacer, sc.streams)
	}
}
