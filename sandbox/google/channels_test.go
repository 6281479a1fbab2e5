package googlesandbox

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
)

// TestWatchReadsTheAddressScheme: a watch's address is judged by its
// scheme, in any case (the service registers its public URL as the
// operator wrote it, "HTTPS://…" included), and the sync notification
// reaches it; an address of another scheme is refused.
func TestWatchReadsTheAddressScheme(t *testing.T) {
	t.Parallel()
	var got atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
	}))
	t.Cleanup(hook.Close)
	c := &Channels{Deliverer: &sandbox.Deliverer{Client: hook.Client()}, Now: time.Now, DefaultTTL: time.Hour, MaxTTL: time.Hour}
	watch := func(id, address string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		body := `{"id": "` + id + `", "type": "web_hook", "address": "` + address + `"}`
		c.Watch(w, httptest.NewRequest(http.MethodPost, "/watch", strings.NewReader(body)), sandbox.Grant{UserID: "u"}, "k", "r", "uri")
		return w
	}

	w := watch("ch-1", strings.Replace(hook.URL, "http://", "HTTP://", 1)+"/api/v1/webhooks/google-calendar")
	require.Equal(t, http.StatusOK, w.Code, "%s", w.Body)
	c.Wait()
	require.EqualValues(t, 1, got.Load(), "the sync notification reaches the address")

	w = watch("ch-2", "ftp://example.com/hook")
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), "push.webhookUrlNotHttps")
}
