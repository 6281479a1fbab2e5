package press

// Headers are the message headers Detect reads. Mail connectors request
// them (Gmail: metadataHeaders of messages.get with format=metadata); the
// list headers matter as much as the addresses, because without them a
// media outlet's newsletter looks like its newsroom.
// Auto-Submitted (RFC 3834) marks auto-replies, which quote the subject of
// the message they answer. Reply-To and X-Original-From name the sender of
// a message a list of the organisation's (a press@ Google Group) relayed
// with From rewritten to the list's address.
var Headers = []string{"From", "To", "Cc", "Subject", "List-Id", "List-Unsubscribe", "Precedence", "Auto-Submitted", "Reply-To", "X-Original-From"}

// HeaderMessage builds a Message from raw header values. get returns the
// value of a header by its name as spelled in Headers ("" when absent);
// look names up case-insensitively, as header names are. Address headers go
// through ParseAddressList and the subject through DecodeHeader, so raw
// provider values can be passed as they are. A From without a usable
// address leaves Message.From empty.
func HeaderMessage(get func(name string) string, outbound bool) Message {
	m := Message{
		To:              ParseAddressList(get("To")),
		Cc:              ParseAddressList(get("Cc")),
		Subject:         DecodeHeader(get("Subject")),
		Outbound:        outbound,
		ListID:          get("List-Id"),
		ListUnsubscribe: get("List-Unsubscribe"),
		Precedence:      get("Precedence"),
		AutoSubmitted:   get("Auto-Submitted"),
		ReplyTo:         ParseAddressList(get("Reply-To")),
	}
	if from, ok := ParseAddress(get("From")); ok {
		m.From = from
	}
	if orig, ok := ParseAddress(get("X-Original-From")); ok {
		m.OriginalFrom = orig
	}
	return m
}
