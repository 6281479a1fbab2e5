package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"time"

	"github.com/poblysh/poblysh"
)

// Tenant is an organisation using Poblysh.
type Tenant struct {
	ID        string    `db:"id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
}

// APIKey is a tenant API key. Only a hash of the key is stored.
type APIKey struct {
	ID         string     `db:"id"`
	TenantID   string     `db:"tenant_id"`
	Name       string     `db:"name"`
	Prefix     string     `db:"prefix"`
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
}

// NewAPIKeySecret returns a new key "pbk_<8 prefix chars>_<secret>" and the
// prefix shown for recognition. Keys carry 256 bits of entropy, so a plain
// SHA-256 is the right hash (no password stretching needed).
func NewAPIKeySecret() (key, prefix string) {
	b := make([]byte, 38)
	if _, err := rand.Read(b); err != nil {
		panic("db: crypto/rand failed: " + err.Error())
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	prefix = "pbk_" + s[:8]
	return prefix + "_" + s[8:], prefix
}

// HashAPIKey is the stored form of a key.
func HashAPIKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// CreateTenant inserts a tenant and its first API key (system scope).
func (tx *Tx) CreateTenant(ctx context.Context, name string) (*Tenant, *APIKey, string, error) {
	var t Tenant
	if err := tx.GetContext(ctx, &t, `INSERT INTO tenants (name) VALUES ($1) RETURNING id, name, created_at`, name); err != nil {
		return nil, nil, "", wrapConnErr(err)
	}
	k, secret, err := tx.insertAPIKey(ctx, t.ID, "default")
	if err != nil {
		return nil, nil, "", err
	}
	return &t, k, secret, nil
}

// FindTenant returns a tenant visible in this transaction.
func (tx *Tx) FindTenant(ctx context.Context, id string) (*Tenant, error) {
	var t Tenant
	err := tx.GetContext(ctx, &t, `SELECT id, name, created_at FROM tenants WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("tenant")
	}
	return &t, wrapConnErr(err)
}

// CreateAPIKey issues a new key for the transaction's tenant.
func (tx *Tx) CreateAPIKey(ctx context.Context, name string) (*APIKey, string, error) {
	return tx.insertAPIKey(ctx, tx.TenantID, name)
}

func (tx *Tx) insertAPIKey(ctx context.Context, tenantID, name string) (*APIKey, string, error) {
	secret, prefix := NewAPIKeySecret()
	var k APIKey
	err := tx.GetContext(ctx, &k, `INSERT INTO api_keys (tenant_id, name, prefix, key_hash)
		VALUES ($1, $2, $3, $4)
		RETURNING id, tenant_id, name, prefix, created_at, last_used_at, revoked_at`,
		tenantID, name, prefix, HashAPIKey(secret))
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	return &k, secret, nil
}

// ListAPIKeys pages through the tenant's keys, newest first.
func (tx *Tx) ListAPIKeys(ctx context.Context, page Page) ([]APIKey, string, error) {
	after, err := page.decode()
	if err != nil {
		return nil, "", err
	}
	var ks []APIKey
	err = tx.SelectContext(ctx, &ks, `SELECT id, tenant_id, name, prefix, created_at, last_used_at, revoked_at
		FROM api_keys WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
		ORDER BY created_at DESC, id DESC LIMIT $4`,
		tx.TenantID, after.Time, after.ID, page.Limit+1)
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	return trimPage(ks, page.Limit, func(k APIKey) pageKey { return pageKey{Time: k.CreatedAt, ID: k.ID} })
}

// RevokeAPIKey revokes a key of the tenant; revoking twice is fine.
func (tx *Tx) RevokeAPIKey(ctx context.Context, id string) error {
	res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
		WHERE ($1 = '' OR tenant_id = $1::uuid) AND id = $2`, tx.TenantID, id)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return poblysh.NotFound("api key")
	}
	return nil
}

// AuthenticateAPIKey resolves a presented key to its tenant (system scope).
// Unknown or revoked keys answer unauthorized. last_used_at is refreshed at
// most once a minute to keep the hot path cheap.
func (tx *Tx) AuthenticateAPIKey(ctx context.Context, key string) (tenantID, keyID string, err error) {
	var row struct {
		ID       string     `db:"id"`
		TenantID string     `db:"tenant_id"`
		LastUsed *time.Time `db:"last_used_at"`
	}
	err = tx.GetContext(ctx, &row, `SELECT id, tenant_id, last_used_at FROM api_keys
		WHERE key_hash = $1 AND revoked_at IS NULL`, HashAPIKey(key))
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", &poblysh.Error{Code: poblysh.EUNAUTHORIZED, Message: "invalid or revoked API key"}
	}
	if err != nil {
		return "", "", wrapConnErr(err)
	}
	if row.LastUsed == nil || time.Since(*row.LastUsed) > time.Minute {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1`, row.ID); err != nil {
			return "", "", wrapConnErr(err)
		}
	}
	return row.TenantID, row.ID, nil
}
