package githubsandbox_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// inbox records the deliveries it receives.
type inbox struct {
	*httptest.Server
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
}

func newInbox(t *testing.T) *inbox {
	in := &inbox{}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		in.mu.Lock()
		in.got, in.body = append(in.got, r), append(in.body, b)
		in.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(in.Close)
	return in
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.got)
}

// post calls a route with a JSON body and decodes the JSON answer.
func (e *env) post(t *testing.T, method, path, body string, auth bool) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.Header.Set("Authorization", "token "+e.token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out), string(b))
	}
	return resp.StatusCode, out
}

func sign256(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func sign1(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

func TestAppLevelDeliveryIsSigned(t *testing.T) {
	e := setup(t, githubsandbox.Options{WebhookSecret: "app-secret", AccessTTL: 8 * time.Hour})
	in := newInbox(t)
	status, _ := e.post(t, http.MethodPost, "/_sandbox/webhook-target", `{"url":"`+in.URL+`"}`, false)
	require.Equal(t, http.StatusNoContent, status)

	status, out := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/push", `{"commits":2,"user":"hubot"}`, false)
	require.Equal(t, http.StatusCreated, status)
	require.Equal(t, "refs/heads/main", out["push"].(map[string]any)["ref"])
	dels := out["deliveries"].([]any)
	require.Len(t, dels, 1)
	require.Equal(t, float64(http.StatusAccepted), dels[0].(map[string]any)["responses"].([]any)[0].(map[string]any)["status"])

	require.Equal(t, 1, in.count())
	r, body := in.got[0], in.body[0]
	require.Equal(t, "push", r.Header.Get("X-GitHub-Event"))
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, r.Header.Get("X-GitHub-Delivery"))
	require.Equal(t, dels[0].(map[string]any)["delivery_id"], r.Header.Get("X-GitHub-Delivery"))
	require.Regexp(t, `^GitHub-Hookshot/`, r.Header.Get("User-Agent"))
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "integration", r.Header.Get("X-GitHub-Hook-Installation-Target-Type"))
	require.NotEmpty(t, r.Header.Get("X-GitHub-Hook-ID"))
	require.Equal(t, sign256("app-secret", body), r.Header.Get("X-Hub-Signature-256"))
	require.Equal(t, sign1("app-secret", body), r.Header.Get("X-Hub-Signature"))
	var p map[string]any
	require.NoError(t, json.Unmarshal(body, &p))
	require.Len(t, p["commits"], 2)
	require.Contains(t, p, "installation")
	require.Equal(t, "hubot", p["sender"].(map[string]any)["login"])
	repo := p["repository"].(map[string]any)
	require.IsType(t, float64(0), repo["pushed_at"], "push payloads carry epoch timestamps")
}

func TestCopiesAndHeldDeliveries(t *testing.T) {
	e := setup(t, githubsandbox.Options{AccessTTL: 8 * time.Hour})
	in := newInbox(t)
	e.post(t, http.MethodPost, "/_sandbox/webhook-target", `{"url":"`+in.URL+`"}`, false)

	_, out := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls", `{"title":"Twice","copies":2}`, false)
	require.Len(t, out["deliveries"].([]any)[0].(map[string]any)["responses"], 2)
	require.Equal(t, 2, in.count())
	require.Equal(t, in.got[0].Header.Get("X-GitHub-Delivery"), in.got[1].Header.Get("X-GitHub-Delivery"), "copies are the same delivery")

	for _, n := range []string{"2", "6"} { // seeded open pull requests
		status, out := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls/"+n+"/close", `{"hold":true}`, false)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, true, out["deliveries"].([]any)[0].(map[string]any)["held"])
	}
	require.Equal(t, 2, in.count(), "held deliveries wait")
	status, flushed := e.post(t, http.MethodPost, "/_sandbox/flush", ``, false)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, flushed["results"], 2)
	require.Equal(t, 4, in.count())
	numbers := []float64{}
	for _, b := range in.body[2:] {
		var p map[string]any
		require.NoError(t, json.Unmarshal(b, &p))
		numbers = append(numbers, p["number"].(float64))
	}
	require.Equal(t, []float64{6, 2}, numbers, "flushed newest first")
}

