package zoho

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/poblysh/poblysh/connectors"
)

// UserInfo is Zoho Accounts' GET /oauth/user/info answer (scope
// AaaServer.profile.READ, https://www.zoho.com/accounts/protocol/oauth/use-access-token.html).
type UserInfo struct {
	ZUID        Str    `json:"ZUID"`
	Email       string `json:"Email"`
	DisplayName string `json:"Display_Name"`
	FirstName   string `json:"First_Name"`
	LastName    string `json:"Last_Name"`
}

// UserInfo reads the token's user at the account's own accounts server.
// hc is the engine's client authorized with the token (Zoho-oauthtoken).
func (a *Auth) UserInfo(ctx context.Context, hc *http.Client, acct connectors.Account) (*UserInfo, error) {
	dc, err := a.AccountDC(acct)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dc.Accounts+"/oauth/user/info", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: user info: %v", a.provider, redact(err))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: user info: %w", a.provider, redact(err))
	}
	defer resp.Body.Close()
	var u UserInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&u); err != nil || u.ZUID == "" {
		return nil, fmt.Errorf("%s: user info: %w: the answer names no ZUID", a.provider, connectors.ErrTransient)
	}
	return &u, nil
}

// Name is the user's display name, else first and last name, else email.
func (u *UserInfo) Name() string {
	switch {
	case u.DisplayName != "":
		return u.DisplayName
	case u.FirstName+u.LastName != "":
		return u.FirstName + " " + u.LastName
	}
	return u.Email
}
