package zohocliq

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/ingest"
)

// oldForm is s as versions before the sent-time keys stored it: keyed by
// the message id's key (the alias s now carries), with no alias; a mention
// dated by its entry id (its match key is its id's) was dated by its
// message's time, to the second.
func oldForm(t *testing.T, s connectors.Signal) connectors.Signal {
	t.Helper()
	if len(s.MatchKeys) > 0 {
		s.OccurredAt = s.OccurredAt.Truncate(time.Second)
	}
	if len(s.AliasKeys) > 0 {
		require.Len(t, s.AliasKeys, 1)
		s.DedupeKey = s.AliasKeys[0]
	}
	s.AliasKeys, s.MatchKeys = nil, nil
	return s
}

// Signals stored before the upgrade are keyed by the message id
// (msg:<chat>:<id>, mention:<chat>:<id>), with no alias; since the upgrade
// a message's key is its sent time and sender. Migration 0031 gives the
// stored Signals their new key as an alias, so a backfill that re-reads
// them after the upgrade (a reconnect keeping the old Signals, an expired
// cursor, a manual backfill) stores nothing again: each re-read message
// and mention is a duplicate, and the rows stay as they were. Before it,
// each was stored a second time. A mention with Zoho's float id (no
// milliseconds to read) gets the key of its time, to the second; the
// connector now keys it to the millisecond its entry id tells, and its
// match key, the id's key it was stored under, makes it a duplicate. A
// Signal stored without a sender, reactions and another provider's
// Signals get no alias.
func TestStoredBeforeUpgradeIsDuplicateAfterMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "cliq-upgrade", Name, "60040386526")
	var slack string
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "slack", ExternalAccountID: "T1", DisplayName: "T1"})
		slack = c.ID
		return err
	}))
	store := func(connID, source string, sigs []connectors.Signal) db.Stored {
		t.Helper()
		rows, err := ingest.Rows(sigs)
		require.NoError(t, err)
		var st db.Stored
		require.NoError(t, s.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
			st, err = tx.InsertSignals(ctx, connID, source, rows)
			return err
		}))
		return st
	}
	count := func() int {
		var n int
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals`)
		}))
		return n
	}
	aliases := func() []string {
		var out []string
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &out, `SELECT a.key || ' -> ' || s.dedupe_key
				FROM signal_aliases a JOIN signals s ON s.id = a.signal_id ORDER BY a.key`)
		}))
		return out
	}

	// A page of channel messages as polled now: two people's messages (one
	// a file) and three reactions; the bot's reminder yields nothing.
	const chat = "CT_1207124540483314854_20071845"
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(fixture(t, "messages_v2.json"), &page))
	w := where{Host: "https://cliq.zoho.eu", Chat: chat, ChatName: "#launch-room"}
	var polled []connectors.Signal
	for _, raw := range page.Data {
		var m message
		require.NoError(t, json.Unmarshal(raw, &m))
		if sig, ok := messageSignal(w, &m, raw); ok {
			polled = append(polled, sig)
		}
		for _, r := range m.reactions() {
			polled = append(polled, reactionSignal(w, &m, r, time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC), raw))
		}
	}
	require.Len(t, polled, 5)
	// The mentions stream's page as polled now: Zoho's own example, whose
	// second mention has a float message id.
	mentions := catalogExamples(t)
	require.Len(t, mentions, 2)
	require.Equal(t, "mention:CT_1796005539471668330_60002085329-T-1291572812797199199:1779778913508_60040376665", mentions[1].DedupeKey,
		"a float id has no milliseconds: the key takes the entry id's")
	require.Equal(t, []string{"mention:CT_1796005539471668330_60002085329-T-1291572812797199199:1.7797789135081024e+23"}, mentions[1].MatchKeys)
	// A message whose sender the earlier version did not read: its key is
	// its id's, then and now, while the sender is unknown.
	anon := json.RawMessage(`{"id": "1773813999000_51531973070", "time": 1773813999000, "type": "text", "content": {"text": "who sent this?"}}`)
	var am message
	require.NoError(t, json.Unmarshal(anon, &am))
	anonSig, ok := messageSignal(w, &am, anon)
	require.True(t, ok)
	require.Equal(t, "msg:"+chat+":1773813999000_51531973070", anonSig.DedupeKey)
	require.Empty(t, anonSig.AliasKeys)

	// Stored by the earlier version: keyed by the id, no alias.
	var old []connectors.Signal
	for _, sig := range append(append(append([]connectors.Signal{}, polled...), mentions...), anonSig) {
		o := oldForm(t, sig)
		if sig.Kind != "reaction.added" {
			require.Equal(t, map[string]string{"message.posted": "msg:", "mention.created": "mention:"}[sig.Kind]+
				sig.Payload.Context.ID+":"+sig.Payload.Subject.ID, o.DedupeKey, "the key the earlier version gave it")
		}
		old = append(old, o)
	}
	st := store(conn, Name, old)
	require.Len(t, st.Kinds, 8)
	// Another provider's Signal whose key looks like one of Cliq's.
	require.Len(t, store(slack, "slack", []connectors.Signal{oldForm(t, polled[1])}).Kinds, 1)
	rows := count()
	require.Equal(t, 9, rows)
	require.Empty(t, aliases())

	s.Replay(t, 31, "poblysh_app") // as a schema owner that is no superuser

	// The first mention's id is its time and its sender's id, so its key is
	// the one it was stored under: it needs no alias.
	want := []string{
		"zoho-cliq:mention:CT_1796005539471668330_60002085329-T-1291572812797199199:1779778913000_60040376665 -> zoho-cliq:mention:CT_1796005539471668330_60002085329-T-1291572812797199199:1.7797789135081024e+23",
		"zoho-cliq:msg:" + chat + ":1773813859592_60040396507 -> zoho-cliq:msg:" + chat + ":1773813859592_51531973059",
		"zoho-cliq:msg:" + chat + ":1773813901234_60040376665 -> zoho-cliq:msg:" + chat + ":1773813901234_51531973064",
	}
	require.Equal(t, want, aliases(), "each stored message and mention whose key changed has its new key as alias")

	// The backfill after the upgrade re-reads the page, the mentions and
	// the message without sender: every one is a duplicate.
	again := store(conn, Name, polled)
	require.Empty(t, again.Kinds, "a re-read message stored before the upgrade is not stored again")
	require.Equal(t, 5, again.Duplicates)
	again = store(conn, Name, mentions)
	require.Empty(t, again.Kinds, "a re-read mention stored before the upgrade is not stored again")
	require.Equal(t, 2, again.Duplicates)
	require.Equal(t, 1, store(conn, Name, []connectors.Signal{anonSig}).Duplicates)
	require.Equal(t, rows, count(), "no second copy")

	// Run again: nothing changes.
	s.Replay(t, 31, "poblysh_app") // as a schema owner that is no superuser
	require.Equal(t, want, aliases())
}

// An earlier version keyed a mention whose message id is a float (Zoho's
// mentions example) to its second, and of two by one sender in one second
// stored one: mention:<chat>:<second>_<sender>, with its id's key as alias
// (keyed by the id before 0031, with the new key as alias). Its cursor
// rests at that second. The next pass after the upgrade reads both again,
// keyed to the millisecond: the one stored is a duplicate (its id's key,
// which the stored Signal holds, is the new Signal's match key) and the
// one dropped before is stored. Without the match key the first was stored
// a second time under its new key.
func TestSameSecondMentionStoredBeforeUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "cliq-same-second", Name, "60040386526")
	store := storeAs(t, s, tenant, conn)
	const chat = "CT_1796005539471668330_60002085329"
	body := fixture(t, "mentions_float_ids.json")
	now := mentionsPage(t, body, nil).Signals
	require.Len(t, now, 3)

	// As the earlier version stored the first of Mark's two mentions (the
	// second had its key) and Scott's, whose key is unchanged.
	before := now[0]
	before.DedupeKey, before.MatchKeys = "mention:"+chat+":1779778913000_60040376665", nil
	require.Equal(t, []string{"mention:" + chat + ":1.7797789135081024e+23"}, before.AliasKeys)
	require.Len(t, store([]connectors.Signal{before, now[2]}).Kinds, 2)

	// The next pass, from the cursor the earlier version left.
	again := mentionsPage(t, body, json.RawMessage(`{"v":1,"hw":1779778913000,"hw_ids":["1.7797789135081024e+23","1.7797789134001011e+23"]}`))
	st := store(again.Signals)
	require.Equal(t, []string{"mention.created"}, st.Kinds, "the mention dropped before is stored")
	require.Equal(t, 1, st.Duplicates, "the mention stored before is not stored again")
	var keys []string
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &keys, `SELECT dedupe_key FROM signals ORDER BY dedupe_key`)
	}))
	require.Equal(t, []string{
		"zoho-cliq:mention:" + chat + ":1779778913000_60040376665",
		"zoho-cliq:mention:" + chat + ":1779778913000_60040396507",
		"zoho-cliq:mention:" + chat + ":1779778913109_60040376665",
	}, keys)

	// A backfill reads them all again: nothing new.
	st = store(now)
	require.Empty(t, st.Kinds)
	require.Equal(t, 3, st.Duplicates)
}

// Versions before 2026-12-07 took a reaction in Zoho's documented form,
// "timestamp:user_id:username", for a user id, and stored it keyed by the
// whole string. Read again since (the reaction window, a backfill), it is
// keyed by the user's id, and the key it was stored under is its match
// key: it is a duplicate. A user renamed since is read with another
// string: the reaction is stored once more, under the right key.
func TestZohoFormReactionStoredBeforeUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "cliq-reaction-form", Name, "60040386526")
	store := storeAs(t, s, tenant, conn)
	w := where{Host: "https://cliq.zoho.eu", Chat: "CT_1207124540483314854_20071845", ChatName: "#launch-room"}
	seen := time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC)
	read := func(reactions string) []connectors.Signal {
		m := message{ID: "1710152600000_51531973080", Time: "1710152600000", Sender: person{ID: "60040396507", Name: "Priya Raman"},
			Reactions: json.RawMessage(reactions)}
		var out []connectors.Signal
		for _, r := range m.reactions() {
			out = append(out, reactionSignal(w, &m, r, seen, json.RawMessage(`{}`)))
		}
		return out
	}
	const page = `{"😍": ["1710152648241:802515329:Diana", "1710152690025:784333365:Celeste Liane"]}`
	now := read(page)
	require.Len(t, now, 2)

	// As the earlier version stored them: keyed by the whole string, which
	// it took for the user's id, with no name, at the poll's time.
	var old []connectors.Signal
	for _, sig := range now {
		o := sig
		o.DedupeKey, o.MatchKeys, o.OccurredAt = sig.MatchKeys[0], nil, seen
		o.Payload.Actor = connectors.Actor{ID: strings.TrimPrefix(sig.MatchKeys[0], "reaction:"+w.Chat+":1710152600000_51531973080:😍:")}
		old = append(old, o)
	}
	require.Equal(t, "1710152648241:802515329:Diana", old[1].Payload.Actor.ID)
	require.Len(t, store(old).Kinds, 2)

	st := store(now)
	require.Empty(t, st.Kinds, "a reaction stored before the upgrade is not stored again")
	require.Equal(t, 2, st.Duplicates)

	// Celeste was renamed since: her reaction is stored once more, under
	// the key that names her by id.
	st = store(read(`{"😍": ["1710152648241:802515329:Diana", "1710152690025:784333365:Celeste Liane-Okafor"]}`))
	require.Equal(t, []string{"reaction.added"}, st.Kinds)
	require.Equal(t, 1, st.Duplicates)
	var keys []string
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &keys, `SELECT dedupe_key FROM signals ORDER BY dedupe_key`)
	}))
	require.Equal(t, []string{
		"zoho-cliq:reaction:" + w.Chat + ":1710152600000_51531973080:😍:1710152648241:802515329:Diana",
		"zoho-cliq:reaction:" + w.Chat + ":1710152600000_51531973080:😍:1710152690025:784333365:Celeste Liane",
		"zoho-cliq:reaction:" + w.Chat + ":1710152600000_51531973080:😍:784333365",
	}, keys)
	st = store(read(`{"😍": ["1710152690025:784333365:Celeste Liane-Okafor"]}`))
	require.Empty(t, st.Kinds, "and once only")
}

// storeAs stores Signals for conn as the intake and sync pages do
// (ingest.Rows, then InsertSignals), returning what was stored.
func storeAs(t *testing.T, s *dbtest.Schema, tenant, conn string) func([]connectors.Signal) db.Stored {
	return func(sigs []connectors.Signal) db.Stored {
		t.Helper()
		rows, err := ingest.Rows(sigs)
		require.NoError(t, err)
		var st db.Stored
		require.NoError(t, s.DB.WithTenantSignals(context.Background(), tenant, func(tx *db.Tx) error {
			st, err = tx.InsertSignals(context.Background(), conn, Name, rows)
			return err
		}))
		return st
	}
}
