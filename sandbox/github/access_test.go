package githubsandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestPrivateRepositoriesPerUser: a private repository is visible to its
// owner and collaborators only; everyone else gets GitHub's 404.
func TestPrivateRepositoriesPerUser(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	status, _ := e.post(t, http.MethodPost, "/_sandbox/github/repos", `{"full_name":"acme/secret-plans","private":true}`, false)
	require.Equal(t, http.StatusCreated, status)
	e.post(t, http.MethodPost, "/_sandbox/github/users", `{"login":"mallory"}`, false)
	e.post(t, http.MethodPost, "/_sandbox/github/users", `{"login":"alice"}`, false)

	as := func(login string) *env {
		tok, err := e.srv.IssueToken(login, "repo")
		require.NoError(t, err)
		return &env{srv: e.srv, ts: e.ts, token: tok.AccessToken}
	}
	owner, mallory, alice := as("acme"), as("mallory"), as("alice")
	resp, _ := owner.get(t, "/repos/acme/secret-plans")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body := mallory.get(t, "/repos/acme/secret-plans")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", body)
	resp, _ = mallory.get(t, "/repos/acme/secret-plans/pulls")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no backdoor through sub-resources")
	status, _ = mallory.post(t, http.MethodPost, "/repos/acme/secret-plans/hooks", `{"config":{"url":"https://evil.example"}}`, true)
	require.Equal(t, http.StatusNotFound, status)

	e.post(t, http.MethodPost, "/_sandbox/github/repos/acme/secret-plans/collaborators", `{"user":"alice"}`, false)
	resp, _ = alice.get(t, "/repos/acme/secret-plans")
	require.Equal(t, http.StatusOK, resp.StatusCode, "a collaborator reads it")
	e.post(t, http.MethodDelete, "/_sandbox/github/repos/acme/secret-plans/collaborators/alice", ``, false)
	resp, _ = alice.get(t, "/repos/acme/secret-plans")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "access removed")

	resp, _ = mallory.get(t, "/repos/octo-org/hello-world")
	require.Equal(t, http.StatusOK, resp.StatusCode, "public repositories are readable by anyone")
}

