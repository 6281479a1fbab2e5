package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// TestReadBody: a webhook body is read whole and unchanged whether its
// length is declared or not, declared short or long (net/http never lets
// a body run past its Content-Length, but readBody does not rely on it),
// and read a byte at a time; past the limit it is the MaxBytesError the
// handler answers 413, as io.ReadAll gave it.
func TestReadBody(t *testing.T) {
	t.Parallel()
	const limit = 8192
	for _, n := range []int{0, 1, 511, 512, 513, 4096, 8191, 8192} {
		body := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		for _, declared := range []int64{int64(n), -1, 0, int64(n) / 2, int64(n) * 2, limit + 1} {
			for _, oneByte := range []bool{false, true} {
				var src io.Reader = bytes.NewReader(body)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(src), limit)
				got, err := readBody(r, declared, limit)
				require.NoError(t, err, "%d bytes declared %d", n, declared)
				require.Equal(t, body, got, "%d bytes declared %d", n, declared)
			}
		}
	}
	for _, declared := range []int64{-1, 0, limit, limit + 1} {
		r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(make([]byte, limit+1))), limit)
		_, err := readBody(r, declared, limit)
		var mbe *http.MaxBytesError
		require.True(t, errors.As(err, &mbe), "declared %d: %v", declared, err)
	}
}

// TestWebhookAckBytes: the delivery's answer is written byte for byte as
// the map it replaced wrote it.
func TestWebhookAckBytes(t *testing.T) {
	t.Parallel()
	for _, a := range []webhookAck{{}, {Connections: 2, DeliveryID: `a"b<c>&\u2028`, Signals: 7, Status: "accepted"}} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, http.StatusOK, map[string]any{"status": a.Status, "delivery_id": a.DeliveryID, "signals": a.Signals, "connections": a.Connections})
		writeJSON(got, http.StatusOK, a)
		require.Equal(t, want.Body.String(), got.Body.String())
		require.Equal(t, want.Header(), got.Header())
	}
}

// TestReadBodyDoesNotTrustALargeDeclaredLength: a caller declaring a body
// near the limit but sending a few bytes gets a buffer sized for what it
// sent plus at most maxPresizedBody, not for what it declared (the length
// is unverified; trusting it let each connection hold the limit's worth).
func TestReadBodyDoesNotTrustALargeDeclaredLength(t *testing.T) {
	t.Parallel()
	const limit = 25 << 20
	r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader([]byte(`{}`))), limit)
	got, err := readBody(r, limit, limit)
	require.NoError(t, err)
	require.Equal(t, []byte(`{}`), got)
	require.LessOrEqual(t, cap(got), maxPresizedBody+bytes.MinRead, "the buffer follows the bytes sent, not the declared length")
}
