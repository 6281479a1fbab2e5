package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// Base bundles the pieces every provider fake embeds: its OAuth server,
// fault queue and webhook deliverer, plus the shared control routes.
type Base struct {
	OAuth     *OAuth
	Faults    *Faults
	Deliverer *Deliverer
}

// NewBase returns a Base around o.
func NewBase(o *OAuth) *Base {
	return &Base{OAuth: o, Faults: &Faults{}, Deliverer: &Deliverer{}}
}

// ControlRoutes mounts the shared control API on mux:
//
//	POST   /_sandbox/faults          queue a Fault (JSON)
//	DELETE /_sandbox/faults          clear faults
//	POST   /_sandbox/tokens/expire   expire every access token now
//	POST   /_sandbox/tokens/revoke   revoke every refresh token
//	POST   /_sandbox/oauth/deny-next make the next authorization fail with access_denied
//	POST   /_sandbox/webhook-target  {"url": "..."} where deliveries go
//	POST   /_sandbox/flush           send held deliveries, newest first
func (b *Base) ControlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sandbox/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil || (f.Status < 100 && !f.Drop && (f.Status != 0 || f.Delay <= 0)) {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a fault with a status (or drop, or a delay)"})
			return
		}
		b.Faults.Add(f)
		WriteJSON(w, http.StatusCreated, f)
	})
	mux.HandleFunc("DELETE /_sandbox/faults", func(w http.ResponseWriter, r *http.Request) {
		b.Faults.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/tokens/expire", func(w http.ResponseWriter, r *http.Request) {
		b.OAuth.ExpireAccessTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/tokens/revoke", func(w http.ResponseWriter, r *http.Request) {
		b.OAuth.RevokeRefreshTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/oauth/deny-next", func(w http.ResponseWriter, r *http.Request) {
		b.OAuth.DenyNext()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/webhook-target", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			URL string `json:"url"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !strings.HasPrefix(body.URL, "http") {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"url\": \"http...\"}"})
			return
		}
		b.Deliverer.SetTarget(body.URL)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/flush", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"results": b.Deliverer.Flush(r.Context())})
	})
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

// RandomString returns n random hex characters (ids, codes, secrets).
func RandomString(n int) string { return randomString(n) }
