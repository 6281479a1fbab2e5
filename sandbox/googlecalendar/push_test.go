package gcalsandbox_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

func (f *fixture) watchChannel(t *testing.T, calendar, id, address string, params map[string]string) map[string]any {
	t.Helper()
	code, body, _ := f.do(t, http.MethodPost, "/calendar/v3/calendars/"+calendar+"/events/watch", map[string]any{
		"id": id, "type": "web_hook", "address": address, "token": "tok-" + id, "params": params,
	})
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	f.sb.Close() // the sync notification is sent in the background
	return body
}

// TestGeneratedCalendarsCannotBeWatched: a holiday calendar is read like
// any other, but events.watch on it answers Google's 400.
func TestGeneratedCalendarsCannotBeWatched(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	f.sb.AddCalendar(gcalsandbox.HolidayCalendarID, "Holidays in United States", "")
	_, address := newInbox(t)
	cal := url.PathEscape(gcalsandbox.HolidayCalendarID)
	code, body, _ := f.do(t, http.MethodGet, "/calendar/v3/calendars/"+cal+"/events?maxResults=1", nil)
	require.Equal(t, http.StatusOK, code, "readable: %v", body)
	code, body, _ = f.do(t, http.MethodPost, "/calendar/v3/calendars/"+cal+"/events/watch", map[string]any{
		"id": "chan-h", "type": "web_hook", "address": address, "token": "tok",
	})
	require.Equal(t, http.StatusBadRequest, code)
	e := body["error"].(map[string]any)
	require.Equal(t, "Push notifications are not supported by this resource.", e["message"])
	require.Equal(t, gcalsandbox.ReasonPushNotSupported, e["errors"].([]any)[0].(map[string]any)["reason"])
	require.Empty(t, f.sb.Channels())
}

