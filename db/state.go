package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/vault"
)

// OAuthState is a pending authorization: single use, expiring, bound to a
// tenant and provider. Only a hash of the state value is stored.
type OAuthState struct {
	ID          string          `db:"id"`
	TenantID    string          `db:"tenant_id"`
	Provider    string          `db:"provider"`
	VerifierCT  *string         `db:"verifier_ct"`
	RedirectURI *string         `db:"redirect_uri"`
	Config      json.RawMessage `db:"config"`
	CreatedAt   time.Time       `db:"created_at"`
	ExpiresAt   time.Time       `db:"expires_at"`
	UsedAt      *time.Time      `db:"used_at"`
	// Verifier is the decrypted PKCE verifier (set by ConsumeState).
	Verifier string `db:"-"`
}

func stateHash(state string) []byte {
	sum := sha256.Sum256([]byte("poblysh-oauth-state:" + state))
	return sum[:]
}

// CreateState stores a pending authorization for the tenant. verifier may be
// empty (no PKCE); it is stored encrypted, bound to the state row.
func (tx *Tx) CreateState(ctx context.Context, kr *vault.KeyRing, state, provider, verifier, redirect string, config json.RawMessage, ttl time.Duration) (*OAuthState, error) {
	id := uuid.NewString()
	var vct, ru *string
	if verifier != "" {
		ct, err := kr.Encrypt([]byte(verifier), vault.AAD(tx.TenantID, id, "pkce_verifier"))
		if err != nil {
			return nil, err
		}
		vct = &ct
	}
	if redirect != "" {
		ru = &redirect
	}
	var cfg []byte
	if len(config) > 0 {
		cfg = config
	}
	var s OAuthState
	err := tx.GetContext(ctx, &s, `INSERT INTO oauth_states (id, state_hash, tenant_id, provider, verifier_ct, redirect_uri, config, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
		RETURNING id, tenant_id, provider, verifier_ct, redirect_uri, coalesce(config, '{}'::jsonb) AS config, created_at, expires_at, used_at`,
		id, stateHash(state), tx.TenantID, provider, vct, ru, cfg, ttl.Seconds())
	return &s, wrapConnErr(err)
}

// ErrBadState is returned for unknown, expired, reused or mismatched states.
func errBadState(msg string) error {
	return &poblysh.Error{Code: poblysh.EINVALID, Message: "invalid OAuth state: " + msg}
}

// ConsumeState (system scope) validates and spends a state: it must exist,
// be unused, unexpired and for this provider. Any attempt spends it, so a
// state can never be tried twice: the rejection comes back as bad (a
// client error) while err stays nil, so the caller's transaction commits
// the spend. err is reserved for storage failures.
func (tx *Tx) ConsumeState(ctx context.Context, kr *vault.KeyRing, state, provider string) (st *OAuthState, bad error, err error) {
	if state == "" {
		return nil, errBadState("missing"), nil
	}
	var s OAuthState
	err = tx.GetContext(ctx, &s, `SELECT id, tenant_id, provider, verifier_ct, redirect_uri, coalesce(config, '{}'::jsonb) AS config,
			created_at, expires_at, used_at
		FROM oauth_states WHERE state_hash = $1 FOR UPDATE`, stateHash(state))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadState("unknown state"), nil
	}
	if err != nil {
		return nil, nil, wrapConnErr(err)
	}
	if s.UsedAt != nil {
		return nil, errBadState("already used"), nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE oauth_states SET used_at = now() WHERE id = $1`, s.ID); err != nil {
		return nil, nil, wrapConnErr(err)
	}
	if time.Now().After(s.ExpiresAt) {
		return nil, errBadState("expired"), nil
	}
	if s.Provider != provider {
		return nil, errBadState("issued for another provider"), nil
	}
	if s.VerifierCT != nil {
		pt, err := kr.Decrypt(*s.VerifierCT, vault.AAD(s.TenantID, s.ID, "pkce_verifier"))
		if err != nil {
			return nil, nil, err
		}
		s.Verifier = string(pt)
	}
	return &s, nil, nil
}
