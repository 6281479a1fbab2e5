package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors/googlecalendar"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// webhookCase drives one provider through the intake checks.
type webhookCase struct {
	name     string
	provider string
	env      map[string]string
	config   any
	backfill int
	// valid returns a new correctly signed delivery of one new happening.
	valid func(t *testing.T, s *stack) sandbox.Delivery
	// forged returns variants that must be rejected with 401.
	forged func(t *testing.T, d sandbox.Delivery) map[string]sandbox.Delivery
	// maxBody is the provider's own webhook body limit when larger than
	// the general 5 MB (GitHub: 25 MB); 0: the general limit.
	maxBody int
}

func withHeader(d sandbox.Delivery, k, v string) sandbox.Delivery {
	h := d.Header.Clone()
	if v == "" {
		h.Del(k)
	} else {
		h.Set(k, v)
	}
	return sandbox.Delivery{Header: h, Body: d.Body}
}

func githubCase(t *testing.T) webhookCase {
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	url := newHTTPServer(t, gh)
	var n atomic.Int32
	return webhookCase{
		name: "github", provider: "github", env: gh.Env(url), maxBody: 25 << 20,
		config:   map[string]any{"repos": []string{githubsandbox.SeedRepo}},
		backfill: githubsandbox.SeedPullSignals + githubsandbox.SeedReleaseSignals + githubsandbox.SeedCommitSignals,
		valid: func(t *testing.T, s *stack) sandbox.Delivery {
			act, err := gh.OpenPull(githubsandbox.SeedRepo, githubsandbox.PullInput{Title: fmt.Sprintf("PR %d", n.Add(1)), User: "hubot"})
			require.NoError(t, err)
			return gh.AppDelivery(act.Events[0])
		},
		forged: func(t *testing.T, d sandbox.Delivery) map[string]sandbox.Delivery {
			wrong, _ := githubsandbox.Sign(d.Body, "another-secret")
			return map[string]sandbox.Delivery{
				"bad signature":     withHeader(d, "X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64)),
				"missing signature": withHeader(d, "X-Hub-Signature-256", ""),
				"wrong secret":      withHeader(d, "X-Hub-Signature-256", wrong),
				"tampered body":     {Header: d.Header, Body: append([]byte(strings.TrimSuffix(string(d.Body), "}")), `,"x":1}`...)},
			}
		},
	}
}

func slackCase(t *testing.T) webhookCase {
	sl := slacksandbox.New(slacksandbox.Options{Seed: true})
	url := newHTTPServer(t, sl)
	var n atomic.Int32
	other := slacksandbox.New(slacksandbox.Options{SigningSecret: "another-signing-secret"})
	return webhookCase{
		name: "slack", provider: "slack", env: sl.Env(url),
		config:   map[string]any{"channels": []string{slacksandbox.ChannelGeneral, slacksandbox.ChannelPress}},
		backfill: slacksandbox.GeneralSignals + slacksandbox.PressSignals,
		valid: func(t *testing.T, s *stack) sandbox.Delivery {
			ev, err := sl.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: "U05BOB0001", Text: fmt.Sprintf("news %d", n.Add(1))})
			require.NoError(t, err)
			return sl.Delivery(ev, time.Now())
		},
		forged: func(t *testing.T, d sandbox.Delivery) map[string]sandbox.Delivery {
			stale := d.Header.Clone()
			old := time.Now().Add(-10 * time.Minute)
			for k, v := range sl.Sign(d.Body, old) {
				stale[k] = v
			}
			wrong := d.Header.Clone()
			for k, v := range other.Sign(d.Body, time.Now()) {
				wrong[k] = v
			}
			return map[string]sandbox.Delivery{
				"bad signature":     withHeader(d, "X-Slack-Signature", "v0="+strings.Repeat("0", 64)),
				"missing signature": withHeader(d, "X-Slack-Signature", ""),
				"stale timestamp":   {Header: stale, Body: d.Body},
				"wrong secret":      {Header: wrong, Body: d.Body},
			}
		},
	}
}

