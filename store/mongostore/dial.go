package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/description"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// DefaultPingTimeout is how long Dial waits for a primary to answer when
// the URI sets no serverSelectionTimeoutMS. The driver's own default is
// 30 s, and its Connect succeeds without any server: the first operation
// is the one that waits, so the hub asks at once, and not for long.
const DefaultPingTimeout = 10 * time.Second

// DialOptions configures Dial. The zero value is usable.
type DialOptions struct {
	// AppName is the name the server logs connections under; "gridhub"
	// when empty.
	AppName string
	// PingTimeout bounds the first ping: the URI's
	// serverSelectionTimeoutMS when zero, else DefaultPingTimeout.
	PingTimeout time.Duration
}

// Dial connects to the MongoDB deployment a URI names and makes sure it
// can serve the hub before returning: a primary answers within the ping
// timeout and the deployment is a replica set or a sharded cluster (the
// store needs multi-document transactions, the bus change streams). Its
// errors say what is wrong (unreachable, no primary, authentication
// failed, a standalone server), name the address and carry the driver's
// last error, never the password.
func Dial(ctx context.Context, uri string, o DialOptions) (*mongo.Client, Target, error) {
	t, err := ParseURI(uri)
	if err != nil {
		return nil, t, err
	}
	if o.AppName == "" {
		o.AppName = "gridhub"
	}
	wait := o.PingTimeout
	if wait <= 0 {
		wait = t.ServerSelectionTimeout
	}
	if wait <= 0 {
		wait = DefaultPingTimeout
	}

	opts := options.Client().ApplyURI(uri).SetAppName(o.AppName)
	if err := opts.Validate(); err != nil {
		return nil, t, fmt.Errorf("MongoDB URI for %s: %s", t.Address(), t.Scrub(err.Error()))
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, t, fmt.Errorf("MongoDB at %s: %s", t.Address(), t.Scrub(err.Error()))
	}
	if err := hello(ctx, client, t, wait); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, t, err
	}
	return client, t, nil
}

// hello asks the primary who it is, within wait, and checks the answer.
func hello(ctx context.Context, client *mongo.Client, t Target, wait time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var h struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	err := client.Database("admin").RunCommand(pctx, bson.D{{Key: "hello", Value: 1}},
		options.RunCmd().SetReadPreference(readpref.Primary())).Decode(&h)
	if err != nil {
		if ctx.Err() != nil { // the caller gave up, not the server
			return fmt.Errorf("MongoDB at %s: %w", t.Address(), ctx.Err())
		}
		return explainDialError(t, wait, err)
	}
	return checkTopology(t, h.SetName, h.Msg)
}

// checkTopology returns an error unless the hello answer comes from a
// replica set member or a mongos.
func checkTopology(t Target, setName, msg string) error {
	if setName != "" || msg == "isdbgrid" {
		return nil
	}
	return fmt.Errorf("MongoDB at %s is a standalone server: gridhub needs a replica set "+
		"(for multi-document transactions and change streams); start mongod with --replSet NAME "+
		"and run rs.initiate() once (a replica set of one member will do for a test)", t.Address())
}

// explainDialError turns the error of the first ping into a message that
// says what is wrong, names the address and ends with the driver's own
// words, scrubbed of the password.
func explainDialError(t Target, wait time.Duration, err error) error {
	driver := t.Scrub(err.Error())
	var sse topology.ServerSelectionError
	switch {
	case isAuthError(err):
		return fmt.Errorf("MongoDB at %s refused the credentials of the URI (authentication failed; check the user, the password and authSource): %s",
			t.Address(), driver)
	case errors.As(err, &sse):
		// A URI naming a replica set starts as "no primary" before any
		// member answers: only members that answered tell of a set
		// without a primary; otherwise nothing answered at all.
		if hasSecondaries(sse.Desc) {
			return fmt.Errorf("MongoDB at %s: the replica set %s has no primary (members reached: %s; an election may be under way, or a majority is down) after %s: %s",
				t.Address(), orUnknown(sse.Desc.SetName), members(sse.Desc), wait, driver)
		}
		return fmt.Errorf("MongoDB at %s did not answer within %s (is it running, and reachable from here?): %s",
			t.Address(), wait, lastErrors(t, sse.Desc, driver))
	case mongo.IsTimeout(err):
		return fmt.Errorf("MongoDB at %s did not answer within %s: %s", t.Address(), wait, driver)
	}
	return fmt.Errorf("MongoDB at %s: %s", t.Address(), driver)
}

// isAuthError reports whether err says the credentials were refused.
func isAuthError(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == 18 || ce.Name == "AuthenticationFailed") {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "auth error") || strings.Contains(msg, "AuthenticationFailed")
}

// hasSecondaries reports whether a topology has replica set members but
// no primary among them.
func hasSecondaries(d description.Topology) bool {
	secondaries := false
	for _, s := range d.Servers {
		switch s.Kind {
		case description.ServerKindRSPrimary:
			return false
		case description.ServerKindRSSecondary, description.ServerKindRSArbiter, description.ServerKindRSGhost, description.ServerKindRSMember:
			secondaries = true
		}
	}
	return secondaries
}

// members lists the servers of a topology with their kinds.
func members(d description.Topology) string {
	var out []string
	for _, s := range d.Servers {
		out = append(out, fmt.Sprintf("%s (%s)", s.Addr, s.Kind))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// lastErrors returns the last error of each server of a topology, or the
// driver's whole message when none has one.
func lastErrors(t Target, d description.Topology, driver string) string {
	var out []string
	for _, s := range d.Servers {
		if s.LastError != nil {
			out = append(out, fmt.Sprintf("%s: %s", s.Addr, t.Scrub(s.LastError.Error())))
		}
	}
	if len(out) == 0 {
		return driver
	}
	return "last error " + strings.Join(out, "; ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(name unknown)"
	}
	return fmt.Sprintf("%q", s)
}
