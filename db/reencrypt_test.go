package db_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

func newKey(t *testing.T) vault.Key {
	t.Helper()
	k, err := vault.ParseKey(vault.GenerateKey())
	require.NoError(t, err)
	return k
}

// tokenRow is what the connections table holds for a connection's tokens.
type tokenRow struct {
	ID          string  `db:"id"`
	Tenant      string  `db:"tenant_id"`
	AccessKeyID *string `db:"access_key_id"`
	Access      *string `db:"access_token_ct"`
	RefreshKey  *string `db:"refresh_key_id"`
	Refresh     *string `db:"refresh_token_ct"`
	PrevKey     *string `db:"prev_refresh_key_id"`
	Prev        *string `db:"prev_refresh_token_ct"`
}

func tokenRows(t *testing.T, d *db.DB) []tokenRow {
	t.Helper()
	var rows []tokenRow
	require.NoError(t, d.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &rows, `SELECT id, tenant_id, access_key_id, access_token_ct,
			refresh_key_id, refresh_token_ct, prev_refresh_key_id, prev_refresh_token_ct FROM connections ORDER BY id`)
	}))
	return rows
}

// requireColumnUnder checks one ciphertext column: absent when there is
// no plaintext, else sealed under kid (its key id column and its prefix
// agree) without the plaintext in it.
func requireColumnUnder(t *testing.T, id, kid, plaintext string, keyID, ct *string) {
	t.Helper()
	if plaintext == "" {
		require.Nil(t, ct, id)
		require.Nil(t, keyID, id)
		return
	}
	require.NotNil(t, ct, id)
	require.NotNil(t, keyID, id)
	require.Equal(t, kid, *keyID, id)
	require.True(t, strings.HasPrefix(*ct, "pv1:"+kid+":"), *ct)
	require.NotContains(t, *ct, plaintext)
}

// requireUnder checks every stored ciphertext names key kid, in its key id
// column and in the ciphertext prefix, and no plaintext is stored.
func requireUnder(t *testing.T, d *db.DB, kid string, plaintexts map[string]db.Tokens) {
	t.Helper()
	for _, r := range tokenRows(t, d) {
		p := plaintexts[r.ID]
		requireColumnUnder(t, r.ID, kid, p.AccessToken, r.AccessKeyID, r.Access)
		requireColumnUnder(t, r.ID, kid, p.RefreshToken, r.RefreshKey, r.Refresh)
		requireColumnUnder(t, r.ID, kid, p.PrevRefreshToken, r.PrevKey, r.Prev)
	}
}

func loadTokens(d *db.DB, kr *vault.KeyRing, tenant, conn string) (*db.Tokens, error) {
	var tok *db.Tokens
	err := d.WithTenant(context.Background(), tenant, func(tx *db.Tx) (err error) {
		tok, err = tx.LoadTokens(context.Background(), kr, conn)
		return err
	})
	return tok, err
}

