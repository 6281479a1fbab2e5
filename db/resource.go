package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/poblysh/poblysh"
)

// Resource access states.
const (
	AccessGranted = "granted"
	AccessLost    = "lost"
)

// Resource is a repository, channel or calendar a connection's config names,
// with the outcome of the last proof that the connection's token can read
// it. Only granted resources are routed.
type Resource struct {
	ConnectionID string    `db:"connection_id"`
	Ref          string    `db:"ref"`
	ResourceID   string    `db:"resource_id"`
	Name         string    `db:"name"`
	RouteKeys    TextArray `db:"route_keys"`
	Access       string    `db:"access"`
	Reason       string    `db:"reason"`
	CheckedAt    time.Time `db:"checked_at"`
}

const resourceCols = `connection_id, ref, resource_id, name, route_keys, access, reason, checked_at`

// ReplaceResources sets the complete set of a connection's resources, all
// granted (a proof of the whole config just succeeded).
func (tx *Tx) ReplaceResources(ctx context.Context, connID string, rs []Resource) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM connection_resources WHERE connection_id = $1 AND tenant_id = $2`, connID, tx.TenantID); err != nil {
		return wrapConnErr(err)
	}
	for _, r := range rs {
		if err := tx.upsertResource(ctx, connID, r, AccessGranted, ""); err != nil {
			return err
		}
	}
	return nil
}

func (tx *Tx) upsertResource(ctx context.Context, connID string, r Resource, access, reason string) error {
	keys := r.RouteKeys
	if keys == nil {
		keys = TextArray{}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO connection_resources
			(connection_id, tenant_id, ref, resource_id, name, route_keys, access, reason, checked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
		ON CONFLICT (connection_id, ref) DO UPDATE SET resource_id = excluded.resource_id, name = excluded.name,
			route_keys = excluded.route_keys, access = excluded.access, reason = excluded.reason, checked_at = now()`,
		connID, tx.TenantID, r.Ref, r.ResourceID, CleanText(r.Name), keys, access, CleanText(reason))
	return wrapConnErr(err)
}

// GrantResource records (again) that the connection can read a resource.
func (tx *Tx) GrantResource(ctx context.Context, connID string, r Resource) error {
	return tx.upsertResource(ctx, connID, r, AccessGranted, "")
}

// LoseResource records that the connection's token can no longer read a
// resource: its routes stop until a later read grants it again. It reports
// whether the resource was granted before.
func (tx *Tx) LoseResource(ctx context.Context, connID, ref, reason string) (bool, error) {
	var was string
	err := tx.GetContext(ctx, &was, `SELECT access FROM connection_resources
		WHERE connection_id = $1 AND tenant_id = $2 AND ref = $3 FOR UPDATE`, connID, tx.TenantID, ref)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Never proved (a connection from before proofs existed): record it lost.
		return false, tx.upsertResource(ctx, connID, Resource{Ref: ref}, AccessLost, reason)
	case err != nil:
		return false, wrapConnErr(err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE connection_resources SET access = 'lost', reason = $4, checked_at = now()
		WHERE connection_id = $1 AND tenant_id = $2 AND ref = $3`, connID, tx.TenantID, ref, CleanText(reason))
	return was == AccessGranted, wrapConnErr(err)
}

// DeleteResource forgets one resource of a connection (it moved to another
// ref: connectors.ResourceMover); its routes go at the next rebuild.
func (tx *Tx) DeleteResource(ctx context.Context, connID, ref string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM connection_resources WHERE connection_id = $1 AND tenant_id = $2 AND ref = $3`,
		connID, tx.TenantID, ref)
	return wrapConnErr(err)
}

// ListResources returns a connection's resources, by ref.
func (tx *Tx) ListResources(ctx context.Context, connID string) ([]Resource, error) {
	var out []Resource
	err := tx.SelectContext(ctx, &out, `SELECT `+resourceCols+` FROM connection_resources
		WHERE connection_id = $1 AND tenant_id = $2 ORDER BY ref`, connID, tx.TenantID)
	return out, wrapConnErr(err)
}

