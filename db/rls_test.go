package db_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

// seedTenant fills every tenant table with rows of one tenant through the
// stores, and returns the fixture.
func seedTenant(t *testing.T, d *db.DB, kr *vault.KeyRing, name string) fixture {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, d, "fake", "acct-"+name)
	require.NoError(t, d.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		if err := tx.LockSignals(ctx); err != nil { // it writes other rows before its Signals
			return err
		}
		if err := tx.SaveTokens(ctx, kr, f.conn, db.Tokens{AccessToken: "at-" + name, RefreshToken: "rt-" + name}); err != nil {
			return err
		}
		if _, err := tx.CreateState(ctx, kr, db.NewState{State: "state-" + name, Provider: "fake", Verifier: "verifier-" + name, TTL: time.Hour}); err != nil {
			return err
		}
		if err := tx.AdvanceCursor(ctx, f.conn, "items", []byte(`{"after":1}`), 0); err != nil {
			return err
		}
		if _, err := tx.EnsureJob(ctx, db.Job{ID: uuid.NewString(), ConnectionID: f.conn, Provider: "fake",
			Kind: poblysh.JobBackfill, Trigger: poblysh.TriggerManual, WorkflowID: "wf-" + name}); err != nil {
			return err
		}
		if err := tx.ReplaceRoutes(ctx, f.conn, "fake", []db.Route{{RouteKey: "account:" + name}}); err != nil {
			return err
		}
		if err := tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: f.conn, Provider: "fake", ChannelID: "ch-" + name,
			Target: "items", RouteKey: "channel:" + name, Secret: "secret-" + name}); err != nil {
			return err
		}
		if err := tx.ReplaceResources(ctx, f.conn, []db.Resource{{Ref: "items", ResourceID: "1", RouteKeys: []string{"res:" + name}}}); err != nil {
			return err
		}
		if err := tx.DeferNudge(ctx, db.PendingNudge{TenantID: f.tenant, ConnectionID: f.conn, Trigger: "webhook"}); err != nil {
			return err
		}
		if err := tx.ClaimAccount(ctx, "fake", db.Claim{Keys: []string{"acct-" + name}}, f.conn); err != nil {
			return err
		}
		if _, err := tx.RetractSignals(ctx, f.tenant, f.conn, "fake", []string{"deleted-" + name}); err != nil {
			return err
		}
		s := sig("one-"+name, "message.posted")
		s.AliasKeys = []string{"alias-" + name}
		if _, err := tx.InsertSignals(ctx, f.conn, "fake", []db.NewSignal{s}); err != nil {
			return err
		}
		if _, err := tx.AcquireLease(ctx, "holder-"+name, 4, time.Minute); err != nil {
			return err
		}
		return tx.PutFingerprints(ctx, f.conn, map[string]db.Fingerprint{"obj-" + name: {Hash: "h", SignalKey: "one-" + name}})
	}))
	return f
}

// tenantTables are every table with row-level security keyed by tenant_id.
var tenantTables = []string{"api_keys", "connections", "oauth_states", "sync_cursors", "jobs",
	"webhook_routes", "watch_channels", "signals", "signal_aliases", "sync_leases", "connection_resources", "account_claims", "fingerprints",
	"pending_nudges", "signal_tombstones"}

var errRollback = errors.New("roll back")

