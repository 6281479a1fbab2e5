package api

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// providerFor resolves the {provider} path segment (404 when unknown). The
// error names the segment only when it is shaped like a provider name: the
// connect pages show it to whoever follows a link, and a link's path is
// anyone's text.
func providerFor(reg *connectors.Registry, r *http.Request) (*connectors.Provider, error) {
	name := mux.Vars(r)["provider"]
	p, ok := reg.Get(name)
	if !ok {
		msg := "unknown provider"
		if providerRe.MatchString(name) {
			msg += " " + name
		}
		return nil, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: msg}
	}
	return p, nil
}

// authorizationJSON is the answer of POST /connect and POST
// /connections/{id}/reconnect.
func authorizationJSON(a *lifecycle.Authorization) map[string]any {
	return map[string]any{"authorization_url": a.URL, "state": a.State, "expires_at": rfc3339(a.ExpiresAt)}
}

func handleConnectStart(log *logrus.Logger, reg *connectors.Registry, svc *lifecycle.Service, limit int64) http.Handler {
	type request struct {
		RedirectURI string          `json:"redirect_uri"`
		Config      json.RawMessage `json:"config"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := providerFor(reg, r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		var req request
		if err := decodeJSON(w, r, limit, &req, true); err != nil {
			writeError(w, r, log, err)
			return
		}
		a, err := svc.Start(r.Context(), principalOf(r).tenantID, p, req.RedirectURI, req.Config)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, authorizationJSON(a))
	})
}

// handleConnectCallback completes an authorization (lifecycle.Complete):
// the binding cookie is read and cleared once the state is spent. It
// redirects to the connect's redirect_uri, or answers the connection
// without its webhook_url (the answer goes to a browser; the URL carries
// the connection's secret token, and the tenant reads it with
// GET /connections/{id}). Errors are an HTML page for a browser and the
// JSON error shape otherwise. Every answer carries pageHeaders (routes.go).
func handleConnectCallback(log *logrus.Logger, reg *connectors.Registry, svc *lifecycle.Service, database *db.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := providerFor(reg, r)
		if err != nil {
			writeConnectError(w, r, log, err)
			return
		}
		done, err := svc.Complete(r.Context(), p, lifecycle.Callback{Query: r.URL.Query(), Browser: func(st *db.OAuthState) string {
			forgetBrowser(w, p, st)
			return browserCookie(r, st)
		}})
		if err != nil {
			writeConnectError(w, r, log, err)
			return
		}
		c := done.Connection
		log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "tenant_id": c.TenantID, "connection_id": c.ID,
			"provider": p.Spec.Name}).Info("connection authorized")
		if done.RedirectURL != "" {
			http.Redirect(w, r, done.RedirectURL, http.StatusFound)
			return
		}
		view, err := connectionView(r.Context(), database, reg, c)
		if err != nil {
			writeConnectError(w, r, log, err)
			return
		}
		view.WebhookURL = nil
		writeJSON(w, http.StatusOK, map[string]any{"connection": view})
	})
}
