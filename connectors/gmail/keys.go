package gmail

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// keyRefetchInterval is the least time between two downloads of the keys
// push tokens are signed with.
const keyRefetchInterval = time.Minute

// errKeysFresh refuses a download of the push keys made too soon after the
// last one.
var errKeysFresh = errors.New("the keys were downloaded less than a minute ago")

// newPushKeys returns the key set push tokens are verified against: one for
// the process, which caches the JWKS at jwksURL and downloads it again at
// most once per keyRefetchInterval (by the clock now).
//
// go-oidc's RemoteKeySet downloads the JWKS again whenever no cached key
// verifies a token (a key id it has not seen, or a known one with a bad
// signature), with no pause between downloads; it only joins concurrent
// ones. A push is unauthenticated until verified, and without a webhook
// secret the token is its only proof, so anyone could make the service
// fetch Google's keys once per forged push. RemoteKeySet exposes neither
// its cache nor a way to skip the download, so the limit sits where the
// download is made: its HTTP client's transport.
func newPushKeys(jwksURL string, now func() time.Time) oidc.KeySet {
	limit := &keyFetchLimit{next: http.DefaultTransport, now: now}
	client := &http.Client{Timeout: 10 * time.Second, Transport: limit}
	return &freshKeys{limit: limit, remote: oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), jwksURL)}
}

// freshKeys verifies with a RemoteKeySet, asking again when it was handed
// an earlier download's refusal. RemoteKeySet hands a finished download's
// result to callers until its goroutine clears it, a moment after: a token
// that arrives in that moment reads the previous, refused download's error
// instead of starting its own (a genuine push, signed with a key published
// since, was refused though the interval had passed; seen in CI runs, once
// with a 10 ms pause before the second ask on a loaded machine). The
// limiter counts the downloads asked of it, so a refusal handed over
// without one being asked is known to be an earlier one's, and the ask is
// repeated (with growing pauses, within the caller's context) until the
// goroutine has cleared it. A refusal made for this ask is final: a forged
// token costs one refusal, made without a request.
type freshKeys struct {
	limit  *keyFetchLimit
	remote oidc.KeySet // a RemoteKeySet whose downloads go through limit
}

// staleRefusalWait bounds how long freshKeys waits for RemoteKeySet to
// clear an earlier download's result.
const staleRefusalWait = 2 * time.Second

// VerifySignature implements oidc.KeySet.
func (k *freshKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	pause, waited := time.Millisecond, time.Duration(0)
	for {
		asked := k.limit.asked()
		payload, err := k.remote.VerifySignature(ctx, jwt)
		if !errors.Is(err, errKeysFresh) || k.limit.asked() != asked || waited >= staleRefusalWait {
			return payload, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
		waited += pause
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// keyFetchLimit lets one download of the push keys through per
// keyRefetchInterval and refuses the others at once, without a request. A
// refused download leaves RemoteKeySet's cached keys as they were: a token
// they verify still verifies, any other fails as unverified. Google
// publishes a key well before it signs with it, so a rotation is still
// picked up within the interval. A failed download counts too: an outage
// at Google does not turn each forged push into a retry.
type keyFetchLimit struct {
	next http.RoundTripper
	now  func() time.Time

	mu    sync.Mutex
	last  time.Time // when the last download was let through; zero before the first
	count uint64    // downloads asked for, let through or refused
}

// asked is how many downloads have been asked for so far.
func (l *keyFetchLimit) asked() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// RoundTrip implements http.RoundTripper.
func (l *keyFetchLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.count++
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < keyRefetchInterval {
		l.mu.Unlock()
		return nil, errKeysFresh
	}
	l.last = now
	l.mu.Unlock()
	return l.next.RoundTrip(req)
}
