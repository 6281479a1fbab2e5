package sandbox

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// ParseURLs reads "name=url,name=url" pairs: POBLYSH_SANDBOX_URLS as
// `poblysh sandbox` writes it (each fake's base URL by provider name).
// Blank pairs are skipped; an empty list is an empty map.
func ParseURLs(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, u, ok := strings.Cut(pair, "=")
		if !ok || name == "" || !strings.HasPrefix(u, "http") {
			return nil, fmt.Errorf("want name=http://host:port pairs, got %q", pair)
		}
		out[name] = strings.TrimRight(u, "/")
	}
	return out, nil
}

// Connected is what CompleteConnect saw: the start page's heading and the
// service's callback answer (a ConnectCallbackResponse).
type Connected struct {
	Heading  string
	Callback []byte
}

// heading reads the first <h1> of an HTML page.
var heading = regexp.MustCompile(`(?s)<h1>(.*?)</h1>`)

// CompleteConnect plays the user's browser through a connect flow whose
// provider is a fake that approves at once: open the service's start page
// (it names the tenant and the provider and sets the cookie that binds the
// flow to this browser), click its button (a form POST to the page's URL),
// open the authorization URL it redirects to, and open the service's
// callback the fake redirects back to. browser must keep cookies and not
// follow redirects.
func CompleteConnect(ctx context.Context, browser *http.Client, startURL, provider string) (Connected, error) {
	resp, body, err := browse(ctx, browser, http.MethodGet, startURL)
	if err != nil {
		return Connected{}, fmt.Errorf("%s start page: %w", provider, err)
	}
	m := heading.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		return Connected{}, fmt.Errorf("GET %s: want the start page, got %s %s", startURL, resp.Status, body)
	}
	out := Connected{Heading: html.UnescapeString(string(m[1]))}

	resp, body, err = browse(ctx, browser, http.MethodPost, startURL)
	if err != nil {
		return Connected{}, fmt.Errorf("%s start page click: %w", provider, err)
	}
	authURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || authURL == "" {
		return Connected{}, fmt.Errorf("POST %s: want a 303 to the provider, got %s %s", startURL, resp.Status, body)
	}

	resp, body, err = browse(ctx, browser, http.MethodGet, authURL)
	if err != nil {
		return Connected{}, fmt.Errorf("%s authorization URL: %w", provider, err)
	}
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(callback, "/api/v1/connect/"+provider+"/callback") {
		return Connected{}, fmt.Errorf("GET %s: want a 302 to the service's callback, got %s (Location %q) %s", authURL, resp.Status, callback, body)
	}

	resp, body, err = browse(ctx, browser, http.MethodGet, callback)
	if err != nil {
		return Connected{}, fmt.Errorf("%s callback: %w", provider, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Connected{}, fmt.Errorf("GET %s: %s %s", callback, resp.Status, body)
	}
	out.Callback = body
	return out, nil
}

// browse sends a request as a browser (its cookies, no redirect followed)
// and reads the body.
func browse(ctx context.Context, browser *http.Client, method, url string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := browser.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}
