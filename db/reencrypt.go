package db

import (
	"context"
	"fmt"
	"time"

	"github.com/poblysh/poblysh/vault"
)

// ReencryptResult counts a re-encryption pass.
type ReencryptResult struct {
	Connections int
	States      int
	Skipped     int // rows locked by a concurrent refresh; picked up on the next batch
}

// ReencryptBatch moves up to limit connections (and pending OAuth states)
// whose ciphertexts are not under the current key to the current key (system
// scope). Rows are locked with SKIP LOCKED, so a concurrent token refresh is
// never blocked and never overwritten; it is idempotent (current rows are not
// selected) and resumable (each batch commits on its own).
func (tx *Tx) ReencryptBatch(ctx context.Context, kr *vault.KeyRing, limit int) (ReencryptResult, error) {
	var res ReencryptResult
	var rows []struct {
		ID       string  `db:"id"`
		TenantID string  `db:"tenant_id"`
		Access   *string `db:"access_token_ct"`
		Refresh  *string `db:"refresh_token_ct"`
	}
	err := tx.SelectContext(ctx, &rows, `SELECT id, tenant_id, access_token_ct, refresh_token_ct FROM connections
		WHERE access_token_ct IS NOT NULL AND token_key_id IS DISTINCT FROM $1
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, kr.CurrentKeyID(), limit)
	if err != nil {
		return res, wrapConnErr(err)
	}
	for _, r := range rows {
		// Skip a connection whose token a refresher holds right now: it
		// will write fresh ciphertexts under the current key anyway.
		locked, err := tx.TryLockTokens(ctx, r.ID)
		if err != nil {
			return res, err
		}
		if !locked {
			res.Skipped++
			continue
		}
		access, _, err := kr.Reencrypt(*r.Access, vault.AAD(r.TenantID, r.ID, purposeAccess))
		if err != nil {
			return res, fmt.Errorf("connection %s access token: %w", r.ID, err)
		}
		var refresh *string
		if r.Refresh != nil {
			ct, _, err := kr.Reencrypt(*r.Refresh, vault.AAD(r.TenantID, r.ID, purposeRefresh))
			if err != nil {
				return res, fmt.Errorf("connection %s refresh token: %w", r.ID, err)
			}
			refresh = &ct
		}
		if _, err := tx.ExecContext(ctx, `UPDATE connections SET access_token_ct = $2, refresh_token_ct = $3, token_key_id = $4
			WHERE id = $1`, r.ID, access, refresh, kr.CurrentKeyID()); err != nil {
			return res, wrapConnErr(err)
		}
		res.Connections++
	}
	var states []struct {
		ID       string `db:"id"`
		TenantID string `db:"tenant_id"`
		CT       string `db:"verifier_ct"`
	}
	err = tx.SelectContext(ctx, &states, `SELECT id, tenant_id, verifier_ct FROM oauth_states
		WHERE verifier_ct IS NOT NULL AND used_at IS NULL AND verifier_ct NOT LIKE $1
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, "pv1:"+kr.CurrentKeyID()+":%", limit)
	if err != nil {
		return res, wrapConnErr(err)
	}
	for _, s := range states {
		ct, _, err := kr.Reencrypt(s.CT, vault.AAD(s.TenantID, s.ID, "pkce_verifier"))
		if err != nil {
			return res, fmt.Errorf("oauth state %s: %w", s.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_states SET verifier_ct = $2 WHERE id = $1`, s.ID, ct); err != nil {
			return res, wrapConnErr(err)
		}
		res.States++
	}
	return res, nil
}

// Reencrypt runs batches until nothing is left under an old key.
func (d *DB) Reencrypt(ctx context.Context, kr *vault.KeyRing, batch int) (ReencryptResult, error) {
	var total ReencryptResult
	for {
		var r ReencryptResult
		err := d.WithSystem(ctx, func(tx *Tx) (err error) {
			r, err = tx.ReencryptBatch(ctx, kr, batch)
			return err
		})
		if err != nil {
			return total, err
		}
		total.Connections += r.Connections
		total.States += r.States
		if r.Connections+r.States == 0 {
			var left int
			if err := d.WithSystem(ctx, func(tx *Tx) error {
				return tx.GetContext(ctx, &left, `SELECT count(*) FROM connections
					WHERE access_token_ct IS NOT NULL AND token_key_id IS DISTINCT FROM $1`, kr.CurrentKeyID())
			}); err != nil {
				return total, err
			}
			if left == 0 {
				return total, nil
			}
			total.Skipped = left // locked by a refresh right now; try again shortly
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
