package gmailsandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

type fixture struct {
	sb  *gmailsandbox.Server
	url string
	tok string
}

func setup(t *testing.T, scopes ...string) *fixture {
	sb := gmailsandbox.New(gmailsandbox.Options{Seed: true})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return &fixture{sb: sb, url: srv.URL, tok: sb.AccessToken("", scopes...)}
}

func (f *fixture) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// TestMetadataScopeLimits: like Gmail, the metadata scope allows no q and
// no message bodies.
func TestMetadataScopeLimits(t *testing.T) {
	f := setup(t)
	code, body := f.call(t, "GET", "/gmail/v1/users/me/messages?q=after:1700000000", "")
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body["error"].(map[string]any)["message"], "Metadata scope does not support 'q' parameter")
	code, _ = f.call(t, "GET", "/gmail/v1/users/me/messages/"+gmailsandbox.InquiryID+"?format=full", "")
	require.Equal(t, http.StatusForbidden, code)
	code, body = f.call(t, "GET", "/gmail/v1/users/me/messages/"+gmailsandbox.InquiryID+"?format=metadata&metadataHeaders=Subject", "")
	require.Equal(t, http.StatusOK, code)
	hs := body["payload"].(map[string]any)["headers"].([]any)
	require.Len(t, hs, 1, "only the headers asked for")
	require.Equal(t, "Subject", hs[0].(map[string]any)["name"])

	wide := setup(t, "openid", "email", "https://www.googleapis.com/auth/gmail.readonly")
	code, _ = wide.call(t, "GET", "/gmail/v1/users/me/messages?q=after:1700000000", "")
	require.Equal(t, http.StatusOK, code)
	code, _ = f.call(t, "GET", "/gmail/v1/users/someone@else.example/profile", "")
	require.Equal(t, http.StatusForbidden, code, "another mailbox")
}

func TestHistoryAndWatch(t *testing.T) {
	f := setup(t)
	code, prof := f.call(t, "GET", "/gmail/v1/users/me/profile", "")
	require.Equal(t, http.StatusOK, code)
	start := prof["historyId"].(string)
	m, _, err := f.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "a@b.example", To: f.sb.User(), Subject: "Hi"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	code, h := f.call(t, "GET", "/gmail/v1/users/me/history?historyTypes=messageAdded&labelId=INBOX&startHistoryId="+start, "")
	require.Equal(t, http.StatusOK, code)
	recs := h["history"].([]any)
	require.Len(t, recs, 1)
	added := recs[0].(map[string]any)["messagesAdded"].([]any)[0].(map[string]any)["message"].(map[string]any)
	require.Equal(t, m.ID, added["id"])
	require.Equal(t, m.ID, added["threadId"], "a new thread is named after its first message")
	code, h = f.call(t, "GET", "/gmail/v1/users/me/history?labelId=SENT&startHistoryId="+start, "")
	require.Equal(t, http.StatusOK, code)
	require.Nil(t, h["history"])
	f.sb.ExpireHistory("")
	code, _ = f.call(t, "GET", "/gmail/v1/users/me/history?startHistoryId="+start, "")
	require.Equal(t, http.StatusNotFound, code, "history too old")

	code, _ = f.call(t, "POST", "/gmail/v1/users/me/watch", `{"topicName":"my-topic"}`)
	require.Equal(t, http.StatusBadRequest, code, "a topic is projects/<p>/topics/<t>")
	code, w := f.call(t, "POST", "/gmail/v1/users/me/watch", `{"topicName":"`+gmailsandbox.DefaultTopic+`","labelIds":["INBOX"],"labelFilterBehavior":"include"}`)
	require.Equal(t, http.StatusOK, code)
	require.NotEmpty(t, w["expiration"])
	require.True(t, f.sb.Watch("").Active)
	code, _ = f.call(t, "POST", "/gmail/v1/users/me/stop", "")
	require.Equal(t, http.StatusNoContent, code)
	require.False(t, f.sb.Watch("").Active)
}

