// Command demo drives a running Poblysh stack the way a client would, to
// show the whole flow in a minute: it creates a tenant, connects every
// provider whose fake has a demo hook (sandbox.Demoer) through its real
// OAuth redirects (served by the provider sandbox), waits for the
// backfills, runs each hook to create live activity in its fake, and prints
// Signals from the feed as they arrive, with the time from the first
// connect to the first Signal.
//
// scripts/demo.sh (make demo) starts the stack and runs it; to run it against
// a stack of your own:
//
//	POBLYSH_ADMIN_KEY=... go run ./cmd/demo -api http://127.0.0.1:8080 \
//	  -sandbox "$(sed -n 's/^POBLYSH_SANDBOX_URLS=//p' .dev/sandbox.env)"
//
// It talks to the service only through the generated client (gen/client)
// and to the sandboxes only through their /_sandbox control APIs. It exits
// 0 once every live Signal arrived, 1 on any failure or timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/poblysh/poblysh/gen/client"
	"github.com/poblysh/poblysh/gen/client/tenants"
	"github.com/poblysh/poblysh/gen/models"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "\ndemo: FAILED:", err)
		}
		os.Exit(1)
	}
}

// firstSignalTarget is the goal for the time from the first connect to the
// first Signal in the feed.
const firstSignalTarget = 60 * time.Second

type options struct {
	api string
	// sandboxes are the running fakes' base URLs by provider name.
	sandboxes map[string]string
	timeout   time.Duration
}

// demo holds what every phase needs.
type demo struct {
	opts options
	out  io.Writer
	api  *client.Poblysh
	http *http.Client // never follows redirects: OAuth steps are explicit
	// browser plays the user's browser in the OAuth flow: it keeps the
	// cookie the start page binds the authorization to, and follows no
	// redirect either.
	browser *http.Client
	key     string // the demo tenant's API key
	feed    *feed
	t0      time.Time // just before the first connect
	marker  string    // makes this run's live activity recognisable
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.api, "api", "http://127.0.0.1:8080", "base URL of the Poblysh service")
	sandboxes := fs.String("sandbox", getenv("POBLYSH_SANDBOX_URLS"),
		"the running fakes as name=url pairs, comma separated (default POBLYSH_SANDBOX_URLS, written by poblysh sandbox)")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up (exit 1) after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: POBLYSH_ADMIN_KEY=... demo [flags]\n\nFlags:")
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	if err != nil {
		return err
	}
	if o.sandboxes, err = parseSandboxes(*sandboxes); err != nil {
		return err
	}
	adminKey := getenv("POBLYSH_ADMIN_KEY")
	if adminKey == "" {
		return errors.New("POBLYSH_ADMIN_KEY is not set (the service's admin key creates the demo tenant)")
	}
	base, err := url.Parse(strings.TrimRight(o.api, "/"))
	if err != nil || base.Host == "" {
		return fmt.Errorf("-api %q: must be an absolute URL", o.api)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	noRedirect := &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	d := &demo{
		opts: o, out: out, http: noRedirect,
		browser: &http.Client{Timeout: 60 * time.Second, Jar: jar, CheckRedirect: noRedirect.CheckRedirect},
		api:     client.New(httptransport.NewWithClient(base.Host, client.DefaultBasePath, []string{base.Scheme}, noRedirect), strfmt.Default),
		marker:  fmt.Sprintf("demo-%d", time.Now().Unix()%100000),
	}
	start := time.Now()
	err = d.play(ctx, adminKey)
	if d.feed != nil {
		d.feed.stop()
		d.summary(time.Since(start))
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w (timeout %s; raise it with -timeout)", err, o.timeout)
	}
	return err
}

// play runs the phases in order.
func (d *demo) play(ctx context.Context, adminKey string) error {
	if err := d.waitReady(ctx); err != nil {
		return err
	}
	name := "Demo " + time.Now().Format("15:04:05")
	res, err := d.api.Tenants.CreateTenantContext(ctx, tenants.NewCreateTenantParams().WithBody(&models.TenantCreateRequest{Name: &name}),
		httptransport.BearerToken(adminKey))
	if err != nil {
		return fmt.Errorf("POST /api/v1/tenants: %w", err)
	}
	d.key = *res.Payload.APIKey
	d.section("Tenant")
	d.printf("created %q  id %s\n", name, *res.Payload.ID)
	d.printf("API key  %s   (throwaway; try: curl -H 'Authorization: Bearer <key>' %s/api/v1/signals)\n", d.key, d.opts.api)

	d.feed = newFeed(d)
	d.t0 = time.Now()
	d.feed.start(ctx)

	d.section("Connect (OAuth through the sandbox: POST /connect → start page → click → authorize → callback)")
	ps, err := d.providers()
	if err != nil {
		return err
	}
	conns := []*models.Connection{}
	for _, p := range ps {
		c, err := d.connect(ctx, p.name, p.demo.Config)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if p.demo.Connected != nil {
			// The hand-made set-up at the provider with the connection's
			// own URL (a Zoho Cliq bot, a mailbox's outgoing webhook).
			u := ""
			if c.WebhookURL != nil {
				u = *c.WebhookURL
			}
			if err := p.demo.Connected(ctx, d.http, p.url, u); err != nil {
				return fmt.Errorf("%s demo set-up: %w", p.name, err)
			}
			d.printf("%s  %-16s set up at the provider with the connection's webhook_url\n", d.since(), p.name)
		}
	}

	d.section("Backfill jobs")
	for _, c := range conns {
		if err := d.waitBackfill(ctx, c); err != nil {
			return err
		}
	}
	for _, c := range conns {
		d.waitPush(ctx, c)
	}

	d.section("Live activity in the sandboxes")
	wants, err := d.liveActivity(ctx, ps)
	if err != nil {
		return err
	}
	return d.feed.waitLive(ctx, wants)
}

// waitReady waits for GET /readyz to answer 200.
func (d *demo) waitReady(ctx context.Context) error {
	for {
		_, err := d.api.System.GetReadinessContext(ctx, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the service at %s is not ready: %v", d.opts.api, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (d *demo) since() string {
	return fmt.Sprintf("%6.1fs", time.Since(d.t0).Seconds())
}

func (d *demo) section(title string) {
	fmt.Fprintf(d.out, "\n== %s\n", title)
}

func (d *demo) printf(format string, args ...any) {
	fmt.Fprintf(d.out, format, args...)
}
