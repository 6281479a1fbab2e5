package zohocliq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// botCall is a bot handler invocation as Cliq posts it to a webhook bot's
// execution URL (https://www.zoho.com/cliq/help/platform/bot-handlers.html,
// …/bot-participation-handler.html; full samples in zcatalyst-cli's
// templates/event/integ/cliq/).
type botCall struct {
	Name    string `json:"name"`
	Handler struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"handler"`
	Timestamp zoho.Str `json:"timestamp"`
	Params    struct {
		Operation string `json:"operation"`
		Access    struct {
			UserID       zoho.Str        `json:"user_id"`
			ChatID       zoho.Str        `json:"chat_id"`
			MessageID    zoho.Str        `json:"message_id"`
			Organization json.RawMessage `json:"organization"`
		} `json:"access"`
		User struct {
			ID        zoho.Str `json:"id"`
			Name      string   `json:"name"`
			FirstName string   `json:"first_name"`
			LastName  string   `json:"last_name"`
		} `json:"user"`
		Chat struct {
			ID                zoho.Str `json:"id"`
			Type              string   `json:"type"`
			Title             string   `json:"title"`
			ChannelUniqueName string   `json:"channel_unique_name"`
		} `json:"chat"`
		Message  json.RawMessage `json:"message"`
		Data     json.RawMessage `json:"data"`
		Mentions []person        `json:"mentions"`
	} `json:"params"`
}

// org is params.access.organization's id ({"type", "id"}, or the id itself).
func (b *botCall) org() string {
	raw := bytes.TrimSpace(b.Params.Access.Organization)
	if len(raw) == 0 {
		return ""
	}
	var o struct {
		ID zoho.Str `json:"id"`
	}
	if raw[0] == '{' {
		if json.Unmarshal(raw, &o) == nil {
			return o.ID.String()
		}
		return ""
	}
	var s zoho.Str
	_ = json.Unmarshal(raw, &s)
	return s.String()
}

// handler is participation, mention, message or the raw type.
func (b *botCall) handler() string {
	t := strings.ToLower(b.Handler.Type)
	for _, h := range []string{"participation", "mention", "message"} {
		if strings.Contains(t, h) {
			return h
		}
	}
	return t
}

func (b *botCall) chat() string {
	if b.Params.Chat.ID != "" {
		return b.Params.Chat.ID.String()
	}
	return b.Params.Access.ChatID.String()
}

// messageRaw is the message the call is about: params.message, or in a
// participation call params.data.message or params.data itself. Zoho's
// participation sample has data {"message": {"mentions", "type", "text",
// "comment"}, "time"}: the message names no id, time or sender
// (completeMessage fills them in, the time from dataTime).
func (b *botCall) messageRaw() json.RawMessage {
	if t := bytes.TrimSpace(b.Params.Message); len(t) > 0 && t[0] == '{' {
		return t
	}
	var d struct {
		Message json.RawMessage `json:"message"`
		ID      zoho.Str        `json:"id"`
	}
	if json.Unmarshal(b.Params.Data, &d) == nil {
		if t := bytes.TrimSpace(d.Message); len(t) > 0 && t[0] == '{' {
			return t
		}
		if d.ID != "" {
			return b.Params.Data
		}
	}
	return nil
}

// dataTime is params.data.time, the time a participation call's message
// was sent ("" when the call has none).
func (b *botCall) dataTime() zoho.Str {
	var d struct {
		Time zoho.Str `json:"time"`
	}
	if t := bytes.TrimSpace(b.Params.Data); len(t) > 0 && t[0] == '{' {
		_ = json.Unmarshal(t, &d)
	}
	return d.Time
}

// VerifyWebhook implements connectors.WebhookReceiver and fails closed:
//  1. X-Cliq-Signature must verify with a configured public key
//     (POBLYSH_ZOHO_CLIQ_PUBLIC_KEY, or the shared POBLYSH_ZOHO_PUBLIC_KEY;
//     none configured: every call is refused);
//  2. the URL's token must be a connection's, for the organisation the call
//     names in params.access.organization (POBLYSH_ZOHO_CLIQ_WEBHOOK_SECRET
//     or POBLYSH_ZOHO_WEBHOOK_SECRET keys the tokens; unset: every call is
//     refused).
//
// A signed call of another organisation's bot, or one replayed to another
// connection's URL, fails the second check. Nothing is stored for a
// refused call (the engine answers 401). A refusal for want of a setting
// names every variable that would provide it (Config.SettingVars): the
// operator may share the Zoho providers' settings under POBLYSH_ZOHO_.
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	if len(c.keys) == 0 {
		return fmt.Errorf("zoho-cliq: webhook: %w: no public key configured (set %s)", connectors.ErrUnauthorized,
			strings.Join(c.cfg.SettingVars(SettingPublicKey), " or "))
	}
	sig := req.Header.Get("X-Cliq-Signature")
	if sig == "" {
		return fmt.Errorf("zoho-cliq: webhook: %w: missing X-Cliq-Signature", connectors.ErrUnauthorized)
	}
	if !verifySignature(c.keys, sig, req.Body) {
		return fmt.Errorf("zoho-cliq: webhook: %w: X-Cliq-Signature does not verify", connectors.ErrUnauthorized)
	}
	if c.cfg.WebhookSecret == "" {
		return fmt.Errorf("zoho-cliq: webhook: %w: no webhook secret configured (set %s): no bot URL is valid",
			connectors.ErrUnauthorized, strings.Join(c.cfg.SettingVars("WEBHOOK_SECRET"), " or "))
	}
	var call botCall
	if err := json.Unmarshal(req.Body, &call); err != nil {
		return fmt.Errorf("zoho-cliq: webhook: %w: the body is not a bot call", connectors.ErrUnauthorized)
	}
	org := call.org()
	if org == "" {
		return fmt.Errorf("zoho-cliq: webhook: %w: the call names no organisation (params.access.organization)", connectors.ErrUnauthorized)
	}
	if _, _, ok := zoho.CheckHookToken(c.cfg.WebhookSecret, Name, req.Query.Get(zoho.TokenParam), org); !ok {
		return fmt.Errorf("zoho-cliq: webhook: %w: the URL token is missing, or is not a connection's of this organisation", connectors.ErrUnauthorized)
	}
	return nil
}

// ParseWebhook implements connectors.WebhookReceiver for verified calls.
// The participation handler's message_sent in a channel is message.posted,
// routed to the token's connection only if it proved the channel; the
// mention handler is mention.created (the bot was mentioned), routed if
// the connection tracks mentions; everything else (message_edited,
// message_deleted, added, removed, thread operations, direct messages to
// the bot) is recorded without a Signal.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	tenant, account, ok := zoho.ParseHookToken(req.Query.Get(zoho.TokenParam))
	if !ok {
		return nil, fmt.Errorf("zoho-cliq: webhook: %w: no connection token", connectors.ErrInvalidConfig)
	}
	var call botCall
	if err := json.Unmarshal(req.Body, &call); err != nil {
		return nil, fmt.Errorf("zoho-cliq: webhook: %w: %v", connectors.ErrInvalidConfig, err)
	}
	handler, op, chat := call.handler(), call.Params.Operation, call.chat()
	raw := call.messageRaw()
	var m message
	if raw != nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("zoho-cliq: webhook: %w: unreadable message: %v", connectors.ErrInvalidConfig, err)
		}
	}
	// The delivery is the call: the message id it names, else its
	// timestamp (a message edited twice is two calls) and the message it is
	// about, as completeMessage names it (params.access.message_id, else
	// <sent time>_<sender id>): Zoho's calls name no message id, and two
	// calls about two messages may carry one timestamp. The same call sent
	// again has the same id.
	about := m.ID.String()
	if raw != nil && (handler == "participation" || handler == "mention") {
		call.completeMessage(&m)
	}
	if about == "" {
		about = "t" + call.Timestamp.String()
		if m.ID != "" {
			about += ":" + m.ID.String()
		}
	}
	event := handler
	if op != "" {
		event += "." + op
	}
	d := &connectors.WebhookDelivery{
		DeliveryID: strings.Join([]string{"cliq", tenant, account, handler, op, chat, about}, ":"),
		Event:      event,
		RouteKeys:  []string{botKey(tenant, account)},
	}
	host := strings.TrimRight(c.hostFromCall(req.Body), "/")
	switch {
	case handler == "participation" && op == "message_sent" && raw != nil && chat != "" && isChannel(call.Params.Chat.Type):
		w := where{Host: host, Chat: chat, ChatName: channelName(call.Params.Chat.Title)}
		d.RouteKeys = []string{chatKey(tenant, account, chat)}
		if s, ok := messageSignal(w, &m, raw); ok {
			d.Signals = append(d.Signals, s)
		}
	case handler == "mention" && raw != nil && chat != "":
		d.RouteKeys = []string{mentionsKey(tenant, account)}
		mentioned := []string{}
		for _, p := range call.Params.Mentions {
			if p.ID != "" {
				mentioned = append(mentioned, p.ID.String())
			}
		}
		if len(m.Mentions) == 0 {
			m.Mentions = call.Params.Mentions
		}
		if s, ok := mentionSignal(host, chat, call.Params.Chat.Title, &m, mentioned, raw); ok {
			d.Signals = append(d.Signals, s)
		}
	}
	return d, nil
}

// completeMessage fills what a handler's message leaves out (the
// participation handler's names no id, time or sender; a Message Details
// object, the form Zoho documents for the mention handler's, no id or
// sender): the sender from params.user, the user who sent the message or
// mentioned the bot (a sender without a name that is params.user is named
// by it); the time from params.data.time, else the call's timestamp; the
// message id from params.access.message_id, or else the sent time and the
// sender's id (one user sends one message a millisecond).
func (b *botCall) completeMessage(m *message) {
	u := b.Params.User
	name := cmpOr(u.Name, fullName(u.FirstName, u.LastName))
	switch {
	case m.Sender.ID == "" && u.ID != "":
		m.Sender = person{ID: u.ID, Name: name}
	case m.Sender.Name == "" && m.Sender.ID == u.ID:
		m.Sender.Name = name
	}
	if _, ok := m.at(); !ok {
		m.Time = b.dataTime()
		if _, ok := m.at(); !ok {
			m.Time = b.Timestamp
		}
	}
	switch {
	case m.ID != "":
	case b.Params.Access.MessageID != "":
		m.ID = b.Params.Access.MessageID
	case m.Time != "" && m.Sender.ID != "":
		m.ID = zoho.Str(m.Time.String() + "_" + m.Sender.ID.String())
	}
}

func isChannel(t string) bool { return t == "" || strings.EqualFold(t, "channel") }

func channelName(title string) string {
	if title == "" {
		return ""
	}
	return "#" + strings.TrimPrefix(title, "#")
}

// hostFromCall is the Cliq host the call names (params.environment.base_url,
// less the "/company/<org>" Zoho's samples append) when it is the API root
// of a configured DC (POBLYSH_ZOHO_CLIQ_API_URLS, Zoho's by default), as
// polled Signals link to; "" otherwise.
func (c *Connector) hostFromCall(body []byte) string {
	var env struct {
		Params struct {
			Environment struct {
				BaseURL string `json:"base_url"`
			} `json:"environment"`
		} `json:"params"`
	}
	_ = json.Unmarshal(body, &env)
	u := strings.TrimRight(env.Params.Environment.BaseURL, "/")
	if i := strings.Index(u, "/company/"); i > 0 {
		u = u[:i]
	}
	if u != "" && c.IsAPIHost(u) {
		return u
	}
	return ""
}
