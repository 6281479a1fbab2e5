package db

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/poblysh/poblysh/vault"
)

// ReencryptResult counts a re-encryption pass.
type ReencryptResult struct {
	Connections int
	States      int
	Channels    int // watch channels' own secrets (GitHub repository hooks)
	Skipped     int // rows locked by a concurrent refresh; picked up on the next batch
}

// ReencryptBatch moves up to limit connections (and pending OAuth states)
// with any ciphertext not under the current key to the current key (system
// scope). Each token column has its own key id, generated from the
// ciphertext, so a row whose columns are under different keys (a
// re-connect that kept an older refresh token) is found too. Rows are
// locked with SKIP LOCKED, so a concurrent token refresh is never blocked
// and never overwritten; it is idempotent (current rows are not selected)
// and resumable (each batch commits on its own).
func (tx *Tx) ReencryptBatch(ctx context.Context, kr *vault.KeyRing, limit int) (ReencryptResult, error) {
	var res ReencryptResult
	var rows []struct {
		ID       string  `db:"id"`
		TenantID string  `db:"tenant_id"`
		Access   *string `db:"access_token_ct"`
		Refresh  *string `db:"refresh_token_ct"`
		Prev     *string `db:"prev_refresh_token_ct"`
	}
	err := tx.SelectContext(ctx, &rows, `SELECT id, tenant_id, access_token_ct, refresh_token_ct, prev_refresh_token_ct
		FROM connections WHERE `+staleTokens+`
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
		cts := []*string{r.Access, r.Refresh, r.Prev}
		for i, c := range tokenColumns {
			if cts[i] == nil {
				continue
			}
			ct, _, err := kr.Reencrypt(*cts[i], vault.AAD(r.TenantID, r.ID, c.purpose))
			if err != nil {
				return res, fmt.Errorf("connection %s %s: %w", r.ID, strings.ReplaceAll(c.purpose, "_", " "), err)
			}
			cts[i] = &ct
		}
		if _, err := tx.ExecContext(ctx, `UPDATE connections SET access_token_ct = $2, refresh_token_ct = $3,
				prev_refresh_token_ct = $4 WHERE id = $1`, r.ID, cts[0], cts[1], cts[2]); err != nil {
			return res, wrapConnErr(err)
		}
		res.Connections++
	}
	var states []struct {
		ID       string  `db:"id"`
		TenantID string  `db:"tenant_id"`
		Verifier *string `db:"verifier_ct"`
		State    *string `db:"state_ct"`
	}
	err = tx.SelectContext(ctx, &states, `SELECT id, tenant_id, verifier_ct, state_ct FROM oauth_states
		WHERE used_at IS NULL AND (verifier_ct NOT LIKE $1 OR state_ct NOT LIKE $1)
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, "pv1:"+kr.CurrentKeyID()+":%", limit)
	if err != nil {
		return res, wrapConnErr(err)
	}
	for _, s := range states {
		move := func(ct *string, purpose string) (*string, error) {
			if ct == nil {
				return nil, nil
			}
			out, _, err := kr.Reencrypt(*ct, vault.AAD(s.TenantID, s.ID, purpose))
			if err != nil {
				return nil, fmt.Errorf("oauth state %s: %w", s.ID, err)
			}
			return &out, nil
		}
		verifier, err := move(s.Verifier, purposeVerifier)
		if err != nil {
			return res, err
		}
		state, err := move(s.State, purposeState)
		if err != nil {
			return res, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_states SET verifier_ct = $2, state_ct = $3 WHERE id = $1`, s.ID, verifier, state); err != nil {
			return res, wrapConnErr(err)
		}
		res.States++
	}
	var channels []struct {
		ID       string `db:"id"`
		TenantID string `db:"tenant_id"`
		CT       string `db:"secret_ct"`
	}
	err = tx.SelectContext(ctx, &channels, `SELECT id, tenant_id, secret_ct FROM watch_channels
		WHERE secret_key_id <> $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, kr.CurrentKeyID(), limit)
	if err != nil {
		return res, wrapConnErr(err)
	}
	for _, c := range channels {
		ct, _, err := kr.Reencrypt(c.CT, vault.AAD(c.TenantID, c.ID, purposeChannelSecret))
		if err != nil {
			return res, fmt.Errorf("watch channel %s secret: %w", c.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE watch_channels SET secret_ct = $2 WHERE id = $1`, c.ID, ct); err != nil {
			return res, wrapConnErr(err)
		}
		res.Channels++
	}
	return res, nil
}

// staleTokens selects connections with a ciphertext under a key other than
// $1 (a NULL ciphertext has a NULL key id, which compares as not stale).
const staleTokens = `(access_key_id <> $1 OR refresh_key_id <> $1 OR prev_refresh_key_id <> $1)`

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
		total.Channels += r.Channels
		if r.Connections+r.States+r.Channels == 0 {
			// Rows a batch skipped because another transaction held them
			// (a refresh's token lock, a watch pass storing a channel, a
			// callback spending its state) are still under an old key:
			// done means none is left in any of the three tables.
			var left int
			if err := d.WithSystem(ctx, func(tx *Tx) error {
				return tx.GetContext(ctx, &left, `SELECT (SELECT count(*) FROM connections WHERE `+staleTokens+`)
					+ (SELECT count(*) FROM watch_channels WHERE secret_key_id <> $1)
					+ (SELECT count(*) FROM oauth_states WHERE used_at IS NULL AND (verifier_ct NOT LIKE $2 OR state_ct NOT LIKE $2))`,
					kr.CurrentKeyID(), "pv1:"+kr.CurrentKeyID()+":%")
			}); err != nil {
				return total, err
			}
			if left == 0 {
				return total, nil
			}
			total.Skipped = left // locked right now; try again shortly
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
