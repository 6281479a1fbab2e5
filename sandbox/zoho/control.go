package zohosandbox

import (
	"encoding/json"
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

func results(rs []sandbox.Result) []deliveryResult {
	out := []deliveryResult{}
	for _, r := range rs {
		d := deliveryResult{Status: r.Status, Body: r.Body}
		if r.Err != nil {
			d.Error = r.Err.Error()
		}
		out = append(out, d)
	}
	return out
}

// controlRoutes mounts the control API (JSON bodies):
//
//	POST   /_sandbox/faults                 queue a sandbox.Fault on the API routes
//	DELETE /_sandbox/faults                 clear them
//	POST   /_sandbox/zoho/cliq/bot          {execution_url?, channels: [chat id or unique name]}: the
//	                                        operator's bot set-up (execution URL, bot added to channels)
//	POST   /_sandbox/zoho/cliq/messages     MessageInput: stores the message and makes the bot calls
//	                                        (participation message_sent, mention handler) → 201 {message, deliveries}
//	POST   /_sandbox/zoho/cliq/reactions    {chat, message_id, user, emoji} → 201 (no bot call: Cliq has none)
//	POST   /_sandbox/zoho/cliq/throttle     {user, api}: lock an API for a user now
//	POST   /_sandbox/zoho/mail/hook         {user, url}: the mailbox's outgoing webhook
//	POST   /_sandbox/zoho/mail/messages     MailInput: stores it (Inbox: posts the webhook) → 201 {message, deliveries}
//	POST   /_sandbox/zoho/mail/archive      {user, message_id}: the user archives it (ArchiveMail) → 204
//	POST   /_sandbox/tokens/expire          expire every access token of every DC
func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sandbox/faults", func(w http.ResponseWriter, r *http.Request) {
		var f sandbox.Fault
		if !decode(w, r, &f) {
			return
		}
		if f.Status < 100 && !f.Drop {
			bad(w, "body must be a fault with a status (or drop)")
			return
		}
		s.Faults.Add(f)
		sandbox.WriteJSON(w, http.StatusCreated, f)
	})
	mux.HandleFunc("DELETE /_sandbox/faults", func(w http.ResponseWriter, r *http.Request) {
		s.Faults.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/tokens/expire", func(w http.ResponseWriter, r *http.Request) {
		for _, a := range s.accounts {
			a.oauth.ExpireAccessTokens()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/zoho/cliq/bot", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ExecutionURL string   `json:"execution_url"`
			Channels     []string `json:"channels"`
		}
		if !decode(w, r, &body) {
			return
		}
		if err := s.SetBot(body.ExecutionURL, body.Channels); err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/zoho/cliq/messages", func(w http.ResponseWriter, r *http.Request) {
		var in MessageInput
		if !decode(w, r, &in) {
			return
		}
		m, rs, err := s.PostAndDeliver(r.Context(), in)
		if err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		sandbox.WriteJSON(w, http.StatusCreated, map[string]any{"message": s.messageJSON(m), "deliveries": results(rs)})
	})
	mux.HandleFunc("POST /_sandbox/zoho/cliq/reactions", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Chat      string `json:"chat"`
			MessageID string `json:"message_id"`
			User      string `json:"user"`
			Emoji     string `json:"emoji"`
		}
		if !decode(w, r, &body) {
			return
		}
		_, m, err := s.React(body.Chat, body.MessageID, body.User, body.Emoji)
		if err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		s.cliq.mu.Lock()
		out := s.messageJSON(m)
		s.cliq.mu.Unlock()
		sandbox.WriteJSON(w, http.StatusCreated, map[string]any{"message": out})
	})
	mux.HandleFunc("POST /_sandbox/zoho/cliq/throttle", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			User string `json:"user"`
			API  string `json:"api"`
		}
		if !decode(w, r, &body) {
			return
		}
		s.Throttle(cmpOr(body.User, UserAda), cmpOr(body.API, "messages"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/zoho/mail/hook", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			User string `json:"user"`
			URL  string `json:"url"`
		}
		if !decode(w, r, &body) {
			return
		}
		if err := s.SetMailHook(cmpOr(body.User, UserAda), body.URL); err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/zoho/mail/archive", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			User      string `json:"user"`
			MessageID string `json:"message_id"`
		}
		if !decode(w, r, &body) {
			return
		}
		if err := s.ArchiveMail(cmpOr(body.User, UserAda), body.MessageID); err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/zoho/mail/messages", func(w http.ResponseWriter, r *http.Request) {
		var in MailInput
		if !decode(w, r, &in) {
			return
		}
		m, rs, err := s.DeliverMail(r.Context(), in)
		if err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		sandbox.WriteJSON(w, http.StatusCreated, map[string]any{"message": map[string]any{
			"id": m.ID, "thread_id": m.ThreadID, "folder": m.Folder, "subject": m.Subject,
		}, "deliveries": results(rs)})
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(b) > 0 {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		bad(w, "body must be JSON: "+err.Error())
		return false
	}
	return true
}

func bad(w http.ResponseWriter, msg string) {
	sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
}