// TestReencryptRotatesEveryRow walks the key-rotation runbook against the
// database: tokens under key 1, rotate to key 2 (key 1 retired), re-encrypt,
// re-encrypt again (no-op), then drop key 1 from the ring.
func TestReencryptRotatesEveryRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	k1, k2 := newKey(t), newKey(t)
	old := vault.NewKeyRing(k1)

	type conn struct{ tenant, id string }
	var conns []conn
	plain := map[string]db.Tokens{}
	for ti := range 2 {
		f := newFixture(t, s.DB, "fake", fmt.Sprintf("t%d-0", ti))
		ids := []string{f.conn}
		for ci := 1; ci < 3; ci++ {
			require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
				c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("t%d-%d", ti, ci)})
				ids = append(ids, c.ID)
				return err
			}))
		}
		for i, id := range ids {
			tok := db.Tokens{AccessToken: fmt.Sprintf("access-%d-%d", ti, i), RefreshToken: fmt.Sprintf("refresh-%d-%d", ti, i), TokenType: "Bearer"}
			switch i {
			case 1:
				tok.PrevRefreshToken = fmt.Sprintf("spent-%d-%d", ti, i) // after a rotating refresh
			case 2:
				tok.RefreshToken = "" // a provider without refresh tokens
			}
			plain[id] = tok
			require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.SaveTokens(ctx, old, id, tok) }))
			conns = append(conns, conn{f.tenant, id})
		}
		// A repository hook's own secret is sealed like tokens.
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			return tx.InsertWatchChannel(ctx, old, db.WatchChannel{ConnectionID: f.conn, Provider: "fake",
				ChannelID: fmt.Sprintf("hook-%d", ti), Target: "items", RouteKey: fmt.Sprintf("hook:%d", ti), Secret: fmt.Sprintf("hook-secret-%d", ti)})
		}))
		// Pending authorizations carry a sealed PKCE verifier and state too;
		// a used one has none left to move.
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			for _, st := range []string{"pending", "used"} {
				if _, err := tx.CreateState(ctx, old, db.NewState{State: fmt.Sprintf("%s-%d", st, ti), Provider: "fake", Verifier: "verifier-" + st, TTL: time.Hour}); err != nil {
					return err
				}
			}
			return nil
		}))
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, bad, err := tx.ConsumeState(ctx, old, fmt.Sprintf("used-%d", ti), "fake")
			require.NoError(t, bad)
			return err
		}))
	}
	requireUnder(t, s.DB, k1.ID, plain)

	// Restart with key 2 current and key 1 retired: reads work before the
	// re-encryption already.
	rotated := vault.NewKeyRing(k2, k1)
	for _, c := range conns {
		tok, err := loadTokens(s.DB, rotated, c.tenant, c.id)
		require.NoError(t, err)
		require.Equal(t, plain[c.id].AccessToken, tok.AccessToken)
	}
	res, err := s.DB.Reencrypt(ctx, rotated, 2) // small batches: resumable in steps
	require.NoError(t, err)
	require.Equal(t, db.ReencryptResult{Connections: 6, States: 2, Channels: 2}, res)
	requireUnder(t, s.DB, k2.ID, plain)
	var sealed []struct {
		Verifier *string `db:"verifier_ct"`
		State    *string `db:"state_ct"`
		Used     bool    `db:"used"`
	}
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &sealed, `SELECT verifier_ct, state_ct, used_at IS NOT NULL AS used FROM oauth_states ORDER BY used`)
	}))
	require.Len(t, sealed, 4)
	for _, v := range sealed {
		if v.Used {
			// A spent state keeps no ciphertext, so nothing is left under
			// the retired key.
			require.Nil(t, v.Verifier, "a spent state keeps no verifier")
			require.Nil(t, v.State, "a spent state keeps no sealed state")
			continue
		}
		require.NotNil(t, v.Verifier)
		require.NotNil(t, v.State)
		require.True(t, strings.HasPrefix(*v.Verifier, "pv1:"+k2.ID+":"), "verifier %s", *v.Verifier)
		require.True(t, strings.HasPrefix(*v.State, "pv1:"+k2.ID+":"), "state %s", *v.State)
	}

	again, err := s.DB.Reencrypt(ctx, rotated, 2)
	require.NoError(t, err)
	require.Equal(t, db.ReencryptResult{}, again, "a second run converts nothing")

	// Key 1 retired from the ring: everything still decrypts.
	only2 := vault.NewKeyRing(k2)
	for _, c := range conns {
		tok, err := loadTokens(s.DB, only2, c.tenant, c.id)
		require.NoError(t, err)
		require.Equal(t, plain[c.id].AccessToken, tok.AccessToken)
		require.Equal(t, plain[c.id].RefreshToken, tok.RefreshToken)
		require.Equal(t, plain[c.id].PrevRefreshToken, tok.PrevRefreshToken)
		require.Equal(t, "Bearer", tok.TokenType)
		_, err = loadTokens(s.DB, old, c.tenant, c.id)
		require.ErrorIs(t, err, vault.ErrUnknownKey, "the old ring no longer reads rotated rows")
	}
	for ti := range 2 {
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			ch, err := tx.ChannelSecret(ctx, only2, "fake", fmt.Sprintf("hook-%d", ti))
			if err == nil {
				require.Equal(t, fmt.Sprintf("hook-secret-%d", ti), ch.Secret, "a channel secret decrypts under the new key")
			}
			return err
		}))
	}
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		st, bad, err := tx.ConsumeState(ctx, only2, "pending-0", "fake")
		require.NoError(t, bad)
		if err == nil {
			require.Equal(t, "verifier-pending", st.Verifier)
		}
		return err
	}))
}

// TestReencryptFindsAKeptRefreshToken walks a full rotation through a
// re-connect whose token response has no refresh token (Google without
// prompt=consent): the kept refresh token is still under key 1 while the
// new access token is under key 2, and re-encryption must move it before
// key 1 is retired.
func TestReencryptFindsAKeptRefreshToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	k1, k2 := newKey(t), newKey(t)
	f := newFixture(t, s.DB, "fake", "kept")
	save := func(kr *vault.KeyRing, tok db.Tokens) {
		t.Helper()
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.SaveTokens(ctx, kr, f.conn, tok) }))
	}
	save(vault.NewKeyRing(k1), db.Tokens{AccessToken: "access-1", RefreshToken: "refresh-1"})

	rotated := vault.NewKeyRing(k2, k1)
	save(rotated, db.Tokens{AccessToken: "access-2"}) // the re-connect, under key 2
	tok, err := loadTokens(s.DB, rotated, f.tenant, f.conn)
	require.NoError(t, err)
	require.Equal(t, "refresh-1", tok.RefreshToken, "the re-connect keeps the refresh token")

	res, err := s.DB.Reencrypt(ctx, rotated, 10)
	require.NoError(t, err)
	require.Equal(t, 1, res.Connections, "the row with a refresh token under key 1 is re-encrypted")
	again, err := s.DB.Reencrypt(ctx, rotated, 10)
	require.NoError(t, err)
	require.Zero(t, again.Connections)

	tok, err = loadTokens(s.DB, vault.NewKeyRing(k2), f.tenant, f.conn)
	require.NoError(t, err, "with key 1 retired, everything still decrypts")
	require.Equal(t, "access-2", tok.AccessToken)
	require.Equal(t, "refresh-1", tok.RefreshToken)
}

func TestTokensAreBoundToTheirRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	k := newKey(t)
	kr := vault.NewKeyRing(k)
	a, b := newFixture(t, s.DB, "fake", "a"), newFixture(t, s.DB, "fake", "b")
	var a2 string
	require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "a2"})
		if err != nil {
			return err
		}
		a2 = c.ID
		for _, id := range []string{a.conn, a2} {
			if err := tx.SaveTokens(ctx, kr, id, db.Tokens{AccessToken: "at-" + id, RefreshToken: "rt-" + id}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.DB.WithTenant(ctx, b.tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, kr, b.conn, db.Tokens{AccessToken: "at-b"})
	}))
	sys := func(q string, args ...any) {
		t.Helper()
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }))
	}

	// A ciphertext copied onto another connection's row (same tenant, or
	// another tenant) fails authentication.
	sys(`UPDATE connections SET access_token_ct = (SELECT access_token_ct FROM connections WHERE id = $1) WHERE id = $2`, a.conn, a2)
	_, err := loadTokens(s.DB, kr, a.tenant, a2)
	require.ErrorIs(t, err, vault.ErrDecrypt)
	require.ErrorContains(t, err, "decrypt access token of connection "+a2)
	sys(`UPDATE connections SET access_token_ct = (SELECT access_token_ct FROM connections WHERE id = $1) WHERE id = $2`, a.conn, b.conn)
	_, err = loadTokens(s.DB, kr, b.tenant, b.conn)
	require.ErrorIs(t, err, vault.ErrDecrypt)
	// The refresh token cannot stand in for the access token either, nor
	// for the previous refresh token.
	sys(`UPDATE connections SET access_token_ct = refresh_token_ct WHERE id = $1`, a.conn)
	_, err = loadTokens(s.DB, kr, a.tenant, a.conn)
	require.ErrorIs(t, err, vault.ErrDecrypt)
	require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, kr, a.conn, db.Tokens{AccessToken: "at-2", RefreshToken: "rt-2", PrevRefreshToken: "rt-1"})
	}))
	sys(`UPDATE connections SET prev_refresh_token_ct = refresh_token_ct WHERE id = $1`, a.conn)
	_, err = loadTokens(s.DB, kr, a.tenant, a.conn)
	require.ErrorIs(t, err, vault.ErrDecrypt)
	require.ErrorContains(t, err, "decrypt previous refresh token of connection "+a.conn)

	// A tampered ciphertext: a clear error naming the row, for reads and for
	// re-encryption, and never the plaintext.
	require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, kr, a.conn, db.Tokens{AccessToken: "at-fresh", RefreshToken: "rt-fresh"})
	}))
	sys(`UPDATE connections SET refresh_token_ct = overlay(refresh_token_ct placing
		CASE WHEN substr(refresh_token_ct, 30, 1) = 'A' THEN 'B' ELSE 'A' END from 30 for 1) WHERE id = $1`, a.conn)
	_, err = loadTokens(s.DB, kr, a.tenant, a.conn)
	require.ErrorIs(t, err, vault.ErrDecrypt)
	require.ErrorContains(t, err, "decrypt refresh token of connection "+a.conn)
	require.NotContains(t, err.Error(), "rt-fresh")
	sys(`UPDATE connections SET access_token_ct = 'garbage' WHERE id = $1`, a2)
	_, err = loadTokens(s.DB, kr, a.tenant, a2)
	require.ErrorIs(t, err, vault.ErrMalformed)

	_, err = s.DB.Reencrypt(ctx, vault.NewKeyRing(newKey(t), k), 100)
	require.Error(t, err)
	require.Regexp(t, `connection [0-9a-f-]{36} (access|refresh) token: vault: `, err.Error())
}

