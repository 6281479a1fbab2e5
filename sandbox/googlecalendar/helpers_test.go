package gcalsandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// fixture is a sandbox served over HTTP with an access token.
type fixture struct {
	sb  *gcalsandbox.Server
	url string
	tok string
}

func setup(t *testing.T, opts gcalsandbox.Options) *fixture {
	t.Helper()
	sb := gcalsandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	t.Cleanup(sb.Close)
	return &fixture{sb: sb, url: srv.URL, tok: sb.AccessToken("")}
}

// do sends a request with the fixture's token and decodes a JSON answer.
func (f *fixture) do(t *testing.T, method, path string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	require.NoError(t, err)
	if f.tok != "" {
		req.Header.Set("Authorization", "Bearer "+f.tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(strings.TrimSpace(string(raw))) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "body: %s", raw)
	}
	return resp.StatusCode, out, resp.Header
}

// list is one events.list call.
func (f *fixture) list(t *testing.T, calendar string, params url.Values) (int, map[string]any) {
	t.Helper()
	code, body, _ := f.do(t, http.MethodGet, "/calendar/v3/calendars/"+url.PathEscape(calendar)+"/events?"+params.Encode(), nil)
	return code, body
}

// listAll pages through events.list and returns every item and the sync token.
func (f *fixture) listAll(t *testing.T, calendar string, params url.Values) ([]map[string]any, string, int) {
	t.Helper()
	var items []map[string]any
	for pages := 1; pages < 100; pages++ {
		code, body := f.list(t, calendar, params)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		for _, it := range body["items"].([]any) {
			items = append(items, it.(map[string]any))
		}
		next, _ := body["nextPageToken"].(string)
		sync, _ := body["nextSyncToken"].(string)
		require.True(t, (next == "") != (sync == ""), "exactly one of nextPageToken and nextSyncToken")
		if next == "" {
			return items, sync, pages
		}
		params = cloneValues(params)
		params.Set("pageToken", next)
	}
	t.Fatal("listing did not end")
	return nil, "", 0
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// inbox is a webhook receiver recording notifications.
type inbox struct {
	mu    sync.Mutex
	hdrs  []http.Header
	bodys []int
}

func newInbox(t *testing.T) (*inbox, string) {
	in := &inbox{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		in.mu.Lock()
		in.hdrs = append(in.hdrs, r.Header.Clone())
		in.bodys = append(in.bodys, len(b))
		in.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return in, srv.URL + "/hook"
}

func (in *inbox) got() ([]http.Header, []int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]http.Header(nil), in.hdrs...), append([]int(nil), in.bodys...)
}
