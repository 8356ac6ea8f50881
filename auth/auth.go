// Package auth says who is calling: signed bearer tokens (JWT) carrying a
// role and a scope, minted by operators with `gridhub token` and verified
// on every request. What each role may do is decided where the GraphQL
// fields are, in one policy table (package resolvers); this package only
// establishes the caller.
package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/internal/ctxval"
)

// Role is what a caller is.
type Role string

// The roles. Every role but ADMIN is bound to a scope: the id of its
// district, committee, partner, pharmacy, checkpoint or resident.
const (
	Admin      Role = "ADMIN"
	District   Role = "DISTRICT"
	Committee  Role = "COMMITTEE"
	Partner    Role = "PARTNER"
	Pharmacy   Role = "PHARMACY"
	Checkpoint Role = "CHECKPOINT"
	Resident   Role = "RESIDENT"
)

// Roles returns every role in a fixed order.
func Roles() []Role {
	return []Role{Admin, District, Committee, Partner, Pharmacy, Checkpoint, Resident}
}

// ParseRole returns the role named s (case-insensitive).
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if strings.EqualFold(s, string(r)) {
			return r, nil
		}
	}
	return "", hub.Errorf(hub.EINVALID, "unknown role %q", s)
}

// Principal is an authenticated caller.
type Principal struct {
	Role    Role
	Scope   string // the id the role is bound to; empty for ADMIN
	Subject string // who holds the token (an operator's name or a device id)
	TokenID string
	Expires time.Time
}

// Is reports whether p has role r with scope id.
func (p Principal) Is(r Role, id string) bool { return p.Role == r && p.Scope == id && id != "" }

type ctxKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	ctx, v := ctxval.With[ctxKey, Principal](ctx)
	*v = p
	return ctx
}

// FromContext returns the caller, if the request was authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	if p, ok := ctx.Value(ctxKey{}).(*Principal); ok {
		return *p, true
	}
	return Principal{}, false
}

// Token errors. Each is a *hub.Error with code UNAUTHENTICATED.
var (
	ErrNoToken      = errors.New("no token")
	ErrInvalidToken = errors.New("invalid token")
)

func unauthenticated(sentinel error, format string, args ...any) error {
	return hub.Wrapf(hub.EUNAUTHORIZED, sentinel, format, args...)
}

// Claims are a token's claims.
type claims struct {
	Role  Role   `json:"role"`
	Scope string `json:"scope,omitempty"`
	jwt.RegisteredClaims
}

// Issuer and audience of Gridhub tokens.
const (
	issuer   = "gridhub"
	audience = "gridhub"
	// MaxTokenLen bounds a token's length before any parsing.
	MaxTokenLen = 4096
	// MaxTTL bounds a token's lifetime: Mint refuses a longer one and
	// Verify refuses a token whose exp is further than MaxTTL from its iat
	// (or from now, when it has no iat).
	MaxTTL = 366 * 24 * time.Hour
	// ClockSkew is how far the issuer's clock may run ahead of ours: a
	// token issued (iat) or valid from (nbf) that little in the future is
	// accepted. Expiry allows no skew: a token is refused from its exp on.
	ClockSkew = 30 * time.Second
)

// Keys signs and verifies tokens: HS256 with a shared secret, or EdDSA
// with an Ed25519 key pair (verification then needs only the public key).
type Keys struct {
	hmac    []byte
	private ed25519.PrivateKey
	public  ed25519.PublicKey
	now     func() time.Time
	// verified remembers the tokens these keys accepted (cache.go).
	verified *verified
}

// HMACKeys returns keys that sign and verify with HS256.
func HMACKeys(secret []byte, now func() time.Time) (*Keys, error) {
	if len(secret) < 32 {
		return nil, errors.New("auth: HS256 secret shorter than 32 bytes")
	}
	return &Keys{hmac: append([]byte(nil), secret...), now: orNow(now), verified: &verified{}}, nil
}

// Ed25519Keys returns keys that sign with priv (may be nil to only verify)
// and verify with pub.
func Ed25519Keys(priv ed25519.PrivateKey, pub ed25519.PublicKey, now func() time.Time) (*Keys, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("auth: Ed25519 public key has the wrong size")
	}
	if priv != nil && len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("auth: Ed25519 private key has the wrong size")
	}
	return &Keys{private: priv, public: pub, now: orNow(now), verified: &verified{}}, nil
}

