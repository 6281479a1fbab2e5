package db

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/vault"
)

// Purposes (AAD) of the ciphertexts of a pending authorization.
const (
	purposeVerifier = "pkce_verifier"
	purposeState    = "oauth_state"
)

// OAuthState is a pending authorization: single use, expiring, bound to a
// tenant and provider, and (through the start page) to one browser. Only
// hashes of the state, the start-page session and the browser cookie are
// stored; the state and the PKCE verifier are sealed until it is spent.
type OAuthState struct {
	ID          string          `db:"id"`
	TenantID    string          `db:"tenant_id"`
	Provider    string          `db:"provider"`
	VerifierCT  *string         `db:"verifier_ct"`
	StateCT     *string         `db:"state_ct"`
	RedirectURI *string         `db:"redirect_uri"`
	Config      json.RawMessage `db:"config"`
	// ConnectionID is set for a re-authorization of that connection.
	ConnectionID *string `db:"connection_id"`
	// BindingHash is the hash of the cookie the start page set in the
	// browser that opened it last; ApprovedAt is that browser's click.
	BindingHash []byte     `db:"binding_hash"`
	ApprovedAt  *time.Time `db:"approved_at"`
	CreatedAt   time.Time  `db:"created_at"`
	ExpiresAt   time.Time  `db:"expires_at"`
	UsedAt      *time.Time `db:"used_at"`
	// TenantName is the name of the tenant (set by FindStateBySession).
	TenantName string `db:"tenant_name"`
	// TenantDeleting: the tenant's deletion has started (read by
	// FindStateBySession and ConsumeState, which then refuse the state).
	TenantDeleting bool `db:"tenant_deleting"`
	// Verifier is the decrypted PKCE verifier (set by ConsumeState and
	// OpenState).
	Verifier string `db:"-"`
	// State is the decrypted OAuth state (set by OpenState).
	State string `db:"-"`
}

const stateCols = `s.id, s.tenant_id, s.provider, s.verifier_ct, s.state_ct, s.redirect_uri, coalesce(s.config, '{}'::jsonb) AS config,
	s.connection_id, s.binding_hash, s.approved_at, s.created_at, s.expires_at, s.used_at`

func stateHash(state string) []byte {
	sum := sha256.Sum256([]byte("poblysh-oauth-state:" + state))
	return sum[:]
}

func sessionHash(session string) []byte {
	sum := sha256.Sum256([]byte("poblysh-oauth-session:" + session))
	return sum[:]
}

// BindingHash is the stored form of a start-page cookie value.
func BindingHash(cookie string) []byte {
	sum := sha256.Sum256([]byte("poblysh-oauth-binding:" + cookie))
	return sum[:]
}

// Bound reports whether cookie is the one the start page set for this
// state in the browser that opened it last (constant time).
func (s *OAuthState) Bound(cookie string) bool {
	return cookie != "" && len(s.BindingHash) > 0 && subtle.ConstantTimeCompare(BindingHash(cookie), s.BindingHash) == 1
}

// NewState is a pending authorization to store.
type NewState struct {
	// State is the OAuth state sent to the provider; Session is the
	// separate value of the start page's URL. Both are random.
	State, Session string
	Provider       string
	// Verifier is the PKCE verifier ("" without PKCE).
	Verifier    string
	RedirectURI string
	Config      json.RawMessage
	// ConnectionID binds a re-authorization to that connection.
	ConnectionID string
	TTL          time.Duration
}

// CreateState stores a pending authorization for the tenant. The state and
// the verifier are sealed, bound to the row; the state and the session are
// also stored as hashes, for lookup.
func (tx *Tx) CreateState(ctx context.Context, kr *vault.KeyRing, n NewState) (*OAuthState, error) {
	id := uuid.NewString()
	seal := func(v, purpose string) (*string, error) {
		if v == "" {
			return nil, nil
		}
		ct, err := kr.Encrypt([]byte(v), vault.AAD(tx.TenantID, id, purpose))
		return &ct, err
	}
	vct, err := seal(n.Verifier, purposeVerifier)
	if err != nil {
		return nil, err
	}
	sct, err := seal(n.State, purposeState)
	if err != nil {
		return nil, err
	}
	var ru, conn *string
	if n.RedirectURI != "" {
		ru = &n.RedirectURI
	}
	if n.ConnectionID != "" {
		conn = &n.ConnectionID
	}
	var cfg, sess []byte
	if len(n.Config) > 0 {
		cfg = n.Config
	}
	if n.Session != "" {
		sess = sessionHash(n.Session)
	}
	var s OAuthState
	err = tx.GetContext(ctx, &s, `INSERT INTO oauth_states AS s (id, state_hash, session_hash, tenant_id, provider, verifier_ct, state_ct,
			redirect_uri, config, connection_id, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(secs => $11))
		RETURNING `+stateCols,
		id, stateHash(n.State), sess, tx.TenantID, n.Provider, vct, sct, ru, cfg, conn, n.TTL.Seconds())
	return &s, wrapConnErr(err)
}

