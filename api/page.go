package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// pageCSS styles the service's few HTML pages. It is inline (no external
// assets) and allowed by its hash in the Content-Security-Policy.
const pageCSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;--accent:#1f6feb}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;--line:#3d444d;--accent:#4493f8}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:30rem;margin:1.5rem;padding:2rem;background:var(--card);border:1px solid var(--line);border-radius:12px}
h1{margin:0 0 .75rem;font-size:1.35rem;line-height:1.3}
p{margin:0 0 1rem}
.note{margin:1.25rem 0 0;color:var(--muted);font-size:.875rem}
button{width:100%;padding:.7rem 1rem;border:0;border-radius:8px;background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer}
button:focus-visible{outline:3px solid var(--fg);outline-offset:2px}
`

// pageCSP admits nothing but the inline style above: no scripts, no
// images, no frames around the page, no base URL changes.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; frame-ancestors 'none'; base-uri 'none'"
}()

func page(body string) *template.Template {
	return template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{block "title" .}}{{end}}</title>
<style>` + pageCSS + `</style>
</head>
<body>
<main>
` + body + `
</main>
</body>
</html>
`))
}

// startPage asks the user to continue to the provider. The form posts to
// the page's own URL (which carries the session).
var startPage = template.Must(page(`<h1>{{.Tenant}} wants to {{.Verb}} your {{.Provider}} account to Poblysh</h1>
<p>Poblysh collects activity from the tools a team uses. If you continue, {{.Provider}} asks you to sign in and
approve access, and {{.Tenant}} receives the activity Poblysh reads from your account.</p>
<form method="post"><button type="submit">Continue to {{.Provider}}</button></form>
<p class="note">Not expecting this? Close this page: nothing is connected unless you continue.
This link works in one browser only and expires at {{.Expires}}.</p>`).Parse(
	`{{define "title"}}Connect {{.Provider}} to Poblysh{{end}}`))

// errorPage explains why a connection was not made.
var errorPage = template.Must(page(`<h1>Nothing was connected</h1>
<p>{{.Message}}</p>
<p class="note">{{if .Retry}}This may be temporary: try again in a moment. {{end}}If it keeps happening, ask
whoever sent you the link for a new one and quote reference {{.RequestID}}.</p>`).Parse(
	`{{define "title"}}Not connected · Poblysh{{end}}`))

// pageHeaders are the headers of every answer of the browser-facing
// connect routes: never cached, never framed, no Referer (the start
// page's URL carries its session) and nothing loaded from anywhere.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", pageCSP)
}

// withPageHeaders sets pageHeaders before h answers, so that no answer of
// a browser-facing connect route goes without them.
func withPageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		h.ServeHTTP(w, r)
	})
}

// writeHTML renders t with data.
func writeHTML(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// sentence capitalizes an error message and ends it with a full stop.
func sentence(msg string) string {
	r, n := utf8.DecodeRuneInString(msg)
	if n == 0 {
		return ""
	}
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}
