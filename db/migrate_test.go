package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestGoogleAccountsRekeyedBySubject: migration 0003 re-keys Google
// Calendar connections stored under the email (as the earlier code did) by
// the OpenID subject it kept in account.metadata.sub, keeps the email as
// metadata, and leaves other providers, rows without a subject and rows
// whose subject is already taken alone.
func TestGoogleAccountsRekeyedBySubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	insert := func(provider, account, accountJSON string) string {
		var id string
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: provider, ExternalAccountID: account,
				DisplayName: account, Account: json.RawMessage(accountJSON)})
			if err == nil {
				id = c.ID
			}
			return err
		}))
		return id
	}
	ada := insert("google-calendar", "ada@example.com",
		`{"id":"ada@example.com","name":"Ada Lovelace","metadata":{"sub":"104817326578234512345","hd":"example.com"}}`)
	nosub := insert("google-calendar", "old@example.com", `{"id":"old@example.com","name":"Old"}`)
	github := insert("github", "583231", `{"id":"583231","name":"octocat","metadata":{"sub":"not-google"}}`)
	taken := insert("google-calendar", "grace@example.com", `{"id":"grace@example.com","metadata":{"sub":"200000000000000000001"}}`)
	holder := insert("google-calendar", "200000000000000000001", `{"id":"200000000000000000001","metadata":{"email":"grace@example.com"}}`)

	s.Replay(t, 3, "")

	type row struct {
		Account string          `db:"external_account_id"`
		Name    string          `db:"display_name"`
		JSON    json.RawMessage `db:"account"`
	}
	get := func(id string) row {
		var r row
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &r, `SELECT external_account_id, display_name, account FROM connections WHERE id = $1`, id)
		}))
		return r
	}
	got := get(ada)
	require.Equal(t, "104817326578234512345", got.Account, "keyed by the subject")
	require.Equal(t, "ada@example.com", got.Name, "the display name is kept")
	require.JSONEq(t, `{"id":"104817326578234512345","name":"Ada Lovelace","metadata":{"email":"ada@example.com","hd":"example.com"}}`, string(got.JSON))
	require.Equal(t, "old@example.com", get(nosub).Account, "no subject to key it by: left as it is")
	require.Equal(t, "583231", get(github).Account, "other providers are untouched")
	require.JSONEq(t, `{"id":"583231","name":"octocat","metadata":{"sub":"not-google"}}`, string(get(github).JSON))
	require.Equal(t, "grace@example.com", get(taken).Account, "a subject already taken is left alone")
	require.Equal(t, "200000000000000000001", get(holder).Account)

	// Running it again changes nothing.
	s.Replay(t, 3, "")
	require.Equal(t, got, get(ada))
}

// TestRawObjectsCompressWithLZ4: a large raw object and delivery body are
// stored compressed with lz4 where the server has it (migration 0020), and
// read back whole.
func TestRawObjectsCompressWithLZ4(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "lz4", "github", "acct")
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	var lz4 bool
	require.NoError(t, owner.QueryRow(ctx,
		`SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'`).Scan(&lz4))

	var commits []string
	for i := range 60 {
		commits = append(commits, fmt.Sprintf(`{"id":"%040d","message":"commit %d of a push, with a message of some length"}`, i, i))
	}
	raw := `{"ref":"refs/heads/main","commits":[` + strings.Join(commits, ",") + `]}`
	require.Greater(t, len(raw), 4000, "large enough to be compressed")
	require.NoError(t, s.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, conn, "github", []db.NewSignal{{Kind: "code.pushed", OccurredAt: time.Now(),
			DedupeKey: "push-1", Payload: []byte(`{"title":"push"}`), Raw: []byte(raw)}})
		return err
	}))
	_, err = owner.Exec(ctx, `INSERT INTO webhook_events (provider, delivery_id, event, status, raw_body)
		VALUES ('github', 'd-lz4', 'push', 'accepted', $1)`, []byte(raw))
	require.NoError(t, err)

	want := "pglz"
	if lz4 {
		want = "lz4"
	}
	var sig, body, back string
	require.NoError(t, owner.QueryRow(ctx, `SELECT pg_column_compression(raw), raw->'commits'->59->>'message' FROM signals WHERE dedupe_key = 'github:push-1'`).Scan(&sig, &back))
	require.Equal(t, want, sig)
	require.Equal(t, "commit 59 of a push, with a message of some length", back)
	require.NoError(t, owner.QueryRow(ctx, `SELECT pg_column_compression(raw_body) FROM webhook_events WHERE delivery_id = 'd-lz4'`).Scan(&body))
	require.Equal(t, want, body)
	t.Logf("lz4 available: %v", lz4)
}