// TestReencryptRacesTokenRefreshes runs the re-encryption while refreshers
// rewrite the same rows (under the token lock, and without it): no refresh
// may be lost, and every row ends under the new key.
func TestReencryptRacesTokenRefreshes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	k1, k2 := newKey(t), newKey(t)
	old, rotated := vault.NewKeyRing(k1), vault.NewKeyRing(k2, k1)
	f := newFixture(t, s.DB, "fake", "racer-0")
	const n = 24
	ids := []string{f.conn}
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		for i := 1; i < n; i++ {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("racer-%d", i)})
			if err != nil {
				return err
			}
			ids = append(ids, c.ID)
		}
		for _, id := range ids {
			if err := tx.SaveTokens(ctx, old, id, db.Tokens{AccessToken: "old-" + id, RefreshToken: "old-rt-" + id}); err != nil {
				return err
			}
		}
		return nil
	}))

	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	start := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		_, err := s.DB.Reencrypt(ctx, rotated, 3)
		errs <- err
	}()
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(time.Duration(i%6) * 3 * time.Millisecond)
			write := func(tx *db.Tx) error {
				cur, err := tx.LoadTokens(ctx, rotated, id)
				if err != nil {
					return err
				}
				if cur.AccessToken != "old-"+id {
					return fmt.Errorf("%s: read %q", id, cur.AccessToken)
				}
				time.Sleep(15 * time.Millisecond) // the provider call
				return tx.SaveTokens(ctx, rotated, id, db.Tokens{AccessToken: "new-" + id, RefreshToken: "new-rt-" + id,
					PrevRefreshToken: cur.RefreshToken})
			}
			if i%2 == 1 { // a writer without the token lock, in one transaction
				errs <- s.DB.WithTenant(ctx, f.tenant, write)
				return
			}
			// The refresh path: the token lock across short transactions.
			lock, err := s.DB.LockTokens(ctx, f.tenant, id)
			if err != nil {
				errs <- err
				return
			}
			defer lock.Release()
			errs <- lock.Tx(ctx, write)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	for _, r := range tokenRows(t, s.DB) {
		require.Equal(t, k2.ID, *r.AccessKeyID)
		require.Equal(t, k2.ID, *r.RefreshKey)
		require.Equal(t, k2.ID, *r.PrevKey)
	}
	only2 := vault.NewKeyRing(k2)
	for _, id := range ids {
		tok, err := loadTokens(s.DB, only2, f.tenant, id)
		require.NoError(t, err)
		require.Equal(t, "new-"+id, tok.AccessToken, "the refresh must not be overwritten by the re-encryption")
		require.Equal(t, "new-rt-"+id, tok.RefreshToken)
		require.Equal(t, "old-rt-"+id, tok.PrevRefreshToken)
	}
	res, err := s.DB.Reencrypt(ctx, rotated, 3)
	require.NoError(t, err)
	require.Equal(t, db.ReencryptResult{}, res)
}

// A re-encryption ends only when no row of any table is left under an old
// key: a hook secret or a pending state another transaction held when its
// batch ran is picked up once released. (The pass counted only the
// connections it skipped, and reported "nothing left under older keys"
// with a hook secret still under the key the operator was about to
// remove.)
func TestReencryptWaitsForLockedChannelsAndStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	k1, k2 := newKey(t), newKey(t)
	old := vault.NewKeyRing(k1)
	f := newFixture(t, s.DB, "fake", "acct")
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		if _, err := tx.CreateState(ctx, old, db.NewState{State: "st", Provider: "fake", Verifier: "v", TTL: time.Hour}); err != nil {
			return err
		}
		return tx.InsertWatchChannel(ctx, old, db.WatchChannel{ConnectionID: f.conn, Provider: "fake", ChannelID: "hook",
			Target: "items", RouteKey: "hook:1", Secret: "s3cret"})
	}))
	// Another writer holds both rows (a watch pass storing the channel, a
	// callback spending the state) while the pass runs.
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	held, err := owner.Begin(ctx)
	require.NoError(t, err)
	for _, q := range []string{`SET LOCAL poblysh.system = on`, `SELECT 1 FROM watch_channels FOR UPDATE`, `SELECT 1 FROM oauth_states FOR UPDATE`} {
		_, err = held.Exec(ctx, q)
		require.NoError(t, err)
	}
	type result struct {
		r   db.ReencryptResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.DB.Reencrypt(ctx, vault.NewKeyRing(k2, k1), 200)
		done <- result{r, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("the pass ended while rows under the old key were held: %+v, %v", r.r, r.err)
	case <-time.After(time.Second):
	}
	require.NoError(t, held.Rollback(ctx))
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, 1, r.r.Channels)
	require.Equal(t, 1, r.r.States)

	var chKey, verifier string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		if err := tx.GetContext(ctx, &chKey, `SELECT secret_key_id FROM watch_channels`); err != nil {
			return err
		}
		return tx.GetContext(ctx, &verifier, `SELECT verifier_ct FROM oauth_states`)
	}))
	require.Equal(t, k2.ID, chKey)
	require.True(t, strings.HasPrefix(verifier, "pv1:"+k2.ID+":"), "the state is under the new key")
}
