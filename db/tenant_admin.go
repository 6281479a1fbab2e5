package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/poblysh/poblysh"
)

// TenantSettings are the settings an operator may change on a tenant.
type TenantSettings struct {
	// SyncConcurrency caps the tenant's concurrently running sync pages;
	// nil takes the environment's default (POBLYSH_TENANT_SYNC_CONCURRENCY).
	SyncConcurrency *int `db:"sync_concurrency" json:"sync_concurrency"`
}

// TenantInfo is a tenant as the admin API shows it.
type TenantInfo struct {
	Tenant
	TenantSettings
	Connections int `db:"connections"`
	APIKeys     int `db:"api_keys"`
}

const tenantInfoCols = `t.id, t.name, t.created_at, t.sync_concurrency,
	(SELECT count(*) FROM connections c WHERE c.tenant_id = t.id AND c.deleted_at IS NULL) AS connections,
	(SELECT count(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS api_keys`

// ListTenants pages through the tenants not being deleted, newest first
// (system scope).
func (tx *Tx) ListTenants(ctx context.Context, page Page) ([]TenantInfo, string, error) {
	after, err := page.decode()
	if err != nil {
		return nil, "", err
	}
	var ts []TenantInfo
	err = tx.SelectContext(ctx, &ts, `SELECT `+tenantInfoCols+` FROM tenants t
		WHERE t.deleting_at IS NULL AND ($1::timestamptz IS NULL OR (t.created_at, t.id) < ($1, $2::uuid))
		ORDER BY t.created_at DESC, t.id DESC LIMIT $3`, after.Time, after.ID, page.Limit+1)
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	return trimPage(ts, page.Limit, func(t TenantInfo) pageKey { return pageKey{Time: t.CreatedAt, ID: t.ID} })
}

// GetTenant returns a tenant not being deleted (system scope).
func (tx *Tx) GetTenant(ctx context.Context, id string) (*TenantInfo, error) {
	var t TenantInfo
	err := tx.GetContext(ctx, &t, `SELECT `+tenantInfoCols+` FROM tenants t WHERE t.id = $1 AND t.deleting_at IS NULL`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("tenant")
	}
	return &t, wrapConnErr(err)
}

// TenantUpdate is a partial update: nil fields keep their value;
// ClearSyncConcurrency returns the tenant to the environment's default.
type TenantUpdate struct {
	Name                 *string
	SyncConcurrency      *int
	ClearSyncConcurrency bool
}

// UpdateTenant applies u to a tenant not being deleted (system scope).
func (tx *Tx) UpdateTenant(ctx context.Context, id string, u TenantUpdate) (*TenantInfo, error) {
	res, err := tx.ExecContext(ctx, `UPDATE tenants SET name = coalesce($2, name),
			sync_concurrency = CASE WHEN $4 THEN NULL ELSE coalesce($3, sync_concurrency) END
		WHERE id = $1 AND deleting_at IS NULL`, id, u.Name, u.SyncConcurrency, u.ClearSyncConcurrency)
	if err != nil {
		return nil, wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, poblysh.NotFound("tenant")
	}
	return tx.GetTenant(ctx, id)
}

// TenantSyncConcurrency is the transaction's tenant's own cap on concurrent
// sync pages, or def when it has none. A missing tenant is ENOTFOUND.
func (tx *Tx) TenantSyncConcurrency(ctx context.Context, def int) (int, error) {
	var n *int
	err := tx.GetContext(ctx, &n, `SELECT sync_concurrency FROM tenants WHERE id = $1`, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, poblysh.NotFound("tenant " + tx.TenantID)
	}
	if err != nil {
		return 0, wrapConnErr(err)
	}
	if n == nil {
		return def, nil
	}
	return *n, nil
}

