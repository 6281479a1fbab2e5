package google

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/poblysh/poblysh/connectors"
)

// maxBody bounds one API response kept by a BodyCapture.
const maxBody = 64 << 20

// Capture returns a copy of hc whose responses are kept by the returned
// BodyCapture, so Signals carry each provider object exactly as Google sent
// it while the typed client parses the same bytes.
func Capture(hc *http.Client) (*http.Client, *BodyCapture) {
	clone := *hc
	bc := &BodyCapture{base: hc.Transport}
	clone.Transport = bc
	return &clone, bc
}

// BodyCapture is a RoundTripper that reads each successful response body in
// full, keeps it, and hands the client an identical copy.
type BodyCapture struct {
	base http.RoundTripper
	mu   sync.Mutex
	last []byte
}

// RoundTrip implements http.RoundTripper.
func (b *BodyCapture) RoundTrip(req *http.Request) (*http.Response, error) {
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: reading body", req.Method, req.URL.Path, connectors.ErrTransient)
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%s %s: %w: response larger than %d bytes", req.Method, req.URL.Path, connectors.ErrTransient, maxBody)
	}
	b.mu.Lock()
	b.last = data
	b.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

// Body is the body of the last response.
func (b *BodyCapture) Body() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}
