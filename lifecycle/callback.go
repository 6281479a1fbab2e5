package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/vault"
)

// Callback is an OAuth callback as the provider sent the browser back.
type Callback struct {
	// Query carries state, code or error (and error_description), and
	// whatever else the provider adds that its exchange reads.
	Query url.Values
	// Browser reads the browser's binding for the state. It is called once,
	// right after the state is spent, whatever follows (the HTTP layer
	// clears the cookie then).
	Browser Browser
}

// Completed is a connection the callback stored and activated.
type Completed struct {
	Connection *db.Connection
	// RedirectURL is where to send the browser (the connect's redirect_uri
	// with connection_id added); "" when the connect named none.
	RedirectURL string
}

// Complete finishes an authorization. A callback with neither a provider
// error nor a code of at most MaxCodeLength characters is refused first,
// spending nothing (nothing could be redeemed with it). Otherwise the state
// decides the tenant and is spent by any attempt. It completes only in the browser that approved it
// on the start page and while the tenant is not being deleted (checked
// before the code exchange and again when storing), and nothing is stored
// unless the code exchange, the
// granted scopes, the identity lookup, the exclusive-account claim and the
// proof of the configured resources all pass; then the connection, its
// tokens, its proved resources, its claim and its activation mark are
// stored in one transaction, and it is activated with a backfill. Once
// stored it is connected: when Temporal cannot be reached to activate it,
// Complete still succeeds and the worker's activation sweep activates it.
// A re-authorization then revokes the token it replaced where the provider
// caps the tokens a user keeps (Spec.RevokeReplacedToken). An account
// whose deleted connection's Signals are still being purged is connected
// only once they are gone (finishPurge).
func (s *Service) Complete(ctx context.Context, p *connectors.Provider, cb Callback) (*Completed, error) {
	q := cb.Query
	// Before the state is spent: such a callback redeems nothing, and the
	// provider's real one may still follow in the same browser.
	if err := codeProblem(q); err != nil {
		return nil, err
	}
	var st *db.OAuthState
	var bad error
	err := s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		st, bad, err = tx.ConsumeState(ctx, s.KeyRing, q.Get("state"), p.Spec.Name)
		return err
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	if !st.Bound(cb.Browser(st)) || st.ApprovedAt == nil {
		return nil, errOtherBrowser(p)
	}
	if e := q.Get("error"); e != "" {
		msg := "the authorization was not granted at " + p.Spec.DisplayName + " (" + trunc(e, 64) + ")"
		if desc := q.Get("error_description"); desc != "" {
			msg += ": " + trunc(desc, 200)
		}
		return nil, poblysh.Invalid(msg, nil)
	}
	code := q.Get("code")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := s.Registry.Exchange(ctx, p, connectors.ExchangeRequest{
		Code: code, Verifier: st.Verifier, RedirectURL: p.Config.CallbackURL(p.Spec.Name), Callback: q,
	})
	if err != nil {
		return nil, providerError("exchanging the authorization code", err)
	}
	var acct connectors.Account
	stored := false
	defer func() {
		if !stored && p.Spec.RevokeUnusedGrant {
			s.revokeUnused(p, acct, tok)
		}
	}()
	if err := checkGrantedScopes(p, tok); err != nil {
		return nil, err
	}
	acct, err = s.identify(ctx, st, p, tok)
	if err != nil {
		return nil, err
	}
	if acct.ID == "" {
		return nil, &poblysh.Error{Code: poblysh.EBADGATEWAY, Message: p.Spec.DisplayName + " returned no account id"}
	}
	if db.CleanText(acct.ID) != acct.ID {
		// A NUL or invalid UTF-8 that Postgres cannot store; cleaning an
		// id could make it another account's.
		return nil, &poblysh.Error{Code: poblysh.EBADGATEWAY, Message: p.Spec.DisplayName + " returned an account id that is not valid text"}
	}
	// The config may only name what this account can read: prove it with
	// the new token before anything is stored.
	cfg, kept, err := s.effectiveConfig(ctx, st, p, acct)
	if err != nil {
		return nil, err
	}
	if err := s.checkExclusive(ctx, p, st.TenantID, acct); err != nil {
		return nil, err
	}
	report, err := s.proveWithToken(ctx, p, connectors.Connection{TenantID: st.TenantID, Account: acct, Config: cfg}, tok.AccessToken)
	if err != nil {
		return nil, accessError(err)
	}
	if err := s.finishPurge(ctx, st.TenantID, p, acct); err != nil {
		return nil, err
	}
	conn, replaced, err := s.store(ctx, st, p, acct, tok, report, cfg, kept)
	if err != nil {
		return nil, err
	}
	stored = true
	if replaced != nil {
		s.revokeReplaced(p, conn, acct, replaced)
	}
	s.activateOrDefer(ctx, conn)
	out := &Completed{Connection: conn}
	if st.RedirectURI != nil {
		u, _ := url.Parse(*st.RedirectURI)
		v := u.Query()
		v.Set("connection_id", conn.ID)
		u.RawQuery = v.Encode()
		out.RedirectURL = u.String()
	}
	return out, nil
}