// TestGitHubConnectionsRouteTheirUser: migration 0024 routes every live
// GitHub connection's own user (user:<account id>), which access-loss
// deliveries carry, and makes the hooks made before their events included
// member and repository due for a watch pass; other providers, deleted
// connections and stopped hooks are left alone. Migration 0032 does the
// same again in the system scope (0024 ran without it, and changed nothing
// where the owner is bound by row-level security), for hooks made up to a
// day after 0024 was applied (these are, in this schema).
func TestGitHubConnectionsRouteTheirUser(t *testing.T) {
	t.Parallel()
	for _, version := range []int{24, 32} {
		t.Run(fmt.Sprintf("%04d", version), func(t *testing.T) {
			t.Parallel()
			testGitHubConnectionsRouteTheirUser(t, version)
		})
	}
}

func testGitHubConnectionsRouteTheirUser(t *testing.T, version int) {
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	gh := newFixture(t, s.DB, "github", "583231")
	gone := newFixture(t, s.DB, "github", "999")
	other := newFixture(t, s.DB, "fake", "583231")
	stopped := time.Now()
	require.NoError(t, s.DB.WithTenant(ctx, gh.tenant, func(tx *db.Tx) error {
		for _, w := range []db.WatchChannel{
			{ConnectionID: gh.conn, Provider: "github", ChannelID: "101", Target: "octo-org/hello-world", RouteKey: "hook:101", Secret: "s3cret-s3cret"},
			{ConnectionID: gh.conn, Provider: "github", ChannelID: "102", Target: "octo-org/old", RouteKey: "hook:102", Secret: "s3cret-s3cret"},
		} {
			if err := tx.InsertWatchChannel(ctx, kr, w); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE watch_channels SET stopped_at = $1 WHERE channel_id = '102'`, stopped)
		return err
	}))
	require.NoError(t, s.DB.WithTenant(ctx, other.tenant, func(tx *db.Tx) error {
		return tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: other.conn, Provider: "fake", ChannelID: "c1", Target: "items", RouteKey: "ch:1"})
	}))
	require.NoError(t, s.DB.WithTenant(ctx, gone.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, gone.conn, false) }))

	s.Replay(t, version, "")

	var routes []string
	var due []string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		if err := tx.SelectContext(ctx, &routes, `SELECT connection_id || ' ' || route_key FROM webhook_routes WHERE route_key LIKE 'user:%'`); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &due, `SELECT channel_id FROM watch_channels WHERE expires_at IS NOT NULL ORDER BY channel_id`)
	}))
	require.Equal(t, []string{gh.conn + " user:583231"}, routes, "the live GitHub connection routes its user, no other")
	require.Equal(t, []string{"101"}, due, "only the live GitHub hook is due")

	s.Replay(t, version, "") // again: nothing new
	var n int
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM webhook_routes WHERE route_key LIKE 'user:%'`)
	}))
	require.Equal(t, 1, n)
}

