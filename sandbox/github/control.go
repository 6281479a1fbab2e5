package githubsandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// controlRoutes mounts the GitHub activity API. Every route takes a JSON
// body (optional fields, plus "copies" and "hold" from
// sandbox.DeliveryOptions), applies the change and delivers the webhook
// events GitHub would send, answering {"<kind>": object, "deliveries": [...]}:
//
//	POST   /_sandbox/github/repos                                  {"full_name", "default_branch", "private"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/pulls              {"title", "body", "head", "base", "user", "draft", "labels"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/pulls/{n}/merge    {"user"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/pulls/{n}/close    {"user"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/pulls/{n}/reopen   {"user"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/releases           {"tag_name", "name", "body", "draft", "prerelease", "user"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/releases/{id}/publish {"user"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/releases/{id}/promote {"user"} (pre-release → release)
//	POST   /_sandbox/github/repos/{owner}/{repo}/push               {"branch", "commits", "forced", "message", "user", "from", "committer_date"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/tags               {"tag", "sha", "user"}
//	DELETE /_sandbox/github/repos/{owner}/{repo}/branches/{branch}  {"user"}
//	GET    /_sandbox/github/repos/{owner}/{repo}/expected           Signal counts of a full backfill
func (s *Server) controlRoutes(mux *http.ServeMux) {
	const p = "/_sandbox/github/repos/{owner}/{repo}"
	full := func(r *http.Request) string { return r.PathValue("owner") + "/" + r.PathValue("repo") }
	num := func(r *http.Request, name string) int64 {
		n, _ := strconv.ParseInt(r.PathValue(name), 10, 64)
		return n
	}
	mux.HandleFunc("POST /_sandbox/github/repos", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.CreateRepo(b.FullName, b.DefaultBranch, b.Private)
	}))
	mux.HandleFunc("POST "+p+"/pulls", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.OpenPull(full(r), b.pull())
	}))
	mux.HandleFunc("POST "+p+"/pulls/{number}/merge", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.MergePull(full(r), int(num(r, "number")), b.User)
	}))
	mux.HandleFunc("POST "+p+"/pulls/{number}/close", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.ClosePull(full(r), int(num(r, "number")), b.User)
	}))
	mux.HandleFunc("POST "+p+"/pulls/{number}/reopen", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.ReopenPull(full(r), int(num(r, "number")), b.User)
	}))
	mux.HandleFunc("POST "+p+"/releases", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.CreateRelease(full(r), b.release())
	}))
	mux.HandleFunc("POST "+p+"/releases/{id}/publish", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.PublishRelease(full(r), num(r, "id"), b.User)
	}))
	mux.HandleFunc("POST "+p+"/releases/{id}/promote", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.PromoteRelease(full(r), num(r, "id"), b.User)
	}))
	mux.HandleFunc("POST "+p+"/push", s.control(func(r *http.Request, b body) (*Activity, error) {
		in := PushInput{Branch: b.Branch, Commits: 1, Forced: b.Forced, User: b.User, Message: b.Message,
			From: b.From, CommitterDate: b.CommitterDate}
		if b.Commits != nil {
			in.Commits = *b.Commits
		} else if b.From != "" {
			in.Commits = 0
		}
		return s.Push(full(r), in)
	}))
	mux.HandleFunc("POST "+p+"/tags", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.PushTag(full(r), b.Tag, b.SHA, b.User)
	}))
	mux.HandleFunc("DELETE "+p+"/branches/{branch...}", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.DeleteBranch(full(r), r.PathValue("branch"), b.User)
	}))
	mux.HandleFunc("GET "+p+"/expected", func(w http.ResponseWriter, r *http.Request) {
		exp := s.ExpectedSignals(full(r))
		if exp == nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "unknown repository"})
			return
		}
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"streams": exp})
	})
}

// body is the union of the control routes' JSON fields.
type body struct {
	sandbox.DeliveryOptions
	FullName        string    `json:"full_name"`
	DefaultBranch   string    `json:"default_branch"`
	Private         bool      `json:"private"`
	Title           string    `json:"title"`
	Text            string    `json:"body"`
	Head            string    `json:"head"`
	Base            string    `json:"base"`
	Draft           bool      `json:"draft"`
	Labels          []string  `json:"labels"`
	TagName         string    `json:"tag_name"`
	Name            string    `json:"name"`
	TargetCommitish string    `json:"target_commitish"`
	Prerelease      bool      `json:"prerelease"`
	Branch          string    `json:"branch"`
	Commits         *int      `json:"commits"`
	Forced          bool      `json:"forced"`
	Message         string    `json:"message"`
	Tag             string    `json:"tag"`
	SHA             string    `json:"sha"`
	User            string    `json:"user"`
	From            string    `json:"from"`
	CommitterDate   time.Time `json:"committer_date"`
}

func (b body) pull() PullInput {
	return PullInput{Title: b.Title, Body: b.Text, Head: b.Head, Base: b.Base, User: b.User, Draft: b.Draft, Labels: b.Labels}
}

func (b body) release() ReleaseInput {
	return ReleaseInput{TagName: b.TagName, Name: b.Name, Body: b.Text, TargetCommitish: b.TargetCommitish,
		Draft: b.Draft, Prerelease: b.Prerelease, User: b.User}
}

// decodeControl decodes an optional JSON control body into v.
func decodeControl(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// control decodes the body, runs the activity and delivers its events.
func (s *Server) control(fn func(r *http.Request, b body) (*Activity, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b body
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil && !errors.Is(err, io.EOF) {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a JSON object: " + err.Error()})
			return
		}
		act, err := fn(r, b)
		var ve validationError
		switch {
		case errors.Is(err, ErrNotFound):
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		case errors.As(err, &ve):
			sandbox.WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
			return
		case err != nil:
			sandbox.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		deliveries := s.emitAll(r.Context(), act, b.DeliveryOptions)
		status := http.StatusCreated
		if strings.HasSuffix(r.URL.Path, "/merge") || strings.HasSuffix(r.URL.Path, "/close") ||
			strings.HasSuffix(r.URL.Path, "/reopen") || strings.HasSuffix(r.URL.Path, "/publish") || r.Method == http.MethodDelete {
			status = http.StatusOK
		}
		sandbox.WriteJSON(w, status, map[string]any{act.Kind: act.Object, "deliveries": deliveries})
	}
}
