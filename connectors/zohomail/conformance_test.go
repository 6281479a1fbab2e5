package zohomail

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/sandbox"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// TestConformance runs the suite on a mailbox of the EU data centre whose
// config names the seeded freelance reporter. Page size 3 makes both
// folders take several pages. Zoho Mail advertises no webhook capability
// (its outgoing webhook only nudges a poll; see webhook_test.go).
func TestConformance(t *testing.T) {
	t.Parallel()
	connectortest.Run(t, func(t *testing.T) *connectortest.Env {
		env := conformanceEnv(t)
		env.Examples = catalogExamples(t)
		return env
	})
}

// conformanceEnv is the connector against a fresh seeded sandbox (the
// fuzz targets share it).
func conformanceEnv(t testing.TB) *connectortest.Env {
	f := newFake(t, zohosandbox.Options{Seed: true}, map[string]string{"POBLYSH_ZOHO_MAIL_PAGE_SIZE": "3"})
	conn, tok := f.connect(t, tenantPress)
	require.Equal(t, "eu", conn.Account.Metadata["dc"])
	return &connectortest.Env{
		Provider:    f.provider,
		Connection:  conn,
		AccessToken: tok.AccessToken,
		Expected:    zohosandbox.ExpectedMail(),
		InjectFault: f.sb.Faults.Add,
		ErrorCases: append(connectortest.DefaultErrorCases(),
			connectortest.ErrorCase{Name: "400_limit", Want: connectors.ErrRateLimited, WantRetryAfter: 9 * time.Second,
				Fault: sandbox.Fault{Status: 400, RetryAfter: 9, Body: `{"status":{"code":400,"description":"Rate limit"},"data":{"errorCode":"RATE_LIMIT_EXCEEDED"}}`}},
			connectortest.ErrorCase{Name: "400_invalid", Want: connectors.ErrInvalidConfig,
				Fault: sandbox.Fault{Status: 400, Body: `{"status":{"code":400,"description":"Invalid Input"},"data":{"errorCode":"INVALID_INPUT"}}`}},
		),
	}
}
