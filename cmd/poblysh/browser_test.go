package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connect"
	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// chromiumPath finds Debian's Chromium (scripts/test.sh installs it when
// missing; CHROMIUM overrides). The browser tests never skip: without it
// they fail and say how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	t.Fatal("Chromium is not installed: run `apt-get install -y chromium` (make test does it), or set CHROMIUM to its path")
	return ""
}

// chrome starts a headless Chromium with a fresh profile (so a fresh
// cookie jar) and returns its tab's context; everything stops at test end.
// Give each action its own deadline with within (a deadline on the first
// call would stop the browser).
func chrome(t *testing.T) context.Context {
	t.Helper()
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { // runs before the profile directory is removed
		cancelTab()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "start Chromium")
	return ctx
}

// within runs one browser action with a deadline.
func within[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// page is what the browser shows: the document's URL, HTTP status,
// heading and text.
type page struct {
	URL, Heading, Text string
	Status             int
}

// open navigates the browser to u and reads the page it lands on.
func open(t *testing.T, ctx context.Context, u string) page {
	t.Helper()
	within(t, ctx, chromedp.Navigate(u))
	return current(t, ctx)
}

// current reads the page the browser shows.
func current(t *testing.T, ctx context.Context) page {
	t.Helper()
	return page{
		URL:     within(t, ctx, chromedp.Location()),
		Status:  within(t, ctx, chromedp.Evaluate[int](`performance.getEntriesByType("navigation")[0].responseStatus`)),
		Heading: within(t, ctx, chromedp.Text(chromedp.CSS("h1"))),
		Text:    within(t, ctx, chromedp.Text(chromedp.CSS("body"))),
	}
}

// appServer stands in for the tenant's app that redirect_uri points at; it
// records the connection ids it is sent.
func appServer(t *testing.T) (string, func() []string) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/done" {
			http.NotFound(w, r) // the browser asks for /favicon.ico too
			return
		}
		mu.Lock()
		got = append(got, r.URL.Query().Get("connection_id"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>App</title><h1 id="connected">Connected</h1>`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestStartPageInChromium: a real browser opens the authorization URL,
// sees the tenant and the provider named on the start page (styled by its
// inline CSS under the page's CSP, no script), clicks, passes the sandbox
// provider's authorize redirect and lands on the app with the new
// connection's id.
func TestStartPageInChromium(t *testing.T) {
	t.Parallel()
	app, visits := appServer(t)
	_, env := fakeSandbox(t, fakesandbox.Options{})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_REDIRECT_ALLOWLIST": app + "/done"}))
	_, key := s.tenant("Acme")
	res, err := s.client.Connect.StartConnect(connect.NewStartConnectParams().WithProvider("fake").
		WithBody(&models.ConnectRequest{RedirectURI: strfmt.URI(app + "/done")}), httptransport.BearerToken(key))
	require.NoError(t, err)

	ctx := chrome(t)
	start := open(t, ctx, res.Payload.AuthorizationURL.String())
	require.Equal(t, http.StatusOK, start.Status)
	require.Equal(t, "Acme wants to connect your Fake (engine test provider) account to Poblysh", start.Heading)
	require.Equal(t, "Continue to Fake (engine test provider)", within(t, ctx, chromedp.Text(chromedp.CSS("form button"))))
	require.Equal(t, "rgb(31, 111, 235)", within(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("button")).backgroundColor`)),
		"the inline style is allowed by the page's CSP")
	require.Zero(t, s.count(`SELECT count(*) FROM connections`), "opening the page connects nothing")

	within(t, ctx, chromedp.Click(chromedp.CSS("form button")))
	within(t, ctx, chromedp.WaitVisible(chromedp.ID("connected")))
	done := current(t, ctx)
	require.Equal(t, http.StatusOK, done.Status)
	u, err := url.Parse(done.URL)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(done.URL, app+"/done?"), "landed on the app: %s", done.URL)
	id := u.Query().Get("connection_id")
	require.Equal(t, []string{id}, visits())
	c, err := s.client.Connections.GetConnection(connections.NewGetConnectionParams().WithID(strfmt.UUID(id)), httptransport.BearerToken(key))
	require.NoError(t, err, "the connection the app was sent exists")
	require.Equal(t, fakesandbox.DefaultAccountID, *c.Payload.ExternalAccountID)
	require.Equal(t, 1, s.count(`SELECT count(*) FROM oauth_states WHERE used_at IS NOT NULL AND verifier_ct IS NULL AND state_ct IS NULL`))
}

// TestCallbackInAnotherBrowserInChromium: a tenant that hands someone the
// provider's URL it obtained in its own browser gets nothing. The victim's
// Chromium reaching the callback without the start page's cookie, or with
// the cookie of a start page it opened but did not continue from, gets a
// 400 page that says what happened, and no connection exists.
func TestCallbackInAnotherBrowserInChromium(t *testing.T) {
	t.Parallel()
	_, env := fakeSandbox(t, fakesandbox.Options{})
	s := newStack(t, withEnv(env))
	_, key := s.tenant("Acme")
	ctx := chrome(t)

	// The attacker's own browser (s.browser) runs the flow up to the
	// provider's redirect and hands the callback URL to the victim.
	st := s.startConnect(key, "fake", nil)
	callback := s.authorize(st.AuthorizationURL.String())
	got := open(t, ctx, callback)
	require.Equal(t, http.StatusBadRequest, got.Status)
	require.Equal(t, "Nothing was connected", got.Heading)
	require.Contains(t, got.Text, "This authorization was not started in this browser")
	require.Zero(t, s.count(`SELECT count(*) FROM connections`))

	// The victim opens the start page too (the binding moves to its
	// browser) but does not click, then follows the attacker's callback.
	st = s.startConnect(key, "fake", nil)
	callback = s.authorize(st.AuthorizationURL.String())
	start := open(t, ctx, st.AuthorizationURL.String())
	require.Equal(t, "Acme wants to connect your Fake (engine test provider) account to Poblysh", start.Heading)
	got = open(t, ctx, callback)
	require.Equal(t, http.StatusBadRequest, got.Status, "a page view is not an approval")
	require.Contains(t, got.Text, "This authorization was not started in this browser")
	require.Zero(t, s.count(`SELECT count(*) FROM connections`), "no connection exists")
	require.Equal(t, 2, s.count(`SELECT count(*) FROM oauth_states WHERE used_at IS NOT NULL AND verifier_ct IS NULL`), "both states are spent")
}
