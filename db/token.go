package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/vault"
)

// Tokens are a connection's decrypted OAuth tokens. They live only in memory
// for the duration of a call.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	// PrevRefreshToken is the refresh token the last rotating refresh spent,
	// tried once when RefreshToken is rejected ("" when there is none).
	PrevRefreshToken string
	TokenType        string
	Expiry           *time.Time
	RefreshedAt      *time.Time
	// RefusedAt is when the provider refused RefreshToken
	// (MarkRefreshRefused; read only): nil since tokens were last stored.
	RefusedAt *time.Time
}

// Purposes bind each ciphertext to its column (additional authenticated
// data), so no ciphertext can stand in for another column's.
const (
	purposeAccess      = "access_token"
	purposeRefresh     = "refresh_token"
	purposePrevRefresh = "prev_refresh_token"
)

// tokenColumns names the token ciphertext columns, their generated key id
// columns and their purposes, for re-encryption.
var tokenColumns = []struct{ ct, keyID, purpose string }{
	{"access_token_ct", "access_key_id", purposeAccess},
	{"refresh_token_ct", "refresh_key_id", purposeRefresh},
	{"prev_refresh_token_ct", "prev_refresh_key_id", purposePrevRefresh},
}

func sealOptional(kr *vault.KeyRing, plaintext string, aad []byte) (*string, error) {
	if plaintext == "" {
		return nil, nil
	}
	ct, err := kr.Encrypt([]byte(plaintext), aad)
	if err != nil {
		return nil, err
	}
	return &ct, nil
}

// SaveTokens encrypts and stores tokens for a connection of the tenant, all
// in one statement, so they can never diverge; it clears the mark of a
// refresh token being spent (MarkRefreshSpend) and that of a refused one
// (MarkRefreshRefused). An empty RefreshToken keeps
// the stored one (a re-connect whose token response has none); its
// ciphertext stays under the key that sealed it, which its key id column
// records, so re-encryption still finds it. PrevRefreshToken is stored as
// given ("" clears it).
func (tx *Tx) SaveTokens(ctx context.Context, kr *vault.KeyRing, connID string, t Tokens) error {
	access, err := kr.Encrypt([]byte(t.AccessToken), vault.AAD(tx.TenantID, connID, purposeAccess))
	if err != nil {
		return err
	}
	refresh, err := sealOptional(kr, t.RefreshToken, vault.AAD(tx.TenantID, connID, purposeRefresh))
	if err != nil {
		return err
	}
	prev, err := sealOptional(kr, t.PrevRefreshToken, vault.AAD(tx.TenantID, connID, purposePrevRefresh))
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE connections SET access_token_ct = $3,
			refresh_token_ct = coalesce($4, refresh_token_ct), prev_refresh_token_ct = $5, token_type = $6,
			token_expires_at = $7, token_refreshed_at = now(), refresh_spend = NULL, refresh_spend_at = NULL,
			refresh_refused_at = NULL, updated_at = now()
		WHERE id = $1 AND tenant_id = $2`,
		connID, tx.TenantID, access, refresh, prev, t.TokenType, t.Expiry)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return poblysh.NotFound("connection")
	}
	return nil
}

// spendHash identifies a refresh token being spent without storing it.
func spendHash(connID, refreshToken string) []byte {
	sum := sha256.Sum256([]byte(connID + "\x00" + refreshToken))
	return sum[:]
}

// MarkRefreshSpend records, before the provider is called, that
// refreshToken is being spent (a hash of it, and when). The mark outlives
// the token lock's session: a refresher that takes the lock after that
// session died finds it, and waits for the answer to be stored (which
// clears it) rather than spending a single-use token again.
func (tx *Tx) MarkRefreshSpend(ctx context.Context, connID, refreshToken string) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET refresh_spend = $3, refresh_spend_at = now()
		WHERE id = $1 AND tenant_id = $2`, connID, tx.TenantID, spendHash(connID, refreshToken))
	return wrapConnErr(err)
}