func TestRepositoryHooks(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	app, hookIn := newInbox(t), newInbox(t)
	e.post(t, http.MethodPost, "/_sandbox/webhook-target", `{"url":"`+app.URL+`"}`, false)

	status, hook := e.post(t, http.MethodPost, "/repos/octo-org/hello-world/hooks",
		`{"name":"web","active":true,"events":["push"],"config":{"url":"`+hookIn.URL+`","content_type":"form","secret":"hook-secret","insecure_ssl":"0"}}`, true)
	require.Equal(t, http.StatusCreated, status)
	require.Equal(t, "********", hook["config"].(map[string]any)["secret"], "secrets are masked")
	id := int64(hook["id"].(float64))
	e.srv.Wait()
	require.Equal(t, 1, hookIn.count(), "ping on creation")
	ping := hookIn.got[0]
	require.Equal(t, "ping", ping.Header.Get("X-GitHub-Event"))
	require.Equal(t, "application/x-www-form-urlencoded", ping.Header.Get("Content-Type"))
	require.Equal(t, "repository", ping.Header.Get("X-GitHub-Hook-Installation-Target-Type"))
	require.Equal(t, sign256("hook-secret", hookIn.body[0]), ping.Header.Get("X-Hub-Signature-256"))
	form, err := url.ParseQuery(string(hookIn.body[0]))
	require.NoError(t, err)
	var p map[string]any
	require.NoError(t, json.Unmarshal([]byte(form.Get("payload")), &p))
	require.Equal(t, float64(id), p["hook_id"])

	status, _ = e.post(t, http.MethodPost, "/repos/octo-org/hello-world/hooks", `{"config":{"url":"`+hookIn.URL+`"}}`, true)
	require.Equal(t, http.StatusUnprocessableEntity, status, "one hook per URL")

	// An OAuth App has no app-level webhook: the hooks get the events, and only subscribed ones.
	e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/push", `{}`, false)
	e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls", `{}`, false)
	require.Equal(t, 2, hookIn.count())
	require.Equal(t, "push", hookIn.got[1].Header.Get("X-GitHub-Event"))
	require.Equal(t, 0, app.count())

	path := "/repos/octo-org/hello-world/hooks/" + jsonNum(id)
	status, edited := e.post(t, http.MethodPatch, path, `{"add_events":["pull_request"],"config":{"content_type":"json"}}`, true)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []any{"push", "pull_request"}, edited["events"])
	e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls", `{}`, false)
	require.Equal(t, 3, hookIn.count())
	require.Equal(t, "application/json", hookIn.got[2].Header.Get("Content-Type"))

	resp, b := e.get(t, "/repos/octo-org/hello-world/hooks")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, decodeList(t, b), 1)
	status, _ = e.post(t, http.MethodDelete, path, ``, true)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = e.post(t, http.MethodDelete, path, ``, true)
	require.Equal(t, http.StatusNotFound, status)

	// Without hook scopes, hooks are hidden.
	tok, err := e.srv.IssueToken("", "public_repo")
	require.NoError(t, err)
	e.token = tok.AccessToken
	resp, _ = e.get(t, "/repos/octo-org/hello-world/hooks")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestEditingAHookWithoutItsSecretRemovesIt: GitHub, "Update a repository
