package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/vault"
)

// WatchChannel is a registered push channel or webhook of a connection.
type WatchChannel struct {
	ID           string     `db:"id"`
	TenantID     string     `db:"tenant_id"`
	ConnectionID string     `db:"connection_id"`
	Provider     string     `db:"provider"`
	ChannelID    string     `db:"channel_id"`
	ResourceID   string     `db:"resource_id"`
	Target       string     `db:"target"`
	Stream       string     `db:"stream"`
	RouteKey     string     `db:"route_key"`
	ExpiresAt    *time.Time `db:"expires_at"`
	CreatedAt    time.Time  `db:"created_at"`
	StoppedAt    *time.Time `db:"stopped_at"`
	// Secret is the channel's own signing secret (GitHub repository
	// hooks), kept encrypted in secret_ct; "" for channels without one.
	Secret string `db:"-"`
	// HasSecret reports whether a secret is stored (reads never decrypt it).
	HasSecret bool `db:"has_secret"`
	// SecretID names the provider's webhook secret the channel was made
	// under (connectors.SecretBound: a fingerprint, never the secret); ""
	// for other providers and for channels stored before it was recorded.
	SecretID string `db:"secret_id"`
}

// purposeChannelSecret binds a channel secret's ciphertext to its row.
const purposeChannelSecret = "channel_secret"

const watchCols = `id, tenant_id, connection_id, provider, channel_id, resource_id, target, stream, route_key, expires_at, created_at,
	stopped_at, secret_ct IS NOT NULL AS has_secret, coalesce(secret_id, '') AS secret_id`

