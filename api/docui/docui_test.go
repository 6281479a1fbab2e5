package docui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// mux routes /docs/assets/ to Assets and everything else to Handler, as the
// API router does.
func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	m := http.NewServeMux()
	m.Handle(AssetsPath, Assets())
	m.Handle(Path, Handler("/swagger.json"))
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

var attrURL = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*["']([^"']*)["']`)

func TestPageIsSelfHosted(t *testing.T) {
	srv := testServer(t)
	res, body := get(t, srv.URL+"/docs")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /docs: %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("content type %q", ct)
	}
	html := string(body)

	for _, bad := range []string{"http://", "https://", "unpkg", "jsdelivr", "cdnjs", "//cdn", "googleapis"} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("page contains %q:\n%s", bad, html)
		}
	}
	for _, want := range []string{"<title>" + Title + "</title>", `\/swagger.json`, "validatorUrl: null", "SwaggerUIStandalonePreset"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	refs := attrURL.FindAllStringSubmatch(html, -1)
	seen := map[string]bool{}
	for _, m := range refs {
		u := m[1]
		if !strings.HasPrefix(u, AssetsPath) {
			t.Errorf("page references %q, outside %s", u, AssetsPath)
			continue
		}
		seen[strings.SplitN(strings.TrimPrefix(u, AssetsPath), "?", 2)[0]] = true

		res, body := get(t, srv.URL+u)
		if res.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: status %d, %d bytes", u, res.StatusCode, len(body))
		}
		if res.Header.Get("ETag") == "" || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: cache headers ETag=%q Cache-Control=%q", u, res.Header.Get("ETag"), res.Header.Get("Cache-Control"))
		}
		wantCT := map[string]string{".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
		for ext, ct := range wantCT {
			if strings.Contains(u, ext+"?") && !strings.HasPrefix(res.Header.Get("Content-Type"), ct) {
				t.Errorf("GET %s: content type %q, want %s", u, res.Header.Get("Content-Type"), ct)
			}
		}
	}
	for _, f := range []string{"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"} {
		if !seen[f] {
			t.Errorf("page does not reference %s%s", AssetsPath, f)
		}
	}
}

func TestAssets(t *testing.T) {
	srv := testServer(t)

	if v := Version(); !regexp.MustCompile(`^5\.\d+\.\d+$`).MatchString(v) {
		t.Errorf("VERSION %q is not a swagger-ui-dist 5.x version", v)
	}
	_, bundle := get(t, srv.URL+AssetsPath+"swagger-ui-bundle.js")
	if !strings.Contains(string(bundle), `PACKAGE_VERSION:"`+Version()+`"`) {
		t.Errorf("swagger-ui-bundle.js is not version %s", Version())
	}

	res, lic := get(t, srv.URL+AssetsPath+"LICENSE")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(lic), "Apache-2.0") || !strings.Contains(string(lic), "Apache License") {
		t.Errorf("LICENSE: status %d, does not name Apache-2.0", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("LICENSE content type %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("unversioned Cache-Control %q", cc)
	}

	res, _ = get(t, srv.URL+AssetsPath+"swagger-ui.css", "If-None-Match", res.Header.Get("ETag"))
	if res.StatusCode != http.StatusOK {
		t.Errorf("another file's ETag: %d", res.StatusCode)
	}
	res, _ = get(t, srv.URL+AssetsPath+"swagger-ui.css", "If-None-Match", res.Header.Get("ETag"))
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", res.StatusCode)
	}

	for _, p := range []string{AssetsPath, AssetsPath + "missing.js", AssetsPath + "index.html"} {
		if res, _ := get(t, srv.URL+p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}

	// Only the embedded file names match: no traversal, no directory listing.
	for _, p := range []string{AssetsPath + "../assets/LICENSE", AssetsPath + "./LICENSE", AssetsPath + "/LICENSE", "/docs/LICENSE"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = p
		rec := httptest.NewRecorder()
		Assets().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}

	req := httptest.NewRequest(http.MethodPost, AssetsPath+"swagger-ui.css", nil)
	rec := httptest.NewRecorder()
	Assets().ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST asset: %d, want 405", rec.Code)
	}

	req = httptest.NewRequest(http.MethodHead, AssetsPath+"favicon-16x16.png", nil)
	rec = httptest.NewRecorder()
	Assets().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD asset: %d with %d body bytes", rec.Code, rec.Body.Len())
	}
}
