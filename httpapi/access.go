package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gridhub/gridhub/auth"
	"github.com/gridhub/gridhub/hub"
	"golang.org/x/time/rate"
)

// Verifier checks a bearer token.
type Verifier interface {
	Verify(token string) (auth.Principal, error)
}

// authenticate puts the caller of a request with an Authorization header
// into its context, or answers 401 UNAUTHENTICATED when the header does
// not hold a valid bearer token ("token expired" from the token's exp on,
// never a request whose deadline has already passed). A request without
// the header goes on anonymous: the policy lets it reach public fields
// only. A request lasts no longer than its token: an SSE subscription
// ends when the token expires.
func authenticate(v Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		token := auth.BearerToken(h)
		if token == "" {
			writeAppError(w, http.StatusUnauthorized, hub.Errorf(hub.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\""))
			return
		}
		p, err := v.Verify(token)
		if err == nil && expired(p) {
			err = errTokenExpired()
		}
		if err != nil {
			writeAppError(w, http.StatusUnauthorized, err)
			return
		}
		ctx := auth.WithPrincipal(r.Context(), p)
		if !p.Expires.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, p.Expires)
			defer cancel()
			if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
				w = &sseExpiry{ResponseWriter: w, ctx: ctx}
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// sseExpiry tells an SSE client why its stream ends when its token
// expires: before the transport's closing "complete" event it sends a
// "next" event with the error UNAUTHENTICATED "token expired".
type sseExpiry struct {
	http.ResponseWriter
	ctx context.Context // the request's, with the token's deadline
}

// The event gqlgen's SSE transport ends a stream with, in one write, and
// the one sent before it when the token has expired.
const (
	sseComplete     = "event: complete\n\n"
	sseTokenExpired = "event: next\ndata: " +
		`{"errors":[{"message":"` + msgTokenExpired + `","extensions":{"code":"` + hub.EUNAUTHORIZED + `"}}]}` + "\n\n"
)

// msgTokenExpired is the message of every refusal of an expired token,
// over HTTP, SSE and WebSocket, as auth.Keys.Verify words it.
const msgTokenExpired = "token expired"

func (s *sseExpiry) Write(p []byte) (int, error) {
	if string(p) == sseComplete && errors.Is(s.ctx.Err(), context.DeadlineExceeded) {
		if _, err := io.WriteString(s.ResponseWriter, sseTokenExpired); err != nil {
			return 0, err
		}
	}
	return s.ResponseWriter.Write(p)
}

// Flush sends what was written; the SSE transport needs an http.Flusher.
func (s *sseExpiry) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

// Unwrap gives http.ResponseController the writer underneath.
func (s *sseExpiry) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// errTokenExpired refuses a token whose exp has passed, in the words of
// auth.Keys.Verify.
func errTokenExpired() error {
	return &hub.Error{Code: hub.EUNAUTHORIZED, Message: msgTokenExpired, Err: auth.ErrInvalidToken}
}

// expired reports whether p's token has expired by the transport's clock
// (the deadline its requests and connections run to), whatever the clock
// of the Verifier that accepted it.
func expired(p auth.Principal) bool {
	return !p.Expires.IsZero() && !time.Now().Before(p.Expires)
}

func writeAppError(w http.ResponseWriter, status int, err error) {
	var e *hub.Error
	if !errors.As(err, &e) {
		e = hub.Errorf(hub.EINTERNAL, "internal error")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gridhub"`)
	}
	WriteError(w, status, e)
}

// wsInit authenticates a WebSocket connection from its connection_init
// payload: {"Authorization": "Bearer <token>"} (or "authorization", or
// "token": "<token>"). A connection without one stays anonymous, or keeps
// the caller its upgrade request's header authenticated; a bad or expired
// one is refused: closed with 4403 and the reason ("token expired"),
// after a connection_error on graphql-ws. An authenticated connection
// lasts no longer than its token: when the token expires, the connection
// is closed with 4403 "token expired" and its subscriptions end (the
// transport keeps the principal's expiry on its own timer: see
// wsConn.startTimer).
func wsInit(v Verifier) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		header := payload.Authorization()
		if t := payload.GetString("token"); header == "" && t != "" {
			header = "Bearer " + t
		}
		if header != "" {
			token := auth.BearerToken(header)
			if token == "" {
				return transport.WithWebsocketCloseCode(ctx, 4403), nil, errors.New("the authorization must be \"Bearer <token>\"")
			}
			p, err := v.Verify(token)
			if err != nil {
				return transport.WithWebsocketCloseCode(ctx, 4403), nil, errors.New(hub.ErrorMessage(err))
			}
			ctx = auth.WithPrincipal(ctx, p)
		}
		p, ok := auth.FromContext(ctx)
		if ok && expired(p) {
			return transport.WithWebsocketCloseCode(ctx, 4403), nil, errors.New(hub.ErrorMessage(errTokenExpired()))
		}
		return ctx, nil, nil
	}
}

