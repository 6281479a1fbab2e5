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
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &keyFetchLimit{next: http.DefaultTransport, now: now},
	}
	return &freshKeys{remote: oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), jwksURL)}
}

// freshKeys verifies with a RemoteKeySet, asking once more when a download
// was refused as too soon. RemoteKeySet hands a finished download's result
// to callers until its goroutine clears it, a moment after: a token that
// arrives in that moment reads the previous, refused download's error
// instead of starting its own (a genuine push, signed with a key
// published since, was refused though the interval had passed; seen in a
// CI run). Asking again after that moment starts a download if one is due;
// a forged token costs one more refusal, made without a request.
type freshKeys struct {
	remote *oidc.RemoteKeySet
}

// VerifySignature implements oidc.KeySet.
func (k *freshKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if !errors.Is(err, errKeysFresh) {
		return payload, err
	}
	select {
	case <-ctx.Done():
		return nil, err
	case <-time.After(10 * time.Millisecond):
	}
	return k.remote.VerifySignature(ctx, jwt)
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

	mu   sync.Mutex
	last time.Time // when the last download was let through; zero before the first
}

// RoundTrip implements http.RoundTripper.
func (l *keyFetchLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < keyRefetchInterval {
		l.mu.Unlock()
		return nil, errKeysFresh
	}
	l.last = now
	l.mu.Unlock()
	return l.next.RoundTrip(req)
}
