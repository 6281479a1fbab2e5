package connectors

import "sort"

// KindInfo documents one Signal kind: what it means, its attributes and an
// example payload.
type KindInfo struct {
	Kind        string
	Description string
	Attributes  []Attribute
	// Example is a realistic payload of the kind, as its first provider in
	// the architecture's kind table produces it (kinds_examples.go).
	Example Payload
}

// Attribute documents one provider-specific attribute of a kind.
type Attribute struct {
	Name        string
	Type        string // string, integer, number, boolean, timestamp, array, object
	Required    bool
	Description string
}

func req(name, typ, desc string) Attribute { return Attribute{name, typ, true, desc} }
func opt(name, typ, desc string) Attribute { return Attribute{name, typ, false, desc} }

// Catalog is the provider-agnostic Signal kind catalog (architecture §6). A
// kind names the happening, not the provider. docs/signal-kinds.md is
// generated from it.
var Catalog = map[string]KindInfo{}

func init() {
	for _, k := range []struct {
		Kind, Description string
		Attributes        []Attribute
	}{
		{"message.posted", "A message was posted in a tracked channel or chat.", []Attribute{
			req("channel_id", "string", "Channel or chat id."),
			req("ts", "string", "Provider message id (Slack ts, Cliq message id)."),
			opt("thread_ts", "string", "Parent message id: on a threaded reply, and on a thread parent (equal to `ts`); use `is_thread_reply` to tell replies apart."),
			opt("is_thread_reply", "boolean", "True for a reply in a thread."),
			opt("text", "string", "Message text. Slack: as written, markup kept (`<@U123>`, `<https://x|label>`); the title renders it. Zoho Cliq: rendered for people as the title is (`{@<id>}` becomes `@Name`, `{#channel}` `#channel`); the markup is not kept."),
			opt("subtype", "string", "Provider subtype, e.g. thread_broadcast, file_share."),
			opt("reply_count", "integer", "Replies in the thread, when known."),
			opt("files", "integer", "Number of attached files."),
			opt("retracted", "boolean", "True once the message was deleted at the provider (Slack; Zoho Cliq does not say so and keeps it); the feed hides it unless include_retracted=true."),
		}},
		{"reaction.added", "Someone reacted to a message.", []Attribute{
			req("reaction", "string", "Emoji name, e.g. thumbsup."),
			req("item_ts", "string", "Id of the message reacted to."),
			req("channel_id", "string", "Channel of the message."),
			opt("item_user", "string", "Author of the message reacted to."),
			opt("count", "integer", "Everyone who reacted with this emoji, on a Signal that stands for the people a truncated list left out."),
			opt("others", "integer", "How many people that Signal stands for (it has no actor)."),
		}},
		{"mention.created", "A tracked user or bot was mentioned.", []Attribute{
			req("chat_id", "string", "Chat where the mention happened."),
			req("message_id", "string", "Message that carries the mention."),
			opt("mentioned_users", "array", "Ids of mentioned users."),
			opt("text", "string", "Text of the message that carries the mention, rendered for people as the title is (Zoho Cliq: `{@<id>}` becomes `@Name`); the ids of those mentioned are in mentioned_users."),
		}},
		{"code.pushed", "Commits were pushed to a branch.", []Attribute{
			req("ref", "string", "Full ref, e.g. refs/heads/main."),
			req("branch", "string", "Branch name."),
			req("commit_count", "integer", "Commits in the push (GitHub: those its payload lists, 2048 at most)."),
			opt("commit_count_truncated", "boolean", "True when the payload lists its provider's maximum (GitHub: 2048): the push may hold more commits than commit_count."),
			req("head_commit", "object", "{id, message, url, timestamp, author} of the newest commit."),
			opt("compare_url", "string", "Compare URL of the push."),
			opt("forced", "boolean", "True for a force push."),
			opt("created", "boolean", "True when the push created the branch."),
			opt("before", "string", "Commit sha before the push."),
			opt("after", "string", "Commit sha after the push."),
			opt("source", "string", "webhook for live pushes, backfill for commits read through the REST API."),
		}},
		{"pull_request.opened", "A pull request was opened.", prAttrs()},
		{"pull_request.merged", "A pull request was merged.", append(prAttrs(), opt("merged_by", "string", "Login of the merger."), opt("merge_commit_sha", "string", "Merge commit."))},
		{"pull_request.closed", "A pull request was closed without merging.", prAttrs()},
		{"release.published", "A release was published.", []Attribute{
			req("tag_name", "string", "Git tag of the release."),
			req("prerelease", "boolean", "True for a pre-release."),
			opt("name", "string", "Release title."),
			opt("body", "string", "Release notes (markdown)."),
			opt("target_commitish", "string", "Branch or commit the tag points at."),
		}},
		{"issue.created", "An issue was created.", issueAttrs()},
		{"issue.updated", "An issue was updated.", append(issueAttrs(), opt("changed_fields", "array", "Fields changed by the update."))},
		{"issue.status_changed", "An issue moved to another status.", append(issueAttrs(), req("from_status", "string", "Previous status."), req("to_status", "string", "New status."))},
		{"document.created", "A document was created in a tracked folder, or moved or copied into one.", append(docAttrs(),
			opt("reason", "string", "new (created or copied) or moved_in (moved into a tracked folder)."))},
		{"document.updated", "A document's content was edited (edits within 10 minutes are one Signal).", docAttrs()},
		{"document.trashed", "A document was moved to the trash.", append(docAttrs(),
			opt("explicitly_trashed", "boolean", "False when the document went with a trashed folder."))},
		{"document.shared", "A document was shared beyond the organisation: made public, or opened to a whole domain other than its own.", append(docAttrs(),
			req("shared_with", "string", "anyone (public, with or without the link) or domain."),
			opt("domain", "string", "The domain it was opened to (never the organisation's own)."),
			opt("role", "string", "reader, commenter or writer."),
			opt("discoverable", "boolean", "True when it can be found by search, not only by its link."))},
		{"calendar_event.created", "A calendar event was created.", calAttrs()},
		{"calendar_event.updated", "A calendar event was updated.", calAttrs()},
		{"calendar_event.cancelled", "A calendar event was cancelled or deleted.", calAttrs()},
		{"email.thread_started", "A new email thread started.", emailAttrs()},
		{"email.press_thread", "An email thread with a tracked journalist or media contact.", append(emailAttrs(),
			req("matched", "array", "Tracked domains or addresses that matched."),
			opt("score", "number", "Press detector score, 0 to 1."),
			opt("reasons", "array", "Why the detector matched (media domain, tenant contact, subject cue…)."))},
		{"email.received", "An email was received.", emailAttrs()},
		{"email.sent", "An email was sent.", emailAttrs()},
	} {
		Catalog[k.Kind] = KindInfo{k.Kind, k.Description, k.Attributes, kindExamples[k.Kind]}
	}
}

