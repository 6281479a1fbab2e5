package slacksandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/poblysh/poblysh/sandbox"
)

// deliveryResult is a sandbox.Result as JSON.
type deliveryResult struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

// eventAnswer is what the activity control routes return.
type eventAnswer struct {
	EventID    string           `json:"event_id,omitempty"`
	Type       string           `json:"type"`
	Event      json.RawMessage  `json:"event,omitempty"`
	Challenge  string           `json:"challenge,omitempty"`
	Held       bool             `json:"held,omitempty"`
	Deliveries []deliveryResult `json:"deliveries"`
}

// controlRoutes mounts the Slack activity routes (JSON bodies; each also
// accepts the EventOptions fields copies, hold and stale):
//
//	POST /_sandbox/slack/messages          {channel, user?, text, thread_ts?, broadcast?, bot?}
//	POST /_sandbox/slack/reactions         {channel, ts, user?, reaction}
//	POST /_sandbox/slack/url-verification  {challenge?}
//	POST /_sandbox/slack/messages/delete   {channel, ts}
//	POST /_sandbox/slack/app-rate-limited  {team_id?}
//	POST /_sandbox/slack/uninstall         {team_id?}
//	POST /_sandbox/slack/team-access       {team_id, granted}
//
// Each stores the activity, delivers the signed Events API request (none
// for a channel the bot is not in; uninstall revokes the workspace
// install's tokens and delivers tokens_revoked, then app_uninstalled;
// team-access gives a Grid workspace to the org-wide install or takes it
// away, and delivers team_access_granted or team_access_revoked once the
// org installed the app) and
// answers 201 with the event and the delivery results. And:
//
//	POST /_sandbox/slack/channels/{channel}/membership  {member}
//
// invites the app's bot to a channel or removes it (204), sending nothing;
//
//	POST /_sandbox/slack/channels/{channel}/archive
//
// archives a channel (204), sending nothing (ArchiveChannel);
//
//	POST /_sandbox/slack/channels/{channel}/remove-bot  {actor?}
//
// removes it as a member does and delivers channel_left (group_left for a
// private channel), answering like the event routes above;
//
//	POST /_sandbox/slack/channels/{channel}/share
//
// shares a legacy private channel (G…) through Slack Connect: it gets a
// new id for good and channel_id_changed is delivered (ShareChannel).
func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sandbox/slack/channels/{channel}/membership", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Member *bool `json:"member"`
		}
		if !decode(w, r, &body) {
			return
		}
		if body.Member == nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"member": true|false}`})
			return
		}
		if err := s.SetBotMembership(r.PathValue("channel"), *body.Member); err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/slack/channels/{channel}/archive", func(w http.ResponseWriter, r *http.Request) {
		switch err := s.ArchiveChannel(r.PathValue("channel")); {
		case errors.Is(err, ErrNotFound):
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case err != nil:
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST /_sandbox/slack/channels/{channel}/remove-bot", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Actor string `json:"actor,omitempty"`
			EventOptions
		}
		if !decode(w, r, &body) {
			return
		}
		ev, err := s.RemoveBot(r.PathValue("channel"), body.Actor)
		s.answer(w, r, ev, err, body.EventOptions)
	})
	mux.HandleFunc("POST /_sandbox/slack/channels/{channel}/share", func(w http.ResponseWriter, r *http.Request) {
		var body EventOptions
		if !decode(w, r, &body) {
			return
		}
		ev, err := s.ShareChannel(r.PathValue("channel"))
		s.answer(w, r, ev, err, body)
	})
	mux.HandleFunc("POST /_sandbox/slack/messages", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			MessageInput
			EventOptions
		}
		if !decode(w, r, &body) {
			return
		}
		ev, err := s.PostMessage(body.MessageInput)
		s.answer(w, r, ev, err, body.EventOptions)
	})
	mux.HandleFunc("POST /_sandbox/slack/reactions", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ReactionInput
			EventOptions
		}
		if !decode(w, r, &body) {
			return
		}
		ev, err := s.AddReaction(body.ReactionInput)
		s.answer(w, r, ev, err, body.EventOptions)
	})
	mux.HandleFunc("POST /_sandbox/slack/messages/delete", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			DeleteInput
			EventOptions
		}
		if !decode(w, r, &body) {
			return
		}
		ev, err := s.DeleteMessage(body.DeleteInput)
		s.answer(w, r, ev, err, body.EventOptions)
	})
	mux.HandleFunc("POST /_sandbox/slack/app-rate-limited", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			TeamID string `json:"team_id"`
			EventOptions
		}
		if !decode(w, r, &body) {
			return
		}
		ev, err := s.AppRateLimited(body.TeamID)
		s.answer(w, r, ev, err, body.EventOptions)
	})
	mux.HandleFunc("POST /_sandbox/slack/team-access", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			TeamID  string `json:"team_id"`
			Granted *bool  `json:"granted"`
			EventOptions
		}
		if !decode(w, r, &body) {
			return
		}
		if body.TeamID == "" || body.Granted == nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"team_id": "T…", "granted": true|false}`})
			return
		}
		ev, err := s.SetTeamAccess(body.TeamID, *body.Granted)
		s.answer(w, r, ev, err, body.EventOptions)
	})
	mux.HandleFunc("POST /_sandbox/slack/uninstall", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			TeamID string `json:"team_id"`
		}
		if !decode(w, r, &body) {
			return
		}
		evs, err := s.Uninstall(body.TeamID)
		if err != nil {
			s.answer(w, r, nil, err, EventOptions{})
			return
		}
		out := eventAnswer{Type: "app_uninstalled", Deliveries: []deliveryResult{}}
		for _, ev := range evs {
			for _, res := range s.Deliver(r.Context(), ev, EventOptions{}) {
				dr := deliveryResult{Status: res.Status, Body: res.Body}
				if res.Err != nil {
					dr.Error = res.Err.Error()
				}
				out.Deliveries = append(out.Deliveries, dr)
			}
		}
		sandbox.WriteJSON(w, http.StatusCreated, out)
	})
	mux.HandleFunc("POST /_sandbox/slack/url-verification", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Challenge string `json:"challenge"`
			EventOptions
		}
		if !decode(w, r, &body) {
			return
		}
		s.answer(w, r, s.URLVerification(body.Challenge), nil, body.EventOptions)
	})
}

// decode reads an optional JSON body; an empty body is an empty object.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON: " + err.Error()})
		return false
	}
	return true
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, ev *Event, err error, opt EventOptions) {
	switch {
	case errors.Is(err, ErrNotFound):
		sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	case err != nil:
		sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	out := eventAnswer{EventID: ev.ID, Type: ev.Type, Event: ev.Inner, Held: opt.Hold, Deliveries: []deliveryResult{}}
	if ev.Type == "url_verification" {
		var v struct {
			Challenge string `json:"challenge"`
		}
		_ = json.Unmarshal(ev.Body, &v)
		out.Challenge = v.Challenge
	}
	for _, res := range s.Deliver(r.Context(), ev, opt) {
		dr := deliveryResult{Status: res.Status, Body: res.Body}
		if res.Err != nil {
			dr.Error = res.Err.Error()
		}
		out.Deliveries = append(out.Deliveries, dr)
	}
	sandbox.WriteJSON(w, http.StatusCreated, out)
}
