package db_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestPGNumericAgreesWithPostgres checks pgNumeric (which numbers
// CleanJSON keeps as numbers) against Postgres's own numeric input at the
// edges of its range.
func TestPGNumericAgreesWithPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)

	numbers := []string{"1e131071", "1e131072", "9.9e131071", "99e131070", "0.0001e131075", "1e-16383", "1e-16384",
		"1.5e-16383", "10e-16384", "0e-16383", "0e-16384", "0e1000000", "-0", "0.000", "123456789e-16390",
		"1" + strings.Repeat("0", 131071), "1" + strings.Repeat("0", 131072), "0." + strings.Repeat("0", 16383), "0." + strings.Repeat("0", 16384),
		"0." + strings.Repeat("0", 16382) + "1", "-1e+131071", "1E-0", "1e99999999999", "0e-99999999999"}
	for _, n := range numbers {
		_, err := s.DB.Pool.Exec(ctx, `SELECT $1::text::jsonb`, n)
		label := n
		if len(label) > 24 {
			label = fmt.Sprintf("%s… (%d bytes)", n[:12], len(n))
		}
		require.Equal(t, err == nil, db.PGNumeric(n), "%s: Postgres says %v", label, err)
	}
}

// TestJobErrorsAndReasonsAreCleaned: a provider's words that reach a job's
// error, its error context, a health reason, a resource's name and reason
// or an account's display name and metadata are stored even with a NUL or
// an invalid byte in them, instead of failing the statement that finishes
// the job (which left it running for good), records the health or stores
// the connection at the OAuth callback.
func TestJobErrorsAndReasonsAreCleaned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenantID, connID := dbtest.Seed(t, s.DB, "clean", "fake", "acct")
	bad := "provider said \x00no\xff"
	want := "provider said no\uFFFD"
	var job *db.Job
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		j, err := tx.EnsureJob(ctx, db.Job{ID: uuid.NewString(), ConnectionID: connID, Provider: "fake", Kind: "backfill", Trigger: "manual", WorkflowID: "wf-clean"})
		if err != nil {
			return err
		}
		if job, _, err = tx.FinishJob(ctx, j.ID, "failed", bad, map[string]any{"detail": bad, "n": 1}); err != nil {
			return err
		}
		if err := tx.SetHealth(ctx, connID, "degraded", bad); err != nil {
			return err
		}
		if err := tx.GrantResource(ctx, connID, db.Resource{Ref: "items", ResourceID: "1", Name: bad}); err != nil {
			return err
		}
		_, err = tx.LoseResource(ctx, connID, "items", bad)
		return err
	}))
	var conn *db.Connection
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
		conn, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct-2", DisplayName: bad,
			Account: []byte(`{"name":"provider said \u0000no"}`)})
		return err
	}))
	require.Equal(t, want, conn.DisplayName)
	require.JSONEq(t, `{"name":"provider said no"}`, string(conn.Account))
	require.Equal(t, want, *job.Error)
	require.JSONEq(t, `{"detail":"`+want+`","n":1}`, string(job.ErrorContext))
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		c, err := tx.FindConnection(ctx, connID)
		require.NoError(t, err)
		require.Equal(t, want, c.HealthReason)
		rs, err := tx.ListResources(ctx, connID)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		require.Equal(t, want, rs[0].Name)
		require.Equal(t, want, rs[0].Reason)
		return nil
	}))
}
