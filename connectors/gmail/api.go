package gmail

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// metadataHeaders are the headers messages.get asks for: who and what the
// message is (From, To, Cc, Subject, Date), how it threads (Message-ID,
// In-Reply-To), whether it is list mail (List-Id, List-Unsubscribe,
// Precedence), whether a machine sent it (Auto-Submitted) and who wrote it
// when the organisation's own press@ Google Group rewrote From (Reply-To,
// X-Original-From), which the press detector needs (press.Headers, all in
// here).
var metadataHeaders = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "List-Id", "List-Unsubscribe", "Precedence",
	"Auto-Submitted", "Reply-To", "X-Original-From"}

// message is a Message resource in format=metadata.
type message struct {
	ID           string   `json:"id"`
	ThreadID     string   `json:"threadId"`
	LabelIDs     []string `json:"labelIds"`
	Snippet      string   `json:"snippet"`
	HistoryID    string   `json:"historyId"`
	InternalDate string   `json:"internalDate"` // epoch ms as a string
	SizeEstimate int64    `json:"sizeEstimate"`
	Payload      struct {
		MimeType string   `json:"mimeType"`
		Headers  []header `json:"headers"`
	} `json:"payload"`
}

type header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// header returns the first header of that name (case-insensitive).
func (m *message) header(name string) string {
	for _, h := range m.Payload.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// ref is a message as lists and history carry it: ids and labels.
type ref struct {
	ID       string   `json:"id"`
	ThreadID string   `json:"threadId"`
	LabelIDs []string `json:"labelIds"`
}

type historyList struct {
	History []struct {
		ID            string `json:"id"`
		MessagesAdded []struct {
			Message ref `json:"message"`
		} `json:"messagesAdded"`
		LabelsAdded []struct {
			Message  ref      `json:"message"`
			LabelIDs []string `json:"labelIds"`
		} `json:"labelsAdded"`
	} `json:"history"`
	NextPageToken string `json:"nextPageToken"`
	HistoryID     string `json:"historyId"`
}

// call sends one request to the Gmail API, under gmail/v1/users/me/
// (google.Call).
func (c *Connector) call(ctx context.Context, hc *http.Client, method, path string, q url.Values, body, out any) error {
	u := c.Config.Endpoints.APIURL + "gmail/v1/users/me/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return google.Call(ctx, hc, method, u, body, out, c.ClassifyResponse)
}

// profile is users.getProfile: the mailbox's address and current history id.
func (c *Connector) profile(ctx context.Context, hc *http.Client) (email, historyID string, err error) {
	var p struct {
		EmailAddress string `json:"emailAddress"`
		HistoryID    string `json:"historyId"`
	}
	if err := c.call(ctx, hc, http.MethodGet, "profile", nil, nil, &p); err != nil {
		return "", "", err
	}
	if p.EmailAddress == "" || p.HistoryID == "" {
		return "", "", fmt.Errorf("users.getProfile: %w: no emailAddress or historyId", connectors.ErrTransient)
	}
	return strings.ToLower(p.EmailAddress), p.HistoryID, nil
}

// listMessages is one page of messages.list for a label (newest first).
func (c *Connector) listMessages(ctx context.Context, hc *http.Client, label, pageToken string) ([]ref, string, error) {
	q := url.Values{"labelIds": {label}, "maxResults": {strconv.Itoa(c.pageSize)}}
	if pageToken != "" {
		q.Set("pageToken", pageToken)
	}
	var out struct {
		Messages      []ref  `json:"messages"`
		NextPageToken string `json:"nextPageToken"`
	}
	if err := c.call(ctx, hc, http.MethodGet, "messages", q, nil, &out); err != nil {
		return nil, "", err
	}
	return out.Messages, out.NextPageToken, nil
}

// history is one page of history.list from start for a label: messages
// added to the mailbox, and labels added to messages (a user label put on
// a message after it arrived).
func (c *Connector) history(ctx context.Context, hc *http.Client, label, start, pageToken string) (*historyList, error) {
	q := url.Values{
		"startHistoryId": {start},
		"historyTypes":   {"messageAdded", "labelAdded"},
		"labelId":        {label},
		"maxResults":     {strconv.Itoa(c.pageSize)},
	}
	if pageToken != "" {
		q.Set("pageToken", pageToken)
	}
	var out historyList
	if err := c.call(ctx, hc, http.MethodGet, "history", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// getMessage is messages.get with format=metadata and the headers the
// connector reads. The raw body is returned too.
func (c *Connector) getMessage(ctx context.Context, hc *http.Client, id string) (*message, error) {
	q := url.Values{"format": {"metadata"}, "metadataHeaders": metadataHeaders}
	var m message
	if err := c.call(ctx, hc, http.MethodGet, "messages/"+url.PathEscape(id), q, nil, &m); err != nil {
		return nil, err
	}
	if m.ID == "" {
		return nil, fmt.Errorf("messages.get: %w: no id", connectors.ErrTransient)
	}
	return &m, nil
}

// getThread is threads.get with format=metadata: the thread's messages in
// order, with the same headers.
func (c *Connector) getThread(ctx context.Context, hc *http.Client, id string) ([]*message, error) {
	q := url.Values{"format": {"metadata"}, "metadataHeaders": metadataHeaders}
	var t struct {
		Messages []*message `json:"messages"`
	}
	if err := c.call(ctx, hc, http.MethodGet, "threads/"+url.PathEscape(id), q, nil, &t); err != nil {
		return nil, err
	}
	return t.Messages, nil
}

// ClassifyResponse maps Gmail API responses to neutral errors: a 404 from
// history.list means the start history id is too old (Gmail keeps history
// for about a week, sometimes hours) and a full sync is needed, so it is
// ErrCursorExpired; everything else is Google's common classification
// (403 usageLimits reasons and 429 are rate limits).
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	if resp.StatusCode == http.StatusNotFound && resp.Request != nil && strings.HasSuffix(resp.Request.URL.Path, "/history") {
		return fmt.Errorf("%w: HTTP 404 from history.list: the start history id is no longer valid, a full sync is required", connectors.ErrCursorExpired)
	}
	return google.Classify(resp)
}
