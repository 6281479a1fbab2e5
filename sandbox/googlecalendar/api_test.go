package gcalsandbox_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

var fullSync = url.Values{"maxResults": {"3"}, "showDeleted": {"true"}, "singleEvents": {"false"}}

func TestListPaginatesAndPlacesSyncTokenLast(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	items, sync, pages := f.listAll(t, "primary", fullSync)
	require.Len(t, items, gcalsandbox.PrimaryEvents)
	require.Equal(t, 4, pages)
	require.NotEmpty(t, sync)

	code, first := f.list(t, "primary", fullSync)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "calendar#events", first["kind"])
	require.Equal(t, f.sb.User(), first["summary"])
	require.Equal(t, "Europe/London", first["timeZone"])
	require.Equal(t, "owner", first["accessRole"])
	require.NotContains(t, first, "nextSyncToken", "the sync token comes on the last page only")

	// Full-shape events carry every field a real one has; cancelled
	// instances only what Google guarantees.
	for _, it := range items {
		require.Equal(t, "calendar#event", it["kind"])
		require.Regexp(t, `^"\d+"$`, it["etag"])
		if it["status"] == "cancelled" && it["created"] == nil {
			require.ElementsMatch(t, []string{"kind", "etag", "id", "status", "recurringEventId", "originalStartTime"}, keys(it))
			continue
		}
		for _, k := range []string{"id", "status", "htmlLink", "created", "updated", "summary", "creator", "organizer", "start", "end", "iCalUID", "sequence", "reminders", "eventType"} {
			require.Contains(t, it, k, "event %v", it["id"])
		}
		require.True(t, strings.HasPrefix(it["htmlLink"].(string), "https://www.google.com/calendar/event?eid="))
	}

	// The team calendar by its id.
	items, _, _ = f.listAll(t, gcalsandbox.TeamCalendarID, fullSync)
	require.Len(t, items, gcalsandbox.TeamEvents)
}