func calendarCase(t *testing.T) webhookCase {
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	url := newHTTPServer(t, gc)
	const secret = "calendar-channel-secret"
	env := gc.Env(url)
	env["POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET"] = secret
	var n atomic.Int32
	return webhookCase{
		name: "google-calendar", provider: "google-calendar", env: env,
		config: map[string]any{"calendars": []string{"primary"}, "backfill_days": 3650}, backfill: gcalsandbox.PrimarySignals,
		// A change at Google, whose notification (no body) we deliver ourselves.
		valid: func(t *testing.T, s *stack) sandbox.Delivery {
			eventually(t, 30*time.Second, "a live channel", func() bool {
				for _, c := range gc.Channels() {
					if c.Live {
						return true
					}
				}
				return false
			})
			_, notes, err := gc.CreateEvent(context.Background(), "primary",
				gcalsandbox.EventInput{Summary: fmt.Sprintf("Briefing %d", n.Add(1))}, sandbox.DeliveryOptions{Hold: true})
			require.NoError(t, err)
			require.NotEmpty(t, notes)
			h := http.Header{}
			h.Set("X-Goog-Channel-ID", notes[0].ChannelID)
			h.Set("X-Goog-Channel-Token", googlecalendar.ChannelToken(secret, notes[0].ChannelID))
			h.Set("X-Goog-Resource-State", "exists")
			h.Set("X-Goog-Message-Number", fmt.Sprint(notes[0].MessageNumber))
			h.Set("X-Goog-Resource-ID", "resource")
			h.Set("X-Goog-Resource-URI", "https://www.googleapis.com/calendar/v3/calendars/primary/events")
			return sandbox.Delivery{Header: h}
		},
		forged: func(t *testing.T, d sandbox.Delivery) map[string]sandbox.Delivery {
			return map[string]sandbox.Delivery{
				"bad token":     withHeader(d, "X-Goog-Channel-Token", "forged"),
				"missing token": withHeader(d, "X-Goog-Channel-Token", ""),
				"wrong secret":  withHeader(d, "X-Goog-Channel-Token", googlecalendar.ChannelToken("another-secret", d.Header.Get("X-Goog-Channel-ID"))),
			}
		},
	}
}

// TestWebhooksPerProvider runs the intake acceptance for every implemented
// provider: a valid delivery becomes a Signal; bad, missing, stale or
// wrong-secret signatures are 401 and store nothing; five concurrent copies
// of one delivery store one Signal; an oversized body is 413; with Postgres
// away the delivery is 503 and the provider's retry stores it.
func TestWebhooksPerProvider(t *testing.T) {
	t.Parallel()
	for _, mk := range []func(*testing.T) webhookCase{githubCase, slackCase, calendarCase} {
		c := mk(t)
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			proxy := newTCPProxy(t, "127.0.0.1:5432")
			s := newStack(t, withEnv(c.env))
			s.env["DATABASE_URL"] = strings.Replace(s.schema.OwnerURL, "127.0.0.1:5432", proxy.addr, 1)
			s.stop()
			s.start()
			hook := s.base + "/api/v1/webhooks/" + c.provider
			_, key := s.tenant("Hooks")
			conn := s.connect(key, c.provider, c.config)
			s.waitJobs(key, string(*conn.ID), "backfill", 1, 2*time.Minute)
			eventually(t, 30*time.Second, "the backfill", func() bool { return s.count(`SELECT count(*) FROM signals`) == c.backfill })
			signals := func() int { return s.count(`SELECT count(*) FROM signals`) }
			want := c.backfill

			d := c.valid(t, s)
			code, body := post(t, hook, d)
			require.Equal(t, http.StatusOK, code, body)
			want++
			eventually(t, 30*time.Second, "the Signal of a valid delivery", func() bool { return signals() == want })

			bad := c.forged(t, c.valid(t, s))
			for name, fd := range bad {
				code, body := post(t, hook, fd)
				require.Equal(t, http.StatusUnauthorized, code, "%s: %s", name, body)
				require.Contains(t, body, `"code":"unauthorized"`)
			}
			time.Sleep(3 * time.Second) // any (wrong) nudge would have synced by now
			require.Equal(t, want, signals(), "rejected deliveries store nothing")

			d = c.valid(t, s)
			var wg sync.WaitGroup
			for range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, body := post(t, hook, d)
					require.Equal(t, http.StatusOK, code, body)
				}()
			}
			wg.Wait()
			want += 2 // this delivery, plus the change behind the rejected ones (synced with it, for notify-only providers)
			if c.provider != "google-calendar" {
				want-- // payload-carrying providers never stored the rejected happening
			}
			eventually(t, 30*time.Second, "one Signal for five copies", func() bool { return signals() == want })
			time.Sleep(2 * time.Second)
			require.Equal(t, want, signals(), "five concurrent copies store one Signal")

			big := sandbox.Delivery{Header: d.Header, Body: []byte(strings.Repeat("x", max(5<<20, c.maxBody)+1))}
			code, body = post(t, hook, big)
			require.Equal(t, http.StatusRequestEntityTooLarge, code, body)

			d = c.valid(t, s)
			proxy.cut()
			code, body = post(t, hook, d)
			require.Equal(t, http.StatusServiceUnavailable, code, body)
			proxy.restore()
			eventually(t, 30*time.Second, "the provider's retry to be stored", func() bool {
				code, _ := post(t, hook, d)
				return code == http.StatusOK
			})
			want++
			eventually(t, 30*time.Second, "the retried delivery's Signal", func() bool { return signals() == want })
		})
	}
}