// finishPurge ends the Signal purge of the tenant's deleted connection to
// acct, when one is pending (a process stopped during it, or a client
// stopped waiting for its delete), before the callback would revive that
// connection, which the store refuses until the purge has ended
// (db.ErrPurgePending, 409). It waits up to PurgeWait; the purge goes on
// after that, detached, as a delete's does.
func (s *Service) finishPurge(ctx context.Context, tenantID string, p *connectors.Provider, acct connectors.Account) error {
	var id string
	err := s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		c, err := tx.FindConnectionByAccount(ctx, p.Spec.Name, acct.ID)
		if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		pending, err := tx.SignalPurgePending(ctx, c.ID)
		if pending {
			id = c.ID
		}
		return err
	})
	if err != nil || id == "" {
		return err
	}
	done := make(chan error, 1)
	go func() {
		err := s.purge(ctx, tenantID, id)
		if err != nil {
			s.log().WithFields(logrus.Fields{"provider": p.Spec.Name, "connection_id": id}).WithError(err).
				Warn("could not finish the Signal purge of a deleted connection; the retention run finishes it")
		}
		done <- err
	}()
	wait := s.PurgeWait
	if wait == 0 {
		wait = 10 * time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
	case <-ctx.Done():
	}
	return db.ErrPurgePending()
}

// revokeUnused revokes the token a failed connect received
// (Spec.RevokeUnusedGrant), on its own clock: the request's may be spent.
// A failure is logged; the connect has already failed for its own reason.
// A token a live connection of the account stores (a provider answering
// a repeated authorization with the token it issued before) is kept.
func (s *Service) revokeUnused(p *connectors.Provider, acct connectors.Account, tok *oauth2.Token) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if acct.ID != "" {
		var held bool
		err := s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			held, err = tx.TokenStored(ctx, s.KeyRing, p.Spec.Name, acct.ID, tok.AccessToken, tok.RefreshToken)
			return err
		})
		if err != nil || held {
			s.log().WithField("provider", p.Spec.Name).WithError(err).Info("kept the token of a failed connect: a connection of the account may store it")
			return
		}
	}
	if _, err := s.Registry.Revoke(ctx, p, acct, tok); err != nil {
		s.log().WithField("provider", p.Spec.Name).WithError(err).Warn("could not revoke the grant of a failed connect; it stays one of the user's grants at the provider until it is revoked there")
	}
}

// identify reads the account the new token belongs to. A connector whose
// token can reach several accounts (connectors.AccountChooser: Jira sites)
// is told the config given at connect, or, re-authorizing a connection
// without one, that connection's config; re-authorizing, also that
// connection's account and its stored metadata. A choice it cannot make
// is the config's problem (422 invalid_config naming the field).
func (s *Service) identify(ctx context.Context, st *db.OAuthState, p *connectors.Provider, tok *oauth2.Token) (connectors.Account, error) {
	hc := s.Registry.HTTPClient(p, "", tok.AccessToken)
	chooser, ok := p.Connector.(connectors.AccountChooser)
	if !ok {
		acct, err := p.Connector.(connectors.Authorizer).Identify(ctx, tok, hc)
		if err != nil {
			return acct, providerError("reading the account identity", err)
		}
		return acct, nil
	}
	req := connectors.IdentifyRequest{Token: tok, HTTP: hc, Config: st.Config}
	if st.ConnectionID != nil {
		err := s.DB.WithTenant(ctx, st.TenantID, func(tx *db.Tx) error {
			c, err := tx.FindConnection(ctx, *st.ConnectionID)
			if err != nil {
				return err
			}
			req.AccountID, req.AccountMetadata = c.ExternalAccountID, View(c).Account.Metadata
			if len(req.Config) == 0 || string(req.Config) == "{}" {
				req.Config = c.Config
			}
			return nil
		})
		if err != nil && poblysh.ErrorCode(err) != poblysh.ENOTFOUND {
			return connectors.Account{}, err
		}
	}
	acct, err := chooser.IdentifyFor(ctx, req)
	var ce *connectors.ConfigError
	if errors.As(err, &ce) {
		return acct, &poblysh.Error{Code: poblysh.EINVALIDCONFIG, Message: p.Spec.DisplayName +
			": the config does not say which account to connect; nothing was connected", Details: prefixKeys("config.", ce.Fields)}
	}
	if err != nil {
		return acct, providerError("reading the account identity", err)
	}
	return acct, nil
}

