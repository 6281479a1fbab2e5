package gmail_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

// lovelace is the address a Workspace admin renames the sandbox's user to.
const lovelace = "ada.lovelace@example.com"

// reauthorize renames the sandbox's user to address (the account, its
// subject, its grant and its mailbox stay; the old address is an alias;
// id_tokens name the new one), runs the OAuth flow again, and stores over
// the harness's account what the callback stores: what the connector
// keeps of it (connectors.AccountKeeper) with the account Identify reads,
// or that account alone for a connector that keeps nothing.
func (h *harness) reauthorize(t *testing.T, address string) {
	t.Helper()
	require.NoError(t, h.sb.RenameUser("", address))
	auth := h.prov.Connector.(connectors.Authorizer)
	tok := connectFlow(t, h, auth.OAuth2Config("https://poblysh.example/api/v1/connect/gmail/callback"))
	fresh, err := auth.Identify(context.Background(), tok, http.DefaultClient)
	require.NoError(t, err)
	require.Equal(t, h.conn.Account.ID, fresh.ID, "the same account: the subject never changes")
	require.Equal(t, address, fresh.Metadata["email"])
	h.conn.Account = connectors.KeepAccount(h.prov.Connector, h.conn.Account, fresh)
	h.tok = tok.AccessToken
}

// shownAs checks that sigs name the mailbox by address (context, thread
// URL, the actor of sent mail): the address Gmail answers now.
func shownAs(t *testing.T, sigs []connectors.Signal, address string) {
	t.Helper()
	require.NotEmpty(t, sigs)
	for _, s := range sigs {
		require.Equal(t, connectors.Ref{Type: "mailbox", ID: address, Name: address}, s.Payload.Context, s.DedupeKey)
		require.True(t, strings.HasPrefix(s.Payload.URL, "https://mail.google.com/mail/?authuser="+url.QueryEscape(address)+"#"), s.Payload.URL)
		if s.Payload.Attributes["direction"] == "outbound" {
			require.Equal(t, address, s.Payload.Actor.Email, s.DedupeKey)
		}
	}
}

// TestBackfillAfterRenameStoresNothing: a Workspace admin renames the
// user; the re-authorization heals the connection in place with the new
// address and starts a backfill (cursors cleared), which derives the keys
// stored before, so it stores nothing again. They named the new address:
// the whole window was stored a second time (every message received or
// sent again, every thread started again, every press thread again). A
// second rename, and one back to the first address, keep them too; the
// Signals name the mailbox by its address now.
func TestBackfillAfterRenameStoresNothing(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{Seed: true, PageSize: 2}, `{}`, nil)
	inbox, _ := h.drain(t, "label:INBOX", nil)
	sent, _ := h.drain(t, "label:SENT", nil)
	require.Len(t, inbox, gmailsandbox.InboxSignals)
	require.Len(t, sent, gmailsandbox.SentSignals)
	for _, to := range []string{lovelace, "a.lovelace@example.com", me} {
		h.reauthorize(t, to)
		againInbox, _ := h.drain(t, "label:INBOX", nil)
		againSent, _ := h.drain(t, "label:SENT", nil)
		require.Equal(t, keys(inbox), keys(againInbox), "renamed to %s: the keys stored before", to)
		require.Equal(t, keys(sent), keys(againSent), "renamed to %s: the keys stored before", to)
		shownAs(t, append(againInbox, againSent...), to)
	}
	require.Equal(t, map[string]string{"email": me}, h.conn.Account.Metadata, "renamed back: the keys name the address again")
}

// TestExpiredHistoryAfterRenameStoresOnlyTheNew: after a rename and a
// re-authorization, a history id too old starts a backfill from where the
// cursor stood; it derives the keys stored before, and the mail that
// arrived since is keyed the same way (by the address first connected)
// and shown under the address now.
func TestExpiredHistoryAfterRenameStoresOnlyTheNew(t *testing.T) {
	i := newIncremental(t, `{}`)
	before, _ := i.drain(t, "label:INBOX", nil)
	i.reauthorize(t, lovelace)
	m, _, err := i.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "pat@partner.example", To: lovelace, Subject: "After the rename"}, now0)
	require.NoError(t, err)
	i.sb.ExpireHistory("")
	after := i.sync(t, "label:INBOX")
	want := keys(before)
	want["msg:"+me+":"+m.ID+":received"] = "email.received"
	want["thread:"+me+":"+m.ID+":started"] = "email.thread_started"
	require.Equal(t, want, keys(after), "the window again under the keys stored before, and the new mail")
	shownAs(t, after, lovelace)
}

