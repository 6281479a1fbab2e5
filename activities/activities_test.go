package activities

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	for attempt := int32(1); attempt <= 12; attempt++ {
		full := time.Second << (attempt - 1)
		if full > 5*time.Minute || attempt > 10 {
			full = 5 * time.Minute
		}
		for range 50 {
			d := backoff(attempt, time.Second, 5*time.Minute)
			require.GreaterOrEqual(t, d, full/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, full, "attempt %d", attempt)
		}
	}
}

func TestToNewSignalsRejectsIncompleteSignals(t *testing.T) {
	t.Parallel()
	ok := connectors.Signal{Kind: "code.pushed", DedupeKey: "commit:1:a", OccurredAt: time.Unix(1700000000, 0).In(time.FixedZone("x", 3600)),
		Payload: connectors.Payload{Title: "t"}, Raw: []byte(`{"a":1}`), AliasKeys: []string{"commit:1:b"}}
	out, err := ToNewSignals([]connectors.Signal{ok})
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, time.UTC, out[0].OccurredAt.Location(), "stored in UTC")
	require.JSONEq(t, `{"title":"t","url":"","actor":{"id":"","name":""},"subject":{"type":"","id":""},"context":{"type":"","id":""},"attributes":{}}`, string(out[0].Payload))
	require.Equal(t, []string{"commit:1:b"}, out[0].AliasKeys)
	bad := ok
	bad.Raw = []byte("not json")
	out, err = ToNewSignals([]connectors.Signal{bad})
	require.NoError(t, err)
	require.Nil(t, out[0].Raw, "invalid raw JSON is dropped, the Signal kept")
	for _, broken := range []connectors.Signal{{DedupeKey: "k", OccurredAt: time.Now()}, {Kind: "k", OccurredAt: time.Now()}, {Kind: "k", DedupeKey: "k"}} {
		_, err := ToNewSignals([]connectors.Signal{broken})
		require.Error(t, err)
	}
}

func TestConnectorConnectionFallsBackToColumns(t *testing.T) {
	t.Parallel()
	c := ConnectorConnection(&db.Connection{ID: "c", TenantID: "t", ExternalAccountID: "T123", DisplayName: "Acme",
		Account: []byte(`{"metadata":{"bot_user_id":"U1"}}`), Config: []byte(`{"channels":["C1"]}`)})
	require.Equal(t, "T123", c.Account.ID)
	require.Equal(t, "Acme", c.Account.Name)
	require.Equal(t, "U1", c.Account.Metadata["bot_user_id"])
	require.JSONEq(t, `{"channels":["C1"]}`, string(c.Config))
}

// TestTranslateClassifies: the Temporal error an activity fails with for
// each neutral error (health side effects need a database and are covered
// by the end-to-end tests; here the DB is absent and only logged).
func TestTranslateClassifies(t *testing.T) {
	t.Parallel()
	a := &Activities{}
	tgt := Target{TenantID: "t", ConnectionID: "c", Provider: "fake"}
	cases := []struct {
		err          error
		typ          string
		nonRetryable bool
		delay        time.Duration
	}{
		{&connectors.RateLimited{RetryAfter: 7 * time.Second}, ErrTypeRateLimited, false, 7*time.Second + 250*time.Millisecond},
		{fmt.Errorf("x: %w", connectors.ErrCursorExpired), ErrTypeCursorExpired, true, 0},
		{errors.New("boom"), ErrTypeTransient, false, -1},
	}
	for _, c := range cases {
		err := a.translate(context.Background(), tgt, c.err)
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "%v", c.err)
		require.Equal(t, c.typ, appErr.Type())
		require.Equal(t, c.nonRetryable, appErr.NonRetryable())
		if c.delay > 0 {
			require.Equal(t, c.delay, appErr.NextRetryDelay())
		}
		if c.delay < 0 {
			require.Positive(t, appErr.NextRetryDelay(), "transient failures carry a jittered backoff")
		}
	}
}
