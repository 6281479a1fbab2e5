package db

import (
	"context"
	"database/sql"
	"errors"
	"slices"
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

// Claim is what a connection to an exclusive account holds
// (connectors.AccountClaim): Keys, its own account id among them, held by
// one tenant only, and the wider accounts it is Within, which no other
// tenant may hold while other tenants' accounts may be within them too
// (two workspaces of one Slack Enterprise Grid org, whose org-wide install
// reaches both).
type Claim struct {
	Keys   []string
	Within []string
}

// sorted returns the claim's keys and the accounts it is within, sorted,
// without repeats, and never nil (a nil array is NULL to Postgres, which
// within_account_ids refuses and ANY reads as unknown).
func (c Claim) sorted() (keys, within []string) {
	keys = append([]string{}, slices.Compact(slices.Sorted(slices.Values(c.Keys)))...)
	within = append([]string{}, slices.Compact(slices.Sorted(slices.Values(c.Within)))...)
	return keys, within
}

// claimConflictSQL finds another tenant's claim ($2: the claiming tenant)
// that conflicts with a claim of keys $3 within $4: it holds one of the
// keys, or it holds one of the accounts the claim is within, or it is
// within one of the keys. The two nested cases are left out for a claim
// created after the claiming tenant's own claim on one of the keys: two
// tenants whose claims nested before nesting was checked (migration 0043)
// keep working, and the older claim wins, as in migration 0006; the newer
// one is refused at its next connect. Run in the system scope: the other
// tenant's rows are what it reads.
const claimConflictSQL = `SELECT tenant_id FROM account_claims
	WHERE provider = $1 AND tenant_id <> $2::uuid
		AND (external_account_id = ANY ($3::text[])
			OR ((external_account_id = ANY ($4::text[]) OR within_account_ids && $3::text[])
				AND created_at < coalesce((SELECT min(created_at) FROM account_claims
					WHERE provider = $1 AND tenant_id = $2::uuid AND external_account_id = ANY ($3::text[])), 'infinity')))
	LIMIT 1`

// ClaimAccount reserves an external account for the tenant's connection
// (providers with exclusive accounts): every key of the claim, each noting
// the accounts it is within. It fails with a conflict when another tenant
// holds one of the keys, or a claim nesting with it (claimConflictSQL);
// a claim of the same tenant moves to connID, and the connection's claims
// on keys no longer in the claim are dropped.
//
// The keys and the accounts they are within are locked first, in one
// order (advisory locks, held to the end of the transaction): two
// callbacks for an org and for a workspace of it lock the org both, so
// the later one's check reads the earlier one's committed claim. A
// key's uniqueness needs no lock (the primary key refuses the second
// tenant's row whether row-level security shows it or not); nesting does.
func (tx *Tx) ClaimAccount(ctx context.Context, provider string, claim Claim, connID string) error {
	keys, within := claim.sorted()
	if len(keys) == 0 {
		return errors.New("db: a claim needs a key")
	}
	for _, k := range slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(keys), within...)))) {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('poblysh-claim:' || $1 || ':' || $2, 0))`,
			provider, k); err != nil {
			return wrapConnErr(err)
		}
	}
	holder, err := tx.claimConflictInTenantTx(ctx, provider, keys, within)
	if err != nil {
		return err
	}
	if holder != "" {
		return ErrAccountClaimed
	}
	for _, k := range keys {
		if err := tx.claimKey(ctx, provider, k, within, connID); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM account_claims
		WHERE connection_id = $1 AND tenant_id = $2 AND NOT (external_account_id = ANY ($3::text[]))`, connID, tx.TenantID, keys)
	return wrapConnErr(err)
}

// claimKey holds one key of a claim for connID.
func (tx *Tx) claimKey(ctx context.Context, provider, key string, within []string, connID string) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO account_claims (provider, external_account_id, tenant_id, connection_id, within_account_ids)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, external_account_id) DO NOTHING`, provider, key, tx.TenantID, connID, within)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	// Taken: by this tenant (visible here) or by another one (row-level
	// security hides it, so nothing is updated).
	res, err = tx.ExecContext(ctx, `UPDATE account_claims SET connection_id = $3, within_account_ids = $5
		WHERE provider = $1 AND external_account_id = $2 AND tenant_id = $4`, provider, key, connID, tx.TenantID, within)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	return ErrAccountClaimed
}

// claimConflictInTenantTx runs claimConflictSQL in a tenant's transaction:
// in the system scope, which it leaves again before returning (as
// ProgressOperatorJobInTenantTx does). It returns only whether another
// tenant conflicts, never what that tenant holds.
func (tx *Tx) claimConflictInTenantTx(ctx context.Context, provider string, keys, within []string) (string, error) {
	if _, err := tx.ExecContext(ctx, `SELECT set_config('poblysh.system', 'on', true)`); err != nil {
		return "", wrapConnErr(err)
	}
	var holder string
	err := tx.GetContext(ctx, &holder, claimConflictSQL, provider, tx.TenantID, keys, within)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return "", wrapConnErr(err)
	}
	_, err = tx.ExecContext(ctx, `SELECT set_config('poblysh.system', 'off', true)`)
	return holder, wrapConnErr(err)
}

// ErrAccountClaimed: another tenant has connected this external account.
var ErrAccountClaimed = &poblysh.Error{Code: poblysh.ECONFLICT,
	Message: "this account is already connected to Poblysh by another organisation; it can be connected by one organisation only"}

// AccountClaimedByOther (system scope) returns the tenant holding a claim
// that conflicts with claim, tenantID's, when it is not tenantID ("" when
// none does): ClaimAccount's check, without its locks, for refusing early.
func (tx *Tx) AccountClaimedByOther(ctx context.Context, provider string, claim Claim, tenantID string) (string, error) {
	keys, within := claim.sorted()
	var holder string
	err := tx.GetContext(ctx, &holder, claimConflictSQL, provider, tenantID, keys, within)
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
