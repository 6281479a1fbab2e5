package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox/fake"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

func runSandbox(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	githubAddr := fs.String("github-addr", "127.0.0.1:9101", "listen address of the GitHub fake (empty disables it)")
	slackAddr := fs.String("slack-addr", "127.0.0.1:9102", "listen address of the Slack fake (empty disables it)")
	googleAddr := fs.String("google-addr", "127.0.0.1:9103", "listen address of the Google Calendar fake (empty disables it)")
	fakeAddr := fs.String("fake-addr", "", "listen address of the engine's test provider (empty disables it)")
	service := fs.String("service-url", "", "base URL of the Poblysh service webhooks are delivered to (default POBLYSH_PUBLIC_URL)")
	envOut := fs.String("env-out", "", "write the POBLYSH_* variables pointing at the fakes to this file")
	seed := fs.Bool("seed", true, "seed every fake with a deterministic history")
	accessTTL := fs.Duration("access-ttl", 0, "access token lifetime for the fakes that expire tokens (0: provider default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base := strings.TrimRight(*service, "/")
	if base == "" {
		base = strings.TrimRight(getenv("POBLYSH_PUBLIC_URL"), "/")
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	hook := func(provider string) string { return base + "/api/v1/webhooks/" + provider }
	env := map[string]string{}
	var servers []*http.Server
	start := func(name, addr string, h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("sandbox %s: listen on %s: %w", name, addr, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() { _ = srv.Serve(ln) }()
		u := "http://" + ln.Addr().String()
		fmt.Fprintf(stdout, "sandbox: %-16s %s\n", name, u)
		return u, nil
	}
	get := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	if *githubAddr != "" {
		gh := githubsandbox.New(githubsandbox.Options{
			ClientID: get("POBLYSH_GITHUB_CLIENT_ID", ""), ClientSecret: get("POBLYSH_GITHUB_CLIENT_SECRET", ""),
			WebhookSecret: get("POBLYSH_GITHUB_WEBHOOK_SECRET", ""), AccessTTL: *accessTTL, Seed: *seed,
		})
		gh.Deliverer.SetTarget(hook("github"))
		u, err := start("github", *githubAddr, gh)
		if err != nil {
			return err
		}
		merge(env, gh.Env(u))
	}
	if *slackAddr != "" {
		sl := slacksandbox.New(slacksandbox.Options{
			ClientID: get("POBLYSH_SLACK_CLIENT_ID", ""), ClientSecret: get("POBLYSH_SLACK_CLIENT_SECRET", ""),
			SigningSecret: get("POBLYSH_SLACK_WEBHOOK_SECRET", ""), Seed: *seed, EventsURL: hook("slack"),
		})
		u, err := start("slack", *slackAddr, sl)
		if err != nil {
			return err
		}
		merge(env, sl.Env(u))
	}
	if *googleAddr != "" {
		gc := gcalsandbox.New(gcalsandbox.Options{
			ClientID:     get("POBLYSH_GOOGLE_CALENDAR_CLIENT_ID", get("POBLYSH_GOOGLE_CLIENT_ID", "")),
			ClientSecret: get("POBLYSH_GOOGLE_CALENDAR_CLIENT_SECRET", get("POBLYSH_GOOGLE_CLIENT_SECRET", "")),
			AccessTTL:    *accessTTL, Seed: *seed,
		})
		u, err := start("google-calendar", *googleAddr, gc)
		if err != nil {
			return err
		}
		merge(env, gc.Env(u))
	}
	if *fakeAddr != "" {
		fk := fake.New(fake.Options{
			ClientID: get("POBLYSH_FAKE_CLIENT_ID", ""), ClientSecret: get("POBLYSH_FAKE_CLIENT_SECRET", ""),
			WebhookSecret: get("POBLYSH_FAKE_WEBHOOK_SECRET", ""),
		})
		fk.Deliverer.SetTarget(hook("fake"))
		u, err := start("fake", *fakeAddr, fk)
		if err != nil {
			return err
		}
		merge(env, fk.Env(u))
	}
	lines := envLines(env)
	fmt.Fprintf(stdout, "sandbox: deliveries go to %s/api/v1/webhooks/<provider>\n", base)
	if *envOut != "" {
		if err := os.WriteFile(*envOut, []byte("# written by poblysh sandbox; points the service at the local fakes\n"+lines), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sandbox: wrote %s\n", *envOut)
	} else {
		fmt.Fprint(stdout, lines)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	return nil
}

func merge(dst, src map[string]string) {
	for k, v := range src {
		dst[k] = v
	}
}

func envLines(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	return b.String()
}
