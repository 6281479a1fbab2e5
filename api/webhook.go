package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/webhook"
)

// Webhooks takes in provider deliveries (webhook.Intake).
type Webhooks interface {
	Receive(ctx context.Context, p *connectors.Provider, req *connectors.WebhookRequest) (*webhook.Outcome, error)
}

// webhookChallenge is a refused delivery's WWW-Authenticate: a delivery
// authenticates with its provider's signature, not with a key.
const webhookChallenge = `Signature realm="poblysh-webhooks"`

// handleWebhook reads the raw body once under the size limit (the larger of
// the general limit and the provider's WebhookMaxBytes) and hands it,
// unparsed, to the intake, which verifies the provider's signature before
// anything else.
func handleWebhook(log *logrus.Logger, reg *connectors.Registry, intake Webhooks, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		provider := mux.Vars(r)["provider"]
		p, ok := reg.Get(provider)
		if !ok {
			writeError(w, r, log, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: "unknown provider " + clip(provider, 64)})
			return
		}
		// A provider that documents larger deliveries (GitHub: 25 MB) is
		// read up to its own maximum on its route only.
		limit := max(limit, p.Spec.WebhookMaxBytes)
		body, err := readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, log, tooLarge(limit))
			return
		}
		if err != nil {
			writeError(w, r, log, poblysh.Invalid("could not read the request body", nil))
			return
		}
		out, err := intake.Receive(r.Context(), p, &connectors.WebhookRequest{
			Header: r.Header.Clone(), Body: body, Query: r.URL.Query(), Now: time.Now(),
		})
		if err != nil {
			if poblysh.ErrorCode(err) == poblysh.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", webhookChallenge)
			}
			writeError(w, r, log, err)
			return
		}
		if out.Reply != nil {
			ct := out.Reply.ContentType
			if ct == "" {
				ct = "application/json"
			}
			status := out.Reply.Status
			if status == 0 {
				status = http.StatusOK
			}
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			_, _ = w.Write(out.Reply.Body)
			return
		}
		writeJSON(w, http.StatusOK, webhookAck{Connections: out.Connections, DeliveryID: out.DeliveryID, Signals: out.Signals, Status: out.Status})
	})
}

// webhookAck is a delivery's answer (swagger's WebhookAck), its fields in
// the order a map's sorted keys wrote them: a struct spares encoding/json
// sorting the keys and boxing the values on every delivery.
type webhookAck struct {
	Connections int    `json:"connections"`
	DeliveryID  string `json:"delivery_id"`
	Signals     int    `json:"signals"`
	Status      string `json:"status"`
}

// readBody reads a request body whole. A body of known length (within
// limit; net/http's reader ends at Content-Length) is read into one buffer
// of that size: io.ReadAll starts at 512 bytes and grows by copying, which
// for a GitHub push of 8 KB allocated twice the body (BenchmarkWebhookHTTP).
// The MinRead spare bytes let the read that finds EOF do so without
// growing the buffer. The declared length is the sender's word, given
// before it has sent a byte or been verified, so only up to
// maxPresizedBody is taken on it: a caller declaring the 25 MB limit and
// sending nothing would otherwise hold 25 MB per connection; a larger body
// grows as it arrives.
// maxPresizedBody bounds the buffer readBody allocates on a declared length
// alone (a GitHub push is about 8 KB; Slack's and Google's are smaller).
const maxPresizedBody = 64 << 10

func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(length, maxPresizedBody)+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
