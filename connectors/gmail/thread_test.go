package gmail_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

// TestThreadStartedByItsFirstMessage: INBOX and SENT are separate streams
// with no fixed order. The user writes, the partner replies before the
// next pass, and the INBOX stream runs first: the thread's start is the
// user's message, as the SENT stream derives it, not the reply. It was
// built from the reply ("New thread: Re: …", the partner as actor,
// inbound), and the store kept it.
func TestThreadStartedByItsFirstMessage(t *testing.T) {
	i := newIncremental(t, `{}`)
	ctx := context.Background()
	first, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: me, To: "Pat <pat@partner.example>", Subject: "Co-marketing?"}, now0)
	require.NoError(t, err)
	_, _, err = i.sb.AddMessage(ctx, gmailsandbox.MessageInput{ThreadID: first.ID, From: "Pat <pat@partner.example>", To: me, Subject: "Re: Co-marketing?"}, now0)
	require.NoError(t, err)
	key := "thread:" + me + ":" + first.ID + ":started"
	started := find(t, i.sync(t, "label:INBOX"), key)
	require.Equal(t, first.ID, started.Payload.Attributes["message_id"])
	require.Equal(t, "New thread: Co-marketing?", started.Payload.Title)
	require.Equal(t, "outbound", started.Payload.Attributes["direction"])
	require.Equal(t, me, started.Payload.Actor.ID)

	fromSent := find(t, i.sync(t, "label:SENT"), key)
	require.Equal(t, fromSent, started, "the same Signal whichever stream reads the thread first")
}

// TestReplyStartsAThreadItsStreamsNeverRead: a reply in a thread whose
// first message no stream of the connection reads (older than the
// backfill window, or under no followed label) starts the thread for the
// connection, dated when it arrived.
func TestReplyStartsAThreadItsStreamsNeverRead(t *testing.T) {
	ctx := context.Background()
	t.Run("before the window", func(t *testing.T) {
		i := newIncremental(t, `{}`)
		reply, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{ThreadID: gmailsandbox.OldID, From: "Pat <pat@partner.example>", To: me,
			Subject: "Re: Q2 recap"}, now0)
		require.NoError(t, err)
		started := find(t, i.sync(t, "label:INBOX"), "thread:"+me+":"+gmailsandbox.OldID+":started")
		require.Equal(t, reply.ID, started.Payload.Attributes["message_id"], "the 45-day-old start was never read")
		require.WithinDuration(t, time.Now(), started.OccurredAt, time.Minute)
	})
	t.Run("under no followed label", func(t *testing.T) {
		i := newIncremental(t, `{"labels": ["INBOX"]}`)
		first, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: me, To: "Pat <pat@partner.example>", Subject: "Co-marketing?"}, now0)
		require.NoError(t, err)
		reply, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{ThreadID: first.ID, From: "Pat <pat@partner.example>", To: me, Subject: "Re: Co-marketing?"}, now0)
		require.NoError(t, err)
		started := find(t, i.sync(t, "label:INBOX"), "thread:"+me+":"+first.ID+":started")
		require.Equal(t, reply.ID, started.Payload.Attributes["message_id"], "SENT is not followed")
		require.Equal(t, "inbound", started.Payload.Attributes["direction"])
	})
}

// TestThreadStartReadsEachThreadOnce: the start of a reply's thread costs
// one threads.get (10 quota units) per thread and pass, shared with its
// press Signal, and none when the connection stored the start.
func TestThreadStartReadsEachThreadOnce(t *testing.T) {
	i := newIncremental(t, `{}`)
	ctx := context.Background()
	mem := newMemory()
	add := func(in gmailsandbox.MessageInput) gmailsandbox.Message {
		m, _, err := i.sb.AddMessage(ctx, in, now0)
		require.NoError(t, err)
		return m
	}
	pat := "Pat <pat@partner.example>"
	known := add(gmailsandbox.MessageInput{From: pat, To: me, Subject: "Known"})
	_, reads := i.syncWith(t, "label:INBOX", mem)
	require.Zero(t, reads, "a thread's first message reads no thread")

	add(gmailsandbox.MessageInput{ThreadID: known.ID, From: pat, To: me, Subject: "Re: Known"})
	first := add(gmailsandbox.MessageInput{From: me, To: pat, Subject: "New"})
	add(gmailsandbox.MessageInput{ThreadID: first.ID, From: pat, To: me, Subject: "Re: New"})
	add(gmailsandbox.MessageInput{ThreadID: first.ID, From: pat, To: me, Subject: "Re: New (2)"})
	kim := "Kim Lee <kim.lee@nytimes.com>"
	press := add(gmailsandbox.MessageInput{From: me, To: kim, Subject: "Launch briefing"})
	add(gmailsandbox.MessageInput{ThreadID: press.ID, From: kim, To: me, Subject: "Re: Launch briefing"})
	sigs, reads := i.syncWith(t, "label:INBOX", mem)
	require.Equal(t, 2, reads, "the new thread once for two replies, the press thread once for its start and press Signal; none for the stored start")
	require.Equal(t, first.ID, find(t, sigs, "thread:"+me+":"+first.ID+":started").Payload.Attributes["message_id"])
	require.Equal(t, press.ID, find(t, sigs, "thread:"+me+":"+press.ID+":started").Payload.Attributes["message_id"])
	find(t, sigs, "thread:"+me+":"+press.ID+":press")
	require.NotContains(t, keys(sigs), "thread:"+me+":"+known.ID+":started", "stored: not derived again")
}

// memory is connectors.Memory the way the engine keeps Signals: stored
// once per dedupe key.
type memory struct{ sigs map[string]connectors.Payload }

func newMemory() *memory { return &memory{sigs: map[string]connectors.Payload{}} }

func (m *memory) Fingerprints(context.Context, []string) (map[string]connectors.Fingerprint, error) {
	return map[string]connectors.Fingerprint{}, nil
}

func (m *memory) Signals(_ context.Context, keys []string) (map[string]connectors.Payload, error) {
	out := map[string]connectors.Payload{}
	for _, k := range keys {
		if p, ok := m.sigs[k]; ok {
			out[k] = p
		}
	}
	return out, nil
}

// countThreads counts the threads.get calls that pass through it.
type countThreads struct {
	next http.RoundTripper
	n    *int
}

func (c countThreads) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/threads/") {
		*c.n++
	}
	return c.next.RoundTrip(r)
}

// syncWith runs a stream to rest from its cursor with mem as the
// connection's memory, storing its Signals there, and counts its
// threads.get calls.
func (i *incremental) syncWith(t *testing.T, stream string, mem *memory) ([]connectors.Signal, int) {
	t.Helper()
	reads := 0
	hc := *i.client()
	hc.Transport = countThreads{next: hc.Transport, n: &reads}
	var all []connectors.Signal
	for range 100 {
		p, err := i.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
			Connection: i.conn, Stream: stream, Cursor: i.cursors[stream], HTTP: &hc, Now: time.Now(), Memory: mem,
		})
		require.NoError(t, err)
		for _, s := range p.Signals {
			if _, dup := mem.sigs[s.DedupeKey]; !dup {
				mem.sigs[s.DedupeKey] = s.Payload
			}
		}
		all = append(all, p.Signals...)
		i.cursors[stream] = p.Next
		if p.Done {
			return all, reads
		}
	}
	t.Fatal("stream did not finish")
	return nil, 0
}
