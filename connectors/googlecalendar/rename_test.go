package googlecalendar_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// renamed is the address a Workspace admin renames the sandbox's user to.
const renamed = "ada.byron@example.com"

// reauthorize renames the sandbox's user to address (the account, its
// subject, its grant and its calendar stay; id_tokens name the new
// address), runs the OAuth flow again, and stores what the callback
// stores over the harness's account: what the connector keeps of it
// (connectors.AccountKeeper) with the account Identify reads.
func (h *harness) reauthorize(t *testing.T, address string) {
	t.Helper()
	require.NoError(t, h.sb.OAuth.Rename(h.sb.User(), address))
	tok, auth := connect(t, h)
	fresh, err := auth.Identify(context.Background(), tok, http.DefaultClient)
	require.NoError(t, err)
	require.Equal(t, h.conn.Account.ID, fresh.ID, "the same account: the subject never changes")
	require.Equal(t, address, fresh.Metadata["email"])
	h.conn.Account = connectors.KeepAccount(h.prov.Connector, h.conn.Account, fresh)
}

// TestEditAfterRenameIsAnUpdate: after a rename and a re-authorization,
// an edit of an event the connection stored is calendar_event.updated at
// the edit, under the keys stored before; it was a calendar_event.created
// dated at the event's creation (keyed by the new address, its fingerprint
// missed), which GET /signals?since= never showed. The payload names the
// calendar by its address now.
func TestEditAfterRenameIsAnUpdate(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	_, resting, _ := h.drain(t, primaryStream, nil)
	h.reauthorize(t, renamed)
	require.Equal(t, map[string]string{"email": renamed, "calendar_key": gcalsandbox.DefaultUser}, h.conn.Account.Metadata)

	_, _, err := h.sb.UpdateEvent(context.Background(), "primary", "q3roadmapreview0a1b2c3d4e", gcalsandbox.EventInput{Location: "Room 101"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _, _ := h.drain(t, primaryStream, resting)
	require.Len(t, sigs, 1)
	require.Equal(t, "calendar_event.updated", sigs[0].Kind, "an edit of a known event: %s", sigs[0].DedupeKey)
	require.True(t, strings.HasPrefix(sigs[0].DedupeKey, "event:"+gcalsandbox.DefaultUser+":q3roadmapreview0a1b2c3d4e:updated:"), sigs[0].DedupeKey)
	require.Equal(t, renamed, sigs[0].Payload.Context.ID, "the calendar as Google names it now")
	require.Equal(t, renamed, sigs[0].Payload.Attributes["calendar_id"])
}

// TestResyncAfterRenameStoresNothing: a full sync after a rename and a
// re-authorization (a 410, the backfill a re-authorization starts, a
// manual one) derives the keys stored before, so an unchanged calendar
// stores nothing again; it stored the whole window again under the new
// address. A second rename, and one back to the first address, keep
// them too.
func TestResyncAfterRenameStoresNothing(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	first, resting, _ := h.drain(t, primaryStream, nil)
	require.Len(t, first, gcalsandbox.PrimarySignals)
	for _, to := range []string{renamed, "a.lovelace@example.com", gcalsandbox.DefaultUser} {
		h.reauthorize(t, to)
		h.sb.ExpireSyncTokens()
		_, err := h.fetch(t, primaryStream, resting)
		require.ErrorIs(t, err, connectors.ErrCursorExpired)
		fresh := newMemory() // nothing remembered: every key is derived again
		mem := h.mem
		h.mem = fresh
		again, _, _ := h.drain(t, primaryStream, nil)
		require.Equal(t, dedupeKeys(first), dedupeKeys(again), "renamed to %s: the keys stored before", to)
		h.mem = mem
		var derived []connectors.Signal
		derived, resting, _ = h.drain(t, primaryStream, nil)
		require.Empty(t, derived, "renamed to %s: the fingerprints are found, nothing is derived", to)
	}
	require.Equal(t, map[string]string{"email": gcalsandbox.DefaultUser}, h.conn.Account.Metadata, "renamed back: the keys name the address again")
}

// TestKeepAccount: what a re-authorization stores of the account.
func TestKeepAccount(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{}, nil)
	keeper := h.prov.Connector.(connectors.AccountKeeper)
	acct := func(id string, md ...string) connectors.Account {
		a := connectors.Account{ID: id, Name: "Ada"}
		if len(md) > 0 {
			a.Metadata = map[string]string{}
		}
		for i := 0; i+1 < len(md); i += 2 {
			a.Metadata[md[i]] = md[i+1]
		}
		return a
	}
	for _, c := range []struct {
		name                string
		stored, fresh, want connectors.Account
	}{
		{"same address",
			acct("42", "email", "ada@x.example", "hd", "x.example"), acct("42", "email", "ada@x.example", "hd", "x.example"),
			acct("42", "email", "ada@x.example", "hd", "x.example")},
		{"renamed: the stored address keys the calendar",
			acct("42", "email", "ada@x.example"), acct("42", "email", "ada.byron@x.example", "hd", "x.example"),
			acct("42", "email", "ada.byron@x.example", "hd", "x.example", "calendar_key", "ada@x.example")},
		{"renamed again: the first address still does",
			acct("42", "email", "ada.byron@x.example", "calendar_key", "ada@x.example"), acct("42", "email", "a.l@x.example"),
			acct("42", "email", "a.l@x.example", "calendar_key", "ada@x.example")},
		{"renamed back: no key of its own",
			acct("42", "email", "ada.byron@x.example", "calendar_key", "ada@x.example"), acct("42", "email", "ada@x.example"),
			acct("42", "email", "ada@x.example")},
		{"stored before accounts were keyed by subject: the id was the address",
			acct("ada@x.example"), acct("ada@x.example", "email", "ada.byron@x.example"),
			acct("ada@x.example", "email", "ada.byron@x.example", "calendar_key", "ada@x.example")},
		{"Identify never sets the key",
			acct("42", "email", "ada@x.example"), acct("42", "email", "ada@x.example", "calendar_key", "eve@x.example"),
			acct("42", "email", "ada@x.example")},
	} {
		t.Run(c.name, func(t *testing.T) {
			freshMD := map[string]string{}
			for k, v := range c.fresh.Metadata {
				freshMD[k] = v
			}
			require.Equal(t, c.want, keeper.KeepAccount(c.stored, c.fresh))
			require.Equal(t, freshMD, c.fresh.Metadata, "fresh is not changed in place")
		})
	}
}
