package db_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

func createState(t *testing.T, d *db.DB, kr *vault.KeyRing, tenant, state, provider, verifier string, ttl time.Duration) *db.OAuthState {
	t.Helper()
	var st *db.OAuthState
	require.NoError(t, d.WithTenant(context.Background(), tenant, func(tx *db.Tx) (err error) {
		st, err = tx.CreateState(context.Background(), kr, state, provider, verifier, "https://app.example.com/done", []byte(`{"streams":["items"]}`), ttl)
		return err
	}))
	return st
}

// consume spends a state the way the callback does: the transaction
// commits even when the state is rejected, so every attempt spends it.
func consume(d *db.DB, kr *vault.KeyRing, state, provider string) (*db.OAuthState, error) {
	var st *db.OAuthState
	var bad error
	err := d.WithSystem(context.Background(), func(tx *db.Tx) (err error) {
		st, bad, err = tx.ConsumeState(context.Background(), kr, state, provider)
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, bad
}

func requireBadState(t *testing.T, err error, why string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, poblysh.EINVALID, poblysh.ErrorCode(err))
	require.Contains(t, poblysh.ErrorMessage(err), why)
}

func TestOAuthStateIsSingleUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := keyRing(t)
	f := newFixture(t, s.DB, "fake", "a")

	created := createState(t, s.DB, kr, f.tenant, "state-ok", "fake", "the-pkce-verifier", time.Hour)
	require.Equal(t, f.tenant, created.TenantID)
	require.NotNil(t, created.VerifierCT)

	// Stored: a hash of the state and the verifier encrypted, never in clear.
	var row struct {
		Hash     []byte `db:"state_hash"`
		Verifier string `db:"verifier_ct"`
	}
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &row, `SELECT state_hash, verifier_ct FROM oauth_states WHERE id = $1`, created.ID)
	}))
	require.NotContains(t, string(row.Hash), "state-ok")
	require.True(t, strings.HasPrefix(row.Verifier, "pv1:"+kr.CurrentKeyID()+":"))
	require.NotContains(t, row.Verifier, "the-pkce-verifier")

	st, err := consume(s.DB, kr, "state-ok", "fake")
	require.NoError(t, err)
	require.Equal(t, created.ID, st.ID)
	require.Equal(t, f.tenant, st.TenantID)
	require.Equal(t, "the-pkce-verifier", st.Verifier, "the PKCE verifier round-trips")
	require.Equal(t, "https://app.example.com/done", *st.RedirectURI)
	require.JSONEq(t, `{"streams":["items"]}`, string(st.Config))

	_, err = consume(s.DB, kr, "state-ok", "fake")
	requireBadState(t, err, "already used")
	_, err = consume(s.DB, kr, "never-issued", "fake")
	requireBadState(t, err, "unknown state")
	_, err = consume(s.DB, kr, "", "fake")
	requireBadState(t, err, "missing")

	// Expired: rejected, and spent by the attempt.
	createState(t, s.DB, kr, f.tenant, "state-expired", "fake", "", -time.Second)
	_, err = consume(s.DB, kr, "state-expired", "fake")
	requireBadState(t, err, "expired")
	_, err = consume(s.DB, kr, "state-expired", "fake")
	requireBadState(t, err, "already used")

	// Issued for another provider: rejected and spent, so the right
	// provider cannot use it afterwards.
	createState(t, s.DB, kr, f.tenant, "state-github", "github", "", time.Hour)
	_, err = consume(s.DB, kr, "state-github", "fake")
	requireBadState(t, err, "another provider")
	_, err = consume(s.DB, kr, "state-github", "github")
	requireBadState(t, err, "already used")

	// Without PKCE the verifier stays empty.
	createState(t, s.DB, kr, f.tenant, "state-nopkce", "fake", "", time.Hour)
	st, err = consume(s.DB, kr, "state-nopkce", "fake")
	require.NoError(t, err)
	require.Empty(t, st.Verifier)
	require.Nil(t, st.VerifierCT)

	// A verifier under a key the ring does not hold fails loudly.
	createState(t, s.DB, kr, f.tenant, "state-otherkey", "fake", "v", time.Hour)
	_, err = consume(s.DB, keyRing(t), "state-otherkey", "fake")
	require.ErrorIs(t, err, vault.ErrUnknownKey)
}

// TestOAuthStateConcurrentCallbacks: of many callbacks racing with the same
// state exactly one wins.
func TestOAuthStateConcurrentCallbacks(t *testing.T) {
	t.Parallel()
	s := dbtest.NewSchema(t)
	kr := keyRing(t)
	f := newFixture(t, s.DB, "fake", "a")
	createState(t, s.DB, kr, f.tenant, "raced", "fake", "v", time.Hour)
	var wins, used atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := consume(s.DB, kr, "raced", "fake")
			switch {
			case err == nil:
				wins.Add(1)
			case strings.Contains(poblysh.ErrorMessage(err), "already used"):
				used.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int32(1), wins.Load())
	require.Equal(t, int32(9), used.Load())
}