// TestArchive: taking INBOX off a message (the control route's remove) is
// a labelRemoved record; history.list?labelId=INBOX still returns the
// messagesAdded record, whose message labelIds are today's, as Gmail's
// are.
func TestArchive(t *testing.T) {
	f := setup(t)
	_, prof := f.call(t, "GET", "/gmail/v1/users/me/profile", "")
	start := prof["historyId"].(string)
	m, _, err := f.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "a@b.example", To: f.sb.User(), Subject: "Hi"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	req, err := http.NewRequest("POST", f.url+"/_sandbox/gmail/messages/"+m.ID+"/labels", strings.NewReader(`{"remove":["INBOX"]}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	code, h := f.call(t, "GET", "/gmail/v1/users/me/history?historyTypes=messageAdded&historyTypes=labelAdded&labelId=INBOX&startHistoryId="+start, "")
	require.Equal(t, http.StatusOK, code)
	recs := h["history"].([]any)
	require.Len(t, recs, 1, "the arrival; the removal is not an asked type")
	added := recs[0].(map[string]any)["messagesAdded"].([]any)[0].(map[string]any)["message"].(map[string]any)
	require.Equal(t, []any{"UNREAD"}, added["labelIds"], "today's labels")
	code, h = f.call(t, "GET", "/gmail/v1/users/me/history?historyTypes=labelRemoved&labelId=INBOX&startHistoryId="+start, "")
	require.Equal(t, http.StatusOK, code)
	removed := h["history"].([]any)[0].(map[string]any)["labelsRemoved"].([]any)[0].(map[string]any)
	require.Equal(t, []any{"INBOX"}, removed["labelIds"])
	code, got := f.call(t, "GET", "/gmail/v1/users/me/messages/"+m.ID+"?format=metadata", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{"UNREAD"}, got["labelIds"])
}

// TestPushTokensVerifyAgainstTheServedKeys: the push tokens are signed as
// Google signs them and verify with go-oidc against the JWKS the fake
// serves; a forged signer does not.
func TestPushTokensVerifyAgainstTheServedKeys(t *testing.T) {
	f := setup(t)
	keys := oidc.NewRemoteKeySet(context.Background(), f.url+"/oauth2/v3/certs")
	v := oidc.NewVerifier("https://accounts.google.com", keys, &oidc.Config{ClientID: "https://svc.example/api/v1/webhooks/gmail"})
	d := f.sb.Envelope(f.sb.User(), 123, "https://svc.example/api/v1/webhooks/gmail", gmailsandbox.PushOptions{})
	tok, err := v.Verify(context.Background(), strings.TrimPrefix(d.Header.Get("Authorization"), "Bearer "))
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, tok.Claims(&claims))
	require.Equal(t, gmailsandbox.DefaultServiceAccount, claims["email"])
	require.Equal(t, true, claims["email_verified"])
	var env struct {
		Message struct {
			Data      []byte `json:"data"`
			MessageID string `json:"messageId"`
		} `json:"message"`
		Subscription string `json:"subscription"`
	}
	require.NoError(t, json.Unmarshal(d.Body, &env))
	require.JSONEq(t, `{"emailAddress":"ada@example.com","historyId":123}`, string(env.Message.Data))
	require.Equal(t, gmailsandbox.DefaultSubscription, env.Subscription)

	forged := f.sb.Envelope(f.sb.User(), 123, "https://svc.example/api/v1/webhooks/gmail", gmailsandbox.PushOptions{ForeignSigner: true})
	_, err = v.Verify(context.Background(), strings.TrimPrefix(forged.Header.Get("Authorization"), "Bearer "))
	require.Error(t, err)
}

func TestRegisteredWithUniformOptions(t *testing.T) {
	fake, err := sandbox.New("gmail", sandbox.Options{ClientID: "cid", ClientSecret: "cs", DeliverTo: "http://127.0.0.1:8080"})
	require.NoError(t, err)
	env := fake.Env("http://127.0.0.1:9103")
	require.Equal(t, "cid", env["POBLYSH_GMAIL_CLIENT_ID"])
	require.Equal(t, "http://127.0.0.1:9103/", env["POBLYSH_GMAIL_API_URL"])
	require.Equal(t, "http://127.0.0.1:9103/oauth2/v3/certs", env["POBLYSH_GMAIL_PUSH_JWKS_URL"])
	require.Equal(t, gmailsandbox.DefaultTopic, env["POBLYSH_GMAIL_PUBSUB_TOPIC"])
	require.Equal(t, "http://127.0.0.1:8080/api/v1/webhooks/gmail", fake.(*gmailsandbox.Server).Base.Deliverer.Target())
	_, err = sandbox.New("gmail", sandbox.Options{Faults: []string{"nope"}})
	require.Error(t, err)
}

// TestRenameUser: a Workspace admin renames the user. The account stays
// (its subject, its tokens, its mailbox and watch); users.getProfile, the
// pushes, id_tokens and userinfo name the new address, and the old one is
// an alias of the same mailbox.
func TestRenameUser(t *testing.T) {
	f := setup(t)
	const renamed = "ada.lovelace@example.com"
	var pushed []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Message struct {
				Data []byte `json:"data"`
			} `json:"message"`
		}
		_ = json.NewDecoder(r.Body).Decode(&env)
		var n struct {
			EmailAddress string `json:"emailAddress"`
		}
		_ = json.Unmarshal(env.Message.Data, &n)
		pushed = append(pushed, n.EmailAddress)
	}))
	t.Cleanup(sink.Close)
	f.sb.Base.Deliverer.SetTarget(sink.URL)
	code, _ := f.call(t, "POST", "/gmail/v1/users/me/watch", `{"topicName":"`+gmailsandbox.DefaultTopic+`"}`)
	require.Equal(t, http.StatusOK, code)
	_, before := f.call(t, "GET", "/gmail/v1/users/me/profile", "")
	_, info := f.call(t, "GET", "/v1/userinfo", "")
	subject := info["sub"]

	code, _ = f.call(t, "POST", "/_sandbox/gmail/rename", `{"to":"`+renamed+`"}`)
	require.Equal(t, http.StatusNoContent, code)

	code, after := f.call(t, "GET", "/gmail/v1/users/me/profile", "")
	require.Equal(t, http.StatusOK, code, "the token issued before the rename still reads the mailbox")
	require.Equal(t, renamed, after["emailAddress"])
	require.Equal(t, before["messagesTotal"], after["messagesTotal"], "the same mailbox")
	code, _ = f.call(t, "GET", "/gmail/v1/users/"+renamed+"/profile", "")
	require.Equal(t, http.StatusOK, code, "the new address is the token's own")
	_, info = f.call(t, "GET", "/v1/userinfo", "")
	require.Equal(t, subject, info["sub"], "the account's subject does not change")
	require.Equal(t, renamed, info["email"])

	_, _, err := f.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "a@b.example", To: renamed, Subject: "Hi"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	f.sb.Push(context.Background(), "", gmailsandbox.PushOptions{}, sandbox.DeliveryOptions{})
	require.Equal(t, []string{renamed, renamed}, pushed, "the watch stays, and its pushes name the new address")
	require.True(t, f.sb.Watch(renamed).Active, "the old address and the new one name one mailbox")
	require.Equal(t, f.sb.Watch("").Calls, f.sb.Watch(renamed).Calls)

	// Signing in as the new address is the same account.
	tok := f.sb.AccessToken(renamed)
	g := &fixture{sb: f.sb, url: f.url, tok: tok}
	_, info = g.call(t, "GET", "/v1/userinfo", "")
	require.Equal(t, subject, info["sub"])
	_, prof := g.call(t, "GET", "/gmail/v1/users/me/profile", "")
	require.Equal(t, renamed, prof["emailAddress"])
	require.Equal(t, after["messagesTotal"].(float64)+1, prof["messagesTotal"], "the mailbox the message arrived in")

	f.sb.AddLabel("grace@example.com", "Work") // another mailbox
	code, _ = f.call(t, "POST", "/_sandbox/gmail/rename", `{"to":"grace@example.com"}`)
	require.Equal(t, http.StatusConflict, code, "another mailbox's address")
}
