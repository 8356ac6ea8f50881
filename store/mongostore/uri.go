package mongostore

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultDatabase is the database a URI without a path names.
const DefaultDatabase = "gridhub"

// Target is what a MongoDB URI names, without its credentials: the part
// the hub may print. ParseURI makes one.
type Target struct {
	Scheme   string   // "mongodb" or "mongodb+srv"
	Hosts    []string // as written: host[:port], or the SRV name
	Database string   // from the URI's path; DefaultDatabase when it has none

	// ServerSelectionTimeout is the URI's serverSelectionTimeoutMS, zero
	// when it sets none.
	ServerSelectionTimeout time.Duration

	secrets []string // the password as written and decoded, for Scrub
}

// Address returns the hosts, comma-separated: what messages name.
func (t Target) Address() string { return strings.Join(t.Hosts, ",") }

// String returns the URI without credentials or options, e.g.
// "mongodb://db1:27017,db2:27017/gridhub".
func (t Target) String() string {
	return t.Scheme + "://" + t.Address() + "/" + t.Database
}

// Scrub returns s with every occurrence of the URI's password replaced by
// "*****", for messages built from driver errors, which should not but
// might quote it.
func (t Target) Scrub(s string) string {
	for _, p := range t.secrets {
		if len(p) >= 2 {
			s = strings.ReplaceAll(s, p, "*****")
		}
	}
	return s
}

// ParseURI checks the form of a MongoDB URI and returns its target. It
// checks what the hub needs to name the server in messages (a scheme, at
// least one host, a usable database name); the driver checks the rest
// when it connects. Errors never quote the URI, which may hold a
// password.
func ParseURI(uri string) (Target, error) {
	var t Target
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return t, errors.New(`MongoDB URI has no scheme (want mongodb:// or mongodb+srv://)`)
	}
	switch scheme {
	case "mongodb", "mongodb+srv":
		t.Scheme = scheme
	default:
		if strings.EqualFold(scheme, "mongodb") || strings.EqualFold(scheme, "mongodb+srv") {
			return t, fmt.Errorf("MongoDB URI scheme %q must be lower case", scheme)
		}
		return t, fmt.Errorf("MongoDB URI has scheme %q (want mongodb or mongodb+srv)", scheme)
	}
	for _, r := range rest {
		if r <= ' ' || r == 0x7f {
			return t, errors.New("MongoDB URI contains a space or control character")
		}
	}

	// The user information ends at the last '@': a password must escape
	// '@', and whatever precedes the last one is never shown.
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		userinfo := rest[:i]
		rest = rest[i+1:]
		if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" {
			t.secrets = append(t.secrets, pw)
			if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
				t.secrets = append(t.secrets, dec)
			}
		}
	}

	hosts, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts, tail = rest[:i], rest[i:]
	}
	if hosts == "" {
		return t, errors.New("MongoDB URI names no host")
	}
	for h := range strings.SplitSeq(hosts, ",") {
		if err := checkHost(h); err != nil {
			return t, err
		}
		t.Hosts = append(t.Hosts, h)
	}
	if t.Scheme == "mongodb+srv" {
		if len(t.Hosts) != 1 || strings.Contains(t.Hosts[0], ":") {
			return t, errors.New("a mongodb+srv URI names exactly one host, without a port")
		}
	}

	path, query, _ := strings.Cut(tail, "?")
	path = strings.TrimPrefix(path, "/")
	db, err := url.PathUnescape(path)
	if err != nil {
		return t, errors.New("MongoDB URI has a malformed database name")
	}
	if db == "" {
		db = DefaultDatabase
	}
	if err := checkDatabase(db); err != nil {
		return t, err
	}
	t.Database = db

	for kv := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.EqualFold(k, "serverSelectionTimeoutMS") {
			continue
		}
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return t, errors.New("MongoDB URI: serverSelectionTimeoutMS must be a positive number of milliseconds")
		}
		t.ServerSelectionTimeout = time.Duration(ms) * time.Millisecond
	}
	return t, nil
}

// checkHost returns an error unless h can be a host[:port] of a URI.
func checkHost(h string) error {
	if h == "" {
		return errors.New("MongoDB URI has an empty host in its host list")
	}
	name, port := h, ""
	if strings.HasPrefix(h, "[") { // [IPv6]:port
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return fmt.Errorf("MongoDB URI host %q has an unclosed '['", h)
		}
		name, port = h[:end+1], strings.TrimPrefix(h[end+1:], ":")
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i+1:]
		if port == "" {
			return fmt.Errorf("MongoDB URI host %q has an empty port", h)
		}
	}
	if name == "" {
		return fmt.Errorf("MongoDB URI host %q has no name", h)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("MongoDB URI host %q has a bad port (want 1 to 65535)", h)
		}
	}
	return nil
}

// checkDatabase returns an error unless name can name a MongoDB database.
func checkDatabase(name string) error {
	if len(name) > 63 || strings.ContainsAny(name, "/\\. \"$*<>:|?\x00") {
		return fmt.Errorf("MongoDB URI names database %q, which MongoDB does not allow (at most 63 characters, none of /\\. \"$*<>:|?)", name)
	}
	return nil
}