// TestRLSHidesOtherTenantsInEveryTable: a statement without a tenant filter
// sees, updates and deletes only the transaction tenant's rows, in every
// tenant table; outside a scoped transaction it sees nothing.
func TestRLSHidesOtherTenantsInEveryTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	a, b := seedTenant(t, s.DB, kr, "a"), seedTenant(t, s.DB, kr, "b")

	count := func(tx *db.Tx, q string, args ...any) (n int) {
		require.NoError(t, tx.GetContext(ctx, &n, q, args...), q)
		return n
	}
	for _, table := range tenantTables {
		t.Run(table, func(t *testing.T) {
			var total int
			require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
				total = count(tx, `SELECT count(*) FROM `+table)
				require.Equal(t, total/2, count(tx, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, a.tenant))
				return nil
			}))
			require.Greater(t, total, 0, "the seed fills %s", table)
			require.Zero(t, total%2, "both tenants have the same rows in %s", table)

			for _, own := range []fixture{a, b} {
				other := a
				if own == a {
					other = b
				}
				err := s.DB.WithTenant(ctx, own.tenant, func(tx *db.Tx) error {
					require.Equal(t, total/2, count(tx, `SELECT count(*) FROM `+table), "no filter: only the own tenant's rows")
					require.Zero(t, count(tx, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, other.tenant), "asking for another tenant finds nothing")
					res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET tenant_id = tenant_id`)
					require.NoError(t, err)
					n, _ := res.RowsAffected()
					require.Equal(t, int64(total/2), n, "an unfiltered UPDATE touches only own rows")
					res, err = tx.ExecContext(ctx, `DELETE FROM `+table)
					require.NoError(t, err)
					n, _ = res.RowsAffected()
					require.Equal(t, int64(total/2), n, "an unfiltered DELETE removes only own rows")
					return errRollback
				})
				require.ErrorIs(t, err, errRollback)
			}
			// Moving a row to another tenant is refused by WITH CHECK.
			err := s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE `+table+` SET tenant_id = $1`, b.tenant)
				return err
			})
			require.ErrorContains(t, err, "row-level security")

			// No tenant set: nothing at all, even for the schema's own role.
			var n int
			require.NoError(t, s.DB.X.GetContext(ctx, &n, `SELECT count(*) FROM `+table))
			require.Zero(t, n)
			require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
				require.Equal(t, total, count(tx, `SELECT count(*) FROM `+table), "the rolled-back statements changed nothing")
				return nil
			}))
		})
	}

	// A tenant id that is not a UUID fails instead of matching anything.
	err := s.DB.WithTenant(ctx, "not-a-uuid", func(tx *db.Tx) error {
		var n int
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals`)
	})
	require.Error(t, err)
	require.EqualError(t, s.DB.WithTenant(ctx, "", func(*db.Tx) error { return nil }), "db: tenant id is required")
}

// TestRLSWebhookEvents: an intake record is visible to the tenants it was
// routed to, and only the system scope writes them.
func TestRLSWebhookEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a := newFixture(t, s.DB, "fake", "a")
	b := newFixture(t, s.DB, "fake", "b")
	c := newFixture(t, s.DB, "fake", "c")
	events := []db.WebhookEvent{
		{DeliveryID: "only-a", Status: "accepted", TenantIDs: []string{a.tenant}, ConnectionIDs: []string{a.conn}},
		{DeliveryID: "a-and-b", Status: "accepted", TenantIDs: []string{a.tenant, b.tenant}, ConnectionIDs: []string{a.conn, b.conn}},
		{DeliveryID: "unroutable", Status: "unroutable"},
	}
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		for _, e := range events {
			e.Provider = "fake"
			e.RawBody = []byte(`{"secret":"payload"}`)
			if ok, err := tx.RecordWebhook(ctx, e); err != nil || !ok {
				return fmt.Errorf("record %s: %v %v", e.DeliveryID, ok, err)
			}
		}
		return nil
	}))
	visible := func(tenant string) []string {
		var ids []string
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &ids, `SELECT delivery_id FROM webhook_events ORDER BY delivery_id`)
		}))
		return ids
	}
	require.Equal(t, []string{"a-and-b", "only-a"}, visible(a.tenant))
	require.Equal(t, []string{"a-and-b"}, visible(b.tenant))
	require.Empty(t, visible(c.tenant))
	var n int
	require.NoError(t, s.DB.X.GetContext(ctx, &n, `SELECT count(*) FROM webhook_events`))
	require.Zero(t, n)
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.GetContext(ctx, &n, `SELECT count(*) FROM webhook_events`) }))
	require.Equal(t, 3, n)

	// A tenant transaction can neither record nor alter intake records.
	err := s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		_, err := tx.RecordWebhook(ctx, db.WebhookEvent{Provider: "fake", DeliveryID: "forged", Status: "accepted", TenantIDs: []string{a.tenant}})
		return err
	})
	require.ErrorContains(t, err, "row-level security")
	err = s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE webhook_events SET signals = 99`)
		return err
	})
	require.ErrorContains(t, err, "row-level security")
}

