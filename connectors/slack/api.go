package slack

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/poblysh/poblysh/connectors"
)

// placeholderToken is the token slack-go is built with. The engine's client
// sets the real Authorization header; doer strips the placeholder so it
// never reaches Slack.
const placeholderToken = "xoxb-poblysh-placeholder"

// maxAnswer bounds a Web API answer (a 999-message history page with
// blocks and files stays well below it).
const maxAnswer = 32 << 20

// doer adapts the engine's *http.Client to slack-go. slack-go sends its
// token as a "token" form field (or a Bearer header on GET methods); doer
// removes both so only the engine's Authorization header authorizes the
// call, and keeps the last answer so Slack's own message objects can be
// stored as Signal.Raw.
type doer struct {
	hc   *http.Client
	last []byte
}

// Do implements slack-go's httpClient.
func (d *doer) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "Bearer "+placeholderToken {
		req.Header.Del("Authorization")
	}
	if req.Body != nil && req.Body != http.NoBody && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading request form: %w", err)
		}
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, fmt.Errorf("%w: request form: %v", connectors.ErrInvalidConfig, err)
		}
		form.Del("token")
		enc := form.Encode()
		req.Body = io.NopCloser(strings.NewReader(enc))
		req.ContentLength = int64(len(enc))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(enc)), nil }
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s answer: %v", connectors.ErrTransient, req.URL.Path, err)
	}
	if len(body) > maxAnswer {
		return nil, fmt.Errorf("%w: %s answer larger than %d bytes", connectors.ErrTransient, req.URL.Path, maxAnswer)
	}
	d.last = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// api returns a slack-go client over hc (authorized by the engine) and the
// doer that records its answers.
func (c *Connector) api(hc *http.Client) (*slackapi.Client, *doer) {
	if hc == nil {
		hc = http.DefaultClient
	}
	d := &doer{hc: hc}
	return slackapi.New(placeholderToken, slackapi.OptionAPIURL(c.cfg.Endpoints.APIURL), slackapi.OptionHTTPClient(d)), d
}

// rawMessages returns the messages array of the last history or replies
// answer as Slack sent it, aligned with what slack-go decoded.
func (d *doer) rawMessages(want int) ([]json.RawMessage, error) {
	var v struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(d.last, &v); err != nil {
		return nil, fmt.Errorf("%w: decoding messages: %v", connectors.ErrTransient, err)
	}
	if len(v.Messages) != want {
		return nil, fmt.Errorf("%w: answer holds %d messages, decoded %d", connectors.ErrTransient, len(v.Messages), want)
	}
	return v.Messages, nil
}

// call posts a Web API method that slack-go does not cover (auth.teams.list)
// or whose answer it trims (auth.test drops is_enterprise_install) through
// the engine's client, and decodes the answer into out. ok:false answers
// are neutral errors whether or not the client classified them.
func (c *Connector) call(ctx context.Context, hc *http.Client, method string, form url.Values, out any) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoints.APIURL+method, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("slack: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return mapError(method, err)
	}
	defer resp.Body.Close()
	if err := classifyResponse(resp); err != nil {
		return mapError(method, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("slack: %s: %w: reading answer: %v", method, connectors.ErrTransient, err)
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &status); err != nil {
		return fmt.Errorf("slack: %s: %w: decoding answer: %v", method, connectors.ErrTransient, err)
	}
	if !status.OK {
		return mapError(method, apiError(cmp.Or(status.Error, "unknown_error"), resp.Header))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("slack: %s: %w: decoding answer: %v", method, connectors.ErrTransient, err)
	}
	return nil
}