// grantedScopes reads the scopes of a token response ("scope", space or
// comma separated); nil when the response has none.
func grantedScopes(tok *oauth2.Token) []string {
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	return nil
}

// checkGrantedScopes refuses a grant that lacks a scope the connector
// needs (providers with granular consent). A token response without
// "scope" granted what was asked (RFC 6749 §5.1).
func checkGrantedScopes(p *connectors.Provider, tok *oauth2.Token) error {
	sc, ok := p.Connector.(connectors.ScopeChecker)
	granted := grantedScopes(tok)
	if !ok || granted == nil {
		return nil
	}
	if missing := sc.MissingScopes(granted); len(missing) > 0 {
		return poblysh.Invalid(p.Spec.DisplayName+" did not grant the required scope "+strings.Join(missing, ", ")+
			": connect again and allow every permission asked for; nothing was connected",
			map[string]string{"scope": "missing " + strings.Join(missing, " ")})
	}
	return nil
}

// MaxCodeLength is the longest authorization code a callback may carry, in
// characters (completeConnect's code maxLength in swagger.yml).
const MaxCodeLength = 4096

// codeProblem refuses a callback that carries no provider error and no
// usable code: none, or one longer than MaxCodeLength.
func codeProblem(q url.Values) error {
	if q.Get("error") != "" {
		return nil
	}
	code := q.Get("code")
	if code == "" {
		return poblysh.Invalid("the callback carries no authorization code", map[string]string{"code": "required"})
	}
	if utf8.RuneCountInString(code) > MaxCodeLength {
		return poblysh.Invalid(fmt.Sprintf("the callback's authorization code is longer than %d characters", MaxCodeLength),
			map[string]string{"code": fmt.Sprintf("must be at most %d characters", MaxCodeLength)})
	}
	return nil
}

func trunc(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) > n {
		return s[:n]
	}
	return s
}

// effectiveConfig is the config the connection will have: the one given
// at connect; else (a re-authorization by POST /connections/{id}/reconnect,
// or a connect without a config) the config of the tenant's live
// connection to acct, which kept reports; else (a new connection, or one
// deleted before, which comes back as new) the provider's default. Each
// is proved with the new token before anything is stored. A state stored
// by an earlier version for a connect without a config holds the
// provider's default, normalized, and is taken as given.
func (s *Service) effectiveConfig(ctx context.Context, st *db.OAuthState, p *connectors.Provider, acct connectors.Account) (cfg json.RawMessage, kept bool, err error) {
	if !emptyConfig(st.Config) {
		return st.Config, false, nil
	}
	err = s.DB.WithTenant(ctx, st.TenantID, func(tx *db.Tx) error {
		c, err := tx.FindLiveConnectionByAccount(ctx, p.Spec.Name, acct.ID)
		if err == nil {
			cfg, kept = c.Config, true
		} else if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
			return nil
		}
		return err
	})
	if err != nil || kept {
		return cfg, kept, err
	}
	cfg, err = validateConfig(p, nil)
	return cfg, false, err
}

// checkExclusive refuses to connect an account another tenant holds, for
// providers whose accounts cannot be shared (a Slack workspace), or one
// nesting with it (connectors.AccountClaimer: a workspace of the Grid org
// another tenant holds, or the org of a workspace another tenant holds).
// It refuses early, before the access proof; the store's claim checks
// again under its locks.
func (s *Service) checkExclusive(ctx context.Context, p *connectors.Provider, tenantID string, acct connectors.Account) error {
	if !p.Spec.ExclusiveAccount {
		return nil
	}
	var holder string
	err := s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		holder, err = tx.AccountClaimedByOther(ctx, p.Spec.Name, claimOf(p, acct), tenantID)
		return err
	})
	if err != nil {
		return err
	}
	if holder != "" {
		return &poblysh.Error{Code: poblysh.ECONFLICT, Message: p.Spec.DisplayName + " account " + acct.Name +
			" is already connected to Poblysh by another organisation; it can be connected by one organisation only"}
	}
	return nil
}

