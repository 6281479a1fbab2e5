package dbtest

import (
	"bytes"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to Postgres until Vanish: from then on it
// forwards nothing either way and closes nothing, as a worker host that
// vanished (powered off, cut off the network) leaves its sessions. The
// server learns of it only by the timeouts and keepalives its sessions
// set; a proxy on this host cannot drop TCP keepalive probes (the kernel
// answers them), so a test of it sees the timeouts only.
type Proxy struct {
	ln    net.Listener
	gone  atomic.Bool
	done  chan struct{}
	mu    sync.Mutex
	conns []net.Conn
	hold  atomic.Pointer[hold]
}

// hold is a statement HoldAt holds until its hook returns.
type hold struct {
	marker []byte
	hook   func()
	once   sync.Once
}

// NewProxy starts a proxy to the Postgres of dbURL; it stops when the test
// ends.
func NewProxy(tb testing.TB, dbURL string) *Proxy {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("dbtest: proxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("dbtest: proxy: %v", err)
	}
	p := &Proxy{ln: ln, done: make(chan struct{})}
	go p.serve(u.Host)
	tb.Cleanup(p.close)
	return p
}

// URL is dbURL with its host replaced by the proxy's.
func (p *Proxy) URL(dbURL string) string {
	u, _ := url.Parse(dbURL)
	u.Host = p.ln.Addr().String()
	return u.String()
}

// Vanish stops forwarding, without closing a connection.
func (p *Proxy) Vanish() { p.gone.Store(true) }

// HoldAt holds the first message a client sends that contains marker (the
// statement's text, which pgx sends the first time a session runs it) until
// hook has returned: what hook does happens just before that statement
// runs, in whatever transaction it is part of.
func (p *Proxy) HoldAt(marker string, hook func()) {
	p.hold.Store(&hold{marker: []byte(marker), hook: hook})
}

func (p *Proxy) serve(target string) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.pipe(s, c, true)
		go p.pipe(c, s, false)
	}
}

func (p *Proxy) pipe(dst, src net.Conn, toServer bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if p.gone.Load() {
			<-p.done // swallow what comes, close nothing
			return
		}
		if n > 0 {
			if h := p.hold.Load(); toServer && h != nil && bytes.Contains(buf[:n], h.marker) {
				h.once.Do(h.hook)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (p *Proxy) close() {
	close(p.done)
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}