// TestPoliciesUseInitPlans: every row-level security policy calls
// poblysh_tenant() and poblysh_system() inside a scalar subquery, so that
// Postgres evaluates them once per statement (an InitPlan), not per row,
// and a feed page's plan shows it (migration 0019).
func TestPoliciesUseInitPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	rows, err := owner.Query(ctx, `SELECT tablename, policyname, coalesce(qual, ''), coalesce(with_check, '')
		FROM pg_policies WHERE schemaname = $1`, s.Name)
	require.NoError(t, err)
	wrapped := regexp.MustCompile(`\(\s*SELECT\s+[\w.]*poblysh_(tenant|system)\(\)(\s+AS\s+\w+)?\s*\)`)
	n := 0
	for rows.Next() {
		var table, name, qual, check string
		require.NoError(t, rows.Scan(&table, &name, &qual, &check))
		n++
		for _, expr := range []string{qual, check} {
			require.NotRegexp(t, `poblysh_(tenant|system)\(`, wrapped.ReplaceAllString(expr, ""),
				"policy %s on %s calls a function per row: %s", name, table, expr)
		}
		require.Regexp(t, wrapped, qual, "policy %s on %s", name, table)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(tenantTables)+3, n, "every tenant table's policy, the tenants' and webhook_events' two")

	tenant, _ := dbtest.Seed(t, s.DB, "plans", "fake", "acct")
	fq, err := db.NewFeedQuery(tenant, db.SignalFilter{Limit: 100})
	require.NoError(t, err)
	q, args := fq.Page("1000")
	var plan []string
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &plan, "EXPLAIN (COSTS OFF) "+q, args...)
	}))
	require.Contains(t, strings.Join(plan, "\n"), "InitPlan")
}

// TestTenantTablesAreTheCatalogs: tenantTables, which the behaviour tests
// above walk, is every table of the migrated schema with a tenant_id
// column, so a new tenant table cannot miss them; each of those, the
// intake records (tenant_ids) and tenants have row-level security enabled
// and forced with a policy on poblysh_tenant(); and the only tables
// without a tenant column are the shared rate budgets, the database's own
// id and goose's.
func TestTenantTablesAreTheCatalogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	rows, err := owner.Query(ctx, `
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       coalesce((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid
                 AND a.attname IN ('tenant_id', 'tenant_ids') AND NOT a.attisdropped), ''),
       coalesce((SELECT string_agg(coalesce(p.qual, '') || ' ' || coalesce(p.with_check, ''), ' ')
                 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, s.Name)
	require.NoError(t, err)
	var withTenantID, others []string
	for rows.Next() {
		var name, column, policies string
		var enabled, forced bool
		require.NoError(t, rows.Scan(&name, &enabled, &forced, &column, &policies))
		switch {
		case column == "tenant_id":
			withTenantID = append(withTenantID, name)
		case column == "tenant_ids" || name == "tenants":
		default:
			others = append(others, name)
			continue
		}
		require.True(t, enabled && forced, "%s: row-level security enabled %v, forced %v", name, enabled, forced)
		require.Contains(t, policies, "poblysh_tenant()", "%s: a policy keyed on the tenant", name)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, tenantTables, withTenantID, "tenantTables lists every table with tenant_id")
	require.ElementsMatch(t, []string{"database_identity", "rate_buckets", "schema_migrations"}, others, "tables without a tenant column")
}

// TestSecondTenantCannotClaimAnAccount: the store-time claim refuses a
// second tenant's connection of an account one tenant holds (a Slack
// workspace): two callbacks that raced past the pre-check both reach it,
// and it is what keeps the workspace's events from being routed to both.
func TestSecondTenantCannotClaimAnAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	tenantA, connA := dbtest.Seed(t, schema.DB, "A", "slack", "T1")
	tenantB, connB := dbtest.Seed(t, schema.DB, "B", "slack", "T1")
	require.NoError(t, schema.DB.WithTenant(ctx, tenantA, func(tx *db.Tx) error { return tx.ClaimAccount(ctx, "slack", db.Claim{Keys: []string{"T1"}}, connA) }))
	err := schema.DB.WithTenant(ctx, tenantB, func(tx *db.Tx) error { return tx.ClaimAccount(ctx, "slack", db.Claim{Keys: []string{"T1"}}, connB) })
	require.ErrorIs(t, err, db.ErrAccountClaimed)
	require.NoError(t, schema.DB.WithTenant(ctx, tenantA, func(tx *db.Tx) error { return tx.ClaimAccount(ctx, "slack", db.Claim{Keys: []string{"T1"}}, connA) }),
		"the holder claims it again")
}
