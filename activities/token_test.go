package activities

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/fake" // the engine's test provider
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// Tests do not wait half a second before retrying an unknown outcome.
func init() { retryUnknownAfter = 10 * time.Millisecond }

// refreshEnv is one connection of the fake provider with rotating refresh
// tokens, stored in a real Postgres schema, refreshed by the real activity
// against the fake provider's sandbox.
type refreshEnv struct {
	t      *testing.T
	schema *dbtest.Schema
	sb     *fakesandbox.Server
	acts   *Activities
	target poblysh.ConnectionRef
	// clock is the sandbox's time (reuse leeways), in Unix nanoseconds.
	clock atomic.Int64
	logs  *lockedBuffer
}

// lockedBuffer collects the activity's logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// requireLogged checks a log message was written, and that no token the
// provider issued appears in the logs.
func (e *refreshEnv) requireLogged(msg string) {
	e.t.Helper()
	logs := e.logs.String()
	require.Contains(e.t, logs, msg)
	for _, tok := range e.sb.OAuth.Issued() {
		require.NotContains(e.t, logs, tok, "tokens never appear in logs")
	}
}

// newRefreshEnv connects one account; wrap (optional) sits between the
// service and the sandbox.
func newRefreshEnv(t *testing.T, opts fakesandbox.Options, wrap func(*refreshEnv, http.Handler) http.Handler) *refreshEnv {
	t.Helper()
	ctx := context.Background()
	e := &refreshEnv{t: t, schema: dbtest.NewSchema(t), sb: fakesandbox.New(opts), logs: &lockedBuffer{}}
	e.clock.Store(time.Now().UnixNano())
	e.sb.OAuth.Now = func() time.Time { return time.Unix(0, e.clock.Load()) }
	var h http.Handler = e.sb
	if wrap != nil {
		h = wrap(e, h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	env := e.sb.Env(srv.URL)
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(t, err)
	log := logrus.New()
	log.SetOutput(e.logs)
	e.acts = &Activities{DB: e.schema.DB, Registry: reg, KeyRing: dbtest.KeyRing(t), Log: log}

	// Authorize at the sandbox and store the tokens, as the callback does.
	ts, err := e.sb.Authorize(srv.URL, "http://127.0.0.1/cb")
	require.NoError(t, err)
	e.target.Provider = "fake"
	require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "refresh")
		e.target.TenantID = tn.ID
		return err
	}))
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fakesandbox.DefaultAccountID})
		if err != nil {
			return err
		}
		e.target.ConnectionID = c.ID
		return tx.SaveTokens(ctx, e.acts.KeyRing, c.ID, db.Tokens{AccessToken: ts.AccessToken, RefreshToken: ts.RefreshToken, TokenType: "Bearer"})
	}))
	return e
}

// owner runs statements as the schema owner (triggers, pg_terminate_backend).
func (e *refreshEnv) owner(sql string, args ...any) {
	e.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.schema.OwnerURL)
	require.NoError(e.t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(e.t, err)
}

// refresh runs the RefreshToken activity (forced, as after a 401).
func (e *refreshEnv) refresh() error {
	_, err := e.acts.RefreshToken(context.Background(), RefreshTokenInput{ConnectionRef: e.target, Force: true})
	return err
}

func (e *refreshEnv) stored() *db.Tokens {
	e.t.Helper()
	var tok *db.Tokens
	require.NoError(e.t, e.schema.DB.WithTenant(context.Background(), e.target.TenantID, func(tx *db.Tx) (err error) {
		tok, err = tx.LoadTokens(context.Background(), e.acts.KeyRing, e.target.ConnectionID)
		return err
	}))
	return tok
}

func (e *refreshEnv) health() poblysh.Health {
	e.t.Helper()
	var c *db.Connection
	require.NoError(e.t, e.schema.DB.WithTenant(context.Background(), e.target.TenantID, func(tx *db.Tx) (err error) {
		c, err = tx.FindConnection(context.Background(), e.target.ConnectionID)
		return err
	}))
	return c.Health
}