// claimOf is the claim a connection of p to acct holds
// (connectors.ClaimOf).
func claimOf(p *connectors.Provider, acct connectors.Account) db.Claim {
	c := connectors.ClaimOf(p.Connector, acct)
	return db.Claim{Keys: c.Keys, Within: c.Within}
}

// store creates or updates the connection, its tokens, the resources the
// access proof granted and, for exclusive accounts, its claim, in one
// transaction. A re-authorization started for a connection must land on
// that connection's account (409 otherwise). proved is the config the
// report is the proof of, stored as the connection's config unless
// keepConfig (it is the live connection's, which the upsert keeps): a connection whose
// config changed since it was read (a PATCH while the proof ran) is a
// conflict, and nothing is stored.
// For providers that revoke a replaced token (Spec.RevokeReplacedToken),
// it also returns the stored token the new one replaced (nil: none).
func (s *Service) store(ctx context.Context, st *db.OAuthState, p *connectors.Provider, acct connectors.Account, tok *oauth2.Token,
	report *connectors.AccessReport, proved json.RawMessage, keepConfig bool) (*db.Connection, *oauth2.Token, error) {
	connectionID := ""
	if st.ConnectionID != nil {
		connectionID = *st.ConnectionID
	}
	cfg := proved
	if keepConfig {
		cfg = nil // the stored one, as it is now: compared below
	}
	var conn *db.Connection
	var replaced *oauth2.Token
	err := s.DB.WithTenant(ctx, st.TenantID, func(tx *db.Tx) error {
		// A deletion of the tenant that began after the state was spent
		// (the code exchange and the access proof take seconds) lists its
		// connections once: this one must be among them, or not be.
		if err := tx.HoldTenant(ctx); err != nil {
			return err
		}
		kept, err := keepAccount(ctx, tx, p, acct)
		if err != nil {
			return err
		}
		acctJSON, _ := json.Marshal(kept)
		var created bool
		conn, created, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{
			Provider: p.Spec.Name, ExternalAccountID: acct.ID, DisplayName: kept.Name,
			Account: acctJSON, Scopes: grantedScopes(tok), Config: cfg, ConnectionID: connectionID,
		})
		if err != nil {
			return err
		}
		if err := tx.MarkActivation(ctx, conn, db.ActivateBackfill); err != nil {
			return err
		}
		if !sameJSON(conn.Config, proved) {
			// The resources below would be the old config's: routed though
			// no longer configured (and read by no stream, so never found
			// lost), while the new config's went unrouted.
			return &poblysh.Error{Code: poblysh.ECONFLICT, Message: "the connection's settings changed while " + p.Spec.DisplayName +
				" was being authorized; connect again"}
		}
		if p.Spec.RevokeReplacedToken && !created {
			if replaced, err = s.replacedToken(ctx, tx, conn.ID, tok); err != nil {
				return err
			}
		}
		t := db.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType}
		if !tok.Expiry.IsZero() {
			e := tok.Expiry.UTC()
			t.Expiry = &e
		}
		if err := tx.SaveTokens(ctx, s.KeyRing, conn.ID, t); err != nil {
			return err
		}
		if p.Spec.ExclusiveAccount {
			if err := tx.ClaimAccount(ctx, p.Spec.Name, claimOf(p, acct), conn.ID); err != nil {
				return err
			}
		}
		if _, ok := p.Connector.(connectors.AccessProver); ok {
			return tx.ReplaceResources(ctx, conn.ID, ResourceRows(report.Granted))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return conn, replaced, nil
}

// keepAccount is the account to store for acct, which Identify read: for
// a connector that keeps part of a stored account (connectors.AccountKeeper)
// and an account the tenant's connection (live or deleted) already holds,
// what the connector keeps of it; acct otherwise. The row is read in the
// store's transaction before UpsertConnection locks it: a concurrent
// authorization of the same account reads the same kept part, since every
// authorization keeps it.
func keepAccount(ctx context.Context, tx *db.Tx, p *connectors.Provider, acct connectors.Account) (connectors.Account, error) {
	if _, ok := p.Connector.(connectors.AccountKeeper); !ok {
		return acct, nil // nothing to keep: no read
	}
	have, err := tx.FindConnectionByAccount(ctx, p.Spec.Name, acct.ID)
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return acct, nil
	}
	if err != nil {
		return acct, err
	}
	return connectors.KeepAccount(p.Connector, View(have).Account, acct), nil
}