// TestSeriesLastListsExceptionsFirst: with SeriesLast a recurring series
// is listed after every other event, so its exceptions come pages before
// it (Google's order is "unspecified, stable"); every event is still
// listed once, full syncs and increments alike.
func TestSeriesLastListsExceptionsFirst(t *testing.T) {
	ids := func(items []map[string]any) []string {
		var out []string
		for _, it := range items {
			out = append(out, it["id"].(string))
		}
		return out
	}
	plain := setup(t, gcalsandbox.Options{Seed: true})
	inserted, _, _ := plain.listAll(t, "primary", fullSync)
	cancelled := gcalsandbox.StandupSeriesID + "_20250117T093000Z"
	require.Less(t, slices.Index(ids(inserted), gcalsandbox.StandupSeriesID), slices.Index(ids(inserted), cancelled), "insertion order by default")

	f := setup(t, gcalsandbox.Options{Seed: true, SeriesLast: true})
	items, sync, pages := f.listAll(t, "primary", fullSync)
	require.Equal(t, 4, pages)
	got := ids(items)
	require.ElementsMatch(t, ids(inserted), got, "every event once")
	require.Equal(t, gcalsandbox.StandupSeriesID, got[len(got)-1], "the series last")
	require.Less(t, slices.Index(got, cancelled), 6, "its cancelled occurrence pages before it")

	// An increment lists a changed series after the other changes too.
	code, _, _ := f.do(t, http.MethodPatch, "/_sandbox/calendar/calendars/primary/events/"+gcalsandbox.StandupSeriesID, map[string]any{"location": "Room 2"})
	require.Equal(t, http.StatusOK, code)
	code, _, _ = f.do(t, http.MethodPatch, "/_sandbox/calendar/calendars/primary/events/oneonegrace2c4e6g8i0k2m4o", map[string]any{"location": "Room 3"})
	require.Equal(t, http.StatusOK, code)
	items, _, _ = f.listAll(t, "primary", url.Values{"syncToken": {sync}, "maxResults": {"1"}})
	require.Equal(t, []string{"oneonegrace2c4e6g8i0k2m4o", gcalsandbox.StandupSeriesID}, ids(items))
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestListWithoutShowDeletedKeepsCancelledInstances(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	items, _, _ := f.listAll(t, "primary", url.Values{})
	var ids []string
	for _, it := range items {
		ids = append(ids, it["id"].(string))
	}
	require.Len(t, items, gcalsandbox.PrimaryEvents-1)
	require.NotContains(t, ids, "dryrun9b1d3f5h7j9l1n3p5r7", "deleted events need showDeleted")
	require.Contains(t, ids, gcalsandbox.StandupSeriesID+"_20250117T093000Z", "cancelled instances are listed anyway")
}

func TestSyncTokenIncrements(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	_, sync, _ := f.listAll(t, "primary", fullSync)

	inc := url.Values{"syncToken": {sync}, "maxResults": {"2"}, "showDeleted": {"true"}}
	items, sync2, _ := f.listAll(t, "primary", inc)
	require.Empty(t, items, "nothing changed")
	_, teamSync, _ := f.listAll(t, gcalsandbox.TeamCalendarID, fullSync)
	items, _, _ = f.listAll(t, gcalsandbox.TeamCalendarID, url.Values{"syncToken": {teamSync}})
	require.Empty(t, items, "the last change before the token is not listed again")

	code, created, _ := f.do(t, http.MethodPost, "/_sandbox/calendar/calendars/primary/events", map[string]any{"summary": "Podcast", "start": map[string]string{"date": "2025-03-01"}})
	require.Equal(t, http.StatusCreated, code)
	newID := created["event"].(map[string]any)["id"].(string)
	require.Equal(t, "2025-03-02", created["event"].(map[string]any)["end"].(map[string]any)["date"])
	code, _, _ = f.do(t, http.MethodPatch, "/_sandbox/calendar/calendars/primary/events/oneonegrace2c4e6g8i0k2m4o", map[string]any{"status": "confirmed"})
	require.Equal(t, http.StatusOK, code)
	code, cancelled, _ := f.do(t, http.MethodPost, "/_sandbox/calendar/calendars/primary/events/vergecall3d5f7h9j1l3n5p7r9/cancel", nil)
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 2, cancelled["event"].(map[string]any)["sequence"], "cancelling bumps the sequence")

	inc.Set("syncToken", sync2)
	items, _, pages := f.listAll(t, "primary", inc)
	require.Equal(t, 2, pages)
	byID := map[string]map[string]any{}
	for _, it := range items {
		byID[it["id"].(string)] = it
	}
	require.Len(t, byID, 3)
	require.Equal(t, "confirmed", byID[newID]["status"])
	require.Equal(t, "confirmed", byID["oneonegrace2c4e6g8i0k2m4o"]["status"])
	require.Equal(t, "cancelled", byID["vergecall3d5f7h9j1l3n5p7r9"]["status"], "deleted events are in every increment")

	// The old token still works: it lists the same changes.
	inc.Set("syncToken", sync2)
	again, _, _ := f.listAll(t, "primary", inc)
	require.Len(t, again, 3)
}

func TestExpiredSyncTokenAnswers410(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	_, sync, _ := f.listAll(t, "primary", fullSync)
	code, _, _ := f.do(t, http.MethodPost, "/_sandbox/calendar/expire-sync-tokens", nil)
	require.Equal(t, http.StatusNoContent, code)
	code, body := f.list(t, "primary", url.Values{"syncToken": {sync}})
	require.Equal(t, http.StatusGone, code)
	errs := body["error"].(map[string]any)["errors"].([]any)
	require.Equal(t, "fullSyncRequired", errs[0].(map[string]any)["reason"])

	// A full sync gets a token that works.
	_, fresh, _ := f.listAll(t, "primary", fullSync)
	code, _ = f.list(t, "primary", url.Values{"syncToken": {fresh}})
	require.Equal(t, http.StatusOK, code)

	for name, tok := range map[string]string{"garbage": "CPDAlvWDx70CEPDAlvWDx70CGAU=", "other calendar": fresh} {
		cal := "primary"
		if name == "other calendar" {
			cal = gcalsandbox.TeamCalendarID
		}
		code, _ = f.list(t, cal, url.Values{"syncToken": {tok}})
		require.Equal(t, http.StatusGone, code, name)
	}
}

