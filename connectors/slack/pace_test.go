package slack

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
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