// TestGitHubHooksAreDueForMeta: migration 0033 makes every live GitHub
// hook due for a watch pass (hooks never expire, so nothing else brings
// one), which edits each to subscribe to meta, the event GitHub sends a
// hook when it is deleted; stopped hooks, hooks of deleted connections
// and other providers' channels are left alone. Re-runnable. It enters the
// system scope first, so an owner bound by row-level security changes
// the rows too.
func TestGitHubHooksAreDueForMeta(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	gh := newFixture(t, s.DB, "github", "583231")
	gone := newFixture(t, s.DB, "github", "999")
	other := newFixture(t, s.DB, "fake", "583231")
	later := time.Now().Add(48 * time.Hour)
	for _, f := range []struct {
		fx       fixture
		provider string
		ids      []string
	}{{gh, "github", []string{"201", "202"}}, {gone, "github", []string{"203"}}, {other, "fake", []string{"c1", "c2"}}} {
		require.NoError(t, s.DB.WithTenant(ctx, f.fx.tenant, func(tx *db.Tx) error {
			for _, id := range f.ids {
				w := db.WatchChannel{ConnectionID: f.fx.conn, Provider: f.provider, ChannelID: id, Target: "t-" + id, RouteKey: "hook:" + id, Secret: "s3cret-s3cret"}
				if id == "c2" {
					w.ExpiresAt = &later
				}
				if err := tx.InsertWatchChannel(ctx, kr, w); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `UPDATE watch_channels SET stopped_at = now() WHERE channel_id = '202'`)
			return err
		}))
	}
	require.NoError(t, s.DB.WithTenant(ctx, gone.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, gone.conn, false) }))
	due := func() []string {
		var refs []poblysh.ConnectionRef
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			refs, _, err = tx.WatchesDue(ctx, time.Now(), 0, []string{"github"}, nil, 10)
			return err
		}))
		var out []string
		for _, r := range refs {
			out = append(out, r.ConnectionID)
		}
		return out
	}
	require.Empty(t, due())

	ms, err := db.Migrations()
	require.NoError(t, err)
	for _, m := range ms {
		if m.Version == 33 {
			require.Contains(t, m.SQL, "\nSELECT set_config('poblysh.system', 'on', true);\n\nUPDATE", "the system scope before the update")
		}
	}
	s.Replay(t, 33, "")
	var marked []string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &marked, `SELECT channel_id FROM watch_channels WHERE expires_at <= now() ORDER BY channel_id`)
	}))
	require.Equal(t, []string{"201", "203"}, marked, "the live hooks (203's connection is deleted: its hook goes with it)")
	require.Equal(t, []string{gh.conn}, due(), "only the live connection's pass is due")
	s.Replay(t, 33, "") // again: nothing new
	require.Equal(t, []string{gh.conn}, due())
}

// TestJiraKeysNameTheSite: migration 0029 rewrites the dedupe keys of Jira
// Signals stored in the old form (jira:issue:<id>:…) to name the site's
// host (jira:<host>/issue:<id>:…), read from the connection's site URL or
// else the Signal's browse URL. A later store of the same happening under
// the new key is then a duplicate, while the other site's happening of the
// same issue id is stored. Rows of other providers, rows with no site to
// name and rows whose new key is taken are left alone. Migration 0032,
// which does it again in the system scope (where 0029 ran as an owner
// bound by row-level security and changed nothing,
// TestNonSuperuserOwnerUpgradeRewritesStoredRows), rewrites the same.
func TestJiraKeysNameTheSite(t *testing.T) {
	t.Parallel()
	for _, version := range []int{29, 32} {
		t.Run(fmt.Sprintf("%04d", version), func(t *testing.T) {
			t.Parallel()
			testJiraKeysNameTheSite(t, version)
		})
	}
}