// RateLimits bound how fast one caller may send requests. A zero rate
// turns that limit off.
type RateLimits struct {
	PerToken   rate.Limit // requests per second for one token subject
	TokenBurst int
	PerAddress rate.Limit // requests per second for one client address
	AddrBurst  int
	// TrustedProxies are the addresses of the reverse proxies in front of
	// the hub: only from them is X-Forwarded-For believed (see ClientAddr).
	TrustedProxies []netip.Prefix
}

// limiters keeps a token bucket per key and forgets keys idle for long.
type limiters[K comparable] struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[K]*bucket
	calls   int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const (
	limiterIdle  = 10 * time.Minute
	limiterSweep = 4096 // calls between sweeps of idle buckets
)

func newLimiters[K comparable](limit rate.Limit, burst int) *limiters[K] {
	if burst < 1 {
		burst = int(math.Max(1, float64(limit)))
	}
	return &limiters[K]{limit: limit, burst: burst, now: time.Now, buckets: map[K]*bucket{}}
}

// reserve takes a token for key; when none is left it returns how long to
// wait.
func (l *limiters[K]) reserve(key K) (ok bool, retry time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%limiterSweep == 0 {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > limiterIdle {
				delete(l.buckets, k)
			}
		}
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	r := b.lim.ReserveN(now, 1)
	retry = r.DelayFrom(now)
	r.CancelAt(now)
	return false, retry
}

// rateLimit answers 429 RATE_LIMITED with Retry-After when a token or an
// address sends faster than its limit. It is the two limits in their
// order: the address first, so requests with bad tokens spend their
// address's budget too, then the token, keyed by its subject and role
// wherever it comes from.
func rateLimit(rl RateLimits, authn func(http.Handler) http.Handler, next http.Handler) http.Handler {
	return addressLimit(rl, authn(tokenLimit(rl, next)))
}

func addressLimit(rl RateLimits, next http.Handler) http.Handler {
	if rl.PerAddress <= 0 {
		return next
	}
	perAddr := newLimiters[string](rl.PerAddress, rl.AddrBurst)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, retry := perAddr.reserve(ClientAddr(r, rl.TrustedProxies)); !ok {
			tooMany(w, retry, "this address")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func tokenLimit(rl RateLimits, next http.Handler) http.Handler {
	if rl.PerToken <= 0 {
		return next
	}
	perToken := newLimiters[tokenBucketKey](rl.PerToken, rl.TokenBurst)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := auth.FromContext(r.Context()); ok {
			if ok, retry := perToken.reserve(tokenBucketKey{p.Role, p.Scope, p.Subject}); !ok {
				tooMany(w, retry, "this token")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// tokenBucketKey names the bucket of a token's requests: its role, scope and
// subject, compared as they are (no string is built per request).
type tokenBucketKey struct {
	role           auth.Role
	scope, subject string
}

func tooMany(w http.ResponseWriter, retry time.Duration, who string) {
	secs := int(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, `{"errors":[{"message":"too many requests from %s: retry after %d s","extensions":{"code":%q,"retryAfter":%d}}]}`+"\n", who, secs, hub.ERATELIMITED, secs)
}

// ClientAddr is the address of the client a request comes from, without
// port. A request from one of the trusted proxies names its client in
// X-Forwarded-For, each proxy appending the address it received from: the
// list is read from its right end, passing over trusted proxies, and the
// first address that is not one of them is the client (an address the
// client wrote itself further left is never believed). Without trusted
// proxies, or from any other address, it is the connection's own.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(addr, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := addr
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: the last address read stands
		}
		client = hop.Unmap()
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseProxies reads a comma-separated list of addresses and CIDR
// prefixes (10.0.0.0/8, 127.0.0.1, ::1).
func ParseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
