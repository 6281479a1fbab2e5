package lifecycle

import (
	"context"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// ReplacedBy exposes replacedBy to the external tests.
var ReplacedBy = replacedBy

// RevokeReplacedLocked exposes revokeReplacedLocked to the external tests.
func (s *Service) RevokeReplacedLocked(ctx context.Context, p *connectors.Provider, conn *db.Connection, acct connectors.Account, old *oauth2.Token) (string, error) {
	return s.revokeReplacedLocked(ctx, p, conn, acct, old)
}
