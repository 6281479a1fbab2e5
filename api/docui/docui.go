// Package docui serves the Swagger UI at /docs without internet access.
//
// The HTML page comes from github.com/go-openapi/runtime/server-middleware/docui;
// every script, stylesheet and icon it references is an embedded copy of the
// npm package swagger-ui-dist (version in assets/VERSION, Apache-2.0, see
// assets/LICENSE) served under /docs/assets/. Mount both handlers:
//
//	r.Handle(docui.Path, docui.Handler("/swagger.json")).Methods(http.MethodGet, http.MethodHead)
//	r.PathPrefix(docui.AssetsPath).Handler(docui.Assets()).Methods(http.MethodGet, http.MethodHead)
//
// To upgrade swagger-ui-dist: `npm pack swagger-ui-dist@<version>`, copy the
// files listed in assets/ (LICENSE keeps its header) and write the version
// into assets/VERSION.
package docui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	rtdocui "github.com/go-openapi/runtime/server-middleware/docui"
)

const (
	// Path is where Handler serves the Swagger UI page.
	Path = "/docs"
	// AssetsPath is the URL prefix Assets serves the embedded files under.
	AssetsPath = "/docs/assets/"
	// Title is the page title.
	Title = "Poblysh Connectors API"
)

//go:embed assets
var embedded embed.FS

type asset struct {
	name        string
	body        []byte
	etag        string
	contentType string
}

var (
	assets  = map[string]*asset{}
	version string
)

func init() {
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		panic(err)
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		switch {
		case strings.HasSuffix(p, ".js"):
			ct = "text/javascript; charset=utf-8" // not left to the OS mime tables
		case strings.HasSuffix(p, ".css"):
			ct = "text/css; charset=utf-8"
		case strings.HasSuffix(p, ".png"):
			ct = "image/png"
		case ct == "":
			ct = "text/plain; charset=utf-8" // LICENSE, NOTICE, VERSION, *.LICENSE.txt
		}
		assets[p] = &asset{name: p, body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		panic(err)
	}
	v, ok := assets["VERSION"]
	if !ok {
		panic("docui: assets/VERSION is missing")
	}
	version = strings.TrimSpace(string(v.body))
}

// Version is the embedded swagger-ui-dist version.
func Version() string { return version }

// assetURL is the URL of an embedded file. The version query makes the URL
// change with every upgrade, so the files can be cached for a long time.
func assetURL(name string) string { return AssetsPath + name + "?v=" + version }

// swaggerUITemplate is the go-openapi docui Swagger UI template plus
// `validatorUrl: null`: without it Swagger UI fetches a validity badge from
// https://validator.swagger.io for any spec not served from localhost.
const swaggerUITemplate = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>{{ .Title }}</title>
    <link rel="stylesheet" type="text/css" href="{{ .SwaggerStylesURL }}" />
    <link rel="icon" type="image/png" href="{{ .Favicon32 }}" sizes="32x32" />
    <link rel="icon" type="image/png" href="{{ .Favicon16 }}" sizes="16x16" />
    <style>
      html { box-sizing: border-box; overflow: -moz-scrollbars-vertical; overflow-y: scroll; }
      *, *:before, *:after { box-sizing: inherit; }
      body { margin: 0; background: #fafafa; }
    </style>
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{{ .AssetsURL }}"></script>
    <script src="{{ .SwaggerPresetURL }}"></script>
    <script>
    window.onload = function() {
      window.ui = SwaggerUIBundle({
        url: '{{ .SpecURL }}',
        dom_id: '#swagger-ui',
        deepLinking: true,
        validatorUrl: null,
        presets: [
          SwaggerUIBundle.presets.apis,
          SwaggerUIStandalonePreset
        ],
        plugins: [
          SwaggerUIBundle.plugins.DownloadUrl
        ],
        layout: "StandaloneLayout"
      })
    }
    </script>
  </body>
</html>
`

// Handler serves the Swagger UI page at /docs (GET or HEAD); specURL is where
// the page loads the spec from (e.g. "/swagger.json"). Other paths answer 404.
//
// Every asset URL of the page points at /docs/assets/ (see Assets): the
// script (WithUIAssetsURL) and, through WithSwaggerUIOptions, the standalone
// preset, the stylesheet and both favicons. docui replaces both favicons
// with CDN URLs when either is empty, so both are always set.
func Handler(specURL string) http.Handler {
	ui := rtdocui.SwaggerUI(nil,
		rtdocui.WithUIBasePath("/"),
		rtdocui.WithUIPath(strings.TrimPrefix(Path, "/")),
		rtdocui.WithSpecURL(specURL),
		rtdocui.WithUITitle(Title),
		rtdocui.WithUITemplate(swaggerUITemplate),
		rtdocui.WithUIAssetsURL(assetURL("swagger-ui-bundle.js")),
		rtdocui.WithSwaggerUIOptions(rtdocui.SwaggerUIOptions{
			SwaggerPresetURL: assetURL("swagger-ui-standalone-preset.js"),
			SwaggerStylesURL: assetURL("swagger-ui.css"),
			Favicon32:        assetURL("favicon-32x32.png"),
			Favicon16:        assetURL("favicon-16x16.png"),
		}),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		ui.ServeHTTP(w, r)
	})
}

// Assets serves the embedded swagger-ui-dist files under /docs/assets/ (GET
// or HEAD) with their content type, a strong ETag (conditional requests
// answer 304) and cache headers: a year, immutable, when the URL carries the
// embedded version as ?v= (as the page's URLs do), an hour otherwise.
// Directories and unknown files answer 404.
func Assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, AssetsPath)
		a := assets[name]
		if !ok || a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Query().Get("v") == version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=3600")
		}
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}