// RefreshSpend reports whether refreshToken is marked as being spent, and
// for how long (by the database's clock, the one that stamped it).
func (tx *Tx) RefreshSpend(ctx context.Context, connID, refreshToken string) (time.Duration, bool, error) {
	var age *float64
	err := tx.GetContext(ctx, &age, `SELECT extract(epoch FROM now() - refresh_spend_at)::float8 FROM connections
		WHERE id = $1 AND tenant_id = $2 AND refresh_spend = $3`, connID, tx.TenantID, spendHash(connID, refreshToken))
	if errors.Is(err, sql.ErrNoRows) || err == nil && age == nil {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, wrapConnErr(err)
	}
	return time.Duration(*age * float64(time.Second)), true, nil
}

// ClearRefreshSpend removes the mark of refreshToken's spend, if it is
// still the one marked (a spend that ended without tokens to store).
func (tx *Tx) ClearRefreshSpend(ctx context.Context, connID, refreshToken string) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET refresh_spend = NULL, refresh_spend_at = NULL
		WHERE id = $1 AND tenant_id = $2 AND refresh_spend = $3`, connID, tx.TenantID, spendHash(connID, refreshToken))
	return wrapConnErr(err)
}

// TryLockTokens takes the connection's token lock (see DB.LockTokens) until
// the transaction ends, without waiting; false means another session holds
// it.
func (tx *Tx) TryLockTokens(ctx context.Context, connID string) (bool, error) {
	var ok bool
	err := tx.GetContext(ctx, &ok, `SELECT pg_try_advisory_xact_lock(hashtextextended('poblysh-token:' || $1, 0))`, connID)
	return ok, wrapConnErr(err)
}

// ErrNoStoredToken is LoadTokens' error for a connection that holds no
// token (one being created, or revived after a delete erased its tokens).
var ErrNoStoredToken = errors.New("db: connection has no stored token")

// LoadTokens decrypts a connection's tokens. Callers that will replace
// them hold the connection's token lock (DB.LockTokens) and read them with
// LoadTokensForUpdate.
func (tx *Tx) LoadTokens(ctx context.Context, kr *vault.KeyRing, connID string) (*Tokens, error) {
	return tx.loadTokens(ctx, kr, connID, "")
}

// LoadTokensForUpdate is LoadTokens that also locks the connection's row
// until the transaction ends, for a writer that stores only if the tokens
// are still the ones it started from. A re-authorization replaces tokens
// under the row lock (UpsertConnection) without the token lock: read this
// way, its tokens are seen once it commits, and none are replaced between
// the comparison and the write. The token lock's holder may wait here for
// the row; whoever holds the row never waits for the token lock.
func (tx *Tx) LoadTokensForUpdate(ctx context.Context, kr *vault.KeyRing, connID string) (*Tokens, error) {
	return tx.loadTokens(ctx, kr, connID, " FOR UPDATE")
}

func (tx *Tx) loadTokens(ctx context.Context, kr *vault.KeyRing, connID, lock string) (*Tokens, error) {
	q := `SELECT access_token_ct, refresh_token_ct, prev_refresh_token_ct, token_type, token_expires_at, token_refreshed_at,
			refresh_refused_at
		FROM connections WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL` + lock
	var row struct {
		Access    *string    `db:"access_token_ct"`
		Refresh   *string    `db:"refresh_token_ct"`
		Prev      *string    `db:"prev_refresh_token_ct"`
		Type      string     `db:"token_type"`
		Expiry    *time.Time `db:"token_expires_at"`
		Refreshed *time.Time `db:"token_refreshed_at"`
		Refused   *time.Time `db:"refresh_refused_at"`
	}
	err := tx.GetContext(ctx, &row, q, connID, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("connection")
	}
	if err != nil {
		return nil, wrapConnErr(err)
	}
	if row.Access == nil {
		return nil, ErrNoStoredToken
	}
	t := &Tokens{TokenType: row.Type, Expiry: row.Expiry, RefreshedAt: row.Refreshed, RefusedAt: row.Refused}
	pt, err := kr.Decrypt(*row.Access, vault.AAD(tx.TenantID, connID, purposeAccess))
	if err != nil {
		return nil, fmt.Errorf("db: decrypt access token of connection %s: %w", connID, err)
	}
	t.AccessToken = string(pt)
	if row.Refresh != nil {
		pt, err := kr.Decrypt(*row.Refresh, vault.AAD(tx.TenantID, connID, purposeRefresh))
		if err != nil {
			return nil, fmt.Errorf("db: decrypt refresh token of connection %s: %w", connID, err)
		}
		t.RefreshToken = string(pt)
	}
	if row.Prev != nil {
		pt, err := kr.Decrypt(*row.Prev, vault.AAD(tx.TenantID, connID, purposePrevRefresh))
		if err != nil {
			return nil, fmt.Errorf("db: decrypt previous refresh token of connection %s: %w", connID, err)
		}
		t.PrevRefreshToken = string(pt)
	}
	return t, nil
}

// MarkRefreshRefused records that the provider refused the connection's
// stored refresh token for good: the sweep no longer keeps it alive
// (TokensDue), and a refresh no longer spends it (Tokens.RefusedAt), until
// new tokens are stored (SaveTokens clears the mark).
func (tx *Tx) MarkRefreshRefused(ctx context.Context, connID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET refresh_refused_at = now()
		WHERE id = $1 AND tenant_id = $2`, connID, tx.TenantID)
	return wrapConnErr(err)
}