func TestWatchSendsSyncThenChanges(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	in, address := newInbox(t)
	before := time.Now()
	ch := f.watchChannel(t, "primary", "chan-1", address, map[string]string{"ttl": "3600"})
	require.Equal(t, "api#channel", ch["kind"])
	require.Equal(t, "chan-1", ch["id"])
	require.Equal(t, "tok-chan-1", ch["token"])
	require.NotEmpty(t, ch["resourceId"])
	require.Contains(t, ch["resourceUri"], "/calendar/v3/calendars/"+f.sb.User()+"/events")
	ms, err := strconv.ParseInt(ch["expiration"].(string), 10, 64)
	require.NoError(t, err, "expiration is an int64 sent as a string")
	require.WithinDuration(t, before.Add(time.Hour), time.UnixMilli(ms), 5*time.Second)

	hdrs, bodies := in.got()
	require.Len(t, hdrs, 1)
	h := hdrs[0]
	require.Equal(t, 0, bodies[0], "no body")
	require.Equal(t, "chan-1", h.Get("X-Goog-Channel-ID"))
	require.Equal(t, "tok-chan-1", h.Get("X-Goog-Channel-Token"))
	require.Equal(t, "sync", h.Get("X-Goog-Resource-State"))
	require.Equal(t, "1", h.Get("X-Goog-Message-Number"))
	require.Equal(t, ch["resourceId"], h.Get("X-Goog-Resource-ID"))
	require.Equal(t, ch["resourceUri"], h.Get("X-Goog-Resource-URI"))
	exp, err := http.ParseTime(h.Get("X-Goog-Channel-Expiration"))
	require.NoError(t, err, "RFC 1123 expiration")
	require.WithinDuration(t, time.UnixMilli(ms), exp, time.Second)

	// A change: message 2. Copies: message 3 twice. Held: nothing until flush.
	code, res, _ := f.do(t, http.MethodPost, "/_sandbox/calendar/calendars/primary/events", map[string]any{"summary": "Briefing"})
	require.Equal(t, http.StatusCreated, code)
	require.Len(t, res["notifications"], 1)
	code, _, _ = f.do(t, http.MethodPatch, "/_sandbox/calendar/calendars/primary/events/q3roadmapreview0a1b2c3d4e?copies=2", map[string]any{"summary": "Roadmap review"})
	require.Equal(t, http.StatusOK, code)
	for _, id := range []string{"pressbrief7k2m4n6p8r0t2v4", "focusblock5e7g9i1k3m5o7q9s"} {
		code, res, _ = f.do(t, http.MethodPost, "/_sandbox/calendar/calendars/primary/events/"+id+"/cancel?hold=true", nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, true, res["notifications"].([]any)[0].(map[string]any)["held"])
	}
	hdrs, _ = in.got()
	var numbers []string
	for _, h := range hdrs[1:] {
		require.Equal(t, "exists", h.Get("X-Goog-Resource-State"))
		numbers = append(numbers, h.Get("X-Goog-Message-Number"))
	}
	require.Equal(t, []string{"2", "3", "3"}, numbers)

	code, _, _ = f.do(t, http.MethodPost, "/_sandbox/flush", nil)
	require.Equal(t, http.StatusOK, code)
	hdrs, _ = in.got()
	require.Len(t, hdrs, 6)
	require.Equal(t, "5", hdrs[4].Get("X-Goog-Message-Number"), "held deliveries flush newest first")
	require.Equal(t, "4", hdrs[5].Get("X-Goog-Message-Number"))

	// Another calendar's changes do not reach this channel.
	_, _, err = f.sb.CreateEvent(context.Background(), gcalsandbox.TeamCalendarID, gcalsandbox.EventInput{Summary: "x"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	hdrs, _ = in.got()
	require.Len(t, hdrs, 6)

	code, list, _ := f.do(t, http.MethodGet, "/_sandbox/calendar/channels", nil)
	require.Equal(t, http.StatusOK, code)
	c := list["channels"].([]any)[0].(map[string]any)
	require.Equal(t, "chan-1", c["id"])
	require.EqualValues(t, 5, c["last_message"])
	require.NotContains(t, c, "token", "the channel token is the service's secret")
}

func TestWatchRules(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	_, address := newInbox(t)
	ch := f.watchChannel(t, "primary", "chan-a", address, map[string]string{"ttl": strconv.Itoa(30 * 24 * 3600)})
	ms, _ := strconv.ParseInt(ch["expiration"].(string), 10, 64)
	require.WithinDuration(t, time.Now().Add(gcalsandbox.MaxChannelTTL), time.UnixMilli(ms), 5*time.Second, "long lifetimes are capped")

	for name, body := range map[string]map[string]any{
		"duplicate id":   {"id": "chan-a", "type": "web_hook", "address": address},
		"bad id":         {"id": "has spaces", "type": "web_hook", "address": address},
		"bad type":       {"id": "chan-b", "type": "email", "address": address},
		"no address URL": {"id": "chan-c", "type": "web_hook", "address": "mailto:x"},
	} {
		code, _, _ := f.do(t, http.MethodPost, "/calendar/v3/calendars/primary/events/watch", body)
		require.Equal(t, http.StatusBadRequest, code, name)
	}
	code, _, _ := f.do(t, http.MethodPost, "/calendar/v3/calendars/missing@example.com/events/watch",
		map[string]any{"id": "chan-d", "type": "web_hook", "address": address})
	require.Equal(t, http.StatusNotFound, code)
}

func TestChannelStop(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	in, address := newInbox(t)
	ch := f.watchChannel(t, "primary", "chan-s", address, nil)

	code, _, _ := f.do(t, http.MethodPost, "/calendar/v3/channels/stop", map[string]any{"id": "chan-s", "resourceId": "wrong"})
	require.Equal(t, http.StatusNotFound, code, "resourceId must match")
	code, _, _ = f.do(t, http.MethodPost, "/calendar/v3/channels/stop", map[string]any{"id": "chan-s", "resourceId": ch["resourceId"]})
	require.Equal(t, http.StatusNoContent, code)
	code, _, _ = f.do(t, http.MethodPost, "/calendar/v3/channels/stop", map[string]any{"id": "chan-s", "resourceId": ch["resourceId"]})
	require.Equal(t, http.StatusNotFound, code, "already stopped")

	notes := f.sb.Notify(context.Background(), "primary", "exists", sandbox.DeliveryOptions{})
	require.Empty(t, notes, "stopped channels get nothing")
	hdrs, _ := in.got()
	require.Len(t, hdrs, 1, "only the sync message")
	require.True(t, f.sb.Channels()[0].Stopped)
}

func TestChannelsExpire(t *testing.T) {
	now := time.Date(2025, 1, 20, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	f := setup(t, gcalsandbox.Options{Seed: true, Now: clock})
	in, address := newInbox(t)
	f.watchChannel(t, "primary", "chan-e", address, map[string]string{"ttl": "60"})
	now = now.Add(2 * time.Minute)
	require.Empty(t, f.sb.Notify(context.Background(), "primary", "exists", sandbox.DeliveryOptions{}))
	require.False(t, f.sb.Channels()[0].Live)
	hdrs, _ := in.got()
	require.Len(t, hdrs, 1)
}

func TestControlErrors(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodPost, "/_sandbox/calendar/calendars/nobody@example.com/events", map[string]any{"summary": "x"}, http.StatusNotFound},
		{http.MethodPost, "/_sandbox/calendar/calendars/primary/events", map[string]any{"id": gcalsandbox.StandupSeriesID}, http.StatusConflict},
		{http.MethodPost, "/_sandbox/calendar/calendars/primary/events", map[string]any{"id": "NOT-BASE32"}, http.StatusBadRequest},
		{http.MethodPost, "/_sandbox/calendar/calendars/primary/events", map[string]any{"status": "cancelled"}, http.StatusBadRequest},
		{http.MethodPatch, "/_sandbox/calendar/calendars/primary/events/nope0000", map[string]any{"summary": "x"}, http.StatusNotFound},
		{http.MethodPost, "/_sandbox/calendar/calendars/primary/events/dryrun9b1d3f5h7j9l1n3p5r7/cancel", nil, http.StatusGone},
		{http.MethodPost, "/_sandbox/calendar/calendars/primary/events?copies=many", map[string]any{}, http.StatusBadRequest},
	} {
		code, _, _ := f.do(t, tc.method, tc.path, tc.body)
		require.Equal(t, tc.want, code, "%s %s", tc.method, tc.path)
	}

	// A new exception of the series gets Google's instance id.
	ev, _, err := f.sb.CreateEvent(context.Background(), "primary", gcalsandbox.EventInput{
		Summary: "Standup (demo day)", RecurringEventID: gcalsandbox.StandupSeriesID,
		OriginalStartTime: &gcalsandbox.DateTime{DateTime: "2025-01-20T09:30:00Z", TimeZone: "Europe/London"},
	}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Equal(t, gcalsandbox.StandupSeriesID+"_20250120T093000Z", ev.ID)
	require.Equal(t, gcalsandbox.StandupSeriesID+"@google.com", ev.ICalUID)

	f.sb.AddCalendar("c_new@group.calendar.google.com", "New", "")
	code, _, _ := f.do(t, http.MethodPost, "/_sandbox/calendar/calendars", map[string]any{"id": "c_other@group.calendar.google.com"})
	require.Equal(t, http.StatusCreated, code)
	items, _, _ := f.listAll(t, "c_other@group.calendar.google.com", fullSync)
	require.Empty(t, items)
}