func TestListParameterRules(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	_, sync, _ := f.listAll(t, "primary", fullSync)
	for name, q := range map[string]url.Values{
		"syncToken with timeMin":    {"syncToken": {sync}, "timeMin": {"2025-01-01T00:00:00Z"}},
		"syncToken with updatedMin": {"syncToken": {sync}, "updatedMin": {"2025-01-01T00:00:00Z"}},
		"syncToken with q":          {"syncToken": {sync}, "q": {"standup"}},
		"maxResults 0":              {"maxResults": {"0"}},
		"orderBy startTime":         {"orderBy": {"startTime"}},
		"bad timeMin":               {"timeMin": {"yesterday"}},
		"page token of nothing":     {"pageToken": {"bm90IGEgdG9rZW4"}},
	} {
		code, body := f.list(t, "primary", q)
		require.Equal(t, http.StatusBadRequest, code, name)
		require.EqualValues(t, 400, body["error"].(map[string]any)["code"], name)
	}
	// maxResults above 2500 is capped, not refused; filters apply to full syncs.
	code, body := f.list(t, "primary", url.Values{"maxResults": {"9999"}, "q": {"standup"}})
	require.Equal(t, http.StatusOK, code)
	require.Len(t, body["items"], 2, "the series and its moved instance (the cancelled one has no summary)")
	code, body = f.list(t, "primary", url.Values{"timeMin": {"2025-01-22T00:00:00Z"}, "timeMax": {"2025-01-23T00:00:00Z"}})
	require.Equal(t, http.StatusOK, code)
	var ids []string
	for _, it := range body["items"].([]any) {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	require.ElementsMatch(t, []string{"pressbrief7k2m4n6p8r0t2v4", gcalsandbox.StandupSeriesID}, ids,
		"the press briefing and the weekly series, whose Wednesday occurrence falls on 22 January")

	// timeMin bounds an event's end: a series without UNTIL never ends, so
	// it is the only seeded event a window starting in 2030 lists.
	code, body = f.list(t, "primary", url.Values{"timeMin": {"2030-01-01T00:00:00Z"}, "showDeleted": {"true"}})
	require.Equal(t, http.StatusOK, code)
	require.Len(t, body["items"], 1)
	require.Equal(t, gcalsandbox.StandupSeriesID, body["items"].([]any)[0].(map[string]any)["id"])
}

func TestAPIAuthErrors(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	f.tok = ""
	code, body, hdr := f.do(t, http.MethodGet, "/calendar/v3/calendars/primary/events", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "UNAUTHENTICATED", body["error"].(map[string]any)["status"])
	require.Contains(t, hdr.Get("WWW-Authenticate"), "invalid_token")

	f.tok = "ya29.not-issued"
	code, body, _ = f.do(t, http.MethodGet, "/calendar/v3/calendars/primary/events", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "Invalid Credentials", body["error"].(map[string]any)["message"])

	f.tok = f.sb.AccessToken("")
	f.sb.Base.OAuth.ExpireAccessTokens()
	code, _, _ = f.do(t, http.MethodGet, "/calendar/v3/calendars/primary/events", nil)
	require.Equal(t, http.StatusUnauthorized, code, "expired tokens are refused")

	// calendars.get needs a calendar scope; events.readonly is not one.
	f.tok = f.sb.AccessToken("")
	code, body, _ = f.do(t, http.MethodGet, "/calendar/v3/calendars/primary", nil)
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "insufficientPermissions", body["error"].(map[string]any)["errors"].([]any)[0].(map[string]any)["reason"])
	f.tok = f.sb.AccessToken("", "https://www.googleapis.com/auth/calendar.readonly")
	code, body, _ = f.do(t, http.MethodGet, "/calendar/v3/calendars/primary", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, f.sb.User(), body["id"], "the primary calendar's id is the user's email")

	code, _, _ = f.do(t, http.MethodGet, "/calendar/v3/calendars/nobody@example.com/events", nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _, _ = f.do(t, http.MethodGet, "/calendar/v3/calendars/primary/events/"+gcalsandbox.StandupSeriesID, nil)
	require.Equal(t, http.StatusOK, code)
}

func TestFaultsAreGoogleShaped(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	f.sb.Base.Faults.Add(gcalsandbox.RateLimitFault("userRateLimitExceeded", 1))
	code, body := f.list(t, "primary", nil)
	require.Equal(t, http.StatusForbidden, code)
	item := body["error"].(map[string]any)["errors"].([]any)[0].(map[string]any)
	require.Equal(t, "usageLimits", item["domain"])
	require.Equal(t, "userRateLimitExceeded", item["reason"])

	code, _, _ = f.do(t, http.MethodPost, "/_sandbox/faults", map[string]any{"status": 503})
	require.Equal(t, http.StatusCreated, code)
	code, body = f.list(t, "primary", nil)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "backendError", body["error"].(map[string]any)["errors"].([]any)[0].(map[string]any)["reason"])
	code, _ = f.list(t, "primary", nil)
	require.Equal(t, http.StatusOK, code, "faults are consumed")
}