func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// Mint signs a token for p valid for ttl.
func (k *Keys) Mint(p Principal, ttl time.Duration) (string, error) {
	if err := CheckPrincipal(p); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > MaxTTL {
		return "", hub.Errorf(hub.EINVALID, "token lifetime %s is outside (0, %s]", ttl, MaxTTL)
	}
	now := k.now()
	c := claims{Role: p.Role, Scope: p.Scope, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    issuer,
		Audience:  jwt.ClaimStrings{audience},
		Subject:   p.Subject,
		ID:        p.TokenID,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	switch {
	case k.hmac != nil:
		return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(k.hmac)
	case k.private != nil:
		return jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(k.private)
	}
	return "", errors.New("auth: these keys only verify")
}

// CheckPrincipal reports whether p is well formed: a known role spelled
// as its constant (ParseRole is for what people type), a scope for every
// role but ADMIN and none for ADMIN, a subject.
func CheckPrincipal(p Principal) error {
	if !slices.Contains(Roles(), p.Role) {
		return hub.Errorf(hub.EINVALID, "unknown role %q", p.Role)
	}
	switch {
	case p.Role == Admin && p.Scope != "":
		return hub.Errorf(hub.EINVALID, "an ADMIN token has no scope")
	case p.Role != Admin && p.Scope == "":
		return hub.Errorf(hub.EINVALID, "a %s token needs a scope (the %s id)", p.Role, strings.ToLower(string(p.Role)))
	case p.Subject == "":
		return hub.Errorf(hub.EINVALID, "a token needs a subject (who holds it)")
	case len(p.Scope) > 128 || len(p.Subject) > 128:
		return hub.Errorf(hub.EINVALID, "scope and subject are at most 128 characters")
	}
	return nil
}

// Verify checks a token's signature, issuer, audience and times and
// returns its principal. Every failure is an UNAUTHENTICATED error that
// says what was wrong without echoing the token. A token these keys
// accepted before is not parsed again until it expires (cache.go).
func (k *Keys) Verify(token string) (Principal, error) {
	if token == "" {
		return Principal{}, unauthenticated(ErrNoToken, "no token")
	}
	if len(token) > MaxTokenLen {
		return Principal{}, unauthenticated(ErrInvalidToken, "token longer than %d bytes", MaxTokenLen)
	}
	if k.verified == nil {
		return k.verify(token)
	}
	key := sha256.Sum256([]byte(token))
	if p, ok := k.verified.get(&key, k.now()); ok {
		return p, nil
	}
	p, err := k.verify(token)
	if err == nil {
		k.verified.put(&key, p, k.now())
	}
	return p, err
}

// verify is Verify without the cache.
func (k *Keys) verify(token string) (Principal, error) {
	method := jwt.SigningMethodHS256.Alg()
	if k.hmac == nil {
		method = jwt.SigningMethodEdDSA.Alg()
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		if k.hmac != nil {
			return k.hmac, nil
		}
		return k.public, nil
	},
		jwt.WithValidMethods([]string{method}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(k.now),
		jwt.WithLeeway(ClockSkew),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Principal{}, unauthenticated(ErrInvalidToken, "token expired")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Principal{}, unauthenticated(ErrInvalidToken, "token signature invalid")
	case err != nil:
		return Principal{}, unauthenticated(ErrInvalidToken, "invalid token: %s", shortReason(err))
	}
	if err := checkLifetime(c.RegisteredClaims, k.now()); err != nil {
		return Principal{}, err
	}
	p := Principal{Role: c.Role, Scope: c.Scope, Subject: c.Subject, TokenID: c.ID, Expires: c.ExpiresAt.Time}
	if err := CheckPrincipal(p); err != nil {
		return Principal{}, unauthenticated(ErrInvalidToken, "invalid token: %s", hub.ErrorMessage(err))
	}
	return p, nil
}

// checkLifetime holds a token's expiry to the letter, without the clock
// skew the library allows (which lets an expired token through to a
// request whose deadline has already passed), and its lifetime to
// MaxTTL: from iat to exp, or from now to exp when iat is missing. A
// token without exp never expires and is refused.
func checkLifetime(c jwt.RegisteredClaims, now time.Time) error {
	if c.ExpiresAt == nil {
		return unauthenticated(ErrInvalidToken, "invalid token: it has no expiry (exp)")
	}
	exp := c.ExpiresAt.Time
	if !now.Before(exp) {
		return unauthenticated(ErrInvalidToken, "token expired")
	}
	from, what := now, "from now"
	if c.IssuedAt != nil {
		from, what = c.IssuedAt.Time, "from its issue (iat)"
	}
	if exp.Sub(from) > MaxTTL {
		return unauthenticated(ErrInvalidToken, "invalid token: its expiry (exp) is more than %d days %s; the longest lifetime is %d days",
			MaxTTL/(24*time.Hour), what, MaxTTL/(24*time.Hour))
	}
	return nil
}

// shortReason names a JWT failure without the library's wording of the
// token's content.
func shortReason(err error) string {
	for _, e := range []error{jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenNotValidYet,
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenRequiredClaimMissing,
		jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidClaims} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "cannot verify"
}

// BearerToken returns the token of an "Authorization: Bearer ..." header
// value, or "".
func BearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
