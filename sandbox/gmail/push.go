package gmailsandbox

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// pushIssuer is the iss of the push tokens: Google's, as Pub/Sub writes it.
const pushIssuer = "https://accounts.google.com"

// PushOptions shape a push. The zero value is a genuine push; the others
// forge what a push verifier must refuse.
type PushOptions struct {
	// Audience replaces the token's aud (a push meant for someone else).
	Audience string
	// ForeignSigner signs with a key the JWKS does not publish.
	ForeignSigner bool
	// Expired dates the token two hours back.
	Expired bool
	// Unverified sets email_verified to false.
	Unverified bool
	// Email replaces the service account in the token.
	Email string
	// HistoryIDAsString sends historyId as a JSON string, as Gmail's docs
	// show (real pushes send a number).
	HistoryIDAsString bool
	// MessageID replaces the Pub/Sub message id (a redelivery repeats it).
	MessageID string
}

// kid is the key id of the sandbox's signing key.
func (s *Server) kid() string {
	sum := sha256.Sum256(s.key.N.Bytes())
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// jwks serves the public key push tokens are signed with, in the JWK Set
// format of https://www.googleapis.com/oauth2/v3/certs.
func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	enc := base64.RawURLEncoding.EncodeToString
	w.Header().Set("Cache-Control", "public, max-age=300")
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": s.kid(),
		"n": enc(s.key.N.Bytes()), "e": enc(big.NewInt(int64(s.key.E)).Bytes()),
	}}})
}

// token signs a push token for audience, as Google signs Pub/Sub push
// tokens: RS256, kid in the header, iss/aud/azp/sub/email/email_verified/
// iat/exp claims.
func (s *Server) token(audience string, o PushOptions) string {
	now := s.now()
	if o.Expired {
		now = now.Add(-2 * time.Hour)
	}
	if o.Audience != "" {
		audience = o.Audience
	}
	email := s.opts.ServiceAccount
	if o.Email != "" {
		email = o.Email
	}
	claims := map[string]any{
		"aud": audience, "azp": "113774264463038321964", "sub": "113774264463038321964",
		"email": email, "email_verified": !o.Unverified,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "iss": pushIssuer,
	}
	key, kid := s.key, s.kid()
	if o.ForeignSigner {
		key = s.foreign // same kid: only the signature tells it apart
	}
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc(h) + "." + enc(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic("gmailsandbox: sign: " + err.Error())
	}
	return signing + "." + enc(sig)
}

// Envelope builds the Pub/Sub push of a change to user's mailbox at
// historyID, with its OIDC token, for the push endpoint target.
func (s *Server) Envelope(user string, historyID uint64, target string, o PushOptions) sandbox.Delivery {
	s.mu.Lock()
	s.pushSeq += 1 + s.pushSeq%7
	id := strconv.FormatInt(s.pushSeq, 10)
	s.mu.Unlock()
	if o.MessageID != "" {
		id = o.MessageID
	}
	var hid any = historyID
	if o.HistoryIDAsString {
		hid = strconv.FormatUint(historyID, 10)
	}
	data, _ := json.Marshal(map[string]any{"emailAddress": user, "historyId": hid})
	published := s.now().Format(time.RFC3339Nano)
	body, _ := json.Marshal(map[string]any{
		"message": map[string]any{
			"data": base64.StdEncoding.EncodeToString(data), "messageId": id, "message_id": id,
			"publishTime": published, "publish_time": published, "attributes": map[string]string{},
		},
		"subscription":    DefaultSubscription,
		"deliveryAttempt": 1,
	})
	audience := s.opts.PushAudience
	if audience == "" {
		audience = target // Pub/Sub's default audience is the push endpoint
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)")
	h.Set("Authorization", "Bearer "+s.token(audience, o))
	return sandbox.Delivery{Header: h, Body: body}
}

// Push sends a push about user's mailbox at its current history id to the
// push endpoint, genuine or forged (o), whether or not the mailbox is
// watched.
func (s *Server) Push(ctx context.Context, user string, o PushOptions, opt sandbox.DeliveryOptions) []sandbox.Result {
	if user == "" {
		user = s.opts.User
	}
	s.mu.Lock()
	b := s.boxLocked(user)
	hid, user := b.historyID, b.user // a renamed mailbox's pushes name its new address
	s.mu.Unlock()
	target := s.Base.Deliverer.Target()
	return s.Base.Deliverer.Send(ctx, s.Envelope(user, hid, target, o), opt)
}

// publish pushes a change of labels to a watched mailbox: Gmail publishes
// when the change touches a watched label (or, with exclude, another one)
// and the watch has not expired.
func (s *Server) publish(ctx context.Context, user string, labels []string, historyID uint64, opt sandbox.DeliveryOptions) []sandbox.Result {
	s.mu.Lock()
	b := s.boxLocked(user)
	wst, user := b.watch, b.user
	s.mu.Unlock()
	if wst == nil || !s.now().Before(wst.expires) {
		return nil
	}
	hit := len(wst.labels) == 0
	for _, l := range labels {
		if slices.Contains(wst.labels, l) {
			hit = true
		}
	}
	if wst.exclude && len(wst.labels) > 0 {
		hit = !hit
	}
	if !hit {
		return nil
	}
	target := s.Base.Deliverer.Target()
	return s.Base.Deliverer.Send(ctx, s.Envelope(user, historyID, target, PushOptions{}), opt)
}
