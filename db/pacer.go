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

// Reserve books the next call of key if it is due within within from now
// (< 0: however far out) and returns how long the caller must wait before
// making it (0 when it may call now) and whether it was booked. A call due
// later is not booked (the budget stays as it was): the wait is then how
// long until it would be due. A booking is not given back: a caller that
// gives up leaves its turn unused, so a caller books only a turn it will
// wait for.
func (p Pacer) Reserve(ctx context.Context, key string, every time.Duration, burst int, within time.Duration) (time.Duration, bool, error) {
	if every <= 0 {
		return 0, true, nil
	}
	burst = max(burst, 1)
	var (
		waits  []float64
		booked bool
	)
	// tat is when the budget would be whole again; a call is due at
	// tat − burst·every. The upsert is atomic per key, across processes,
	// and moves tat only when the call it books is due within the bound;
	// otherwise the row is read again, as it is now, for the wait.
	err := p.DB.WithSystem(ctx, func(tx *Tx) error {
		waits = waits[:0]
		err := tx.SelectContext(ctx, &waits, `WITH c AS (SELECT clock_timestamp() AS now, $2::float8 AS every, $3::int AS burst, $4::float8 AS within)
			INSERT INTO rate_buckets AS b (key, tat)
			SELECT $1, now + make_interval(secs => every) FROM c
			ON CONFLICT (key) DO UPDATE SET tat = greatest(b.tat, (SELECT now FROM c)) + (SELECT make_interval(secs => every) FROM c)
			WHERE (SELECT within < 0 OR b.tat <= now + make_interval(secs => within + (burst - 1) * every) FROM c)
			RETURNING (SELECT greatest(0, extract(epoch FROM (tat - now)) - every * burst)::float8 FROM c)`,
			key, every.Seconds(), burst, within.Seconds())
		if err != nil || len(waits) > 0 {
			booked = true
			return err
		}
		booked = false
		return tx.SelectContext(ctx, &waits, `SELECT greatest(0, extract(epoch FROM (tat - clock_timestamp())) - $2::float8 * ($3::int - 1))::float8
			FROM rate_buckets WHERE key = $1`, key, every.Seconds(), burst)
	})
	if err != nil {
		return 0, false, fmt.Errorf("db: reserve %s: %w", key, err)
	}
	if len(waits) == 0 {
		return 0, false, fmt.Errorf("db: reserve %s: the budget's row is gone", key)
	}
	return time.Duration(waits[0] * float64(time.Second)), booked, nil
}