func prAttrs() []Attribute {
	return []Attribute{
		req("number", "integer", "Pull request number."),
		req("state", "string", "open or closed."),
		req("draft", "boolean", "True for a draft."),
		opt("base_ref", "string", "Target branch."),
		opt("head_ref", "string", "Source branch."),
		opt("labels", "array", "Label names."),
		opt("additions", "integer", "Lines added, when known."),
		opt("deletions", "integer", "Lines removed, when known."),
	}
}

func issueAttrs() []Attribute {
	return []Attribute{
		req("key", "string", "Issue key, e.g. ABC-12."),
		req("status", "string", "Current status (for a status change: the status moved into)."),
		opt("status_category", "string", "Category of that status: new, indeterminate or done (Jira's keys)."),
		opt("issue_type", "string", "Issue type."),
		opt("priority", "string", "Priority name."),
		opt("labels", "array", "Label names."),
		opt("assignee", "string", "Display name of the assignee."),
		opt("fix_versions", "array", "Names of the fix versions."),
		opt("resolution", "string", "Resolution name, once resolved."),
		opt("description", "string", "Description as plain text, at most 2 KB."),
	}
}

func docAttrs() []Attribute {
	return []Attribute{
		req("mime_type", "string", "MIME type."),
		opt("version", "integer", "Provider version counter."),
		opt("folder_path", "array", "Folder names from the tracked folder (or shared drive) down to the document's folder."),
		opt("size", "integer", "Size in bytes."),
		opt("drive_id", "string", "Shared drive id, for documents on a shared drive."),
	}
}

func calAttrs() []Attribute {
	return []Attribute{
		req("calendar_id", "string", "Calendar id."),
		req("status", "string", "confirmed, tentative or cancelled."),
		req("all_day", "boolean", "True for an all-day event."),
		opt("start", "string", "Start: RFC 3339 time, or for an all-day event the date of its first day."),
		opt("end", "string", "End (exclusive): RFC 3339 time, or for an all-day event the date after its last day (a one-day event on 2025-02-10 ends 2025-02-11)."),
		opt("recurring_event_id", "string", "Id of the recurring series this instance belongs to."),
		opt("recurrence", "array", "RRULE lines of a recurring series."),
		opt("attendee_count", "integer", "Number of people invited (rooms and other resources are not counted); no attendee list is kept."),
		opt("location", "string", "Location."),
		opt("description", "string", "Description as the calendar holds it (may contain HTML), cut to 2 KB on a character boundary."),
		opt("description_truncated", "boolean", "True when the description was cut."),
		opt("conference_url", "string", "Link to join the call (Google Meet or a conferencing add-on such as Zoom)."),
		opt("organizer_name", "string", "Display name of the organizer (a person, or the shared calendar that organizes the event)."),
		opt("sequence", "integer", "iCalendar sequence number."),
	}
}

func emailAttrs() []Attribute {
	return []Attribute{
		req("thread_id", "string", "Thread id."),
		req("message_id", "string", "Message id."),
		opt("subject", "string", "Subject line."),
		opt("from", "string", "Sender address."),
		opt("to", "array", "Recipient addresses."),
		opt("direction", "string", "inbound or outbound."),
		opt("correspondent", "object", "{name, email} of the other party: the sender of an inbound message, the first recipient of an outbound one (the journalist for press threads)."),
		opt("snippet", "string", "The provider's short plain-text excerpt."),
		opt("to_domains", "array", "Domains of the To addresses (no addresses)."),
		opt("cc_domains", "array", "Domains of the Cc addresses (no addresses)."),
		opt("label_ids", "array", "Provider labels of the message."),
	}
}

// KindNames returns every catalog kind, sorted.
func KindNames() []string {
	names := make([]string, 0, len(Catalog))
	for k := range Catalog {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