// BeginTenantDeletion marks a tenant as being deleted and records the
// operator's job for it (system scope). The tenant disappears from the
// admin API at once. A tenant already being deleted answers its running
// deletion job (ok false).
func (tx *Tx) BeginTenantDeletion(ctx context.Context, id, jobID, workflowID string) (job *Job, started bool, err error) {
	res, err := tx.ExecContext(ctx, `UPDATE tenants SET deleting_at = now() WHERE id = $1 AND deleting_at IS NULL`, id)
	if err != nil {
		return nil, false, wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists bool
		if err := tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, id); err != nil {
			return nil, false, wrapConnErr(err)
		}
		if !exists {
			return nil, false, poblysh.NotFound("tenant")
		}
		var j Job
		err := tx.GetContext(ctx, &j, `SELECT `+jobCols+` FROM jobs WHERE tenant_id IS NULL AND workflow_id = $1
			ORDER BY created_at DESC LIMIT 1`, workflowID)
		if err != nil {
			return nil, false, wrapConnErr(err)
		}
		return &j, false, nil
	}
	// The keys go with the mark, not when a worker gets to the deletion:
	// nothing new comes through the API from now on, whether or not a
	// worker is running.
	if _, err := tx.RevokeTenantKeys(ctx, id); err != nil {
		return nil, false, err
	}
	var j Job
	err = tx.GetContext(ctx, &j, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status, workflow_id)
		VALUES ($1, NULL, NULL, '', 'tenant_deletion', '', 'manual', 'queued', $2) RETURNING `+jobCols, jobID, workflowID)
	if err != nil {
		return nil, false, wrapConnErr(err)
	}
	return &j, true, nil
}

// ErrTenantDeleting refuses to add to a tenant whose deletion has started:
// what it added could outlive the deletion (a connection stored after the
// deletion listed the tenant's connections would lose its row with the
// tenant, but not its schedules, workflows or provider grant).
var ErrTenantDeleting = &poblysh.Error{Code: poblysh.ECONFLICT, Message: "the organisation is being deleted"}

// HoldTenant (tenant scope) refuses with ErrTenantDeleting once the
// tenant's deletion has started, and otherwise holds its row (FOR SHARE,
// which BeginTenantDeletion's update waits for) until the transaction
// ends: what the transaction adds is either there when the deletion lists
// the tenant's connections, or refused.
func (tx *Tx) HoldTenant(ctx context.Context) error {
	var deleting bool
	err := tx.GetContext(ctx, &deleting, `SELECT deleting_at IS NOT NULL FROM tenants WHERE id = $1 FOR SHARE`, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrTenantDeleting
	}
	if err != nil {
		return wrapConnErr(err)
	}
	if deleting {
		return ErrTenantDeleting
	}
	return nil
}

// RevokeTenantKeys revokes every key of a tenant (system scope) and answers
// how many were revoked since its deletion began (BeginTenantDeletion
// revokes them with the mark; this is idempotent).
func (tx *Tx) RevokeTenantKeys(ctx context.Context, tenantID string) (int, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL`, tenantID); err != nil {
		return 0, wrapConnErr(err)
	}
	var n int
	err := tx.GetContext(ctx, &n, `SELECT count(*) FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.tenant_id = $1 AND k.revoked_at >= coalesce(t.deleting_at, '-infinity')`, tenantID)
	return n, wrapConnErr(err)
}