// RecordRefreshFailure counts a transient refresh failure for today and
// returns today's count.
func (tx *Tx) RecordRefreshFailure(ctx context.Context, connID string) (int, error) {
	var n int
	err := tx.GetContext(ctx, &n, `UPDATE connections SET
			refresh_failures = CASE WHEN refresh_failure_day = current_date THEN refresh_failures + 1 ELSE 1 END,
			refresh_failure_day = current_date
		WHERE id = $1 AND tenant_id = $2 RETURNING refresh_failures`, connID, tx.TenantID)
	return n, wrapConnErr(err)
}

// dueRow is a connection a sweep found due, as selected.
type dueRow struct {
	ID       string `db:"id"`
	TenantID string `db:"tenant_id"`
	Provider string `db:"provider"`
}

func dueRefs(rows []dueRow) []poblysh.ConnectionRef {
	out := make([]poblysh.ConnectionRef, len(rows))
	for i, r := range rows {
		out[i] = poblysh.ConnectionRef{TenantID: r.TenantID, ConnectionID: r.ID, Provider: r.Provider}
	}
	return out
}

// TokenSweep is what makes a provider's connections due for the token
// sweep (TokensDue).
type TokenSweep struct {
	Provider string
	// Window makes an active connection due when its token expires within
	// it (0 disables refreshing ahead: an expired access token is then not
	// due).
	Window time.Duration
	// KeepAlive makes a connection due when its refresh token has not been
	// used for that long (0 disables keep-alive).
	KeepAlive time.Duration
}

