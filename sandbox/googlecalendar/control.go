package gcalsandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Control errors, mapped to 404, 400, 409 and 410 by the control routes.
var (
	ErrNoCalendar   = errors.New("gcalsandbox: no such calendar")
	ErrNoEvent      = errors.New("gcalsandbox: no such event")
	ErrInvalidEvent = errors.New("gcalsandbox: invalid event")
	ErrDuplicate    = errors.New("gcalsandbox: event id already exists")
	ErrDeleted      = errors.New("gcalsandbox: event already cancelled")
)

// controlRoutes mounts the calendar control API:
//
//	POST  /_sandbox/calendar/calendars                                {"id", "summary", "time_zone"}
//	GET   /_sandbox/calendar/calendars/{calendarId}/events            stored events (no auth)
//	POST  /_sandbox/calendar/calendars/{calendarId}/events            create (EventInput)
//	PATCH /_sandbox/calendar/calendars/{calendarId}/events/{eventId}  update (EventInput, non-empty fields)
//	POST  /_sandbox/calendar/calendars/{calendarId}/events/{eventId}/cancel
//	POST  /_sandbox/calendar/calendars/{calendarId}/events/{eventId}/rsvp   {"email", "response"}: an attendee answers
//	POST  /_sandbox/calendar/calendars/{calendarId}/notify?state=not_exists
//	POST  /_sandbox/calendar/expire-sync-tokens                       every sync token answers 410
//	GET   /_sandbox/calendar/channels                                 watch channels, live or not
//	POST  /_sandbox/calendar/consent                                  {"decline": [scope, …]} for the next authorization (mounted by googlesandbox.OAuth)
//
// Changes push an "exists" notification to every live channel of the
// calendar; ?copies=N sends duplicates (same message number) and ?hold=true
// queues them for POST /_sandbox/flush.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sandbox/calendar/calendars", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID       string `json:"id"`
			Summary  string `json:"summary"`
			TimeZone string `json:"time_zone"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ID == "" {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"id": "...", "summary": "..."}`})
			return
		}
		s.AddCalendar(body.ID, body.Summary, body.TimeZone)
		sandbox.WriteJSON(w, http.StatusCreated, map[string]string{"id": body.ID})
	})
	mux.HandleFunc("GET /_sandbox/calendar/calendars/{calendarId}/events", func(w http.ResponseWriter, r *http.Request) {
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"items": s.Events(r.PathValue("calendarId"))})
	})
	mux.HandleFunc("POST /_sandbox/calendar/calendars/{calendarId}/events", func(w http.ResponseWriter, r *http.Request) {
		s.mutate(w, r, http.StatusCreated, func(ctx context.Context, in EventInput, opt sandbox.DeliveryOptions) (Event, []Notification, error) {
			return s.CreateEvent(ctx, r.PathValue("calendarId"), in, opt)
		})
	})
	mux.HandleFunc("PATCH /_sandbox/calendar/calendars/{calendarId}/events/{eventId}", func(w http.ResponseWriter, r *http.Request) {
		s.mutate(w, r, http.StatusOK, func(ctx context.Context, in EventInput, opt sandbox.DeliveryOptions) (Event, []Notification, error) {
			return s.UpdateEvent(ctx, r.PathValue("calendarId"), r.PathValue("eventId"), in, opt)
		})
	})
	mux.HandleFunc("POST /_sandbox/calendar/calendars/{calendarId}/events/{eventId}/cancel", func(w http.ResponseWriter, r *http.Request) {
		s.mutate(w, r, http.StatusOK, func(ctx context.Context, _ EventInput, opt sandbox.DeliveryOptions) (Event, []Notification, error) {
			return s.CancelEvent(ctx, r.PathValue("calendarId"), r.PathValue("eventId"), opt)
		})
	})
	mux.HandleFunc("POST /_sandbox/calendar/calendars/{calendarId}/events/{eventId}/rsvp", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Email    string `json:"email"`
			Response string `json:"response"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"email": "...", "response": "accepted"}`})
			return
		}
		r.ContentLength = 0 // the body was the answer, not an event
		s.mutate(w, r, http.StatusOK, func(ctx context.Context, _ EventInput, opt sandbox.DeliveryOptions) (Event, []Notification, error) {
			return s.RespondEvent(ctx, r.PathValue("calendarId"), r.PathValue("eventId"), body.Email, body.Response, opt)
		})
	})
	mux.HandleFunc("POST /_sandbox/calendar/calendars/{calendarId}/notify", func(w http.ResponseWriter, r *http.Request) {
		state := r.URL.Query().Get("state")
		if state == "" {
			state = "exists"
		}
		opt, err := googlesandbox.DeliveryOptions(r)
		if err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"notifications": s.Notify(r.Context(), r.PathValue("calendarId"), state, opt)})
	})
	mux.HandleFunc("POST /_sandbox/calendar/expire-sync-tokens", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireSyncTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sandbox/calendar/channels", func(w http.ResponseWriter, r *http.Request) {
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"channels": s.Channels()})
	})
}

type mutation func(ctx context.Context, in EventInput, opt sandbox.DeliveryOptions) (Event, []Notification, error)

// mutate decodes an optional EventInput body and delivery options, applies
// f and answers {"event", "notifications"}.
func (s *Server) mutate(w http.ResponseWriter, r *http.Request, okStatus int, f mutation) {
	var in EventInput
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be an event: " + err.Error()})
			return
		}
	}
	opt, err := googlesandbox.DeliveryOptions(r)
	if err != nil {
		sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ev, notes, err := f(r.Context(), in, opt)
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, ErrNoCalendar), errors.Is(err, ErrNoEvent):
			status = http.StatusNotFound
		case errors.Is(err, ErrDuplicate):
			status = http.StatusConflict
		case errors.Is(err, ErrDeleted):
			status = http.StatusGone
		}
		sandbox.WriteJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	sandbox.WriteJSON(w, okStatus, map[string]any{"event": ev, "notifications": notes})
}
