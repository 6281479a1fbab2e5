package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// providerFor resolves the {provider} path segment (404 when unknown).
func providerFor(reg *connectors.Registry, r *http.Request) (*connectors.Provider, error) {
	p, ok := reg.Get(mux.Vars(r)["provider"])
	if !ok {
		return nil, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: "unknown provider " + strings.ToValidUTF8(mux.Vars(r)["provider"], "")}
	}
	return p, nil
}

// validateConfig checks a provider config; a *ConfigError becomes a 400
// with field details.
func validateConfig(p *connectors.Provider, raw json.RawMessage) (json.RawMessage, error) {
	v, ok := p.Connector.(connectors.ConfigValidator)
	if !ok {
		if len(raw) == 0 {
			return json.RawMessage(`{}`), nil
		}
		return raw, nil
	}
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage(`{}`)
	}
	out, err := v.ValidateConfig(raw)
	if err != nil {
		var ce *connectors.ConfigError
		if errors.As(err, &ce) {
			return nil, poblysh.Invalid("invalid "+p.Spec.Name+" config", prefixKeys("config.", ce.Fields))
		}
		return nil, poblysh.Invalid("invalid "+p.Spec.Name+" config: "+err.Error(), nil)
	}
	return out, nil
}

func prefixKeys(prefix string, m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[prefix+k] = v
	}
	return out
}

// redirectAllowed reports whether u starts with an allow-listed URL prefix
// (same scheme and host; path prefix when the entry has one).
func redirectAllowed(allow []string, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return false
	}
	for _, a := range allow {
		au, err := url.Parse(a)
		if err != nil {
			continue
		}
		if strings.EqualFold(au.Scheme, u.Scheme) && strings.EqualFold(au.Host, u.Host) &&
			strings.HasPrefix(u.Path, strings.TrimSuffix(au.Path, "/")) {
			return true
		}
	}
	return false
}

// authorizationURL creates a state (and PKCE verifier) for the tenant and
// returns the provider's authorization URL.
func authorizationURL(ctx context.Context, d Deps, tenantID string, p *connectors.Provider, redirect string, cfg json.RawMessage) (string, time.Time, string, error) {
	auth, ok := p.Connector.(connectors.Authorizer)
	if !ok {
		return "", time.Time{}, "", &poblysh.Error{Code: poblysh.ECONFLICT, Message: p.Spec.Name + " does not connect with OAuth"}
	}
	state := connectors.RandomToken(32)
	verifier := ""
	opts := append([]oauth2.AuthCodeOption{}, auth.AuthCodeOptions()...)
	if p.Spec.PKCE {
		verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	var st *db.OAuthState
	err := d.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
		st, err = tx.CreateState(ctx, d.KeyRing, state, p.Spec.Name, verifier, redirect, cfg, d.StateTTL)
		return err
	})
	if err != nil {
		return "", time.Time{}, "", err
	}
	u := auth.OAuth2Config(p.Config.CallbackURL(p.Spec.Name)).AuthCodeURL(state, opts...)
	return u, st.ExpiresAt, state, nil
}

func notConfigured(p *connectors.Provider) error {
	env := "POBLYSH_" + p.Spec.EnvName()
	return &poblysh.Error{Code: poblysh.ECONFLICT, Message: p.Spec.DisplayName + " is not configured on this server: set " +
		env + "_CLIENT_ID and " + env + "_CLIENT_SECRET (see docs/providers/" + p.Spec.Name + ".md)"}
}

