package gmail

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// handedKeys is a key set that hands out an earlier download's refusal
// stale times without asking the limiter (as RemoteKeySet does until its
// download goroutine clears the finished result), then either verifies or,
// with ask, asks the limiter for a download as a real one would.
type handedKeys struct {
	limit *keyFetchLimit
	stale int
	ask   bool
	calls int
}

func (h *handedKeys) VerifySignature(context.Context, string) ([]byte, error) {
	h.calls++
	if h.calls <= h.stale {
		return nil, errKeysFresh
	}
	if h.ask {
		if _, err := h.limit.RoundTrip(nil); err != nil {
			return nil, err
		}
	}
	return []byte("payload"), nil
}

// TestStaleRefusalIsAskedAgain: a refusal handed over without a download
// having been asked (an earlier ask's, still held by RemoteKeySet) is asked
// again until it clears, however long the clearing goroutine takes to run,
// while a refusal the limiter made for this very ask is answered at once
// (a forged token costs one refusal).
func TestStaleRefusalIsAskedAgain(t *testing.T) {
	t.Parallel()
	now := time.Now()
	limit := &keyFetchLimit{now: func() time.Time { return now }}
	stale := &handedKeys{limit: limit, stale: 6}
	payload, err := (&freshKeys{limit: limit, remote: stale}).VerifySignature(context.Background(), "t")
	require.NoError(t, err, "six stale refusals in a row are outwaited")
	require.Equal(t, []byte("payload"), payload)
	require.Equal(t, 7, stale.calls)

	limit.last = now // a download was just let through: the next is refused
	refused := &handedKeys{limit: limit, stale: 0, ask: true}
	_, err = (&freshKeys{limit: limit, remote: refused}).VerifySignature(context.Background(), "t")
	require.ErrorIs(t, err, errKeysFresh)
	require.Equal(t, 1, refused.calls, "a refusal made for this ask is final")
}
