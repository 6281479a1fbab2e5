package slack

import (
	"encoding/json"
	"errors"
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/poblysh/poblysh/connectors"
)

// Slack sends some fields of a message's legacy attachments in more than
// one JSON type: an attachment's id as a string ("id": "1",
// https://github.com/rusq/slackdump/issues/492) where slack-go (v0.35.0)
// declares an int, and before it ts and color
// (https://github.com/slack-go/slack/issues/90, /issues/1292). slack-go
// decodes a whole answer or nothing, so one such message failed its
// conversations.history page, as a transient error retried for ever: the
// channel stopped at that page. The connector reads nothing of a
// message's attachments (Signal.Raw keeps the message as Slack sent it,
// attachments included), so a message slack-go's types refuse is decoded
// again without them. Anything else slack-go refuses still fails the
// page, as before.

// typeMismatch reports whether err is a JSON value of another type than
// the Go field it was decoded into.
func typeMismatch(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// withoutAttachments returns a message object, or a message event, with
// the attachments of the message and of the messages it carries (a
// message_changed event's message and previous_message, a broadcast's
// root) removed; ok is false when there were none.
func withoutAttachments(raw json.RawMessage) (json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw, false
	}
	_, ok := m["attachments"]
	delete(m, "attachments")
	for _, k := range []string{"message", "previous_message", "root"} {
		if inner, found := m[k]; found {
			if out, stripped := withoutAttachments(inner); stripped {
				m[k], ok = out, true
			}
		}
	}
	if !ok {
		return raw, false
	}
	out, err := json.Marshal(m)
	if err != nil {
		return raw, false
	}
	return out, true
}

// decodeMessage decodes a message (or a message event) into a new T, a
// second time without its attachments when slack-go's types refuse a
// value's type (the first decode's partial result is dropped).
func decodeMessage[T any](raw json.RawMessage) (*T, error) {
	var out T
	err := json.Unmarshal(raw, &out)
	if err == nil || !typeMismatch(err) {
		return &out, err
	}
	stripped, ok := withoutAttachments(raw)
	if !ok {
		return &out, err
	}
	var again T
	if json.Unmarshal(stripped, &again) != nil {
		return &out, err // the first error names what was refused
	}
	return &again, nil
}

// decodeMessages decodes the messages of an answer one by one
// (decodeMessage).
func decodeMessages(raws []json.RawMessage) ([]slackapi.Message, error) {
	out := make([]slackapi.Message, len(raws))
	for i, raw := range raws {
		m, err := decodeMessage[slackapi.Message](raw)
		if err != nil {
			return nil, fmt.Errorf("%w: decoding message %d: %v", connectors.ErrTransient, i, err)
		}
		out[i] = *m
	}
	return out, nil
}

// lenientHistory decodes the last conversations.history answer, which
// slack-go refused for a value's type, message by message
// (decodeMessages).
func (d *doer) lenientHistory() (*slackapi.GetConversationHistoryResponse, error) {
	var page struct {
		slackapi.GetConversationHistoryResponse
		Messages []json.RawMessage `json:"messages"` // shadows the typed field
	}
	if err := json.Unmarshal(d.last, &page); err != nil {
		return nil, fmt.Errorf("%w: decoding answer: %v", connectors.ErrTransient, err)
	}
	msgs, err := decodeMessages(page.Messages)
	if err != nil {
		return nil, err
	}
	resp := page.GetConversationHistoryResponse
	resp.Messages = msgs
	return &resp, resp.Err()
}

// lenientReplies is lenientHistory for conversations.replies, answered as
// slack-go's GetConversationRepliesContext answers.
func (d *doer) lenientReplies() (msgs []slackapi.Message, hasMore bool, next string, err error) {
	var page struct {
		slackapi.SlackResponse
		HasMore          bool `json:"has_more"`
		ResponseMetaData struct {
			NextCursor string `json:"next_cursor"`
		} `json:"response_metadata"`
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(d.last, &page); err != nil {
		return nil, false, "", fmt.Errorf("%w: decoding answer: %v", connectors.ErrTransient, err)
	}
	if msgs, err = decodeMessages(page.Messages); err != nil {
		return nil, false, "", err
	}
	return msgs, page.HasMore, page.ResponseMetaData.NextCursor, page.Err()
}
