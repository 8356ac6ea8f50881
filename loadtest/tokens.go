package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token claims as the hub's auth package reads them: a role and the id it
// is bound to, issuer and audience "gridhub", and the registered times.
type tokenClaims struct {
	Role  string `json:"role"`
	Scope string `json:"scope,omitempty"`
	jwt.RegisteredClaims
}

// Minter signs access tokens with the hub's HS256 secret, as `gridhub
// token` does, so the load client needs no call to the hub to get them.
type Minter struct {
	secret []byte
	now    func() time.Time
}

// NewMinter returns a minter for secret: the text of the data directory's
// jwt-secret file (the hub uses its bytes as the key, not their hex
// decoding) or of the hub's -jwt-secret flag.
func NewMinter(secret string, now func() time.Time) (*Minter, error) {
	secret = strings.TrimSpace(secret)
	if len(secret) < 32 {
		return nil, errors.New("jwt secret shorter than 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	return &Minter{secret: []byte(secret), now: now}, nil
}

// ReadSecret returns the HS256 secret kept in the hub's data directory.
func ReadSecret(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "jwt-secret"))
	if err != nil {
		return "", fmt.Errorf("read jwt secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Mint returns a token for role bound to scope ("" for ADMIN), held by
// subject, valid for ttl.
func (m *Minter) Mint(role, scope, subject string, ttl time.Duration) (string, error) {
	now := m.now()
	c := tokenClaims{Role: role, Scope: scope, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    "gridhub",
		Audience:  jwt.ClaimStrings{"gridhub"},
		Subject:   subject,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(m.secret)
	if err != nil {
		return "", fmt.Errorf("sign %s token: %w", role, err)
	}
	return tok, nil
}