// TenantConnectionIDs lists a tenant's connections not yet deleted, oldest
// first (system scope), page.Limit at a time after page.Cursor, with the
// cursor of the next page ("" after the last); a Limit of 0 lists them
// all. A tenant deletion takes them a page at a time: their ids in one
// answer grew with the tenant past what Temporal takes in one activity
// result (2 MB, some 50,000 connections). The cursor is a position, not
// a row, so the connections deleted since the page before (the deletion
// disconnects each page before it asks for the next) move nothing.
func (tx *Tx) TenantConnectionIDs(ctx context.Context, tenantID string, page Page) ([]string, string, error) {
	after, err := page.decode()
	if err != nil {
		return nil, "", err
	}
	var limit *int // NULL: no limit
	if page.Limit > 0 {
		n := page.Limit + 1
		limit = &n
	}
	var rows []connectionKey
	// connections_tenant read backwards: oldest first.
	err = tx.SelectContext(ctx, &rows, `SELECT id, created_at FROM connections
		WHERE tenant_id = $1 AND deleted_at IS NULL AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
		ORDER BY created_at, id LIMIT $4`, tenantID, after.Time, after.ID, limit)
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	next := ""
	if page.Limit > 0 {
		if rows, next, err = trimPage(rows, page.Limit, func(r connectionKey) pageKey {
			return pageKey{Time: r.CreatedAt, ID: r.ID}
		}); err != nil {
			return nil, "", err
		}
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids, next, nil
}

// connectionKey is a connection's position in TenantConnectionIDs.
type connectionKey struct {
	ID        string    `db:"id"`
	CreatedAt time.Time `db:"created_at"`
}

// DropTenant removes what is left of a tenant (system scope): its share of
// webhook deliveries (a delivery routed only to it goes with its raw body;
// one shared with other tenants keeps them and loses this tenant's ids),
// then the tenant row, whose deletion cascades to every table that names
// it. Dropping a tenant already gone is fine. The cascade deletes Signals,
// so it must be the first thing its transaction does: it takes
// the signals writer lock (LockSignals), which bounds how long it may sit
// idle as every other writer of Signals is (a frozen worker here would
// otherwise hold every tenant's feed until Postgres dropped its session).
func (tx *Tx) DropTenant(ctx context.Context, tenantID string) error {
	if err := tx.LockSignals(ctx); err != nil {
		return fmt.Errorf("drop tenant: %w", err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM webhook_events WHERE $1::uuid = ANY (tenant_ids) AND cardinality(array_remove(tenant_ids, $1::uuid)) = 0`, []any{tenantID}},
		{`UPDATE webhook_events SET tenant_ids = array_remove(tenant_ids, $1::uuid),
			connection_ids = ARRAY(SELECT x FROM unnest(connection_ids) x WHERE x NOT IN (SELECT id FROM connections WHERE tenant_id = $1))
		WHERE $1::uuid = ANY (tenant_ids)`, []any{tenantID}},
		{`DELETE FROM tenants WHERE id = $1`, []any{tenantID}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("drop tenant: %w", wrapConnErr(err))
		}
	}
	return nil
}

// ListOperatorJobs pages through the operator's jobs (tenant deletions),
// newest first (system scope).
func (tx *Tx) ListOperatorJobs(ctx context.Context, f JobFilter) ([]Job, string, error) {
	after, err := f.Page.decode()
	if err != nil {
		return nil, "", err
	}
	var js []Job
	err = tx.SelectContext(ctx, &js, `SELECT `+jobCols+` FROM jobs WHERE tenant_id IS NULL
		AND ($1 = '' OR kind = $1) AND ($2 = '' OR status = $2) AND ($3::timestamptz IS NULL OR created_at >= $3)
		AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
		AND $7 = '' AND $8 = ''
		ORDER BY created_at DESC, id DESC LIMIT $6`, f.Kind, f.Status, f.Since, after.Time, after.ID, f.Page.Limit+1,
		f.ConnectionID, f.Provider) // operator jobs have neither
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	return trimPage(js, f.Page.Limit, func(j Job) pageKey { return pageKey{Time: j.CreatedAt, ID: j.ID} })
}

// FindOperatorJob returns one of the operator's jobs (system scope).
func (tx *Tx) FindOperatorJob(ctx context.Context, id string) (*Job, error) {
	var j Job
	err := tx.GetContext(ctx, &j, `SELECT `+jobCols+` FROM jobs WHERE id = $1 AND tenant_id IS NULL`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("job")
	}
	return &j, wrapConnErr(err)
}

// StartOperatorJob marks an operator's job running.
func (tx *Tx) StartOperatorJob(ctx context.Context, id, runID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'running', run_id = $2, started_at = coalesce(started_at, now()), updated_at = now()
		WHERE id = $1 AND tenant_id IS NULL AND status IN ('queued', 'running')`, id, runID)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return poblysh.NotFound("job " + id)
	}
	return nil
}

// ProgressOperatorJob records how far an operator's job got (items: rows
// removed so far, pages: steps done).
func (tx *Tx) ProgressOperatorJob(ctx context.Context, id string, pages, items int) error {
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET pages = pages + $2, items = items + $3, updated_at = now()
		WHERE id = $1 AND tenant_id IS NULL`, id, pages, items)
	return wrapConnErr(err)
}

// ProgressOperatorJobInTenantTx is ProgressOperatorJob in a tenant's
// transaction, for a count that must commit or roll back with the
// tenant's own change (a tenant deletion counts each connection in the
// transaction that deletes it: a retried attempt that finds it deleted
// counts nothing). The operator's job is no tenant's row, so the update
// runs in the system scope, and the transaction is the tenant's again
// after it.
func (tx *Tx) ProgressOperatorJobInTenantTx(ctx context.Context, id string, pages, items int) error {
	if _, err := tx.ExecContext(ctx, `SELECT set_config('poblysh.system', 'on', true)`); err != nil {
		return wrapConnErr(err)
	}
	if err := tx.ProgressOperatorJob(ctx, id, pages, items); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `SELECT set_config('poblysh.system', 'off', true)`)
	return wrapConnErr(err)
}

// FinishOperatorJob records an operator's job's final status.
func (tx *Tx) FinishOperatorJob(ctx context.Context, id string, status poblysh.JobStatus, errMsg string) error {
	msg := errText(errMsg)
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = $2, error = $3, started_at = coalesce(started_at, now()),
			finished_at = now(), updated_at = now()
		WHERE id = $1 AND tenant_id IS NULL`, id, status, msg)
	if err != nil {
		return wrapConnErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return poblysh.NotFound("job " + id)
	}
	return nil
}

// RestartTenantDeletion records a new job for a deletion whose previous job
// ended without removing the tenant (system scope).
func (tx *Tx) RestartTenantDeletion(ctx context.Context, jobID, workflowID string) (*Job, error) {
	var j Job
	err := tx.GetContext(ctx, &j, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status, workflow_id)
		VALUES ($1, NULL, NULL, '', 'tenant_deletion', '', 'manual', 'queued', $2) RETURNING `+jobCols, jobID, workflowID)
	return &j, wrapConnErr(err)
}

// ConnectionExists reports whether the transaction's tenant has a
// connection row with this id, deleted or not: a job may name it (a
// foreign key), while work for an id it does not know is another
// database's.
func (tx *Tx) ConnectionExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := tx.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM connections WHERE id = $1::uuid AND tenant_id = $2::uuid)`, id, tx.TenantID)
	return ok, wrapConnErr(err)
}