// InsertWatchChannel stores a new channel. A channel secret is encrypted
// under the current key, bound to the row. Storing a channel id the
// connection already has (a hook reused and given a new secret) revives and
// updates that row.
func (tx *Tx) InsertWatchChannel(ctx context.Context, kr *vault.KeyRing, w WatchChannel) error {
	var id string
	err := tx.GetContext(ctx, &id, `SELECT id FROM watch_channels WHERE provider = $1 AND channel_id = $2 AND tenant_id = $3`,
		w.Provider, w.ChannelID, tx.TenantID)
	exists := err == nil
	switch {
	case errors.Is(err, sql.ErrNoRows):
		id = uuid.NewString()
	case err != nil:
		return wrapConnErr(err)
	}
	var secret *string
	if w.Secret != "" {
		ct, err := kr.Encrypt([]byte(w.Secret), vault.AAD(tx.TenantID, id, purposeChannelSecret))
		if err != nil {
			return err
		}
		secret = &ct
	}
	if exists {
		_, err = tx.ExecContext(ctx, `UPDATE watch_channels SET connection_id = $2, resource_id = $3, target = $4, stream = $5,
				route_key = $6, expires_at = $7, secret_ct = $8, stopped_at = NULL, secret_id = nullif($10, '')
			WHERE id = $1 AND tenant_id = $9`,
			id, w.ConnectionID, w.ResourceID, w.Target, w.Stream, w.RouteKey, w.ExpiresAt, secret, tx.TenantID, w.SecretID)
		return wrapConnErr(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO watch_channels
			(id, tenant_id, connection_id, provider, channel_id, resource_id, target, stream, route_key, expires_at, secret_ct, secret_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, ''))`,
		id, tx.TenantID, w.ConnectionID, w.Provider, w.ChannelID, w.ResourceID, w.Target, w.Stream, w.RouteKey, w.ExpiresAt, secret, w.SecretID)
	return wrapConnErr(err)
}

// ChannelSecret (system scope) returns an active channel of a provider by
// the provider's channel id, with its decrypted secret, so a delivery that
// names the channel can be verified with it. A stopped, deleted or unknown
// channel is not found.
func (tx *Tx) ChannelSecret(ctx context.Context, kr *vault.KeyRing, provider, channelID string) (*WatchChannel, error) {
	var row struct {
		WatchChannel
		SecretCT *string `db:"secret_ct"`
	}
	err := tx.GetContext(ctx, &row, `SELECT w.id, w.tenant_id, w.connection_id, w.provider, w.channel_id, w.resource_id, w.target,
			w.stream, w.route_key, w.expires_at, w.created_at, w.stopped_at, w.secret_ct IS NOT NULL AS has_secret, w.secret_ct
		FROM watch_channels w JOIN connections c ON c.id = w.connection_id AND c.deleted_at IS NULL
		WHERE w.provider = $1 AND w.channel_id = $2 AND w.stopped_at IS NULL`, provider, channelID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("channel")
	}
	if err != nil {
		return nil, wrapConnErr(err)
	}
	w := row.WatchChannel
	if row.SecretCT != nil {
		pt, err := kr.Decrypt(*row.SecretCT, vault.AAD(w.TenantID, w.ID, purposeChannelSecret))
		if err != nil {
			return nil, fmt.Errorf("db: decrypt secret of channel %s: %w", w.ID, err)
		}
		w.Secret = string(pt)
	}
	return &w, nil
}

// WatchChannelSecrets returns the secrets of a connection's active
// channels among channelIDs (the provider's channel ids), decrypted, by
// channel id; a channel without a secret is left out. A watch pass hands
// them to the provider for the stale channels it registers again, so that
// a channel edited in place keeps the secret stored for it. A secret that
// does not decrypt (its key removed before reencrypt moved it) is left
// out, and its channel id returned in unreadable: the provider gives that
// channel a new secret, as it did before secrets were handed back, rather
// than the pass failing for good.
func (tx *Tx) WatchChannelSecrets(ctx context.Context, kr *vault.KeyRing, connID string, channelIDs []string) (secrets map[string]string, unreadable []string, err error) {
	var rows []struct {
		ID        string `db:"id"`
		ChannelID string `db:"channel_id"`
		SecretCT  string `db:"secret_ct"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT id, channel_id, secret_ct FROM watch_channels
		WHERE connection_id = $1 AND tenant_id = $2 AND stopped_at IS NULL AND secret_ct IS NOT NULL AND channel_id = ANY($3::text[])`,
		connID, tx.TenantID, channelIDs); err != nil {
		return nil, nil, wrapConnErr(err)
	}
	secrets = make(map[string]string, len(rows))
	for _, r := range rows {
		pt, err := kr.Decrypt(r.SecretCT, vault.AAD(tx.TenantID, r.ID, purposeChannelSecret))
		if err != nil {
			unreadable = append(unreadable, r.ChannelID)
			continue
		}
		secrets[r.ChannelID] = string(pt)
	}
	return secrets, unreadable, nil
}

// MarkChannelDue (system scope) makes an active channel (by row id) due
// for its connection's watch pass now, as if it expired: its provider said
// it is gone (connectors.WebhookDelivery.ChannelGone). The pass registers
// it again; the renewal sweep (WatchesDue) starts one if nothing else
// does. It reports whether a channel was marked (not one stopped since).
func (tx *Tx) MarkChannelDue(ctx context.Context, id string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE watch_channels SET expires_at = least(coalesce(expires_at, now()), now())
		WHERE id = $1 AND stopped_at IS NULL`, id)
	if err != nil {
		return false, wrapConnErr(err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapConnErr(err)
}

// ActiveWatchChannels lists a connection's channels that are not stopped.
func (tx *Tx) ActiveWatchChannels(ctx context.Context, connID string) ([]WatchChannel, error) {
	var out []WatchChannel
	err := tx.SelectContext(ctx, &out, `SELECT `+watchCols+` FROM watch_channels
		WHERE connection_id = $1 AND tenant_id = $2 AND stopped_at IS NULL ORDER BY target, created_at`, connID, tx.TenantID)
	return out, wrapConnErr(err)
}

// MarkWatchStopped records that a channel no longer delivers.
func (tx *Tx) MarkWatchStopped(ctx context.Context, id string) error {
	_, err := tx.ExecContext(ctx, `UPDATE watch_channels SET stopped_at = coalesce(stopped_at, now())
		WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID)
	return wrapConnErr(err)
}

// RenewWithin is how long before its expiry a channel that lives life
// (expires_at - created_at) is due for renewal, the renewal sweep running
// every interval (POBLYSH_RENEWAL_INTERVAL): a third of its life, at most
// a day, and at least two intervals, so that two sweeps see it due before
// it expires (one to try, one to retry a pass that failed); but never due
// before it has lived one interval (a channel due from its birth is
// replaced by every pass), unless it lives less than two: then due in its
// last interval, so one sweep sees it, and one that lives less than one
// (no sweep can keep it alive: Google granted less than asked) is due from
// its birth and replaced by every sweep. An interval of 0 leaves a third
// of the life, at most a day. The listing (WatchesDue) computes the same
// in SQL (renewWithinSQL); a channel renewed in place keeps its
// created_at, so its life only grows.
func RenewWithin(life, interval time.Duration) time.Duration {
	w := max(min(24*time.Hour, life/3), 2*interval)
	return min(w, max(life-interval, interval))
}

// renewWithinSQL is RenewWithin in seconds of a watch_channels row w
// joined with its life (l.life, seconds), the interval's seconds being $5.
const renewWithinSQL = `least(greatest(least(86400, l.life / 3), 2 * $5::float8), greatest(l.life - $5::float8, $5::float8))`

// RenewalDue reports whether c is due for renewal at now (RenewWithin).
func (c WatchChannel) RenewalDue(now time.Time, interval time.Duration) bool {
	return c.ExpiresAt != nil && !c.ExpiresAt.After(now.Add(RenewWithin(c.ExpiresAt.Sub(c.CreatedAt), interval)))
}

// WatchSweep is what one listing of the renewal sweep asks for
// (ListWatchesDue).
type WatchSweep struct {
	// Now and Interval (POBLYSH_RENEWAL_INTERVAL) decide which channels
	// are due for renewal (RenewWithin).
	Now      time.Time
	Interval time.Duration
	// Keyed names the providers whose channels sign with a secret of their
	// own: a channel of theirs without one is due.
	Keyed []string
	// SecretIDs names, by provider, the webhook secret the channels of a
	// connectors.SecretBound provider are made under now ("" when none is
	// set): a channel of such a provider made under any other (or none
	// recorded) is due.
	SecretIDs map[string]string
	// Since, when set (a sweep's first listing), leaves out the
	// connections swept at or after it.
	Since *time.Time
	Limit int
}

// MarkWatchRetry records, as a watch pass of a connection that can watch
// begins (at now), that its watch is to be tried again unless the pass
// ends with nothing to retry (ClearWatchRetry): a pass that fails, ends
// unfinished or is refused leaves the mark, and the renewal sweep lists
// the connection once it is due (ListWatchesDue), whether or not a channel
// is left. The try waits as long as the passes have been failing (since
// the first pass the mark was set by), from base up to ceiling: doubling
// from one sweep interval to the provider's reconcile interval, so a watch
// that is refused for good costs a pass that often.
func (tx *Tx) MarkWatchRetry(ctx context.Context, id string, now time.Time, base, ceiling time.Duration) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET watch_retry_since = coalesce(watch_retry_since, $3),
			watch_retry_at = $3::timestamptz + least(greatest($3::timestamptz - coalesce(watch_retry_since, $3), make_interval(secs => $4)),
				make_interval(secs => greatest($4, $5)))
		WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID, now, base.Seconds(), ceiling.Seconds())
	return wrapConnErr(err)
}

// ClearWatchRetry records that a connection's watch pass ended with nothing
// to retry (every target watched, or left unwatched by a provider that
// cannot watch it), taking MarkWatchRetry's mark off.
func (tx *Tx) ClearWatchRetry(ctx context.Context, id string) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET watch_retry_at = NULL, watch_retry_since = NULL
		WHERE id = $1 AND tenant_id = $2 AND watch_retry_since IS NOT NULL`, id, tx.TenantID)
	return wrapConnErr(err)
}

// WatchesDue is ListWatchesDue of channels due for renewal at now, of
// keyed providers' channels without a secret, and of watches to retry.
func (tx *Tx) WatchesDue(ctx context.Context, now time.Time, interval time.Duration, keyed []string, since *time.Time, limit int) ([]poblysh.ConnectionRef, time.Time, error) {
	return tx.ListWatchesDue(ctx, WatchSweep{Now: now, Interval: interval, Keyed: keyed, Since: since, Limit: limit})
}

// ListWatchesDue lists (system scope) up to s.Limit connections with an
// active channel due for renewal at s.Now, the renewal sweep running every
// s.Interval (RenewWithin, which the SQL below computes alike); or, for
// the providers named in s.Keyed (channels that sign with their own
// secret), a channel created before channels had secrets, which must be
// replaced by one that has; or, for the providers in s.SecretIDs, a
// channel made under another webhook secret than the current one (the
// secret was rotated: its notifications are refused, unless the old
// secret is still accepted as retired), which must be replaced by one
// made under it; or a connection whose watch is to be tried again
// (MarkWatchRetry: a pass failed or was refused), whether or not it has
// a channel left.
//
// It marks the connections it lists as swept now and returns that time.
// The connections swept longest ago come first (never swept first), then
// those whose due channel expires first: a watch pass that fails (a
// transient provider error, a refused OAuth client) leaves its channel
// due, and a page of such connections could come first in every round and
// every sweep, while the connections behind them never had their channels
// renewed. s.Since (a sweep's first listing) leaves out the connections
// swept at or after it, so a sweep's later rounds list each connection
// once.
func (tx *Tx) ListWatchesDue(ctx context.Context, s WatchSweep) ([]poblysh.ConnectionRef, time.Time, error) {
	var bound, ids []string
	for p, id := range s.SecretIDs {
		bound, ids = append(bound, p), append(ids, id)
	}
	var out []sweptRow
	err := tx.SelectContext(ctx, &out, `WITH candidates AS (
			SELECT w.connection_id AS id, w.expires_at AS at
			FROM watch_channels w
			CROSS JOIN LATERAL (SELECT extract(epoch FROM w.expires_at - w.created_at)::float8 AS life) l
			WHERE w.stopped_at IS NULL
			  AND ((w.expires_at IS NOT NULL
			        AND w.expires_at <= $1::timestamptz + make_interval(secs => `+renewWithinSQL+`))
			    OR (w.secret_ct IS NULL AND w.provider = ANY($2::text[]))
			    OR EXISTS (SELECT 1 FROM unnest($6::text[], $7::text[]) AS s(provider, secret_id)
			               WHERE s.provider = w.provider AND (s.secret_id = '' OR w.secret_id IS DISTINCT FROM s.secret_id)))
			UNION ALL
			SELECT r.id, r.watch_retry_at FROM connections r WHERE r.watch_retry_at <= $1::timestamptz),
		due AS (
			SELECT c.id, row_number() OVER (ORDER BY c.renewal_swept_at NULLS FIRST, min(d.at) NULLS LAST, c.id) AS n
			FROM candidates d
			JOIN connections c ON c.id = d.id
			WHERE c.deleted_at IS NULL AND NOT c.paused AND c.health IN ('healthy', 'degraded')
			  AND ($3::timestamptz IS NULL OR c.renewal_swept_at IS NULL OR c.renewal_swept_at < $3)
			GROUP BY c.id
			ORDER BY n LIMIT $4),
		-- The rows are locked in id order, as the other sweep's listing
		-- locks them: in the listing's order the two deadlocked.
		locked AS (SELECT c.id FROM connections c JOIN due ON due.id = c.id ORDER BY c.id FOR NO KEY UPDATE OF c),
		swept AS (
			UPDATE connections c SET renewal_swept_at = now() FROM due JOIN locked ON locked.id = due.id WHERE c.id = due.id
			RETURNING c.id, c.tenant_id, c.provider, c.renewal_swept_at, due.n)
		SELECT id, tenant_id, provider, renewal_swept_at AS swept_at FROM swept ORDER BY n`,
		s.Now, s.Keyed, s.Since, s.Limit, s.Interval.Seconds(), bound, ids)
	if err != nil {
		return nil, time.Time{}, wrapConnErr(err)
	}
	refs, at := sweptRefs(out)
	return refs, at, nil
}

// disconnectingHeeded is how long a delete's mark keeps watch passes from
// registering channels: past it, the delete has failed half-way (it ends
// within a minute), and the connection's push must not stop for good.
const disconnectingHeeded = "10 minutes"

// TakeWatchLease records that a watch pass may register channels at the
// provider until until (its deadline), and reports false, recording
// nothing, when the connection is gone or a delete has marked it: the
// pass must then register nothing. See MarkDisconnecting.
func (tx *Tx) TakeWatchLease(ctx context.Context, id string, until time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE connections SET watch_lease_until = $3
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL
			AND (disconnecting_at IS NULL OR disconnecting_at < now() - interval '`+disconnectingHeeded+`')`,
		id, tx.TenantID, until.UTC().Truncate(time.Microsecond))
	if err != nil {
		return false, wrapConnErr(err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// EndWatchLease ends the lease TakeWatchLease recorded with until, once
// every channel the pass made is stored (a later pass's lease is left).
func (tx *Tx) EndWatchLease(ctx context.Context, id string, until time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET watch_lease_until = NULL
		WHERE id = $1 AND tenant_id = $2 AND watch_lease_until = $3`, id, tx.TenantID, until.UTC().Truncate(time.Microsecond))
	return wrapConnErr(err)
}

// MarkDisconnecting marks a connection a delete is tearing down, so that no
// watch pass begins to register channels, and returns the mark and the
// end of the lease of a pass that may be registering some now (nil when
// none): the delete lists the channels to stop only once it has passed
// (WatchLease). A delete that fails takes its mark back
// (UnmarkDisconnecting). The same statement marks the connection for
// activation (ActivateApply, keeping a larger one owed), which the
// delete's row removal clears: a delete abandoned half-way (its process
// ended after its schedules were deleted) leaves a live connection that
// the activation sweep lists once the mark is no longer heeded, and makes
// whole again, where nothing listed it before.
func (tx *Tx) MarkDisconnecting(ctx context.Context, id string) (mark time.Time, lease *time.Time, err error) {
	var row struct {
		Mark  time.Time  `db:"disconnecting_at"`
		Lease *time.Time `db:"lease"`
	}
	err = tx.GetContext(ctx, &row, `UPDATE connections SET disconnecting_at = now(),
			activation_pending = coalesce(activation_pending, 'apply'), activation_pending_at = clock_timestamp()
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL
		RETURNING disconnecting_at, CASE WHEN watch_lease_until > now() THEN watch_lease_until END AS lease`, id, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil, poblysh.NotFound("connection")
	}
	return row.Mark, row.Lease, wrapConnErr(err)
}

// UnmarkDisconnecting takes back the mark of a delete that failed, unless
// another delete has marked the connection since: a live connection stays
// marked no longer than the delete that marked it runs (marked, its watch
// passes are refused and it does not hold its Google grant).
func (tx *Tx) UnmarkDisconnecting(ctx context.Context, id string, mark time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET disconnecting_at = NULL
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL AND disconnecting_at = $3`, id, tx.TenantID, mark)
	return wrapConnErr(err)
}

// WatchLease returns the end of a connection's watch lease, nil when no
// pass holds one.
func (tx *Tx) WatchLease(ctx context.Context, id string) (*time.Time, error) {
	var until *time.Time
	err := tx.GetContext(ctx, &until, `SELECT CASE WHEN watch_lease_until > now() THEN watch_lease_until END
		FROM connections WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return until, wrapConnErr(err)
}
