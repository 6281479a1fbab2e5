// Package press decides, from a message's headers alone, whether it is
// correspondence with a journalist. Every mail connector (Gmail, Zoho Mail)
// uses it to emit email.press_thread.
//
// The package is pure: no I/O; besides the standard library it imports only
// golang.org/x/net/publicsuffix (regional editions, look-alikes) and
// golang.org/x/text/encoding/htmlindex (the charsets of encoded words,
// ISO-2022-JP, GB2312, EUC-KR, KOI8-R, …). New returns a
// Detector over the curated list of news and media domains that ships in
// media_domains.txt (embedded); Detect judges one message against it, the
// tenant's own press contacts (Config), and subject and display-name cues in
// the major languages of the list. ParseAddressList turns the address
// headers a provider returns into the Addresses a Message holds.
//
// How a mail connector uses it (a sketch):
//
//	det := press.New() // once; safe for concurrent use
//	// request press.Headers with the message metadata, then:
//	m := press.HeaderMessage(headerByName, sentByTheAccount)
//	if r := det.Detect(m, cfg); r.Press && !thread.PressSeen {
//		thread.PressSeen = true // stored with the cursor, in the same transaction
//		emit("email.press_thread", r.Score, r.Reasons, r.Correspondent, r.Matched)
//	}
//
// Call Detect on every message you read, inbound and outbound, in the order
// the provider delivered them, and emit email.press_thread once per thread:
// on the first message for which Result.Press is true. Later messages of the
// thread are not judged again for that Signal. Request the List-Id,
// List-Unsubscribe and Precedence headers with the others, or newsletters
// from media outlets will count as press. docs/press-detection.md describes
// the rules, their measured precision and recall, what headers cannot show,
// and how to update the lists.
package press
