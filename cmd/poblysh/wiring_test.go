package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/config"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

// loadConfig is config.Load of env (DATABASE_URL and a crypto key added),
// as serve and reencrypt load it.
func loadConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	full := map[string]string{
		"DATABASE_URL":       "postgres://postgres@127.0.0.1:5432/poblysh_test?sslmode=disable",
		"POBLYSH_CRYPTO_KEY": vault.GenerateKey(),
	}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := config.Load(func(k string) string { return full[k] }, config.Needs{Crypto: true})
	require.NoError(t, err)
	return cfg
}

// The worker's activities get the configuration's settings, the renewal
// interval above all: dropped, it was 0, and the activities then judged a
// channel due on a third of its life instead of the window the renewal
// sweep (scheduled every POBLYSH_RENEWAL_INTERVAL) relies on
// (db.RenewWithin), without a word. Unset, it is the documented 30m.
func TestNewActivitiesGetsTheConfig(t *testing.T) {
	t.Parallel()
	cfg := loadConfig(t, map[string]string{
		"POBLYSH_RENEWAL_INTERVAL":        "45m",
		"POBLYSH_TENANT_SYNC_CONCURRENCY": "7",
		"POBLYSH_RAW_RETENTION":           "48h",
		"POBLYSH_SIGNAL_TTL":              "72h",
		"POBLYSH_JOB_RETENTION":           "7d",
	})
	a := newActivities(cfg, nil, nil, nil, nil)
	require.Equal(t, 45*time.Minute, a.RenewalInterval)
	require.Equal(t, 7, a.TenantConcurrency)
	require.Equal(t, 48*time.Hour, a.RawRetention)
	require.Equal(t, 72*time.Hour, a.SignalTTL)
	require.Equal(t, 7*24*time.Hour, a.JobRetention)
	require.Same(t, cfg.KeyRing, a.KeyRing)

	require.Equal(t, 30*time.Minute, newActivities(loadConfig(t, nil), nil, nil, nil, nil).RenewalInterval,
		"POBLYSH_RENEWAL_INTERVAL unset: the documented default")
}

// The commands that open the database (serve, reencrypt) size its pool by
// POBLYSH_DB_MAX_CONNS: reencrypt opened pgx's default pool (4, or one
// per CPU), whatever the operator had set.
func TestOpenDBSizesThePool(t *testing.T) {
	t.Parallel()
	cfg := loadConfig(t, map[string]string{
		"DATABASE_URL":         dbtest.NewSchema(t).OwnerURL,
		"POBLYSH_DB_MAX_CONNS": "3",
	})
	d, err := openDB(context.Background(), cfg)
	require.NoError(t, err)
	defer d.Close()
	require.EqualValues(t, 3, d.Pool.Config().MaxConns)
}