func testJiraKeysNameTheSite(t *testing.T, version int) {
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	other := newFixture(t, s.DB, "fake", "acct")
	tenant := other.tenant
	conn := func(account, url string) string {
		meta := ""
		if url != "" {
			meta = `,"metadata":{"url":"` + url + `","site_name":"acme"}`
		}
		var id string
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "jira", ExternalAccountID: account,
				DisplayName: account, Account: json.RawMessage(`{"id":"` + account + `","name":"` + account + `"` + meta + `}`)})
			id = c.ID
			return err
		}))
		return id
	}
	siteA := conn("a7f3c1d2-0001", "https://Acme-PR.atlassian.net")
	siteB := conn("a7f3c1d2-0002", "https://acme-labs.atlassian.net/")
	noURL := conn("a7f3c1d2-0003", "")
	store := func(connID, source, key, url string) db.Stored {
		var st db.Stored
		require.NoError(t, s.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
			var err error
			st, err = tx.InsertSignals(ctx, connID, source, []db.NewSignal{{Kind: "issue.created", OccurredAt: time.Now(),
				DedupeKey: key, Payload: []byte(`{"title":"Issue","url":"` + url + `"}`)}})
			return err
		}))
		return st
	}
	// As the earlier code stored them: one site's issues only, since the
	// other's with the same ids were dropped as duplicates.
	store(siteA, "jira", "issue:10001:created", "https://acme-pr.atlassian.net/browse/LPR-1")
	store(siteA, "jira", "issue:10001:changelog:10100:status", "https://acme-pr.atlassian.net/browse/LPR-1")
	store(siteA, "jira", "issue:10002:updated:1772444472345", "https://acme-pr.atlassian.net/browse/LPR-2")
	store(siteB, "jira", "issue:10003:created", "https://acme-labs.atlassian.net/browse/OPS-3")
	store(noURL, "jira", "issue:10004:created", "https://old-name.atlassian.net/browse/OLD-4")
	store(noURL, "jira", "issue:10005:created", "")
	store(siteA, "jira", "issue:10009:created", "https://acme-pr.atlassian.net/browse/LPR-9")
	store(siteA, "jira", "acme-pr.atlassian.net/issue:10009:created", "https://acme-pr.atlassian.net/browse/LPR-9")
	store(other.conn, "fake", "issue:10001:created", "https://fake.example/1")

	keys := func() []string {
		var out []string
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &out, `SELECT dedupe_key FROM signals ORDER BY dedupe_key`)
		}))
		return out
	}
	s.Replay(t, version, "")
	want := []string{
		"fake:issue:10001:created",
		"jira:acme-labs.atlassian.net/issue:10003:created",
		"jira:acme-pr.atlassian.net/issue:10001:changelog:10100:status",
		"jira:acme-pr.atlassian.net/issue:10001:created",
		"jira:acme-pr.atlassian.net/issue:10002:updated:1772444472345",
		"jira:acme-pr.atlassian.net/issue:10009:created",
		"jira:issue:10005:created", // no site to name
		"jira:issue:10009:created", // its new key is taken
		"jira:old-name.atlassian.net/issue:10004:created",
	}
	require.Equal(t, want, keys())

	// Read again under the new keys, the stored happenings are duplicates;
	// the second site's issue 10001 is its own.
	require.Equal(t, 1, store(siteA, "jira", "acme-pr.atlassian.net/issue:10001:created", "").Duplicates)
	require.Equal(t, 1, store(siteA, "jira", "acme-pr.atlassian.net/issue:10001:changelog:10100:status", "").Duplicates)
	require.Equal(t, 1, store(siteB, "jira", "acme-labs.atlassian.net/issue:10003:created", "").Duplicates)
	require.Equal(t, []string{"issue.created"}, store(siteB, "jira", "acme-labs.atlassian.net/issue:10001:created", "").Kinds)

	s.Replay(t, version, "") // again: nothing changes
	require.Equal(t, append(want[:1:1], append([]string{"jira:acme-labs.atlassian.net/issue:10001:created"}, want[1:]...)...), keys())
}

// TestPendingMigrations: the app role lists the embedded migrations a
// schema has not applied; one the schema has and the binary does not (a
// newer release migrated first) is not pending.
func TestPendingMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	pending, err := s.DB.PendingMigrations(ctx)
	require.NoError(t, err)
	require.Empty(t, pending)

	ms, err := db.Migrations()
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	last := ms[len(ms)-1]
	_, err = conn.Exec(ctx, `DELETE FROM schema_migrations WHERE version_id = $1`, last.Version)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO schema_migrations (version_id, is_applied) VALUES (9999, true)`)
	require.NoError(t, err)
	pending, err = s.DB.PendingMigrations(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{last.Name}, pending)
}