func handleConnectStart(d Deps) http.Handler {
	type request struct {
		RedirectURI string          `json:"redirect_uri"`
		Config      json.RawMessage `json:"config"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := providerFor(d.Registry, r)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		var req request
		if err := decodeJSON(w, r, d.MaxBodyBytes, &req, true); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if !p.Configured() {
			writeError(w, r, d.Log, notConfigured(p))
			return
		}
		if req.RedirectURI != "" && !redirectAllowed(d.RedirectAllowlist, req.RedirectURI) {
			writeError(w, r, d.Log, poblysh.Invalid("redirect_uri is not allowed",
				map[string]string{"redirect_uri": "must start with one of the URLs in POBLYSH_REDIRECT_ALLOWLIST"}))
			return
		}
		cfg, err := validateConfig(p, req.Config)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		u, exp, state, err := authorizationURL(r.Context(), d, principalOf(r).tenantID, p, req.RedirectURI, cfg)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"authorization_url": u, "state": state, "expires_at": rfc3339(exp)})
	})
}

// handleConnectCallback completes an authorization. The state decides the
// tenant; it is spent by any attempt. Nothing is stored unless the code
// exchange and the identity lookup both succeed.
func handleConnectCallback(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := providerFor(d.Registry, r)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		q := r.URL.Query()
		var st *db.OAuthState
		var bad error
		err = d.DB.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
			st, bad, err = tx.ConsumeState(r.Context(), d.KeyRing, q.Get("state"), p.Spec.Name)
			return err
		})
		if err == nil {
			err = bad
		}
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if e := q.Get("error"); e != "" {
			msg := "the authorization was not granted at " + p.Spec.DisplayName + " (" + trunc(e, 64) + ")"
			if desc := q.Get("error_description"); desc != "" {
				msg += ": " + trunc(desc, 200)
			}
			writeError(w, r, d.Log, poblysh.Invalid(msg, nil))
			return
		}
		code := q.Get("code")
		if code == "" || len(code) > 2048 {
			writeError(w, r, d.Log, poblysh.Invalid("the callback carries no authorization code", map[string]string{"code": "required"}))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		tok, err := d.Registry.Exchange(ctx, p, connectors.ExchangeRequest{
			Code: code, Verifier: st.Verifier, RedirectURL: p.Config.CallbackURL(p.Spec.Name), Callback: q,
		})
		if err != nil {
			writeError(w, r, d.Log, providerError("exchanging the authorization code", err))
			return
		}
		auth := p.Connector.(connectors.Authorizer)
		acct, err := auth.Identify(ctx, tok, d.Registry.HTTPClient(p, "", tok.AccessToken))
		if err != nil {
			writeError(w, r, d.Log, providerError("reading the account identity", err))
			return
		}
		if acct.ID == "" {
			writeError(w, r, d.Log, &poblysh.Error{Code: "bad_gateway", Message: p.Spec.DisplayName + " returned no account id"})
			return
		}
		conn, err := storeConnection(ctx, d, st, p, acct, tok)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		d.Log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "tenant_id": st.TenantID, "connection_id": conn.ID,
			"provider": p.Spec.Name}).Info("connection authorized")
		_, err = d.Engine.Activate(ctx, conn, true, poblysh.TriggerConnect)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if st.RedirectURI != nil {
			u, _ := url.Parse(*st.RedirectURI)
			v := u.Query()
			v.Set("connection_id", conn.ID)
			u.RawQuery = v.Encode()
			http.Redirect(w, r, u.String(), http.StatusFound)
			return
		}
		view, err := connectionView(r.Context(), d, conn)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"connection": view})
	})
}

func trunc(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) > n {
		return s[:n]
	}
	return s
}

// providerError maps a failed provider call during connect: a refused
// grant is the client's problem (400); anything else is the provider's (502).
func providerError(what string, err error) error {
	switch connectors.Kind(err) {
	case connectors.ErrUnauthorized, connectors.ErrForbidden:
		return &poblysh.Error{Code: poblysh.EINVALID, Message: "the provider refused the authorization while " + what + ": " + err.Error(), Err: err}
	default:
		return &poblysh.Error{Code: "bad_gateway", Message: "the provider failed while " + what + ": " + err.Error(), Err: err}
	}
}

// storeConnection creates or updates the connection and its tokens in one
// transaction.
func storeConnection(ctx context.Context, d Deps, st *db.OAuthState, p *connectors.Provider, acct connectors.Account, tok *oauth2.Token) (*db.Connection, error) {
	acctJSON, _ := json.Marshal(acct)
	var scopes []string
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		scopes = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	var conn *db.Connection
	err := d.DB.WithTenant(ctx, st.TenantID, func(tx *db.Tx) error {
		var err error
		conn, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{
			Provider: p.Spec.Name, ExternalAccountID: acct.ID, DisplayName: acct.Name,
			Account: acctJSON, Scopes: scopes, Config: st.Config,
		})
		if err != nil {
			return err
		}
		t := db.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType}
		if !tok.Expiry.IsZero() {
			e := tok.Expiry.UTC()
			t.Expiry = &e
		}
		return tx.SaveTokens(ctx, d.KeyRing, conn.ID, t)
	})
	return conn, err
}
