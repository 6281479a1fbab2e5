package zohomail

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// A press thread is described by its first qualifying message, whether a
// backfill finds the whole thread at once (reading newest first, over
// pages) or incremental passes find it message by message, as Gmail
// records it (threads.get, the first qualifying message).
func TestPressThreadIsItsFirstMessageInBackfill(t *testing.T) {
	t.Parallel()
	jane := zohosandbox.Address{Name: "Jane Doe", Email: "jane.doe@reuters.com"}
	ada := []zohosandbox.Address{{Email: "ada@zylker.eu"}}
	now := time.Now()
	const subject = "Request for comment: Zylker layoffs"
	// thread adds the inquiry and two replies an hour apart, with other mail
	// between them, so that a page of 2 holds no two of its messages.
	thread := func(t *testing.T, f *fake, upto int) string {
		t.Helper()
		first, err := f.sb.AddMail(zohosandbox.MailInput{From: jane, To: ada, Subject: subject, At: now.Add(-5 * time.Hour)})
		require.NoError(t, err)
		for i := 1; i < upto; i++ {
			_, err := f.sb.AddMail(zohosandbox.MailInput{From: zohosandbox.Address{Email: fmt.Sprintf("colleague%d@zylker.eu", i)}, To: ada,
				Subject: "Lunch?", At: now.Add(time.Duration(i*2-5)*time.Hour - 30*time.Minute)})
			require.NoError(t, err)
			_, err = f.sb.AddMail(zohosandbox.MailInput{From: jane, To: ada, Subject: "Re: " + subject, ReplyTo: first.ID,
				At: now.Add(time.Duration(i*2-5) * time.Hour)})
			require.NoError(t, err)
		}
		return first.ID
	}
	press := func(t *testing.T, sigs []connectors.Signal) []connectors.Signal {
		var out []connectors.Signal
		for _, s := range sigs {
			if s.Kind == "email.press_thread" {
				out = append(out, s)
			}
		}
		return out
	}

	// Backfill: the whole thread is in the Inbox, over several pages.
	f := newFake(t, zohosandbox.Options{}, map[string]string{"POBLYSH_ZOHO_MAIL_PAGE_SIZE": "2"})
	firstID := thread(t, f, 3)
	conn, tok := f.connect(t, nil)
	sigs, _ := f.drain(t, conn, f.client(tok.AccessToken), streamInbox, nil)
	backfill := press(t, sigs)
	require.Len(t, backfill, 1, "one press thread")
	got := backfill[0]
	require.Equal(t, firstID, got.Payload.Attributes["message_id"], "the thread's first qualifying message")
	require.Equal(t, subject, got.Payload.Attributes["subject"])
	require.Equal(t, "press:"+firstID, got.DedupeKey)

	// Incremental: the inquiry arrives alone, the replies in later passes.
	g := newFake(t, zohosandbox.Options{}, map[string]string{"POBLYSH_ZOHO_MAIL_PAGE_SIZE": "2"})
	gConn, gTok := g.connect(t, nil)
	hc := g.client(gTok.AccessToken)
	gFirst := thread(t, g, 1)
	sigs, next := g.drain(t, gConn, hc, streamInbox, nil)
	incremental := press(t, sigs)
	_, err := g.sb.AddMail(zohosandbox.MailInput{From: jane, To: ada, Subject: "Re: " + subject, ReplyTo: gFirst, At: now.Add(-time.Minute)})
	require.NoError(t, err)
	sigs, _ = g.drain(t, gConn, hc, streamInbox, next)
	incremental = append(incremental, press(t, sigs)...)
	require.Len(t, incremental, 1)
	want := incremental[0]

	require.Equal(t, want.OccurredAt.UnixMilli(), got.OccurredAt.UnixMilli(), "occurred_at is the first message's")
	require.Equal(t, want.Payload.Title, got.Payload.Title)
	for _, k := range []string{"subject", "from", "direction"} {
		require.Equal(t, want.Payload.Attributes[k], got.Payload.Attributes[k], k)
	}
	require.Contains(t, got.Payload.URL, firstID, "the URL opens the first message")
	require.NoError(t, connectors.ValidateSignal(Spec, got))
}