// HasLostResources reports whether a resource of the connection is
// recorded as lost (a completed sync then does not heal its health).
func (tx *Tx) HasLostResources(ctx context.Context, connID string) (bool, error) {
	r, err := tx.LostResource(ctx, connID)
	return r != nil, err
}

// LostResource returns a resource of the connection recorded as lost (the
// first by ref), nil when none is: HasLostResources' answer, with the
// resource to name in a health reason.
func (tx *Tx) LostResource(ctx context.Context, connID string) (*Resource, error) {
	var r Resource
	err := tx.GetContext(ctx, &r, `SELECT `+resourceCols+` FROM connection_resources
		WHERE connection_id = $1 AND tenant_id = $2 AND access = 'lost' ORDER BY ref LIMIT 1`, connID, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapConnErr(err)
	}
	return &r, nil
}

// FindResource returns one resource of a connection.
func (tx *Tx) FindResource(ctx context.Context, connID, ref string) (*Resource, error) {
	var r Resource
	err := tx.GetContext(ctx, &r, `SELECT `+resourceCols+` FROM connection_resources
		WHERE connection_id = $1 AND tenant_id = $2 AND ref = $3`, connID, tx.TenantID, ref)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("resource")
	}
	return &r, wrapConnErr(err)
}

// ClaimAccount reserves an external account for the tenant's connection
// (providers with exclusive accounts). It fails with a conflict when
// another tenant holds it; a claim of the same tenant moves to connID.
func (tx *Tx) ClaimAccount(ctx context.Context, provider, accountID, connID string) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO account_claims (provider, external_account_id, tenant_id, connection_id)
		VALUES ($1, $2, $3, $4) ON CONFLICT (provider, external_account_id) DO NOTHING`, provider, accountID, tx.TenantID, connID)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	// Taken: by this tenant (visible here) or by another one (row-level
	// security hides it, so nothing is updated).
	res, err = tx.ExecContext(ctx, `UPDATE account_claims SET connection_id = $3
		WHERE provider = $1 AND external_account_id = $2 AND tenant_id = $4`, provider, accountID, connID, tx.TenantID)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	return ErrAccountClaimed
}

// ErrAccountClaimed: another tenant has connected this external account.
var ErrAccountClaimed = &poblysh.Error{Code: poblysh.ECONFLICT,
	Message: "this account is already connected to Poblysh by another organisation; it can be connected by one organisation only"}

// AccountClaimedByOther (system scope) returns the tenant holding a claim on
// an external account when it is not tenantID ("" otherwise).
func (tx *Tx) AccountClaimedByOther(ctx context.Context, provider, accountID, tenantID string) (string, error) {
	var holder string
	err := tx.GetContext(ctx, &holder, `SELECT tenant_id FROM account_claims
		WHERE provider = $1 AND external_account_id = $2 AND tenant_id <> $3::uuid`, provider, accountID, tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return holder, wrapConnErr(err)
}

// GrantHolders counts the connections, of every tenant, of providers
// that hold the account's grant, but except, deleted ones and those a
// delete has marked (MarkDisconnecting) (run with WithSystem). Two deletes
// of an account's last two connections each mark theirs before counting,
// so the later count sees the other going and revokes: counting marked
// ones, each saw the other and both kept the grant.
func (tx *Tx) GrantHolders(ctx context.Context, providers []string, accountID, except string) (int, error) {
	var n int
	err := tx.GetContext(ctx, &n, `SELECT count(*) FROM connections
		WHERE provider = ANY($1::text[]) AND external_account_id = $2 AND id <> $3::uuid AND deleted_at IS NULL
			AND (disconnecting_at IS NULL OR disconnecting_at < now() - interval '`+disconnectingHeeded+`')`,
		providers, accountID, except)
	return n, wrapConnErr(err)
}

// ReleaseClaims drops the claims a connection holds (it was deleted).
func (tx *Tx) ReleaseClaims(ctx context.Context, connID string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM account_claims WHERE connection_id = $1 AND ($2 = '' OR tenant_id = $2::uuid)`, connID, tx.TenantID)
	return wrapConnErr(err)
}
