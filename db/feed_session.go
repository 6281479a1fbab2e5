package db

import (
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// The feed's own sessions, outside the pool (the announcer's, the
// listener's), each wait on one long-lived connection: the announcer's
// NOTIFY for the server's answer, the listener for its next notification.
// A server that stops answering without closing the connection (a host
// cut off, a failover: no FIN, no RST) is noticed by the kernel only as
// these settings allow: keepalive probes from 10 s idle, every 5 s, three
// unanswered; and data unacknowledged for 25 s (TCP_USER_TIMEOUT, Linux).
// With pgx's default dialer, Go's keepalive (15 s, then 9 probes 15 s
// apart) and the kernel's retransmissions (tcp_retries2: about 15
// minutes) decided. These are the client's side of what a token lock's
// session asks of the server (tokenLockBounds.settings). The sessions'
// own checks bound what the kernel cannot see (announcer.notifyTimeout,
// FeedNotifier's ping).
const (
	feedKeepAliveIdle     = 10 * time.Second
	feedKeepAliveInterval = 5 * time.Second
	feedKeepAliveCount    = 3
	feedUserTimeout       = 25 * time.Second
)

// feedSessionConfig is a copy of cc that dials with the feed sessions'
// keepalive and user timeout.
func feedSessionConfig(cc *pgx.ConnConfig) *pgx.ConnConfig {
	cc = cc.Copy()
	d := &net.Dialer{
		Timeout: cc.ConnectTimeout, // as pgconn's own dialer (0: none; the connect is bounded by ConnectTimeout too)
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: feedKeepAliveIdle, Interval: feedKeepAliveInterval,
			Count: feedKeepAliveCount},
		Control: setUserTimeout,
	}
	cc.DialFunc = d.DialContext
	return cc
}
