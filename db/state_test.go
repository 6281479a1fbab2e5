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
		st, err = tx.CreateState(context.Background(), kr, db.NewState{State: state, Session: "session-" + state, Provider: provider,
			Verifier: verifier, RedirectURI: "https://app.example.com/done", Config: []byte(`{"streams":["items"]}`), TTL: ttl})
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
	kr := dbtest.KeyRing(t)
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
	_, err = consume(s.DB, dbtest.KeyRing(t), "state-otherkey", "fake")
	require.ErrorIs(t, err, vault.ErrUnknownKey)
}

// TestOAuthStateConcurrentCallbacks: of many callbacks racing with the same
// state exactly one wins.
func TestOAuthStateConcurrentCallbacks(t *testing.T) {
	t.Parallel()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
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

// sealed reads the ciphertext columns of a state.
func sealed(t *testing.T, d *db.DB, id string) (verifier, state *string) {
	t.Helper()
	var row struct {
		Verifier *string `db:"verifier_ct"`
		State    *string `db:"state_ct"`
	}
	require.NoError(t, d.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &row, `SELECT verifier_ct, state_ct FROM oauth_states WHERE id = $1`, id)
	}))
	return row.Verifier, row.State
}

// TestSpentStateKeepsNoSecret: the PKCE verifier and the sealed state are
// erased the moment a state is spent, whether the attempt succeeded or was
// rejected (expired, issued for another provider), so no ciphertext
// outlives the authorization under the key of its day.
func TestSpentStateKeepsNoSecret(t *testing.T) {
	t.Parallel()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	f := newFixture(t, s.DB, "fake", "a")

	for _, c := range []struct {
		name, provider string
		ttl            time.Duration
		bad            string
	}{
		{"used", "fake", time.Hour, ""},
		{"expired", "fake", -time.Second, "expired"},
		{"misdirected", "github", time.Hour, "another provider"},
	} {
		t.Run(c.name, func(t *testing.T) {
			created := createState(t, s.DB, kr, f.tenant, "secret-"+c.name, c.provider, "verifier-"+c.name, c.ttl)
			v, st := sealed(t, s.DB, created.ID)
			require.NotNil(t, v, "a pending state holds its verifier sealed")
			require.NotNil(t, st, "a pending state holds its state sealed")
			got, err := consume(s.DB, kr, "secret-"+c.name, "fake")
			if c.bad == "" {
				require.NoError(t, err)
				require.Equal(t, "verifier-"+c.name, got.Verifier, "the caller still gets the verifier")
			} else {
				requireBadState(t, err, c.bad)
			}
			v, st = sealed(t, s.DB, created.ID)
			require.Nil(t, v, "a spent state keeps no verifier")
			require.Nil(t, st, "a spent state keeps no sealed state")
		})
	}
}

// TestStateSessionBindsOneBrowser: the start page finds the state by its
// session (never by the state), binds it to the last browser that opened
// it, and only that browser's click approves it.
func TestStateSessionBindsOneBrowser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	f := newFixture(t, s.DB, "fake", "a")
	created := createState(t, s.DB, kr, f.tenant, "bound", "fake", "v", time.Hour)

	find := func(session, provider string) (*db.OAuthState, error) {
		var st *db.OAuthState
		var bad error
		err := s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			st, bad, err = tx.FindStateBySession(ctx, session, provider)
			return err
		})
		require.NoError(t, err)
		return st, bad
	}
	_, err := find("bound", "fake")
	requireBadState(t, err, "unknown link") // the state is not a session
	_, err = find("", "fake")
	requireBadState(t, err, "no session")
	_, err = find("session-bound", "github")
	requireBadState(t, err, "another provider")

	st, err := find("session-bound", "fake")
	require.NoError(t, err)
	require.Equal(t, created.ID, st.ID)
	require.Equal(t, "tenant a", st.TenantName)
	require.False(t, st.Bound(""), "an unbound state matches no cookie")

	bind := func(cookie string) *db.OAuthState {
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.BindState(ctx, created.ID, cookie) }))
		st, err := find("session-bound", "fake")
		require.NoError(t, err)
		return st
	}
	st = bind("browser-1")
	require.True(t, st.Bound("browser-1"))
	require.False(t, st.Bound("browser-2"))
	require.NotContains(t, string(st.BindingHash), "browser-1", "only a hash of the cookie is stored")

	var approved *db.OAuthState
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		approved, err = tx.ApproveState(ctx, kr, st)
		return err
	}))
	require.Equal(t, "bound", approved.State, "the click gets the OAuth state to send to the provider")
	require.Equal(t, "v", approved.Verifier)
	st, err = find("session-bound", "fake")
	require.NoError(t, err)
	require.NotNil(t, st.ApprovedAt)

	// Another browser opening the link takes the binding over and
	// withdraws the first browser's approval.
	st = bind("browser-2")
	require.True(t, st.Bound("browser-2"))
	require.False(t, st.Bound("browser-1"))
	require.Nil(t, st.ApprovedAt)

	// Once spent, the session is dead too.
	_, err = consume(s.DB, kr, "bound", "fake")
	require.NoError(t, err)
	_, err = find("session-bound", "fake")
	requireBadState(t, err, "already used")
}
