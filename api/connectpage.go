package api

import (
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// The start page binds an authorization to one browser (the rules are
// lifecycle's, see lifecycle/connect.go): here is the cookie that carries
// the binding. The browser continues to the provider only when the user
// clicks (a form POST, which a cross-site page cannot send with the
// SameSite=Lax cookie); the callback completes only with that cookie. So a
// tenant who hands its link to someone gets nothing unless that person
// read the page and clicked, in the browser that finishes the flow.

// cookiePrefix starts the name of the binding cookie; the state's id ends
// it, so several authorizations in one browser do not overwrite each other.
const cookiePrefix = "poblysh_connect_"

func cookieName(st *db.OAuthState) string {
	return cookiePrefix + strings.ReplaceAll(st.ID, "-", "")
}

// cookiePath scopes the cookie to the provider's start page and callback
// (under the public URL's path, when the service sits behind a prefix).
func cookiePath(p *connectors.Provider) string {
	u, err := url.Parse(p.Config.CallbackURL(p.Spec.Name))
	if err != nil {
		return "/"
	}
	return path.Dir(u.Path) + "/"
}

// setBrowser sets the binding cookie: short-lived (the state's remaining
// life), HttpOnly, SameSite=Lax, Secure when the service is public over
// HTTPS.
func setBrowser(w http.ResponseWriter, p *connectors.Provider, st *db.OAuthState, value string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(st), Value: value, Path: cookiePath(p),
		MaxAge: max(1, int(time.Until(st.ExpiresAt).Seconds())), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: p.Config.PublicHTTPS(),
	})
}

// forgetBrowser removes the binding cookie once the state is spent.
func forgetBrowser(w http.ResponseWriter, p *connectors.Provider, st *db.OAuthState) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(st), Value: "", Path: cookiePath(p), MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: p.Config.PublicHTTPS()})
}

// browserCookie is the binding cookie the request carries for st ("").
func browserCookie(r *http.Request, st *db.OAuthState) string {
	c, err := r.Cookie(cookieName(st))
	if err != nil {
		return ""
	}
	return c.Value
}

// handleConnectPage shows the start page and binds the authorization to
// this browser (the last browser to open the link is the only one that
// may continue, so a link preview fetched elsewhere does no harm).
func handleConnectPage(log *logrus.Logger, reg *connectors.Registry, svc *lifecycle.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := providerFor(reg, r)
		if err != nil {
			writeConnectError(w, r, log, err)
			return
		}
		st, binding, err := svc.OpenPage(r.Context(), p, r.URL.Query().Get("session"))
		if err != nil {
			writeConnectError(w, r, log, err)
			return
		}
		setBrowser(w, p, st, binding)
		verb := "connect"
		if st.ConnectionID != nil {
			verb = "reconnect"
		}
		writeHTML(w, http.StatusOK, startPage, map[string]any{
			"Tenant": st.TenantName, "Provider": p.Spec.DisplayName, "Verb": verb,
			"Expires": st.ExpiresAt.UTC().Format("15:04 MST"),
		})
	})
}

// handleConnectApprove is the click: from the bound browser only, it
// records the approval and sends the browser to the provider.
func handleConnectApprove(log *logrus.Logger, reg *connectors.Registry, svc *lifecycle.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := providerFor(reg, r)
		if err != nil {
			writeConnectError(w, r, log, err)
			return
		}
		u, err := svc.Approve(r.Context(), p, r.URL.Query().Get("session"), func(st *db.OAuthState) string { return browserCookie(r, st) })
		if err != nil {
			writeConnectError(w, r, log, err)
			return
		}
		http.Redirect(w, r, u, http.StatusSeeOther)
	})
}

// writeConnectError answers an error of the browser-facing connect routes:
// a small HTML page when the client prefers HTML (a browser), else the
// JSON error shape.
func writeConnectError(w http.ResponseWriter, r *http.Request, log *logrus.Logger, err error) {
	if !prefersHTML(r) {
		writeError(w, r, log, err)
		return
	}
	code := poblysh.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "status": status, "code": code}).WithError(err).Error("request failed")
	}
	writeHTML(w, status, errorPage, map[string]any{
		"Message": sentence(poblysh.ErrorMessage(err)), "RequestID": requestIDOf(r), "Retry": status >= 500,
	})
}

// prefersHTML reports whether the Accept header ranks text/html above
// application/json (the most specific matching range decides each). A
// browser does; curl (*/*) and HTTP libraries (no Accept) do not.
func prefersHTML(r *http.Request) bool {
	q := map[string]float64{}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		weight := 1.0
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(strings.TrimSpace(f), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					weight = f
				} else {
					weight = 0
				}
			}
		}
		if old, seen := q[mt]; !seen || weight > old {
			q[mt] = weight
		}
	}
	rank := func(exact, family string) float64 {
		for _, k := range []string{exact, family, "*/*"} {
			if v, ok := q[k]; ok {
				return v
			}
		}
		return 0
	}
	return rank("text/html", "text/*") > rank("application/json", "application/*")
}