// webhook": "If you previously had a secret set, you must provide the same
// secret or set a new secret or the secret will be removed." A PATCH whose
// config names no secret left it in place; now the secret is removed: the
// hook answers no config.secret (a set one reads "********") and its
// deliveries are unsigned. A PATCH without config (active, events) keeps
// it; one with a secret sets it.
func TestEditingAHookWithoutItsSecretRemovesIt(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	in := newInbox(t)
	status, hook := e.post(t, http.MethodPost, "/repos/octo-org/hello-world/hooks",
		`{"events":["push"],"config":{"url":"`+in.URL+`","content_type":"json","secret":"hook-secret"}}`, true)
	require.Equal(t, http.StatusCreated, status)
	e.srv.Wait() // the ping
	path := "/repos/octo-org/hello-world/hooks/" + jsonNum(int64(hook["id"].(float64)))
	secret := func() (any, bool) {
		resp, b := e.get(t, path)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var h map[string]any
		require.NoError(t, json.Unmarshal(b, &h))
		v, ok := h["config"].(map[string]any)["secret"]
		resp, b = e.get(t, "/repos/octo-org/hello-world/hooks")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		listed, listedOK := decodeList(t, b)[0]["config"].(map[string]any)["secret"]
		require.Equal(t, ok, listedOK, "the list answers as the hook does")
		require.Equal(t, v, listed)
		return v, ok
	}
	// push pushes a commit and returns its delivery to the hook.
	push := func() (*http.Request, []byte) {
		e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/push", `{}`, false)
		e.srv.Wait()
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.got[len(in.got)-1], in.body[len(in.body)-1]
	}
	v, ok := secret()
	require.True(t, ok)
	require.Equal(t, "********", v, "a set secret is masked")

	status, _ = e.post(t, http.MethodPatch, path, `{"active":true,"add_events":["pull_request"]}`, true)
	require.Equal(t, http.StatusOK, status)
	v, _ = secret()
	require.Equal(t, "********", v, "no config: the secret stays")
	del, body := push()
	require.Equal(t, sign256("hook-secret", body), del.Header.Get("X-Hub-Signature-256"))

	status, edited := e.post(t, http.MethodPatch, path, `{"config":{"url":"`+in.URL+`","content_type":"json"}}`, true)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, edited["config"], "secret", "removed")
	_, ok = secret()
	require.False(t, ok)
	del, _ = push()
	require.Empty(t, del.Header.Get("X-Hub-Signature-256"), "unsigned")
	require.Empty(t, del.Header.Get("X-Hub-Signature"))

	status, _ = e.post(t, http.MethodPatch, path, `{"config":{"url":"`+in.URL+`","secret":"new-secret"}}`, true)
	require.Equal(t, http.StatusOK, status)
	v, _ = secret()
	require.Equal(t, "********", v)
	del, body = push()
	require.Equal(t, sign256("new-secret", body), del.Header.Get("X-Hub-Signature-256"))
}

// TestOneGUIDPerEvent: as on GitHub, every delivery of one event (to each
// subscribed repository hook and to the app's webhook) carries the event's
// X-GitHub-Delivery; X-GitHub-Hook-ID tells them apart. The next event,
// and each hook's creation ping, get GUIDs of their own.
func TestOneGUIDPerEvent(t *testing.T) {
	e := setup(t, githubsandbox.Options{AccessTTL: 8 * time.Hour})
	app, hookA, hookB := newInbox(t), newInbox(t), newInbox(t)
	e.post(t, http.MethodPost, "/_sandbox/webhook-target", `{"url":"`+app.URL+`"}`, false)
	for _, in := range []*inbox{hookA, hookB} {
		status, _ := e.post(t, http.MethodPost, "/repos/octo-org/hello-world/hooks",
			`{"events":["pull_request"],"config":{"url":"`+in.URL+`","content_type":"json","secret":"s"}}`, true)
		require.Equal(t, http.StatusCreated, status)
	}
	e.srv.Wait()
	require.NotEqual(t, hookA.got[0].Header.Get("X-GitHub-Delivery"), hookB.got[0].Header.Get("X-GitHub-Delivery"), "each ping is an event of its own")

	_, out := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls", `{"title":"Shared"}`, false)
	dels := out["deliveries"].([]any)
	require.Len(t, dels, 3, "two hooks and the app")
	got := []*http.Request{hookA.got[1], hookB.got[1], app.got[0]}
	guid := got[0].Header.Get("X-GitHub-Delivery")
	hookIDs := map[string]bool{}
	for i, r := range got {
		require.Equal(t, guid, r.Header.Get("X-GitHub-Delivery"), "one GUID per event")
		require.Equal(t, guid, dels[i].(map[string]any)["delivery_id"])
		hookIDs[r.Header.Get("X-GitHub-Hook-ID")] = true
	}
	require.Len(t, hookIDs, 3, "each delivery names its own hook")

	e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls", `{"title":"Next"}`, false)
	require.NotEqual(t, guid, hookA.got[2].Header.Get("X-GitHub-Delivery"), "the next event has its own GUID")
	require.Equal(t, hookA.got[2].Header.Get("X-GitHub-Delivery"), hookB.got[2].Header.Get("X-GitHub-Delivery"))
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestControlAPI(t *testing.T) {
	e := setup(t, githubsandbox.Options{AccessTTL: 8 * time.Hour})
	status, out := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/nope/pulls", `{}`, false)
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, out["error"], "not found")

	status, out = e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls", `{"title":"T","draft":true,"labels":["docs"],"body":"B"}`, false)
	require.Equal(t, http.StatusCreated, status)
	pr := out["pull_request"].(map[string]any)
	require.Equal(t, true, pr["draft"])
	require.Equal(t, "B", pr["body"])
	n := jsonNum(int64(pr["number"].(float64)))
	status, out = e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls/"+n+"/merge", `{"user":"monalisa"}`, false)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, out["pull_request"].(map[string]any)["merged"])
	status, _ = e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls/"+n+"/merge", `{}`, false)
	require.Equal(t, http.StatusUnprocessableEntity, status)

	status, out = e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/releases/150000012/publish", `{}`, false)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, false, out["release"].(map[string]any)["draft"])
	status, _ = e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/tags", `{"tag":"v5"}`, false)
	require.Equal(t, http.StatusCreated, status)
	status, _ = e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/push", `{"branch":"feature/x","commits":0}`, false)
	require.Equal(t, http.StatusCreated, status)
	status, out = e.post(t, http.MethodDelete, "/_sandbox/github/repos/octo-org/hello-world/branches/feature/x", ``, false)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, out["push"].(map[string]any)["deleted"])
	status, _ = e.post(t, http.MethodPost, "/_sandbox/github/repos", `{"full_name":"octocat/spoon-knife"}`, false)
	require.Equal(t, http.StatusCreated, status)

	resp, b := e.get(t, "/_sandbox/github/repos/octo-org/hello-world/expected")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var exp struct {
		Streams map[string]int `json:"streams"`
	}
	require.NoError(t, json.Unmarshal(b, &exp))
	require.Equal(t, 40+2, exp.Streams["pulls:octo-org/hello-world"], "one opened and merged")
	require.Equal(t, 12, exp.Streams["releases:octo-org/hello-world"], "a draft was published")
	require.Equal(t, 32+2, exp.Streams["commits:octo-org/hello-world"], "pull request commit and merge commit")
	require.Equal(t, map[string]int{"pulls:octocat/spoon-knife": 0, "releases:octocat/spoon-knife": 0, "commits:octocat/spoon-knife": 1},
		e.srv.ExpectedSignals("octocat/spoon-knife"))
}