// TestAppLevelDeliveriesOnlyForInstalledApps: an OAuth App gets no
// app-level deliveries; a GitHub App gets them for repositories it is
// installed on, and its user tokens reach only those.
func TestAppLevelDeliveriesOnlyForInstalledApps(t *testing.T) {
	oauthApp := setup(t, githubsandbox.Options{})
	in := newInbox(t)
	oauthApp.post(t, http.MethodPost, "/_sandbox/webhook-target", `{"url":"`+in.URL+`"}`, false)
	_, out := oauthApp.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/push", `{}`, false)
	require.Empty(t, out["deliveries"])
	require.Zero(t, in.count())

	app := setup(t, githubsandbox.Options{AccessTTL: 8 * time.Hour})
	in = newInbox(t)
	app.post(t, http.MethodPost, "/_sandbox/webhook-target", `{"url":"`+in.URL+`"}`, false)
	app.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/push", `{}`, false)
	require.Equal(t, 1, in.count())
	app.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/installation", `{"installed":false}`, false)
	require.Equal(t, 2, in.count(), "the uninstallation is told to the App")
	app.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/push", `{}`, false)
	require.Equal(t, 2, in.count(), "uninstalled: no app-level delivery")
	// What both the user and the app can reach: a public repository is
	// read without the installation, but its hooks are out of reach; a
	// private one is not even visible.
	resp, _ := app.get(t, "/repos/octo-org/hello-world")
	require.Equal(t, http.StatusOK, resp.StatusCode, "public resources need no installation")
	resp, body := app.get(t, "/repos/octo-org/hello-world/hooks")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, string(body), "Resource not accessible by integration")
	require.Equal(t, "repository_hooks=write", resp.Header.Get("X-Accepted-GitHub-Permissions"))
	_, err := app.srv.CreateRepo("octocat/diary", "", true)
	require.NoError(t, err)
	resp, body = app.get(t, "/user/installations")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"login":"octocat"`, "installed on the user's new repository")
	require.NotContains(t, string(body), `"login":"octo-org"`, "uninstalled from octo-org's only repository")
	require.NoError(t, app.srv.SetAppInstalled("octocat/diary", false))
	resp, _ = app.get(t, "/repos/octocat/diary")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "a private repository needs the installation")
	resp, body = app.get(t, "/user/installations")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"total_count":0`)
	require.NoError(t, app.srv.SetAppInstalled("octo-org/hello-world", true))
	resp, body = app.get(t, "/user/installations")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var inst struct {
		Installations []struct {
			ID      int64 `json:"id"`
			Account struct {
				Login string `json:"login"`
			} `json:"account"`
		} `json:"installations"`
	}
	require.NoError(t, json.Unmarshal(body, &inst))
	require.Len(t, inst.Installations, 1)
	require.Equal(t, "octo-org", inst.Installations[0].Account.Login)
	resp, body = app.get(t, "/user/installations/"+strconv.FormatInt(inst.Installations[0].ID, 10)+"/repositories")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"full_name":"octo-org/hello-world"`)
	resp, _ = oauthApp.get(t, "/user/installations")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "OAuth App tokens have no installations")
}

// TestRenamedRepositoryRedirects: the old name answers 301 (GET) or 307
// (other methods) to /repositories/{id}/…, which serves the repository
// under its new name with the same id.
func TestRenamedRepositoryRedirects(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	status, out := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/rename", `{"name":"hello-universe"}`, false)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "octo-org/hello-universe", out["full_name"])

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/repos/octo-org/hello-world/pulls?state=all", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := noFollow.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, e.ts.URL+"/repositories/1296269/pulls?state=all", resp.Header.Get("Location"))
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/repos/octo-org/hello-world/hooks", nil)
	resp, err = noFollow.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode, "non-GET methods are redirected with 307")

	resp, body := e.get(t, "/repos/octo-org/hello-world")
	require.Equal(t, http.StatusOK, resp.StatusCode, "clients follow the redirect")
	var repo map[string]any
	require.NoError(t, json.Unmarshal(body, &repo))
	require.Equal(t, "octo-org/hello-universe", repo["full_name"])
	require.Equal(t, float64(githubsandbox.SeedRepoID), repo["id"])
}

// TestReusedNameStopsRedirect: a new repository created under a renamed
// repository's old name takes the name: GitHub's redirect to the renamed
// one ends ("If you create a new repository under your account in the
// future, do not reuse the original name of the renamed repository. If you
// do, redirects to the renamed repository will break."). The renamed one
// still answers by id.
func TestReusedNameStopsRedirect(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	_, err := e.srv.Rename(githubsandbox.SeedRepo, "", "hello-world-legacy")
	require.NoError(t, err)
	act, err := e.srv.CreateRepo(githubsandbox.SeedRepo, "main", false)
	require.NoError(t, err)

	resp, body := e.get(t, "/repos/octo-org/hello-world")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var repo map[string]any
	require.NoError(t, json.Unmarshal(body, &repo))
	require.Equal(t, float64(act.Object["id"].(int64)), repo["id"], "the reused name answers the new repository")
	require.Equal(t, "octo-org/hello-world", repo["full_name"])

	resp, body = e.get(t, "/repositories/"+strconv.FormatInt(githubsandbox.SeedRepoID, 10))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.Unmarshal(body, &repo))
	require.Equal(t, "octo-org/hello-world-legacy", repo["full_name"], "the renamed repository by its id")
}

// TestRemoveCollaboratorSendsMember: removing a collaborator ends their
// access and sends GitHub's member event (action removed) naming the
// member, the repository and who removed them, to the hooks subscribed to
// member (Emit); removing someone who was no collaborator sends nothing.
func TestRemoveCollaboratorSendsMember(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	_, err := e.srv.CreateRepo("acme/secret-plans", "", true)
	require.NoError(t, err)
	require.NoError(t, e.srv.SetCollaborator("acme/secret-plans", "alice", true))
	status, out := e.post(t, http.MethodDelete, "/_sandbox/github/repos/acme/secret-plans/collaborators/alice", `{"user":"acme"}`, false)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "alice", out["member"].(map[string]any)["login"])

	tok, err := e.srv.IssueToken("alice", "repo")
	require.NoError(t, err)
	alice := &env{srv: e.srv, ts: e.ts, token: tok.AccessToken}
	resp, _ := alice.get(t, "/repos/acme/secret-plans")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "access removed")

	require.NoError(t, e.srv.SetCollaborator("acme/secret-plans", "alice", true))
	act, err := e.srv.RemoveCollaborator("acme/secret-plans", "alice", "")
	require.NoError(t, err)
	require.Len(t, act.Events, 1)
	ev := act.Events[0]
	require.Equal(t, "member", ev.Name)
	require.Equal(t, "removed", ev.Action())
	require.Equal(t, "acme/secret-plans", ev.Repo)
	require.Equal(t, "alice", ev.Payload["member"].(map[string]any)["login"])
	require.EqualValues(t, e.srv.UserID("alice"), ev.Payload["member"].(map[string]any)["id"])
	require.EqualValues(t, e.srv.RepoID("acme/secret-plans"), ev.Payload["repository"].(map[string]any)["id"])
	require.Equal(t, "acme", ev.Payload["sender"].(map[string]any)["login"], "the owner removes by default")

	act, err = e.srv.RemoveCollaborator("acme/secret-plans", "alice", "")
	require.NoError(t, err)
	require.Empty(t, act.Events, "no collaborator, no event")
	_, err = e.srv.RemoveCollaborator("acme/nope", "alice", "")
	require.ErrorIs(t, err, githubsandbox.ErrNotFound)
}

// TestHooksNeedAdminRights: GitHub: "You must be a repository owner or
// have admin access in the repository to create and manage webhooks in a
// repository." A token whose user may read the repository but does not
// administer it gets GitHub's 404 on every hooks route (it hides them, as
// it hides private repositories); its owner, an owner of the organization
// that owns it and a collaborator made admin manage them. The repository's
// permissions say which the caller is.
func TestHooksNeedAdminRights(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	_, err := e.srv.CreateRepo("monalisa/public-lib", "", false)
	require.NoError(t, err)
	as := func(login string) *env {
		tok, err := e.srv.IssueToken(login, "repo", "admin:repo_hook")
		require.NoError(t, err)
		return &env{srv: e.srv, ts: e.ts, token: tok.AccessToken}
	}
	const hooks = "/repos/monalisa/public-lib/hooks"
	in := newInbox(t)
	owner, octocat, alice := as("monalisa"), e, as("alice")
	admin := func(who *env, fullName string) bool {
		resp, body := who.get(t, "/repos/"+fullName)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var repo struct {
			Permissions map[string]bool `json:"permissions"`
		}
		require.NoError(t, json.Unmarshal(body, &repo))
		return repo.Permissions["admin"]
	}

	status, _ := octocat.post(t, http.MethodPost, hooks, `{"config":{"url":"`+in.URL+`"}}`, true)
	require.Equal(t, http.StatusNotFound, status, "octocat reads the public repository, but administers it not")
	resp, _ := octocat.get(t, hooks)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.False(t, admin(octocat, "monalisa/public-lib"))
	require.Zero(t, e.srv.HookCount("monalisa/public-lib"))

	status, hook := owner.post(t, http.MethodPost, hooks, `{"config":{"url":"`+in.URL+`","secret":"s"}}`, true)
	require.Equal(t, http.StatusCreated, status, "the owner administers it")
	require.True(t, admin(owner, "monalisa/public-lib"))
	path := hooks + "/" + jsonNum(int64(hook["id"].(float64)))

	// A collaborator reads; every hooks route hides the hook from one.
	require.NoError(t, e.srv.SetCollaborator("monalisa/public-lib", "alice", true))
	require.False(t, admin(alice, "monalisa/public-lib"))
	for _, call := range []struct{ method, path, body string }{
		{http.MethodGet, hooks, ``},
		{http.MethodPost, hooks, `{"config":{"url":"https://alice.example"}}`},
		{http.MethodGet, path, ``},
		{http.MethodPatch, path, `{"active":false}`},
		{http.MethodPost, path + "/pings", ``},
		{http.MethodGet, path + "/deliveries", ``},
		{http.MethodPost, path + "/deliveries/1/attempts", ``},
		{http.MethodDelete, path, ``},
	} {
		status, _ := alice.post(t, call.method, call.path, call.body, true)
		require.Equal(t, http.StatusNotFound, status, "%s %s", call.method, call.path)
	}
	require.Equal(t, 1, e.srv.HookCount("monalisa/public-lib"))

	// Made admin (PUT /repos/{o}/{r}/collaborators/{user} with permission
	// admin, here the control route): alice manages the hook.
	status, _ = e.post(t, http.MethodPost, "/_sandbox/github/repos/monalisa/public-lib/collaborators", `{"user":"alice","permission":"admin"}`, false)
	require.Equal(t, http.StatusOK, status)
	require.True(t, admin(alice, "monalisa/public-lib"))
	resp, body := alice.get(t, hooks)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, decodeList(t, body), 1)
	status, _ = alice.post(t, http.MethodPatch, path, `{"active":false}`, true)
	require.Equal(t, http.StatusOK, status)

	// Removed, alice administers it no more; nor does a read grant give it back.
	_, err = e.srv.RemoveCollaborator("monalisa/public-lib", "alice", "")
	require.NoError(t, err)
	require.NoError(t, e.srv.SetCollaborator("monalisa/public-lib", "alice", true))
	resp, _ = alice.get(t, hooks)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NoError(t, e.srv.SetAdmin("monalisa/public-lib", "alice", true))
	resp, _ = alice.get(t, hooks)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, e.srv.SetAdmin("monalisa/public-lib", "alice", false))
	resp, _ = alice.get(t, hooks)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "admin taken away, read kept")
	require.False(t, admin(alice, "monalisa/public-lib"))

	// The seeded organization's repositories are administered by its owner,
	// octocat, new ones too.
	require.True(t, admin(octocat, githubsandbox.SeedRepo))
	_, err = e.srv.CreateRepo("octo-org/press-kit", "", false)
	require.NoError(t, err)
	status, _ = octocat.post(t, http.MethodPost, "/repos/octo-org/press-kit/hooks", `{"config":{"url":"`+in.URL+`"}}`, true)
	require.Equal(t, http.StatusCreated, status)
	// Private ones too: an organization owner reads every repository of
	// the organization (it was 404 to him, before the admin check).
	_, err = e.srv.CreateRepo("octo-org/private-lib", "", true)
	require.NoError(t, err)
	require.True(t, admin(octocat, "octo-org/private-lib"))
	status, _ = octocat.post(t, http.MethodPost, "/repos/octo-org/private-lib/hooks", `{"config":{"url":"`+in.URL+`"}}`, true)
	require.Equal(t, http.StatusCreated, status)
	resp, _ = alice.get(t, "/repos/octo-org/private-lib")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no owner of the organization, no collaborator")
}

// deliveredEvent is one delivery an inbox received: its event, action,
// payload and whether its signature verifies under secret.
type deliveredEvent struct {
	event, action string
	payload       map[string]any
	signed        bool
	target        string
}

func (in *inbox) events(t *testing.T, secret string) []deliveredEvent {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []deliveredEvent
	for i, r := range in.got {
		var p map[string]any
		require.NoError(t, json.Unmarshal(in.body[i], &p))
		a, _ := p["action"].(string)
		out = append(out, deliveredEvent{event: r.Header.Get("X-GitHub-Event"), action: a, payload: p,
			signed: r.Header.Get("X-Hub-Signature-256") == sign256(secret, in.body[i]),
			target: r.Header.Get("X-GitHub-Hook-Installation-Target-Type")})
	}
	return out
}

// TestRenameAndTransferSendRepositoryEvents: GitHub sends repository
// transferred (changes.owner.from: the former owner) and renamed
// (changes.repository.name.from) to the repository's hooks subscribed to
// "repository" and to the GitHub App
// (https://docs.github.com/en/webhooks/webhook-events-and-payloads#repository),
// each signed as usual; the service subscribes its hooks to "repository"
// and takes transferred for an access event. The sandbox renamed and
// transferred silently.
func TestRenameAndTransferSendRepositoryEvents(t *testing.T) {
	e := setup(t, githubsandbox.Options{AccessTTL: 8 * time.Hour})
	hook, app := newInbox(t), newInbox(t)
	e.post(t, http.MethodPost, "/_sandbox/webhook-target", `{"url":"`+app.URL+`"}`, false)
	_, _, err := e.srv.CreateHook(githubsandbox.SeedRepo, githubsandbox.HookInput{URL: hook.URL, Secret: "hook-secret", Events: []string{"repository"}})
	require.NoError(t, err)
	_, _, err = e.srv.CreateHook(githubsandbox.SeedRepo, githubsandbox.HookInput{URL: hook.URL + "/push-only", Secret: "other", Events: []string{"push"}})
	require.NoError(t, err)

	status, out := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/rename", `{"owner":"monalisa","name":"hello-universe"}`, false)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "monalisa/hello-universe", out["full_name"])
	require.Len(t, out["deliveries"], 4, "two events, each to the repository hook and to the App")
	e.srv.Wait()
	got := hook.events(t, "hook-secret")
	require.Len(t, got, 2, "the hook subscribed to push gets neither")
	require.Equal(t, "transferred", got[0].action)
	require.Equal(t, "renamed", got[1].action)
	for _, d := range got {
		require.Equal(t, "repository", d.event)
		require.True(t, d.signed, "signed with the hook's secret")
		require.Equal(t, "repository", d.target)
		require.Equal(t, "monalisa/hello-universe", d.payload["repository"].(map[string]any)["full_name"])
		require.EqualValues(t, githubsandbox.SeedRepoID, d.payload["repository"].(map[string]any)["id"])
	}
	from := got[0].payload["changes"].(map[string]any)["owner"].(map[string]any)["from"].(map[string]any)
	require.Equal(t, "octo-org", from["organization"].(map[string]any)["login"], "from an organization")
	require.Equal(t, "hello-world", got[1].payload["changes"].(map[string]any)["repository"].(map[string]any)["name"].(map[string]any)["from"])
	appGot := app.events(t, "sandbox-webhook-secret")
	require.Len(t, appGot, 2)
	for _, d := range appGot {
		require.True(t, d.signed, "signed with the App's secret")
		require.Equal(t, "integration", d.target)
		require.NotNil(t, d.payload["installation"])
	}

	// A rename alone sends renamed; a user's repository transferred names
	// the user it came from.
	act, err := e.srv.RenameRepo("monalisa/hello-universe", "", "hello-cosmos", "")
	require.NoError(t, err)
	require.Len(t, act.Events, 1)
	require.Equal(t, "renamed", act.Events[0].Action())
	require.Equal(t, "monalisa", act.Events[0].Payload["sender"].(map[string]any)["login"], "its owner renames by default")
	act, err = e.srv.RenameRepo("monalisa/hello-cosmos", "hubot", "", "")
	require.NoError(t, err)
	require.Len(t, act.Events, 1)
	require.Equal(t, "transferred", act.Events[0].Action())
	require.Equal(t, "hubot/hello-cosmos", act.Events[0].Repo)
	require.Equal(t, "monalisa", act.Events[0].Payload["changes"].(map[string]any)["owner"].(map[string]any)["from"].(map[string]any)["user"].(map[string]any)["login"])
	name, err := e.srv.Rename("hubot/hello-cosmos", "", "quiet")
	require.NoError(t, err, "Rename changes the name without an event")
	require.Equal(t, "hubot/quiet", name)
}

// TestInstallAppSendsInstallationEvents: GitHub tells a GitHub App of
// the repositories it gains or loses on an installation
// (installation_repositories added/removed, repositories_added /
// repositories_removed), of its first repository on an account
// (installation created) and of its last going (installation deleted,
// repositories naming it), to the App alone: no repository hook receives
// them. The sandbox installed and uninstalled silently.
func TestInstallAppSendsInstallationEvents(t *testing.T) {
	e := setup(t, githubsandbox.Options{AccessTTL: 8 * time.Hour})
	app, hook := newInbox(t), newInbox(t)
	e.post(t, http.MethodPost, "/_sandbox/webhook-target", `{"url":"`+app.URL+`"}`, false)
	_, _, err := e.srv.CreateHook(githubsandbox.SeedRepo, githubsandbox.HookInput{URL: hook.URL, Secret: "s",
		Events: []string{"installation", "installation_repositories"}})
	require.NoError(t, err)
	_, err = e.srv.CreateRepo("octo-org/second", "", true)
	require.NoError(t, err)
	id := func(full string) float64 { return float64(e.srv.RepoID(full)) }
	repos := func(d deliveredEvent, field string) []float64 {
		var ids []float64
		for _, r := range d.payload[field].([]any) {
			ids = append(ids, r.(map[string]any)["id"].(float64))
		}
		return ids
	}

	status, out := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/second/installation", `{"installed":false}`, false)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, out["deliveries"], 1)
	got := app.events(t, "sandbox-webhook-secret")
	require.Len(t, got, 1)
	require.Equal(t, "installation_repositories", got[0].event)
	require.Equal(t, "removed", got[0].action)
	require.True(t, got[0].signed)
	require.Equal(t, []float64{id("octo-org/second")}, repos(got[0], "repositories_removed"))
	require.Empty(t, got[0].payload["repositories_added"])
	require.Equal(t, "octo-org", got[0].payload["installation"].(map[string]any)["account"].(map[string]any)["login"])

	e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/installation", `{"installed":false}`, false)
	e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/installation", `{"installed":true}`, false)
	e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/second/installation", `{"installed":true}`, false)
	_, out = e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/second/installation", `{"installed":true}`, false)
	require.Empty(t, out["deliveries"], "already installed: nothing changes")
	got = app.events(t, "sandbox-webhook-secret")[1:]
	require.Len(t, got, 3)
	require.Equal(t, []string{"installation deleted", "installation created", "installation_repositories added"},
		[]string{got[0].event + " " + got[0].action, got[1].event + " " + got[1].action, got[2].event + " " + got[2].action})
	require.Equal(t, []float64{id(githubsandbox.SeedRepo)}, repos(got[0], "repositories"), "the last repository goes with the installation")
	require.Equal(t, []float64{id(githubsandbox.SeedRepo)}, repos(got[1], "repositories"))
	require.Equal(t, []float64{id("octo-org/second")}, repos(got[2], "repositories_added"))
	e.srv.Wait()
	require.Zero(t, hook.count(), "a repository hook gets no installation event")

	oauth := setup(t, githubsandbox.Options{})
	act, err := oauth.srv.InstallApp(githubsandbox.SeedRepo, false, "")
	require.NoError(t, err)
	require.Len(t, act.Events, 1, "the events are built alike")
	require.Empty(t, oauth.srv.Emit(context.Background(), act.Events[0], sandbox.DeliveryOptions{}), "an OAuth App has no app-level webhook")
}
