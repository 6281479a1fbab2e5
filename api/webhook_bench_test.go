package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/github"
	"github.com/poblysh/poblysh/webhook"
)

// acceptAll is an intake that accepts every delivery without reading it.
type acceptAll struct{}

func (acceptAll) Receive(_ context.Context, _ *connectors.Provider, req *connectors.WebhookRequest) (*webhook.Outcome, error) {
	return &webhook.Outcome{Status: webhook.Accepted, DeliveryID: req.Header.Get("X-GitHub-Delivery"), Signals: 1, Connections: 1}, nil
}

// BenchmarkWebhookHTTP is what the API's handler costs a webhook delivery
// around the intake (webhook.BenchmarkIntakeLayers measures the intake):
// the middleware every request passes through (connection deadlines,
// request id, access log at warn as the benchmarks run it, recoverer),
// routing, reading an 8 KB body and writing the answer, with an intake
// that accepts every delivery. Run it with -benchmem: allocations and CPU
// per delivery, not the machine's load, are its figures.
func BenchmarkWebhookHTTP(b *testing.B) {
	reg, err := connectors.Build(connectors.Registered(), func(string) string { return "" }, "http://127.0.0.1:1", false)
	require.NoError(b, err)
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	h, err := api.NewServer(api.Deps{Log: log, Registry: reg, Webhooks: acceptAll{}})
	require.NoError(b, err)
	body := []byte(`{"ref":"refs/heads/main","commits":[{"message":"` + strings.Repeat("x", 8000) + `"}]}`)
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/webhooks/github", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