// requireRefreshesFrom checks that the connection is healthy, its stored
// access token works at the provider, and it still refreshes (no
// re-authorization needed), n refreshes having reached the provider.
func (e *refreshEnv) requireRefreshesFrom(n int) {
	e.t.Helper()
	require.Equal(e.t, poblysh.HealthHealthy, e.health())
	_, err := e.sb.OAuth.Check(e.stored().AccessToken)
	require.NoError(e.t, err, "the stored access token is the provider's newest")
	before := e.stored()
	require.NoError(e.t, e.refresh(), "the connection still refreshes")
	after := e.stored()
	require.NotEqual(e.t, before.RefreshToken, after.RefreshToken, "rotated again")
	require.Equal(e.t, before.RefreshToken, after.PrevRefreshToken, "the spent token is kept for one more try")
	require.Equal(e.t, n+1, e.sb.OAuth.Refreshes)
	require.Equal(e.t, poblysh.HealthHealthy, e.health())
}

// TestRefreshSurvivesAFailedCommit: the provider has rotated the refresh
// token and answered, and the commit that stores its answer fails (a
// deferred constraint trigger raises at COMMIT, once). The answer is stored
// by a retry, so the spent token is never all that is left.
func TestRefreshSurvivesAFailedCommit(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	first := e.stored()
	e.owner(`CREATE SEQUENCE commit_failures;
		CREATE TABLE commit_failure_budget (n bigint NOT NULL);
		INSERT INTO commit_failure_budget VALUES (1);
		GRANT USAGE, SELECT ON SEQUENCE commit_failures TO poblysh_app;
		GRANT SELECT ON commit_failure_budget TO poblysh_app;
		CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			-- nextval is not rolled back with the failed transaction.
			IF nextval('commit_failures') <= (SELECT n FROM commit_failure_budget) THEN
				RAISE EXCEPTION 'injected commit failure';
			END IF;
			RETURN NULL;
		END $$;
		CREATE CONSTRAINT TRIGGER fail_token_commit AFTER UPDATE OF access_token_ct ON connections
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit();`)

	require.NoError(t, e.refresh())
	require.Equal(t, 1, e.sb.OAuth.Refreshes, "the provider answered once")
	var failed int64
	require.NoError(t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &failed, `SELECT last_value FROM commit_failures`)
	}))
	require.GreaterOrEqual(t, failed, int64(2), "one commit failed, the next one stored the answer")
	got := e.stored()
	require.NotEqual(t, first.RefreshToken, got.RefreshToken, "the rotated refresh token is stored")
	require.Equal(t, first.RefreshToken, got.PrevRefreshToken)
	e.requireLogged("could not store the refreshed tokens; retrying")
	e.requireLogged("injected commit failure")
	e.requireRefreshesFrom(1)
}