// TestHookDeliveryLogAndRedelivery: every attempt to a hook is logged
// (newest first, cursor pages), GitHub does not retry a refused one, and a
// redelivery sends the same delivery again (same GUID, body and signature),
// logged as an attempt of its own.
func TestHookDeliveryLogAndRedelivery(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	var mu sync.Mutex
	refuse := true
	var got []*http.Request
	var bodies [][]byte
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got, bodies = append(got, r), append(bodies, b)
		if refuse {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(target.Close)
	status, hook := e.post(t, http.MethodPost, "/repos/octo-org/hello-world/hooks",
		`{"events":["push","pull_request"],"config":{"url":"`+target.URL+`","content_type":"json","secret":"s"}}`, true)
	require.Equal(t, http.StatusCreated, status)
	path := "/repos/octo-org/hello-world/hooks/" + jsonNum(int64(hook["id"].(float64)))
	e.srv.Wait()
	e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls", `{}`, false)

	resp, b := e.get(t, path+"/deliveries")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	list := decodeList(t, b)
	require.Len(t, list, 2, "the ping and the pull request, each once: no retry")
	pr, ping := list[0], list[1]
	require.Equal(t, "pull_request", pr["event"])
	require.Equal(t, "opened", pr["action"])
	require.Equal(t, "ping", ping["event"])
	require.Nil(t, ping["action"])
	for _, d := range list {
		require.Equal(t, float64(401), d["status_code"])
		require.Equal(t, "Invalid HTTP Response: 401", d["status"])
		require.Equal(t, false, d["redelivery"])
		require.Equal(t, float64(1296269), d["repository_id"])
		require.Contains(t, d, "installation_id")
	}
	require.Greater(t, pr["id"], ping["id"])
	mu.Lock()
	require.Equal(t, got[1].Header.Get("X-GitHub-Delivery"), pr["guid"])
	first := bodies[1]
	mu.Unlock()

	// Redeliver the pull request once the target accepts.
	mu.Lock()
	refuse = false
	mu.Unlock()
	status, _ = e.post(t, http.MethodPost, path+"/deliveries/"+jsonNum(int64(pr["id"].(float64)))+"/attempts", ``, true)
	require.Equal(t, http.StatusAccepted, status)
	e.srv.Wait()
	mu.Lock()
	require.Len(t, got, 3)
	again := got[2]
	require.Equal(t, pr["guid"], again.Header.Get("X-GitHub-Delivery"), "a redelivery keeps the event's GUID")
	require.Equal(t, first, bodies[2])
	require.Equal(t, sign256("s", first), again.Header.Get("X-Hub-Signature-256"))
	mu.Unlock()
	_, b = e.get(t, path+"/deliveries")
	list = decodeList(t, b)
	require.Len(t, list, 3)
	require.Equal(t, true, list[0]["redelivery"])
	require.Equal(t, "OK", list[0]["status"])
	require.Equal(t, float64(200), list[0]["status_code"])
	require.Equal(t, pr["guid"], list[0]["guid"])
	_, b = e.get(t, path+"/deliveries?redelivery=false")
	require.Len(t, decodeList(t, b), 2)

	// Cursor pages, newest first.
	resp, b = e.get(t, path+"/deliveries?per_page=2")
	require.Len(t, decodeList(t, b), 2)
	next := links(t, resp.Header.Get("Link"))["next"]
	require.NotNil(t, next)
	_, b = e.get(t, next.RequestURI())
	rest := decodeList(t, b)
	require.Len(t, rest, 1)
	require.Equal(t, ping["id"], rest[0]["id"])
	resp, _ = e.get(t, path+"/deliveries?per_page=101")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	status, _ = e.post(t, http.MethodPost, path+"/deliveries/1/attempts", ``, true)
	require.Equal(t, http.StatusNotFound, status, "an unknown delivery")
	log, err := e.srv.HookDeliveries("octo-org/hello-world", int64(hook["id"].(float64)))
	require.NoError(t, err)
	require.Len(t, log, 3)
	require.True(t, log[2].Redelivery)
}

// TestTwentyHooksPerEvent: "you can only create up to 20 webhooks that
// subscribe to each individual event type" (GitHub, Types of webhooks).
// The 21st hook of a repository for an event is refused 422 Validation
// Failed, one error per full event (`The "push" event cannot have more
// than 20 hooks`), and so is an edit that would subscribe a hook to a
// full event; other events, and other repositories, still take hooks.
// The sandbox took any number.
func TestTwentyHooksPerEvent(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	create := func(i int, events string) (int, map[string]any) {
		return e.post(t, http.MethodPost, "/repos/octo-org/hello-world/hooks",
			fmt.Sprintf(`{"name":"web","events":%s,"config":{"url":"https://hooks.test/%d","content_type":"json","secret":"s"}}`, events, i), true)
	}
	for i := 1; i <= githubsandbox.HookLimit; i++ {
		status, out := create(i, `["push","pull_request"]`)
		require.Equal(t, http.StatusCreated, status, "hook %d: %v", i, out)
	}
	status, out := create(21, `["release","pull_request","push"]`)
	require.Equal(t, http.StatusUnprocessableEntity, status, "the 21st hook for push and pull_request")
	require.Equal(t, "Validation Failed", out["message"])
	var msgs []string
	for _, e := range out["errors"].([]any) {
		msgs = append(msgs, e.(map[string]any)["message"].(string))
	}
	require.Equal(t, []string{`The "pull_request" event cannot have more than 20 hooks`, `The "push" event cannot have more than 20 hooks`}, msgs)
	require.Equal(t, githubsandbox.HookLimit, e.srv.HookCount(githubsandbox.SeedRepo), "nothing stored")

	status, hook := create(22, `["release"]`)
	require.Equal(t, http.StatusCreated, status, "another event still takes hooks")
	path := "/repos/octo-org/hello-world/hooks/" + jsonNum(int64(hook["id"].(float64)))
	status, _ = e.post(t, http.MethodPatch, path, `{"add_events":["push"]}`, true)
	require.Equal(t, http.StatusUnprocessableEntity, status, "an edit onto a full event")
	status, edited := e.post(t, http.MethodPatch, path, `{"add_events":["meta"]}`, true)
	require.Equal(t, http.StatusOK, status)
	require.ElementsMatch(t, []any{"release", "meta"}, edited["events"])
	_, err := e.srv.CreateRepo("octo-org/other", "", false)
	require.NoError(t, err)
	_, _, err = e.srv.CreateHook("octo-org/other", githubsandbox.HookInput{URL: "https://hooks.test/1"})
	require.NoError(t, err, "the limit is per repository")
	_, _, err = e.srv.CreateHook(githubsandbox.SeedRepo, githubsandbox.HookInput{URL: "https://hooks.test/push"})
	require.EqualError(t, err, `The "push" event cannot have more than 20 hooks`, "CreateHook (Go) is held to it too")
	e.srv.Wait()
}
