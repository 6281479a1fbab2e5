package db

import (
	"context"
	"fmt"
	"time"
)

// Pacer books turns of provider call budgets shared by every process of
// the service through the rate_buckets table (connectors.Pacer). Each key
// is a generic cell rate (GCRA): one call per every, bursts of burst.
type Pacer struct{ DB *DB }

// Reserve books the next call of key and returns how long the caller must
// wait before making it (0 when it may call now). A booking is not given
// back: a caller that gives up leaves its turn unused.
func (p Pacer) Reserve(ctx context.Context, key string, every time.Duration, burst int) (time.Duration, error) {
	if every <= 0 {
		return 0, nil
	}
	burst = max(burst, 1)
	var wait float64
	// tat is when the budget would be whole again; a call is due at
	// tat − burst·every. The upsert is atomic per key, across processes.
	err := p.DB.WithSystem(ctx, func(tx *Tx) error {
		return tx.GetContext(ctx, &wait, `INSERT INTO rate_buckets AS b (key, tat)
			VALUES ($1, clock_timestamp() + make_interval(secs => $2))
			ON CONFLICT (key) DO UPDATE SET tat = greatest(b.tat, clock_timestamp()) + make_interval(secs => $2)
			RETURNING greatest(0, extract(epoch FROM (tat - clock_timestamp())) - $2 * $3)::float8`,
			key, every.Seconds(), burst)
	})
	if err != nil {
		return 0, fmt.Errorf("db: reserve %s: %w", key, err)
	}
	return time.Duration(wait * float64(time.Second)), nil
}