// TestRefreshSurvivesALostSession: the database session holding the token
// lock is terminated after the provider rotated the token and before its
// answer is stored. The answer is stored on a new session, under the lock
// taken again.
func TestRefreshSurvivesALostSession(t *testing.T) {
	t.Parallel()
	var killed atomic.Int32
	e := newRefreshEnv(t, fakesandbox.Options{}, lockKiller(&killed))
	first := e.stored()
	var sessions int
	require.NoError(t, e.refresh())
	require.Equal(t, int32(1), killed.Load())
	require.NoError(t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &sessions, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
			AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('poblysh-token:' || $1, 0)`, e.target.ConnectionID)
	}))
	require.Zero(t, sessions, "the token lock is released")
	got := e.stored()
	require.NotEqual(t, first.RefreshToken, got.RefreshToken)
	require.Equal(t, first.RefreshToken, got.PrevRefreshToken)
	e.requireLogged("could not store the refreshed tokens; retrying")
	e.requireLogged("terminating connection due to administrator command")
	e.requireRefreshesFrom(1)
}

// TestRefreshRecoversALostResponse: the provider rotates the token but its
// answer never arrives (the sandbox drops the connection after serving).
// A provider with a reuse leeway answers the same token once more; a
// single-use provider rejects it, and only then is the connection marked
// needs_reauth.
func TestRefreshRecoversALostResponse(t *testing.T) {
	t.Parallel()
	t.Run("reuse leeway", func(t *testing.T) {
		t.Parallel()
		e := newRefreshEnv(t, fakesandbox.Options{RefreshReuseLeeway: 10 * time.Minute}, nil)
		first := e.stored()
		e.sb.TokenFaults.Add(sandbox.Fault{Drop: true})
		require.NoError(t, e.refresh())
		require.Equal(t, 1, e.sb.TokenFaults.Hits, "one answer was lost")
		require.Equal(t, 2, e.sb.OAuth.Refreshes, "the provider rotated twice")
		got := e.stored()
		require.NotEqual(t, first.RefreshToken, got.RefreshToken)
		require.Equal(t, first.RefreshToken, got.PrevRefreshToken)
		e.requireLogged("token refresh outcome unknown; trying the same refresh token once more")
		e.requireRefreshesFrom(2)
	})
	t.Run("single use", func(t *testing.T) {
		t.Parallel()
		e := newRefreshEnv(t, fakesandbox.Options{}, nil)
		e.sb.TokenFaults.Add(sandbox.Fault{Drop: true})
		err := e.refresh()
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr)
		require.Equal(t, ErrTypeUnauthorized, appErr.Type())
		require.True(t, appErr.NonRetryable())
		require.Equal(t, 1, e.sb.OAuth.Refreshes, "the lost answer was the only one")
		require.Equal(t, poblysh.HealthNeedsReauth, e.health())
	})
}

// TestRefreshTriesThePreviousToken: the stored refresh token is rejected
// (the provider lost its record of it after answering), and the previous
// one, spent by the last refresh, still answers within the provider's reuse
// leeway. After the leeway both are rejected and the connection needs
// re-authorization.
func TestRefreshTriesThePreviousToken(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, fakesandbox.Options{RefreshReuseLeeway: 10 * time.Minute}, nil)
	first := e.stored()
	require.NoError(t, e.refresh())
	second := e.stored()
	require.Equal(t, first.RefreshToken, second.PrevRefreshToken)

	e.sb.OAuth.ForgetRefreshToken(second.RefreshToken)
	require.NoError(t, e.refresh(), "the previous refresh token answers")
	third := e.stored()
	require.NotEqual(t, second.RefreshToken, third.RefreshToken)
	require.Equal(t, first.RefreshToken, third.PrevRefreshToken, "the token that answered was the previous one")
	require.Equal(t, poblysh.HealthHealthy, e.health())
	_, err := e.sb.OAuth.Check(third.AccessToken)
	require.NoError(t, err)
	e.requireLogged("refresh token rejected; trying the previous refresh token once")

	// Past the leeway neither token answers.
	e.clock.Add(int64(11 * time.Minute))
	e.sb.OAuth.ForgetRefreshToken(third.RefreshToken)
	err = e.refresh()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrTypeUnauthorized, appErr.Type())
	require.Equal(t, poblysh.HealthNeedsReauth, e.health())
}

// TestConcurrentRefreshesSpendTheTokenOnce: refreshes of one connection
// from many workers (the sweeper and on-demand refreshes) take turns: the
// provider is asked once, and every caller ends with the stored tokens.
func TestConcurrentRefreshesSpendTheTokenOnce(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	seen := e.stored().AccessToken
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.acts.refresh(context.Background(), e.target, seen, true)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, e.sb.OAuth.Refreshes, "one refresh spent the token; the others reused its answer")
	e.requireRefreshesFrom(1)
}

// healthReason is the connection's stored health_reason.
func (e *refreshEnv) healthReason() string {
	e.t.Helper()
	var c *db.Connection
	require.NoError(e.t, e.schema.DB.WithTenant(context.Background(), e.target.TenantID, func(tx *db.Tx) (err error) {
		c, err = tx.FindConnection(context.Background(), e.target.ConnectionID)
		return err
	}))
	return c.HealthReason
}

// TestRefreshRefusedClientKeepsTheGrant: the token endpoint refuses the
// service's OAuth client (an operator's mistyped or rotated client secret:
// 401 invalid_client), not the user's grant. The refresh fails and the
// connection is degraded with a reason for the operator (naming the
// variables to check, never the secret), its refresh token is kept, and
// once the secret is fixed the next refresh heals it.
func TestRefreshRefusedClientKeepsTheGrant(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	before := e.stored()
	e.sb.TokenFaults.Add(sandbox.Fault{Status: 401, ContentType: "application/json",
		Body: `{"error":"invalid_client","error_description":"client authentication failed for ` + fakesandbox.DefaultClientSecret + `"}`})

	err := e.refresh()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrTypeInvalidConfig, appErr.Type())
	require.Equal(t, 1, e.sb.TokenFaults.Hits)
	require.Equal(t, poblysh.HealthDegraded, e.health(), "the user's grant is intact")
	reason := e.healthReason()
	require.Contains(t, reason, "POBLYSH_FAKE_CLIENT_SECRET")
	require.Contains(t, reason, "invalid_client")
	require.NotContains(t, reason, fakesandbox.DefaultClientSecret)
	require.NotContains(t, err.Error(), fakesandbox.DefaultClientSecret)
	require.Equal(t, before.RefreshToken, e.stored().RefreshToken, "the grant is kept")

	// The secret is fixed: the next refresh spends the kept token and heals.
	require.NoError(t, e.refresh())
	require.Equal(t, poblysh.HealthHealthy, e.health())
	require.Equal(t, before.RefreshToken, e.stored().PrevRefreshToken)
	e.requireRefreshesFrom(1)
}

// lockKiller ends the session holding the connection's token lock when
// the first refresh_token grant has been answered by the sandbox (the
// provider has rotated), before the answer reaches the refresher.
func lockKiller(killed *atomic.Int32) func(*refreshEnv, http.Handler) http.Handler {
	return func(e *refreshEnv, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if r.URL.Path == "/oauth/token" && r.PostFormValue("grant_type") == "refresh_token" && killed.Add(1) == 1 {
				// Advisory lock keys are two 32-bit halves; wait until the
				// backend has exited.
				e.owner(`SELECT pg_terminate_backend(pid, 5000) FROM pg_locks
					WHERE locktype = 'advisory' AND granted AND objsubid = 1
					  AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('poblysh-token:' || $1, 0)`, e.target.ConnectionID)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	}
}

// TestLostLockDoesNotLetASecondRefresherSpendTheToken: two refreshers of
// one connection (a sync page and a watch pass, on two workers) found its
// access token wanting. The first holds the token lock; its session dies
// after the provider rotated the single-use refresh token and before the
// answer is stored, so the second gets the lock at once and reads the
// spent token. The in-flight mark the first committed before the provider
// call makes the second wait for the first's answer instead of spending the
// token again (which a single-use provider refuses: needs_reauth).
func TestLostLockDoesNotLetASecondRefresherSpendTheToken(t *testing.T) {
	t.Parallel()
	var killed atomic.Int32
	e := newRefreshEnv(t, fakesandbox.Options{}, lockKiller(&killed))
	first := e.stored()
	var wg sync.WaitGroup
	outs := make([]*db.Tokens, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = e.acts.refresh(context.Background(), e.target, first.AccessToken, true)
		}()
		time.Sleep(50 * time.Millisecond) // the first takes the lock
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, int32(1), killed.Load(), "the refresh token was spent once")
	got := e.stored()
	require.Equal(t, got.AccessToken, outs[0].AccessToken)
	require.Equal(t, got.AccessToken, outs[1].AccessToken, "the second refresher got the first's answer")
	require.Equal(t, first.RefreshToken, got.PrevRefreshToken)
	e.requireLogged("another refresher is spending this refresh token; waiting for its answer")
	e.requireRefreshesFrom(1)
}

// TestRefusedRefreshKeepsTokensStoredMeanwhile: while a refresher spends
// the stored refresh token, another writer (a refresher whose in-flight
// mark had gone stale) spends it first and stores the provider's answer.
// The refresher's spend is refused, but the connection holds working
// tokens: it returns those and records nothing, not needs_reauth.
func TestRefusedRefreshKeepsTokensStoredMeanwhile(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	e := newRefreshEnv(t, fakesandbox.Options{}, func(e *refreshEnv, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth/token" && r.PostFormValue("grant_type") == "refresh_token" && n.Add(1) == 1 {
				ts, err := e.sb.OAuth.RefreshToken(fakesandbox.DefaultClientID, r.PostFormValue("refresh_token"))
				require.NoError(e.t, err)
				require.NoError(e.t, e.schema.DB.WithTenant(context.Background(), e.target.TenantID, func(tx *db.Tx) error {
					return tx.SaveTokens(context.Background(), e.acts.KeyRing, e.target.ConnectionID,
						db.Tokens{AccessToken: ts.AccessToken, RefreshToken: ts.RefreshToken, PrevRefreshToken: r.PostFormValue("refresh_token"), TokenType: "Bearer"})
				}))
			}
			h.ServeHTTP(w, r)
		})
	})
	first := e.stored()
	tok, err := e.acts.refresh(context.Background(), e.target, first.AccessToken, true)
	require.NoError(t, err)
	got := e.stored()
	require.NotEqual(t, first.RefreshToken, got.RefreshToken)
	require.Equal(t, got.AccessToken, tok.AccessToken, "the tokens stored meanwhile are returned")
	require.Equal(t, poblysh.HealthHealthy, e.health())
	e.requireLogged("refresh token refused, but newer tokens were stored meanwhile; keeping those")
	e.requireRefreshesFrom(1)
}

// TestStaleSpendMarkDoesNotBlock: a refresher that marked the token and
// died (its worker killed before the provider answered) leaves a mark;
// once it is older than any spend can last, the token is spent again.
func TestStaleSpendMarkDoesNotBlock(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	first := e.stored()
	require.NoError(t, e.schema.DB.WithTenant(context.Background(), e.target.TenantID, func(tx *db.Tx) error {
		if err := tx.MarkRefreshSpend(context.Background(), e.target.ConnectionID, first.RefreshToken); err != nil {
			return err
		}
		_, err := tx.ExecContext(context.Background(), `UPDATE connections SET refresh_spend_at = now() - make_interval(secs => $2)
			WHERE id = $1`, e.target.ConnectionID, (spendInFlightFor + time.Second).Seconds())
		return err
	}))
	require.NoError(t, e.refresh())
	require.Equal(t, 1, e.sb.OAuth.Refreshes)
	require.Equal(t, first.RefreshToken, e.stored().PrevRefreshToken)
	e.requireRefreshesFrom(1)
}

// TestRefreshKeepsTokensAReconnectStores: a reconnect (lifecycle's store:
// the row locked by UpsertConnection, the reconnect's tokens saved, one
// transaction, no token lock) commits while a refresh is storing the
// provider's answer. The refresh must not overwrite the reconnect's
// tokens: for a provider that does not rotate (Zoho) its answer carries
// the old refresh token, which the reconnect then revokes. It returns the
// reconnect's tokens instead.
func TestRefreshKeepsTokensAReconnectStores(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	ctx := context.Background()
	old := e.stored()
	answer := &db.Tokens{AccessToken: "access-from-refresh", RefreshToken: old.RefreshToken, TokenType: "Bearer"}
	recon := db.Tokens{AccessToken: "access-from-reconnect", RefreshToken: "refresh-from-reconnect", TokenType: "Bearer"}

	locked, proceed, reconnected := make(chan string), make(chan struct{}), make(chan error, 1)
	go func() {
		reconnected <- e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
			if _, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake",
				ExternalAccountID: fakesandbox.DefaultAccountID, ConnectionID: e.target.ConnectionID}); err != nil {
				return err
			}
			var xid string
			if err := tx.GetContext(ctx, &xid, `SELECT pg_current_xact_id()::xid::text`); err != nil {
				return err
			}
			locked <- xid
			<-proceed
			return tx.SaveTokens(ctx, e.acts.KeyRing, e.target.ConnectionID, recon)
		})
	}()
	xid := <-locked
	l, err := e.acts.DB.LockTokens(ctx, e.target.TenantID, e.target.ConnectionID)
	require.NoError(t, err)
	type result struct {
		out *db.Tokens
		err error
	}
	persisted := make(chan result, 1)
	go func() {
		lock := &tokenLock{l: l}
		defer lock.release()
		out, err := e.acts.persistRefreshed(ctx, lock, e.target, old, answer)
		persisted <- result{out, err}
	}()
	require.Eventually(t, func() bool { // the refresh waits for the reconnect's row lock
		var waiting int
		require.NoError(t, e.schema.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE NOT granted AND locktype = 'transactionid' AND transactionid::text = $1`, xid).Scan(&waiting))
		return waiting > 0
	}, 20*time.Second, 5*time.Millisecond)
	close(proceed)
	require.NoError(t, <-reconnected)
	r := <-persisted
	require.NoError(t, r.err)

	got := e.stored()
	require.Equal(t, recon.AccessToken, got.AccessToken, "the reconnect's tokens are kept")
	require.Equal(t, recon.RefreshToken, got.RefreshToken, "not the old refresh token, which the reconnect revokes")
	require.Equal(t, recon.AccessToken, r.out.AccessToken, "the refresh returns the stored tokens")
	e.requireLogged("new tokens were stored meanwhile by another writer; keeping those")
}

