package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack/slackevents"

	"github.com/poblysh/poblysh/connectors"
)

// maxSignatureAge is the replay window every Slack SDK enforces.
const maxSignatureAge = 5 * time.Minute

// VerifyWebhook implements connectors.WebhookReceiver with Slack's request
// signing: X-Slack-Signature must be "v0=" + hex HMAC-SHA256, keyed with
// the signing secret (Config.WebhookSecret), of "v0:<timestamp>:<body>",
// and X-Slack-Request-Timestamp within five minutes of req.Now. Nothing
// is parsed before this passes; no secret rejects everything.
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	return verifySignature(c.cfg.WebhookSecret, req)
}

func verifySignature(secret string, req *connectors.WebhookRequest) error {
	if secret == "" {
		return fmt.Errorf("slack: webhook: %w: no signing secret configured (POBLYSH_SLACK_WEBHOOK_SECRET)", connectors.ErrUnauthorized)
	}
	sig, ts := req.Header.Get("X-Slack-Signature"), req.Header.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return fmt.Errorf("slack: webhook: %w: missing X-Slack-Signature or X-Slack-Request-Timestamp", connectors.ErrUnauthorized)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("slack: webhook: %w: malformed X-Slack-Request-Timestamp", connectors.ErrUnauthorized)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxSignatureAge || age < -maxSignatureAge {
		return fmt.Errorf("slack: webhook: %w: request timestamp is %s away from now (replay window 5m)", connectors.ErrUnauthorized, age.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return fmt.Errorf("slack: webhook: %w: malformed X-Slack-Signature", connectors.ErrUnauthorized)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	_, _ = mac.Write([]byte("v0:" + ts + ":"))
	_, _ = mac.Write(req.Body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("slack: webhook: %w: signature mismatch", connectors.ErrUnauthorized)
	}
	return nil
}

// ParseWebhook implements connectors.WebhookReceiver for Events API
// requests: url_verification is answered with its challenge;
// event_callback is keyed by event_id and routed by its channel and by the
// install it was delivered for (a reaction by its channel only), with Signals for message and
// reaction_added events; app_rate_limited, app_uninstalled,
// tokens_revoked, team_access_granted and team_access_revoked are routed
// to the install's connections, channel_id_changed to the connections of
// the channel's old id and of the install (channelIDChanged), and events after
// which a bot may no longer read a channel (accessEvents, and messages
// saying someone left) to the connections that route the channel: they
// sync at once, and, like every other event, store nothing.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	return parseDeliveryWith(req.Body, c.names)
}

// parseDelivery parses a delivery without known names.
func parseDelivery(body []byte) (*connectors.WebhookDelivery, error) {
	return parseDeliveryWith(body, nil)
}

// parseDeliveryWith parses a delivery; its Signals carry the names nc holds
// for the install (nil: none). A webhook has no token to look names up.
func parseDeliveryWith(body []byte, nc *nameCache) (*connectors.WebhookDelivery, error) {
	var outer slackevents.EventsAPICallbackEvent
	if err := json.Unmarshal(body, &outer); err != nil {
		return nil, fmt.Errorf("slack: webhook: %w: body is not an Events API payload: %v", connectors.ErrInvalidConfig, err)
	}
	switch outer.Type {
	case slackevents.URLVerification:
		var uv slackevents.EventsAPIURLVerificationEvent
		if err := json.Unmarshal(body, &uv); err != nil || uv.Challenge == "" {
			return nil, fmt.Errorf("slack: webhook: %w: url_verification without challenge", connectors.ErrInvalidConfig)
		}
		reply, _ := json.Marshal(map[string]string{"challenge": uv.Challenge})
		return &connectors.WebhookDelivery{
			DeliveryID: "url_verification:" + uv.Challenge,
			Event:      slackevents.URLVerification,
			Reply:      &connectors.WebhookReply{Status: http.StatusOK, ContentType: "application/json", Body: reply},
		}, nil
	case slackevents.AppRateLimited:
		var rl slackevents.EventsAPIAppRateLimited
		_ = json.Unmarshal(body, &rl)
		// Slack dropped events of the workspace (more than 30,000 an hour):
		// what they said is only in the Web API now, so every connection
		// of the install syncs at once (Notify). Slack names the workspace
		// only (token, type, team_id, minute_rate_limited, api_app_id,
		// https://docs.slack.dev/reference/events/app_rate_limited/): an
		// org-wide install's connection routes app:<team id> for each
		// workspace it was granted (workspaces.go).
		d := &connectors.WebhookDelivery{
			DeliveryID: fmt.Sprintf("app_rate_limited:%s:%d", rl.TeamID, rl.MinuteRateLimited),
			Event:      slackevents.AppRateLimited,
			Notify:     true,
		}
		if rl.TeamID != "" {
			d.RouteKeys = []string{appKeyPrefix + rl.TeamID}
		}
		return d, nil
	case slackevents.CallbackEvent:
	default:
		sum := sha256.Sum256(body)
		return &connectors.WebhookDelivery{DeliveryID: "unknown:" + hex.EncodeToString(sum[:12]), Event: outer.Type}, nil
	}
	if outer.EventID == "" || outer.InnerEvent == nil {
		return nil, fmt.Errorf("slack: webhook: %w: event_callback without event_id or event", connectors.ErrInvalidConfig)
	}
	inner := *outer.InnerEvent
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(inner, &head)
	if org, typ := teamAccessChanged(&outer, inner, head.Type); org != "" {
		// An org-wide install was granted workspaces of the org, or lost
		// some (its envelope may name no workspace): its connection syncs
		// at once. Its workspaces stream lists them again, so it routes
		// the news of exactly those (workspaces.go); the channels it can
		// no longer read are found lost and unrouted, as for a bot that
		// left them, and those of a new workspace are read.
		return &connectors.WebhookDelivery{DeliveryID: outer.EventID, Event: typ, Notify: true,
			RouteKeys: []string{appKeyPrefix + org}}, nil
	}
	if outer.TeamID == "" {
		return nil, fmt.Errorf("slack: webhook: %w: event_callback without team_id", connectors.ErrInvalidConfig)
	}
	if head.Type == string(slackevents.AppUninstalled) || head.Type == string(slackevents.TokensRevoked) {
		return grantEnded(&outer, head.Type), nil
	}
	if accessEvents[head.Type] {
		return accessChanged(&outer, head.Type, eventChannel(inner)), nil
	}
	if head.Type == channelIDChangedEvent {
		return channelIDChanged(&outer, inner), nil
	}
	install := deliveryInstallKey(&outer)
	d := &connectors.WebhookDelivery{DeliveryID: outer.EventID, Event: head.Type}
	if head.Type != reactionAddedEvent {
		// A reaction is routed by its channel only: the connections that
		// configured it, and those reading every channel, which route
		// each channel their bot's listing names (membersResource).
		// Slack's reaction_added names no channel type, and a group DM's
		// id (G…) looks like a legacy private channel's, so by the
		// install key a group DM's reaction would reach them too.
		d.RouteKeys = []string{install}
	}
	_, acct, _ := strings.Cut(install, ":")
	if ch := eventChannel(inner); ch != "" {
		d.RouteKeys = append(d.RouteKeys, channelKey(ch))
	}
	if directConversation(inner) {
		// A DM or group DM with the bot: the connector reads channels
		// only, so its messages and reactions yield nothing (and a
		// deletion there retracts nothing), whoever the event routes to.
		return d, nil
	}
	var err error
	switch head.Type {
	case "message":
		if leftChannel(inner) {
			// Someone left the channel, perhaps another workspace's bot
			// (Slack Connect) whose own channel_left Slack withheld: the
			// connections that route it check their access now.
			return accessChanged(&outer, head.Type, eventChannel(inner)), nil
		}
		d.Retract = deletedMessages(inner)
		d.Signals, err = messageEventSignals(inner, nc, acct)
	case reactionAddedEvent:
		d.Signals, err = reactionEventSignals(inner, outer.EventTime, nc, acct)
	}
	if err != nil {
		return nil, fmt.Errorf("slack: webhook %s: %w", outer.EventID, err)
	}
	return d, nil
}

// grantEnded is the delivery of app_uninstalled or tokens_revoked: the
// workspace removed the app, or revoked tokens of its users or bot
// (https://docs.slack.dev/reference/events/app_uninstalled/,
// https://docs.slack.dev/reference/events/tokens_revoked/). Slack sends
// them without authorizations, naming the workspace in team_id. Each
// connection of the install syncs at once (Notify, routed like
// app_rate_limited): its first call tells whether its own token still
// works, and a revoked one (token_revoked, invalid_auth) moves the
// connection to needs_reauth and pauses its schedules, so the people who
// connected it see that now, not at the next reconciliation poll. The
// event alone decides nothing: tokens_revoked names users whose tokens
// died, which may be another user's grant of the same app.
func grantEnded(outer *slackevents.EventsAPICallbackEvent, typ string) *connectors.WebhookDelivery {
	d := &connectors.WebhookDelivery{DeliveryID: outer.EventID, Event: typ, Notify: true}
	for _, id := range []string{outer.TeamID, outer.EnterpriseID} {
		if id != "" {
			d.RouteKeys = append(d.RouteKeys, appKeyPrefix+id)
		}
	}
	return d
}

// accessEvents say that a bot may no longer read a channel: it left or
// was removed (channel_left, group_left: "sometimes withheld", Slack
// says), or the channel stopped being shared with a workspace
// (channel_unshared, sent to every subscription, naming the workspace
// removed) (https://docs.slack.dev/reference/events/channel_left/,
// https://docs.slack.dev/reference/events/channel_unshared/).
var accessEvents = map[string]bool{"channel_left": true, "group_left": true, "channel_unshared": true}

// accessChanged is the delivery of an event after which a connection's
// proof of a channel may no longer hold. A configured channel is routed
// by its proof, and the proof was a check at one moment: while it stood,
// the channel's events (in a Slack Connect channel, those delivered for
// the other workspace's install too) kept reaching a connection whose bot
// had left. So each connection that routes the channel syncs at once
// (Notify): the sync of a channel the bot cannot read marks it lost and
// drops its route (docs/providers/slack.md, "Access lost"), and one it
// still reads is proved again. The event alone decides nothing: it may
// name another workspace's bot. Nothing is stored.
func accessChanged(outer *slackevents.EventsAPICallbackEvent, typ, channel string) *connectors.WebhookDelivery {
	d := &connectors.WebhookDelivery{DeliveryID: outer.EventID, Event: typ, Notify: true}
	if channel != "" {
		d.RouteKeys = []string{channelKey(channel)}
	}
	return d
}

// channelIDChangedEvent says that a legacy private channel shared through
// Slack Connect has a new id for good (idchange.go).
const channelIDChangedEvent = "channel_id_changed"

// channelIDChanged is the delivery of channel_id_changed
// (https://api.slack.com/events/channel_id_changed): the channel's events
// carry its new id from now on, and its old one is unknown to every
// method. It is routed by channel:<old_channel_id>, which the connections
// that configured the channel route, and by the install key, which those
// reading every channel of the install route; each syncs at once
// (Notify). There the connection's own calls decide: a configured
// channel's stream finds the old id gone and follows the channel to its
// new one once the token proves it reads it, and the channels stream
// carries the channel's cursor over. Nothing moves on the event's word,
// and nothing is stored.
func channelIDChanged(outer *slackevents.EventsAPICallbackEvent, inner json.RawMessage) *connectors.WebhookDelivery {
	var v struct {
		Old string `json:"old_channel_id"`
	}
	_ = json.Unmarshal(inner, &v)
	d := &connectors.WebhookDelivery{DeliveryID: outer.EventID, Event: channelIDChangedEvent, Notify: true,
		RouteKeys: []string{deliveryInstallKey(outer)}}
	if channelIDPattern.MatchString(v.Old) {
		d.RouteKeys = append(d.RouteKeys, channelKey(v.Old))
	}
	return d
}

// teamAccessEvents say that an org-wide install reaches other workspaces
// of its org now.
var teamAccessEvents = map[string]bool{"team_access_granted": true, "team_access_revoked": true}

// teamAccessChanged returns the org and the type of a team_access_granted
// or team_access_revoked event ("", "" for any other event): Slack sends
// them to an org-wide app when its token is given access to workspaces of
// the org, or can no longer reach some
// (https://docs.slack.dev/reference/events/team_access_granted/,
// https://docs.slack.dev/reference/events/team_access_revoked/). Slack's
// published examples differ: the org in the envelope's enterprise_id and
// the event {type, team_ids}, or the org and the event one level down
// inside "event"; both are read, and the authorization's org last.
func teamAccessChanged(outer *slackevents.EventsAPICallbackEvent, inner json.RawMessage, typ string) (string, string) {
	var nested struct {
		EnterpriseID string `json:"enterprise_id"`
		Event        struct {
			Type string `json:"type"`
		} `json:"event"`
	}
	_ = json.Unmarshal(inner, &nested)
	if !teamAccessEvents[typ] {
		if typ = nested.Event.Type; !teamAccessEvents[typ] {
			return "", ""
		}
	}
	for _, id := range []string{outer.EnterpriseID, nested.EnterpriseID} {
		if id != "" {
			return id, typ
		}
	}
	if len(outer.Authorizations) > 0 && outer.Authorizations[0].EnterpriseID != "" {
		return outer.Authorizations[0].EnterpriseID, typ
	}
	return "", ""
}

// leftChannel reports whether a message event is a channel_leave or
// group_leave message: someone left the channel
// (https://docs.slack.dev/reference/events/message/channel_leave/).
func leftChannel(inner json.RawMessage) bool {
	var v struct {
		Subtype string `json:"subtype"`
	}
	return json.Unmarshal(inner, &v) == nil && (v.Subtype == "channel_leave" || v.Subtype == "group_leave")
}

// deliveryInstallKey is the install an event was delivered for. Slack
// names it in authorizations (truncated to one install): an org-wide
// install by its enterprise, a workspace install by its team. Envelopes
// without authorizations name the workspace in team_id, which for an org
// install is the workspace the event happened in, not the install; so the
// authorization wins.
func deliveryInstallKey(outer *slackevents.EventsAPICallbackEvent) string {
	if len(outer.Authorizations) > 0 {
		a := outer.Authorizations[0]
		if a.IsEnterpriseInstall && a.EnterpriseID != "" {
			return enterpriseKeyPrefix + a.EnterpriseID
		}
		if a.TeamID != "" {
			return teamKeyPrefix + a.TeamID
		}
	}
	return teamKeyPrefix + outer.TeamID
}

// eventChannel is the channel an inner event is about: a message's
// channel, a reaction's item channel; "" for anything else.
func eventChannel(inner json.RawMessage) string {
	var v struct {
		Channel any `json:"channel"`
		Item    struct {
			Channel string `json:"channel"`
		} `json:"item"`
	}
	if json.Unmarshal(inner, &v) != nil {
		return ""
	}
	if ch, ok := v.Channel.(string); ok && ch != "" {
		return ch
	}
	return v.Item.Channel
}

// reactionAddedEvent is the inner type of a reaction_added event.
const reactionAddedEvent = "reaction_added"

// directConversation reports whether an inner event happened in a DM, a
// group DM or the app's home, which the connector does not read: a
// message's channel_type ("channel", "group", "im", "mpim",
// https://docs.slack.dev/reference/events/message/), or an
// item.channel_type on a reaction should one be sent (Slack's documented
// reaction_added item has type, channel and ts only,
// https://docs.slack.dev/reference/events/reaction_added/). Without a
// channel type, a DM is known by its id (D…); a group DM is not (its id
// starts with G, like a legacy private channel's), so it is then read as
// a channel: that is why reactions are routed by their channel only,
// which no connection routes for a group DM (membersResource).
func directConversation(inner json.RawMessage) bool {
	var v struct {
		Channel     any    `json:"channel"`
		ChannelType string `json:"channel_type"`
		Item        struct {
			Channel     string `json:"channel"`
			ChannelType string `json:"channel_type"`
		} `json:"item"`
	}
	if json.Unmarshal(inner, &v) != nil {
		return false
	}
	typ, ch := v.ChannelType, ""
	if s, ok := v.Channel.(string); ok {
		ch = s
	}
	if ch == "" {
		typ, ch = v.Item.ChannelType, v.Item.Channel
	}
	switch typ {
	case "im", "mpim", "app_home":
		return true
	case "":
		return strings.HasPrefix(ch, "D")
	}
	return false
}

// messageEventSignals normalizes a message event. Subtypes outside the
// kept set (message_changed, message_deleted, bot_message, channel_join...)
// yield nothing; DMs were left out before (directConversation).
func messageEventSignals(inner json.RawMessage, nc *nameCache, acct string) ([]connectors.Signal, error) {
	me, err := decodeMessage[slackevents.MessageEvent](inner) // attachments as in history (decode.go)
	if err != nil {
		return nil, fmt.Errorf("%w: message event: %v", connectors.ErrInvalidConfig, err)
	}
	if !keptSubtypes[me.SubType] || me.Message == nil {
		return nil, nil
	}
	ids := append([]string{me.Channel, me.Message.User}, mentionedIDs(me.Message.Text)...)
	return messageSignals(where{Channel: me.Channel, Names: nc.peek(acct, ids)}, me.Message, inner)
}

// deletedMessages names the message.posted Signal a message event
// retracts: msg:<channel>:<ts>. A message_deleted event names the message
// in deleted_ts
// (https://docs.slack.dev/reference/events/message/message_deleted/). A
// thread parent with replies is not deleted but replaced by a tombstone
// (subtype tombstone, by USLACKBOT, "This message was deleted."), announced
// as a message_changed event whose message is the tombstone, with the
// parent's ts.
func deletedMessages(inner json.RawMessage) []string {
	var v struct {
		Subtype   string `json:"subtype"`
		Channel   string `json:"channel"`
		DeletedTS string `json:"deleted_ts"`
		Message   *struct {
			Subtype string `json:"subtype"`
			TS      string `json:"ts"`
		} `json:"message"`
	}
	if json.Unmarshal(inner, &v) != nil || v.Channel == "" {
		return nil
	}
	switch {
	case v.Subtype == "message_deleted" && v.DeletedTS != "":
		return []string{messageKey(v.Channel, v.DeletedTS)}
	case v.Subtype == "message_changed" && v.Message != nil && v.Message.Subtype == "tombstone" && v.Message.TS != "":
		return []string{messageKey(v.Channel, v.Message.TS)}
	}
	return nil
}

// reactionEventSignals normalizes reaction_added on a message in a channel
// (reactions to files are not sent to modern apps and are ignored; those
// in DMs were left out before, directConversation).
func reactionEventSignals(inner json.RawMessage, eventTime int, nc *nameCache, acct string) ([]connectors.Signal, error) {
	var re slackevents.ReactionAddedEvent
	if err := json.Unmarshal(inner, &re); err != nil {
		return nil, fmt.Errorf("%w: reaction_added event: %v", connectors.ErrInvalidConfig, err)
	}
	if re.Item.Type != "message" || re.Item.Channel == "" || re.Item.Timestamp == "" || re.User == "" || re.Reaction == "" {
		return nil, nil
	}
	at, err := parseTS(re.EventTimestamp)
	if err != nil {
		at = time.Unix(int64(eventTime), 0).UTC()
	}
	w := where{Channel: re.Item.Channel, Names: nc.peek(acct, []string{re.Item.Channel, re.User})}
	// item {type, channel, ts} names no thread: the link has no thread_ts.
	return []connectors.Signal{reactionSignal(w, re.Item.Timestamp, "", re.ItemUser, re.User, re.Reaction, at, inner)}, nil
}
