package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	_ "github.com/poblysh/poblysh/sandbox/all" // every provider's fake
)

// sandboxURLsVar lists the running fakes as name=url pairs, comma
// separated, in the env lines `poblysh sandbox` writes: scripts and
// cmd/demo read it to find each fake's control API. The service ignores it.
const sandboxURLsVar = "POBLYSH_SANDBOX_URLS"

// sandboxFlags are the flags of `poblysh sandbox`.
type sandboxFlags struct {
	host      string
	basePort  int
	only      string
	service   string
	envOut    string
	seed      bool
	accessTTL time.Duration
	faults    []string // provider:name
	list      bool
}

func runSandbox(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var f sandboxFlags
	fs.StringVar(&f.host, "host", "127.0.0.1", "address the fakes listen on")
	fs.IntVar(&f.basePort, "base-port", 9101, "port of the first fake; the others follow on consecutive ports, in name order (0: any free port each)")
	fs.StringVar(&f.only, "only", "", "comma-separated providers to start (default: every registered fake: "+strings.Join(sandbox.Registered(), ", ")+")")
	fs.StringVar(&f.service, "service-url", "", "base URL of the Poblysh service webhooks are delivered to (default POBLYSH_PUBLIC_URL, then http://127.0.0.1:8080)")
	fs.StringVar(&f.envOut, "env-out", "", "write the POBLYSH_* variables pointing the service at the fakes to this file (default: print them)")
	fs.BoolVar(&f.seed, "seed", true, "seed every fake with its deterministic history")
	fs.DurationVar(&f.accessTTL, "access-ttl", 0, "access token lifetime for the fakes (0: each provider's default)")
	fs.Func("fault", "switch a provider-specific behaviour on, as provider:name (repeatable; each fake documents its names)", func(v string) error {
		p, name, ok := strings.Cut(v, ":")
		if !ok || p == "" || name == "" {
			return fmt.Errorf("want provider:name, got %q", v)
		}
		f.faults = append(f.faults, v)
		return nil
	})
	fs.BoolVar(&f.list, "list", false, "print each fake's name and listen address, one per line, and exit (scripts check the ports with it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	names, err := selectFakes(f.only, f.faults)
	if err != nil {
		return err
	}
	addrs, err := fakeAddrs(f.host, f.basePort, len(names))
	if err != nil {
		return err
	}
	if f.list {
		for i, n := range names {
			fmt.Fprintf(stdout, "%s %s\n", n, addrs[i])
		}
		return nil
	}
	base := strings.TrimRight(f.service, "/")
	if base == "" {
		base = strings.TrimRight(getenv("POBLYSH_PUBLIC_URL"), "/")
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}

	env := map[string]string{}
	var servers []*http.Server
	stopAll := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(sctx)
		}
	}
	var urls []string
	for i, name := range names {
		o := fakeOptions(name, getenv)
		o.DeliverTo, o.Seed, o.AccessTTL = base, f.seed, f.accessTTL
		for _, fl := range f.faults {
			if p, fault, _ := strings.Cut(fl, ":"); p == name {
				o.Faults = append(o.Faults, fault)
			}
		}
		fake, err := sandbox.New(name, o)
		if err != nil {
			stopAll()
			return err
		}
		ln, err := net.Listen("tcp", addrs[i])
		if err != nil {
			stopAll()
			return fmt.Errorf("sandbox %s: listen on %s: %w (another sandbox running? choose other ports with --base-port)", name, addrs[i], err)
		}
		srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() { _ = srv.Serve(ln) }()
		u := "http://" + ln.Addr().String()
		urls = append(urls, name+"="+u)
		fmt.Fprintf(stdout, "sandbox: %-16s %s\n", name, u)
		for k, v := range fake.Env(u) {
			env[k] = v
		}
	}
	env[sandboxURLsVar] = strings.Join(urls, ",")
	lines := envLines(env)
	fmt.Fprintf(stdout, "sandbox: deliveries go to %s/api/v1/webhooks/<provider>\n", base)
	if f.envOut != "" {
		if err := writeFileAtomic(f.envOut, "# written by poblysh sandbox; points the service at the local fakes\n"+lines); err != nil {
			stopAll()
			return err
		}
		fmt.Fprintf(stdout, "sandbox: wrote %s\n", f.envOut)
	} else {
		fmt.Fprint(stdout, lines)
	}
	<-ctx.Done()
	stopAll()
	return nil
}

// selectFakes returns the fakes to start, sorted: every registered one, or
// those --only names. A name or fault of a provider without a fake is an
// error that lists the known ones.
func selectFakes(only string, faults []string) ([]string, error) {
	known := sandbox.Registered()
	names := known
	if only != "" {
		names = nil
		for _, n := range strings.Split(only, ",") {
			n = strings.TrimSpace(n)
			if n == "" || slices.Contains(names, n) {
				continue
			}
			if !slices.Contains(known, n) {
				return nil, fmt.Errorf("sandbox: --only %q: no fake registered (known: %s)", n, strings.Join(known, ", "))
			}
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, errors.New("sandbox: --only names no provider")
		}
	}
	for _, fl := range faults {
		p, _, _ := strings.Cut(fl, ":")
		if !slices.Contains(names, p) {
			return nil, fmt.Errorf("sandbox: --fault %q: %s is not started (started: %s)", fl, p, strings.Join(names, ", "))
		}
	}
	return names, nil
}

// fakeAddrs are the listen addresses of n fakes: consecutive ports from
// base, or port 0 (any free port) for each when base is 0.
func fakeAddrs(host string, base, n int) ([]string, error) {
	if base < 0 || base+n-1 > 65535 {
		return nil, fmt.Errorf("sandbox: --base-port %d: the %d fakes need ports %d-%d", base, n, base, base+n-1)
	}
	out := make([]string, n)
	for i := range out {
		p := 0
		if base != 0 {
			p = base + i
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return out, nil
}

// fakeOptions reads a fake's OAuth client and webhook secret from the same
// variables the service reads (POBLYSH_<NAME>_*, then the connector's
// fallback prefix), so that a configured client keeps working against the
// fake. A fake without a webhook secret gets a fresh random one: the env
// lines hand it to the service.
func fakeOptions(name string, getenv func(string) string) sandbox.Options {
	spec := &connectors.Spec{Name: name}
	for _, s := range connectors.Registered() {
		if s.Name == name {
			spec = s
		}
	}
	get := func(suffix string) string {
		if v := getenv("POBLYSH_" + spec.EnvName() + "_" + suffix); v != "" {
			return v
		}
		if spec.EnvFallback != "" {
			return getenv("POBLYSH_" + spec.EnvFallback + "_" + suffix)
		}
		return ""
	}
	o := sandbox.Options{ClientID: get("CLIENT_ID"), ClientSecret: get("CLIENT_SECRET"), WebhookSecret: get("WEBHOOK_SECRET")}
	if o.WebhookSecret == "" {
		o.WebhookSecret = sandbox.RandomString(32)
	}
	return o
}

// writeFileAtomic writes a private file whole or not at all: scripts wait
// for it to appear and read it at once.
func writeFileAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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