// TestRefreshAfterRefusedClientKeepsALostResourceShown: a connection
// degraded because a resource was lost is refused its OAuth client at a
// refresh (the reason becomes the client's); once the secret is fixed,
// the refresh that heals the client's degradation lands on degraded with
// the lost resource's reason, not healthy: a completed sync never degrades
// a healthy connection, so the lost resource would stay hidden.
func TestRefreshAfterRefusedClientKeepsALostResourceShown(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	ctx := context.Background()
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		_, err := tx.LoseResource(ctx, e.target.ConnectionID, "items", "not found or not visible to the connected account")
		return err
	}))
	e.acts.recordHealth(ctx, e.target, poblysh.HealthEvent{Kind: poblysh.EventAccessLost, Detail: "items: not found or not visible to the connected account"})
	require.Equal(t, poblysh.HealthDegraded, e.health())
	e.sb.TokenFaults.Add(sandbox.Fault{Status: 401, ContentType: "application/json", Body: `{"error":"invalid_client"}`})
	require.Error(t, e.refresh())
	require.Contains(t, e.healthReason(), "refused this service's OAuth client")

	require.NoError(t, e.refresh(), "the secret is fixed")
	require.Equal(t, poblysh.HealthDegraded, e.health(), "the resource is still lost")
	require.Equal(t, "lost access to items: not found or not visible to the connected account", e.healthReason())

	// Once no resource is lost, the heal after a refused client is healthy.
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		return tx.ReplaceResources(ctx, e.target.ConnectionID, nil)
	}))
	e.sb.TokenFaults.Add(sandbox.Fault{Status: 401, ContentType: "application/json", Body: `{"error":"invalid_client"}`})
	require.Error(t, e.refresh())
	require.NoError(t, e.refresh())
	require.Equal(t, poblysh.HealthHealthy, e.health())
}