// ErrBadState is returned for unknown, expired, reused or mismatched states.
func errBadState(msg string) error {
	return &poblysh.Error{Code: poblysh.EINVALID, Message: "invalid OAuth state: " + msg}
}

// usable rejects a spent, expired or misdirected state.
func (s *OAuthState) usable(provider string) error {
	switch {
	case s.UsedAt != nil:
		return errBadState("already used")
	case time.Now().After(s.ExpiresAt):
		return errBadState("expired")
	case s.Provider != provider:
		return errBadState("issued for another provider")
	}
	return nil
}

// FindStateBySession (system scope) loads the pending authorization of a
// start-page session, with its tenant's name, locked for the caller's
// update. A missing, unknown, spent, expired or misdirected session comes
// back as bad (a client error) with err nil.
func (tx *Tx) FindStateBySession(ctx context.Context, session, provider string) (st *OAuthState, bad error, err error) {
	if session == "" {
		return nil, errBadState("the link carries no session"), nil
	}
	var s OAuthState
	err = tx.GetContext(ctx, &s, `SELECT `+stateCols+`, t.name AS tenant_name, t.deleting_at IS NOT NULL AS tenant_deleting
		FROM oauth_states s JOIN tenants t ON t.id = s.tenant_id
		WHERE s.session_hash = $1 FOR UPDATE OF s`, sessionHash(session))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadState("unknown link"), nil
	}
	if err != nil {
		return nil, nil, wrapConnErr(err)
	}
	if bad := s.usable(provider); bad != nil {
		return nil, bad, nil
	}
	if s.TenantDeleting {
		return nil, ErrTenantDeleting, nil
	}
	return &s, nil, nil
}

// BindState (system scope) binds a pending state to the browser that holds
// cookie, replacing any earlier binding and withdrawing its approval: the
// last browser to open the start page is the only one that may continue.
func (tx *Tx) BindState(ctx context.Context, id, cookie string) error {
	_, err := tx.ExecContext(ctx, `UPDATE oauth_states SET binding_hash = $2, approved_at = NULL
		WHERE id = $1 AND used_at IS NULL`, id, BindingHash(cookie))
	return wrapConnErr(err)
}

// ApproveState (system scope) records the bound browser's click and
// returns the state with its OAuth state and verifier decrypted, so the
// provider's authorization URL can be built.
func (tx *Tx) ApproveState(ctx context.Context, kr *vault.KeyRing, s *OAuthState) (*OAuthState, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE oauth_states SET approved_at = now() WHERE id = $1`, s.ID); err != nil {
		return nil, wrapConnErr(err)
	}
	out := *s
	var err error
	if out.State, err = open(kr, s, s.StateCT, purposeState); err != nil {
		return nil, err
	}
	if out.Verifier, err = open(kr, s, s.VerifierCT, purposeVerifier); err != nil {
		return nil, err
	}
	return &out, nil
}

func open(kr *vault.KeyRing, s *OAuthState, ct *string, purpose string) (string, error) {
	if ct == nil {
		return "", nil
	}
	pt, err := kr.Decrypt(*ct, vault.AAD(s.TenantID, s.ID, purpose))
	return string(pt), err
}

// ConsumeState (system scope) validates and spends a state: it must exist,
// be unused, unexpired and for this provider. Any attempt spends it and
// erases its sealed secrets (state and PKCE verifier), so a state can never
// be tried twice and a spent state keeps nothing a key rotation would have
// to move: the rejection comes back as bad (a client error) while err stays
// nil, so the caller's transaction commits the spend. err is reserved for
// storage failures. The browser binding is the caller's to check (Bound,
// ApprovedAt).
func (tx *Tx) ConsumeState(ctx context.Context, kr *vault.KeyRing, state, provider string) (st *OAuthState, bad error, err error) {
	if state == "" {
		return nil, errBadState("missing"), nil
	}
	var s OAuthState
	err = tx.GetContext(ctx, &s, `SELECT `+stateCols+`, t.deleting_at IS NOT NULL AS tenant_deleting
		FROM oauth_states s JOIN tenants t ON t.id = s.tenant_id WHERE s.state_hash = $1 FOR UPDATE OF s`, stateHash(state))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadState("unknown state"), nil
	}
	if err != nil {
		return nil, nil, wrapConnErr(err)
	}
	if s.UsedAt != nil {
		return nil, errBadState("already used"), nil
	}
	// Decrypt before the erase below, which this transaction commits even
	// when the state is rejected.
	verifier, verr := open(kr, &s, s.VerifierCT, purposeVerifier)
	if _, err := tx.ExecContext(ctx, `UPDATE oauth_states SET used_at = now(), verifier_ct = NULL, state_ct = NULL
		WHERE id = $1`, s.ID); err != nil {
		return nil, nil, wrapConnErr(err)
	}
	if bad := s.usable(provider); bad != nil {
		return nil, bad, nil
	}
	if s.TenantDeleting {
		return nil, ErrTenantDeleting, nil
	}
	if verr != nil {
		return nil, nil, verr
	}
	s.Verifier, s.VerifierCT, s.StateCT = verifier, nil, nil
	return &s, nil, nil
}
