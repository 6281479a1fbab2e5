package db

import (
	"context"
	"time"
)

// AcquireLease takes one of a tenant's cap concurrent sync slots for holder
// (idempotent for the same holder, which extends its lease). It returns
// false when every slot is taken. Expired leases (a crashed worker) free
// their slot by themselves.
func (tx *Tx) AcquireLease(ctx context.Context, holder string, limit int, ttl time.Duration) (bool, error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('poblysh-lease:' || $1))`, tx.TenantID); err != nil {
		return false, wrapConnErr(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sync_leases WHERE tenant_id = $1 AND expires_at < now()`, tx.TenantID); err != nil {
		return false, wrapConnErr(err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO sync_leases (tenant_id, holder, expires_at)
		SELECT $1, $2, now() + make_interval(secs => $3)
		WHERE EXISTS (SELECT 1 FROM sync_leases WHERE tenant_id = $1 AND holder = $2)
		   OR (SELECT count(*) FROM sync_leases WHERE tenant_id = $1) < $4
		ON CONFLICT (tenant_id, holder) DO UPDATE SET expires_at = excluded.expires_at`,
		tx.TenantID, holder, ttl.Seconds(), limit)
	if err != nil {
		return false, wrapConnErr(err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ReleaseLease frees holder's slot.
func (tx *Tx) ReleaseLease(ctx context.Context, holder string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM sync_leases WHERE tenant_id = $1 AND holder = $2`, tx.TenantID, holder)
	return wrapConnErr(err)
}
