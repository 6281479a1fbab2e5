package engine

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// Temporal behind an L7 proxy (ingress, load balancer) whose backend is
// gone: the proxy answers the gRPC call with an HTML error page, which
// grpc-go makes Unimplemented (404) or Unknown (500). The nudge is
// unavailable, so the intake records it and DeliverPending keeps it (as
// the stream's own refusal, the intake answered 500 and DeliverPending
// dropped every nudge recorded during the outage).
func TestNudgeStreamThroughAProxyWithoutTemporal(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusInternalServerError} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		srv := &http.Server{Protocols: p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(code)
			_, _ = w.Write([]byte("<html>no healthy upstream</html>"))
		})}
		go func() { _ = srv.Serve(ln) }()
		c, err := client.NewLazyClient(client.Options{HostPort: ln.Addr().String(), Namespace: "default"})
		require.NoError(t, err)
		e := &Engine{Client: c, TaskQueue: "q"}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = e.NudgeStream(ctx, &db.Connection{ID: "c1", TenantID: "t1", Provider: "gmail"}, "label:INBOX", poblysh.TriggerWebhook)
		cancel()
		assert.Equal(t, poblysh.EUNAVAILABLE, poblysh.ErrorCode(err), "HTTP %d", code)
		c.Close()
		_ = srv.Close()
	}
}

// The same pages as a client that has reached Temporal before hands them
// back: the SDK converts the status (serviceerror.FromStatus), so Internal
// and Unimplemented are service errors and Unknown a plain error.
func TestProxyErrorsAfterTemporalWasReachedAreUnavailable(t *testing.T) {
	for _, c := range []codes.Code{codes.Unimplemented, codes.Unknown, codes.Internal} {
		err := serviceerror.FromStatus(status.New(c, "unexpected HTTP status code received from server: 404 (Not Found); transport: received unexpected content-type \"text/html\""))
		assert.True(t, notServing(err), "%v as the SDK returns it (%T)", c, err)
	}
}