// TokensDue lists (system scope) up to limit connections of the providers
// of sweeps whose refresh token has not been used for the provider's
// KeepAlive: healthy or degraded ones, and paused ones (health disabled),
// since pausing stops syncing, not the authorization, and a refresh token
// left unused lapses at the provider (Google: six months; Jira: 90 days).
// Active connections are also due when their token expires within the
// provider's Window. A connection that needs re-authorization, or whose
// refresh token was refused (MarkRefreshRefused), is never due.
//
// It marks the connections it lists as swept now and returns that time.
// The connections swept longest ago come first (never swept first), then
// those whose token expires first: a refresh that fails without refusing
// the grant (a refused OAuth client, a transient failure, a token the key
// ring cannot read) leaves its connection due, and by token expiry alone a
// page of them came first in every round and every hour, while the
// connections behind them never had their refresh token kept alive. since
// (a sweep's first listing) leaves out the connections swept at or after
// it, so a sweep's later rounds list each connection once.
func (tx *Tx) TokensDue(ctx context.Context, sweeps []TokenSweep, since *time.Time, limit int) ([]poblysh.ConnectionRef, time.Time, error) {
	names := make([]string, len(sweeps))
	windows := make([]float64, len(sweeps))
	keepAlives := make([]float64, len(sweeps))
	for i, s := range sweeps {
		names[i], windows[i], keepAlives[i] = s.Provider, s.Window.Seconds(), s.KeepAlive.Seconds()
	}
	var out []sweptRow
	err := tx.SelectContext(ctx, &out, `WITH due AS (
			SELECT c.id, row_number() OVER (ORDER BY c.refresh_swept_at NULLS FIRST, c.token_expires_at NULLS LAST, c.id) AS n
			FROM connections c
			JOIN unnest($1::text[], $2::float8[], $3::float8[]) AS p(provider, win, keep) ON p.provider = c.provider
			WHERE c.deleted_at IS NULL
			  AND (c.health IN ('healthy', 'degraded') OR c.paused AND c.health = 'disabled')
			  AND c.refresh_token_ct IS NOT NULL AND c.refresh_refused_at IS NULL
			  AND ((NOT c.paused AND p.win > 0 AND c.token_expires_at IS NOT NULL AND c.token_expires_at < now() + make_interval(secs => p.win))
			    OR (p.keep > 0 AND coalesce(c.token_refreshed_at, c.created_at) < now() - make_interval(secs => p.keep)))
			  AND ($4::timestamptz IS NULL OR c.refresh_swept_at IS NULL OR c.refresh_swept_at < $4)
			ORDER BY n LIMIT $5),
		-- The rows are locked in id order, as the other sweep's listing
		-- locks them: in the listing's order the two deadlocked.
		locked AS (SELECT c.id FROM connections c JOIN due ON due.id = c.id ORDER BY c.id FOR NO KEY UPDATE OF c),
		swept AS (
			UPDATE connections c SET refresh_swept_at = now() FROM due JOIN locked ON locked.id = due.id WHERE c.id = due.id
			RETURNING c.id, c.tenant_id, c.provider, c.refresh_swept_at, due.n)
		SELECT id, tenant_id, provider, refresh_swept_at AS swept_at FROM swept ORDER BY n`,
		names, windows, keepAlives, since, limit)
	if err != nil {
		return nil, time.Time{}, wrapConnErr(err)
	}
	refs, at := sweptRefs(out)
	return refs, at, nil
}

// sweptRow is a connection a sweep's listing returned, with the time the
// listing marked it (TokensDue, WatchesDue).
type sweptRow struct {
	dueRow
	SweptAt time.Time `db:"swept_at"`
}

// sweptRefs returns a listing's connections in its order and the time it
// marked them (zero when it listed none).
func sweptRefs(out []sweptRow) ([]poblysh.ConnectionRef, time.Time) {
	rows := make([]dueRow, len(out))
	var at time.Time
	for i, r := range out {
		rows[i], at = r.dueRow, r.SweptAt
	}
	return dueRefs(rows), at
}

// TokenStored reports whether a live connection of provider and accountID,
// of any tenant, stores one of tokens (as its access, refresh or previous
// refresh token) (run with WithSystem). A stored token the key ring cannot
// read counts as stored: a token that cannot be ruled out is not revoked.
func (tx *Tx) TokenStored(ctx context.Context, kr *vault.KeyRing, provider, accountID string, tokens ...string) (bool, error) {
	tokens = slices.DeleteFunc(slices.Clone(tokens), func(t string) bool { return t == "" })
	if len(tokens) == 0 {
		return false, nil
	}
	var rows []struct {
		ID       string  `db:"id"`
		TenantID string  `db:"tenant_id"`
		Access   *string `db:"access_token_ct"`
		Refresh  *string `db:"refresh_token_ct"`
		Prev     *string `db:"prev_refresh_token_ct"`
	}
	err := tx.SelectContext(ctx, &rows, `SELECT id, tenant_id, access_token_ct, refresh_token_ct, prev_refresh_token_ct
		FROM connections WHERE provider = $1 AND external_account_id = $2 AND deleted_at IS NULL`,
		provider, accountID)
	if err != nil {
		return false, wrapConnErr(err)
	}
	for _, r := range rows {
		for _, c := range []struct {
			ct      *string
			purpose string
		}{{r.Access, purposeAccess}, {r.Refresh, purposeRefresh}, {r.Prev, purposePrevRefresh}} {
			if c.ct == nil {
				continue
			}
			pt, err := kr.Decrypt(*c.ct, vault.AAD(r.TenantID, r.ID, c.purpose))
			if err != nil || slices.Contains(tokens, string(pt)) {
				return true, nil
			}
		}
	}
	return false, nil
}
