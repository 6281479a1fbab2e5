package gcalsandbox_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// TestRSVPBumpsUpdatedOnly: an attendee's answer changes their
// responseStatus, updated and the etag, and nothing else: not sequence, not
// the event's content. The control route does the same.
func TestRSVPBumpsUpdatedOnly(t *testing.T) {
	f := setup(t, gcalsandbox.Options{})
	ctx := context.Background()
	ev, _, err := f.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Launch sync", Attendees: []gcalsandbox.Attendee{
		{Email: f.sb.User(), ResponseStatus: "accepted"}, {Email: "jo@northwind-pr.example", ResponseStatus: "needsAction"},
	}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)

	after, _, err := f.sb.RespondEvent(ctx, "primary", ev.ID, "jo@northwind-pr.example", "accepted", sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Equal(t, "accepted", after.Attendees[1].ResponseStatus)
	require.Greater(t, after.Updated, ev.Updated)
	require.NotEqual(t, ev.Etag, after.Etag)
	require.Equal(t, ev.Sequence, after.Sequence, "an RSVP is not the organizer's revision")
	before := ev
	before.Updated, before.Etag, before.Attendees = after.Updated, after.Etag, after.Attendees
	require.Equal(t, before, after, "nothing else changed")

	code, body, _ := f.do(t, http.MethodPost, "/_sandbox/calendar/calendars/primary/events/"+ev.ID+"/rsvp",
		map[string]string{"response": "tentative"})
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "tentative", body["event"].(map[string]any)["attendees"].([]any)[0].(map[string]any)["responseStatus"],
		"without an email the sandbox user answers")

	_, _, err = f.sb.RespondEvent(ctx, "primary", ev.ID, "nobody@example.com", "accepted", sandbox.DeliveryOptions{})
	require.ErrorIs(t, err, gcalsandbox.ErrInvalidEvent)
	code, _, _ = f.do(t, http.MethodPost, "/_sandbox/calendar/calendars/primary/events/"+ev.ID+"/rsvp", map[string]string{"response": "maybe"})
	require.Equal(t, http.StatusBadRequest, code)
}

// TestCancelledInvitationIsIDOnly: deleting an event the user organizes
// keeps its details on their calendar; an invitation from someone else is
// then listed with its id and status only, as Google guarantees no more.
func TestCancelledInvitationIsIDOnly(t *testing.T) {
	f := setup(t, gcalsandbox.Options{})
	ctx := context.Background()
	own, _, err := f.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Own"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	inv, _, err := f.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Interview: Le Monde",
		Organizer: &gcalsandbox.Person{Email: "camille@lemonde.example", DisplayName: "Camille Martin"}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Equal(t, "camille@lemonde.example", inv.Organizer.Email)
	require.False(t, inv.Organizer.Self)
	for _, id := range []string{own.ID, inv.ID} {
		_, _, err := f.sb.CancelEvent(ctx, "primary", id, sandbox.DeliveryOptions{})
		require.NoError(t, err)
	}
	byID := map[string]map[string]any{}
	_, body := f.list(t, "primary", map[string][]string{"showDeleted": {"true"}})
	for _, it := range body["items"].([]any) {
		m := it.(map[string]any)
		byID[m["id"].(string)] = m
	}
	require.Equal(t, "Own", byID[own.ID]["summary"], "the organizer's calendar keeps the details")
	require.ElementsMatch(t, []string{"kind", "etag", "id", "status"}, keys(byID[inv.ID]))
	require.Equal(t, "cancelled", byID[inv.ID]["status"])
}
