package zohocliq

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// mentionsLookback is how far back Cliq keeps mentions (its default window
// is the last 30 days).
const mentionsLookback = 30 * 24 * time.Hour

// mentionCursor is the mentions stream's cursor:
//
//	{"v":1,"hw":1773813859592,"hw_ids":["1773813859592_51531973059"],
//	 "pass":{"from":1773813859592,"to":1773900000000,"next":"69db51e9…","high":1773813859592}}
//
// hw is the newest mention's time read (or the window's start of a
// first pass that read nothing) and hw_ids the ids of the mentions read
// in hw's second; a pass reads [hw's second, now] (a
// backfill: the last 30 days, or BACKFILL_DAYS if fewer) with next_token
// pages. A mention dated to the millisecond (by its message or entry id)
// is new after hw, or at hw when not in hw_ids; one dated by its message's
// time, to the second, after hw's second, or in it when not in hw_ids.
// Comparing it with hw's millisecond (dated .000, before hw) dropped a
// mention sent later in that second.
type mentionCursor struct {
	V     int          `json:"v"`
	HW    int64        `json:"hw,omitempty"`
	HWIDs []string     `json:"hw_ids,omitempty"`
	Pass  *mentionPass `json:"pass,omitempty"`
}

type mentionPass struct {
	From    int64    `json:"from"`
	To      int64    `json:"to"`
	Next    string   `json:"next,omitempty"`
	High    int64    `json:"high,omitempty"`
	HighIDs []string `json:"high_ids,omitempty"`
}

// mentionEntry is one item of GET /api/v3/mentions
// (https://www.zoho.com/cliq/help/restapi/v3/mentions/).
type mentionEntry struct {
	ID           zoho.Str `json:"id"`
	ActivityType string   `json:"activity_type"`
	Chat         struct {
		ID                 zoho.Str `json:"id"`
		Title              string   `json:"title"`
		ChannelDisplayName string   `json:"channel_display_name"`
	} `json:"chat"`
	Message message `json:"message"`
	Mention struct {
		RecipientID    zoho.Str `json:"recipient_id"`
		MentionedUsers []person `json:"mentioned_users"`
	} `json:"mention"`
}

// sentTime is the time the entry id ends with: Zoho's entry ids are
// "<chat id>|<sender id>|<sent ms>" ("CT_…|60040376665|1779778913508"),
// exact where the message id is a float (1.7797789135081024e+23) and the
// message's time is to the second. ok is false for an id of another
// shape, or one naming another sender.
func (e *mentionEntry) sentTime() (time.Time, bool) {
	parts := strings.Split(e.ID.String(), "|")
	if len(parts) < 3 || e.Message.Sender.ID == "" || parts[len(parts)-2] != e.Message.Sender.ID.String() {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// second is the start of the second of ms, epoch milliseconds.
func second(ms int64) int64 { return ms - ms%1000 }

// fetchMentions reads one page of the user's mentions, newest first. A
// mention's time, its key's and the high-water mark's, is its message id's
// milliseconds, else its entry id's (sentTime), else its message's time.
func (c *Connector) fetchMentions(ctx context.Context, req connectors.PageRequest, now time.Time) (*connectors.Page, error) {
	var cur mentionCursor
	if err := decodeCursor(req.Cursor, &cur, &cur.V); err != nil {
		return nil, err
	}
	if cur.Pass == nil {
		from := now.Add(-min(mentionsLookback, c.backfill)).UnixMilli()
		if cur.HW > 0 {
			from = second(cur.HW)
		}
		cur.Pass = &mentionPass{From: from, To: now.UnixMilli()}
	}
	p := cur.Pass
	q := url.Values{"from_time": {strconv.FormatInt(p.From, 10)}, "to_time": {strconv.FormatInt(p.To, 10)},
		"limit": {strconv.Itoa(c.pageSize)}, "type": {"mentions"}}
	if p.Next != "" {
		q.Set("next_token", p.Next)
	}
	var ans struct {
		HasMore   zoho.Str          `json:"has_more"`
		NextToken zoho.Str          `json:"next_token"`
		Data      []json.RawMessage `json:"data"`
	}
	if err := c.get(ctx, req.HTTP, req.Connection.Account, apiMentions, "/api/v3/mentions", q, &ans); err != nil {
		return nil, err
	}
	host := c.webHost(req.Connection.Account)
	var out []connectors.Signal
	seen := map[string]bool{}
	for _, raw := range ans.Data {
		var e mentionEntry
		if json.Unmarshal(raw, &e) != nil || (e.ActivityType != "" && e.ActivityType != "mentions") {
			continue
		}
		m := &e.Message
		at, ok := idTime(m.ID.String())
		fromEntry, exact := false, ok
		if !ok {
			// A message id without milliseconds (Zoho's float ids): the
			// entry id's, else the message's time (to the second).
			if at, fromEntry = e.sentTime(); !fromEntry {
				if at, ok = m.at(); !ok {
					continue
				}
			}
			exact = fromEntry
		}
		ms, id := at.UnixMilli(), m.ID.String()
		t, hw := ms, cur.HW
		if !exact {
			t, hw = second(ms), second(cur.HW)
		}
		if t > hw || (t == hw && !slices.Contains(cur.HWIDs, id)) {
			var users []string
			for _, u := range e.Mention.MentionedUsers {
				if u.ID != "" {
					users = append(users, u.ID.String())
				}
			}
			if len(users) == 0 && e.Mention.RecipientID != "" {
				users = []string{e.Mention.RecipientID.String()}
			}
			m.Time = zoho.Str(strconv.FormatInt(ms, 10))
			chat := e.Chat.ID.String()
			if s, ok := mentionSignal(host, chat, firstOf(e.Chat.ChannelDisplayName, e.Chat.Title), m, users, raw); ok && !seen[s.DedupeKey] {
				if fromEntry {
					// Earlier versions keyed it to the second, with its id's
					// key as alias (before 0031: as key). A Signal holding
					// that key is this mention; one merely of its second
					// and sender is another, which they dropped.
					s.MatchKeys = []string{mentionKey(chat, id)}
				}
				seen[s.DedupeKey] = true
				out = append(out, s)
			}
		}
		// high is the newest time read; high_ids every id read in its
		// second, whatever the precision it is dated to.
		switch s := second(ms); {
		case s > second(p.High):
			p.High, p.HighIDs = ms, []string{id}
		case s == second(p.High):
			p.High = max(p.High, ms)
			if !slices.Contains(p.HighIDs, id) {
				p.HighIDs = append(p.HighIDs, id)
			}
		}
	}
	p.Next = ans.NextToken.String()
	done := p.Next == "" || (ans.HasMore != "" && !ans.HasMore.Bool())
	if done {
		switch {
		case second(p.High) > second(cur.HW):
			cur.HW, cur.HWIDs = p.High, p.HighIDs
		case p.High == 0 && cur.HW == 0:
			// A first pass that read nothing keeps its window's start:
			// the next pass goes on from it, not from its own now less
			// the window, which would lose the mentions between once it
			// came later than the window after this one.
			cur.HW = p.From
		case p.High > 0 && second(p.High) == second(cur.HW):
			cur.HW = max(cur.HW, p.High)
			for _, id := range p.HighIDs {
				if !slices.Contains(cur.HWIDs, id) {
					cur.HWIDs = append(cur.HWIDs, id)
				}
			}
		}
		cur.Pass = nil
	}
	next, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("zoho-cliq: encode cursor: %w", err)
	}
	return &connectors.Page{Signals: out, Items: len(ans.Data), Next: next, Done: done}, nil
}