// replacedToken is the stored token that tok, a re-authorization's, is
// about to replace: the refresh token when one is stored and tok brings
// another (an answer without one keeps it: SaveTokens), else the access
// token when tok's differs. nil when nothing is replaced, or when no token
// is stored (a new connection, or one revived after a delete) or the
// stored one cannot be read.
func (s *Service) replacedToken(ctx context.Context, tx *db.Tx, connID string, tok *oauth2.Token) (*oauth2.Token, error) {
	old, err := tx.LoadTokens(ctx, s.KeyRing, connID)
	switch {
	case errors.Is(err, db.ErrNoStoredToken) || unreadable(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return replacedBy(old, tok), nil
}

// replacedBy is the part of old that tok replaces (see replacedToken).
func replacedBy(old *db.Tokens, tok *oauth2.Token) *oauth2.Token {
	out := &oauth2.Token{TokenType: old.TokenType}
	if old.AccessToken != tok.AccessToken {
		out.AccessToken = old.AccessToken // the revoker that revokes access tokens (GitHub) names it
	}
	switch {
	case old.RefreshToken == "" && out.AccessToken == "":
		return nil
	case old.RefreshToken != "" && (tok.RefreshToken == "" || tok.RefreshToken == old.RefreshToken):
		return nil // the refresh token stays, with the access tokens it mints
	}
	out.RefreshToken = old.RefreshToken
	if old.Expiry != nil {
		out.Expiry = *old.Expiry
	}
	return out
}

// revokeReplaced revokes the token a re-authorization replaced
// (Spec.RevokeReplacedToken), once the new one is stored, on its own
// clock: the request's may be spent. It never revokes a token a live
// connection stores, this one included, as read under the connection's
// token lock, so after any refresh that was storing its answer. Such a
// refresh keeps the re-authorization's tokens (activities'
// persistRefreshed compares under the row lock the re-authorization
// held); were the old token stored all the same (a provider that does not
// rotate, Zoho, answers a refresh with it), revoking it would leave the
// connection nothing that refreshes. A failure is logged: the token stays
// one of the user's at the provider, as every replaced token did before.
func (s *Service) revokeReplaced(p *connectors.Provider, conn *db.Connection, acct connectors.Account, old *oauth2.Token) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := s.log().WithFields(logrus.Fields{"provider": p.Spec.Name, "connection_id": conn.ID})
	outcome, err := s.revokeReplacedLocked(ctx, p, conn, acct, old)
	if err != nil {
		log.WithError(err).Warn("could not revoke the token a re-authorization replaced; it stays one of the user's tokens at the provider until it is revoked there")
		return
	}
	log.Info(outcome)
}

func (s *Service) revokeReplacedLocked(ctx context.Context, p *connectors.Provider, conn *db.Connection, acct connectors.Account, old *oauth2.Token) (string, error) {
	l, err := s.DB.LockTokens(ctx, conn.TenantID, conn.ID)
	if err != nil {
		return "", fmt.Errorf("lock the connection's tokens: %w", err)
	}
	defer l.Release()
	var held bool
	err = s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		held, err = tx.TokenStored(ctx, s.KeyRing, p.Spec.Name, conn.ExternalAccountID, old.AccessToken, old.RefreshToken)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("look for connections storing the token: %w", err)
	}
	if held {
		return "kept the token a re-authorization replaced: a connection (this one or another) stores it", nil
	}
	attempted, err := s.Registry.Revoke(ctx, p, acct, old)
	if !attempted {
		return "kept the token a re-authorization replaced: the provider has no revocation", err
	}
	return "revoked the token a re-authorization replaced", err
}

// unreadable reports whether err is a stored token's that the key ring
// cannot decrypt (a key lost, or retired before reencrypt ended).
func unreadable(err error) bool {
	return errors.Is(err, vault.ErrUnknownKey) || errors.Is(err, vault.ErrDecrypt) || errors.Is(err, vault.ErrMalformed)
}

// sameJSON reports whether two JSON documents hold the same value (an
// empty document is {}).
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if len(a) == 0 {
		a = json.RawMessage("{}")
	}
	if len(b) == 0 {
		b = json.RawMessage("{}")
	}
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}