// TestReplyAfterRenameFindsItsThread: a reply, read after a rename and a
// re-authorization, in a thread whose start the connection stored before
// finds that start (no threads.get, no Signal); it was looked up under the
// new address, missed, and the thread was started a second time.
func TestReplyAfterRenameFindsItsThread(t *testing.T) {
	i := newIncremental(t, `{}`)
	ctx := context.Background()
	mem := newMemory()
	pat := "Pat <pat@partner.example>"
	known, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: pat, To: me, Subject: "Known"}, now0)
	require.NoError(t, err)
	_, reads := i.syncWith(t, "label:INBOX", mem)
	require.Zero(t, reads)

	i.reauthorize(t, lovelace)
	reply, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{ThreadID: known.ID, From: pat, To: lovelace, Subject: "Re: Known"}, now0)
	require.NoError(t, err)
	sigs, reads := i.syncWith(t, "label:INBOX", mem)
	require.Equal(t, map[string]string{"msg:" + me + ":" + reply.ID + ":received": "email.received"}, keys(sigs),
		"the reply only: its thread's start is stored")
	require.Zero(t, reads, "the stored start is found: no thread is read")
	shownAs(t, sigs, lovelace)
}

// TestKeepAccount: what a re-authorization stores of the account.
func TestKeepAccount(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{}, `{}`, nil)
	keeper, ok := h.prov.Connector.(connectors.AccountKeeper)
	require.True(t, ok, "Gmail keeps the mailbox's key across a rename")
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
		{"the same address in other case: keys are lower case",
			acct("42", "email", "Ada@X.example"), acct("42", "email", "ada@x.example"),
			acct("42", "email", "ada@x.example")},
		{"renamed: the stored address keys the mailbox",
			acct("42", "email", "Ada@x.example"), acct("42", "email", "ada.byron@x.example", "hd", "x.example"),
			acct("42", "email", "ada.byron@x.example", "hd", "x.example", "mailbox_key", "ada@x.example")},
		{"renamed again: the first address still does",
			acct("42", "email", "ada.byron@x.example", "mailbox_key", "ada@x.example"), acct("42", "email", "a.l@x.example"),
			acct("42", "email", "a.l@x.example", "mailbox_key", "ada@x.example")},
		{"renamed back: no key of its own",
			acct("42", "email", "ada.byron@x.example", "mailbox_key", "ada@x.example"), acct("42", "email", "ADA@x.example"),
			acct("42", "email", "ADA@x.example")},
		{"stored before accounts were keyed by subject: the id was the address",
			acct("ada@x.example"), acct("ada@x.example", "email", "ada.byron@x.example"),
			acct("ada@x.example", "email", "ada.byron@x.example", "mailbox_key", "ada@x.example")},
		{"stored without an address: nothing to keep",
			acct("42"), acct("42", "email", "ada.byron@x.example"),
			acct("42", "email", "ada.byron@x.example")},
		{"Identify never sets the key",
			acct("42", "email", "ada@x.example"), acct("42", "email", "ada@x.example", "mailbox_key", "eve@x.example"),
			acct("42", "email", "ada@x.example")},
		{"Calendar's key is not Gmail's",
			acct("42", "email", "ada@x.example", "calendar_key", "old@x.example"), acct("42", "email", "ada@x.example"),
			acct("42", "email", "ada@x.example")},
	} {
		t.Run(c.name, func(t *testing.T) {
			freshMD := map[string]string{}
			for k, v := range c.fresh.Metadata {
				freshMD[k] = v
			}
			require.Equal(t, c.want, keeper.KeepAccount(c.stored, c.fresh))
			if c.fresh.Metadata != nil {
				require.Equal(t, freshMD, c.fresh.Metadata, "fresh is not changed in place")
			}
		})
	}
}
