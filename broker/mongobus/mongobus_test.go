package mongobus_test

import (
	"context"
	"crypto/rand"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/broker"
	"github.com/gridhub/gridhub/broker/mongobus"
	"github.com/gridhub/gridhub/hub"
	"github.com/gridhub/gridhub/store/mongostore"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// envURI points these tests at a MongoDB replica set, as in
// store/mongostore.
const envURI = "GRIDHUB_TEST_MONGODB_URI"

// testDB returns a database of the test's own on the server
// GRIDHUB_TEST_MONGODB_URI names, dropped when the test ends, or skips
// the test with a line saying how to run it.
func testDB(t *testing.T) *mongo.Database {
	t.Helper()
	uri := os.Getenv(envURI)
	if uri == "" {
		t.Skip(envURI + " is not set: skipping the change-stream tests that need a MongoDB replica set " +
			"(set it to one's URI, e.g. mongodb://localhost:27017/?replicaSet=rs0, to run them)")
	}
	client, _, err := mongostore.Dial(t.Context(), uri, mongostore.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	db := client.Database("gridhub_bus_test_" + rand.Text()[:12])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return db
}

func newBus(t *testing.T, db *mongo.Database, hubID string, onGap func(mongobus.Gap)) *mongobus.Bus {
	t.Helper()
	b, err := mongobus.New(t.Context(), db, mongobus.Options{HubID: hubID, OnGap: onGap})
	if err != nil {
		t.Fatalf("New %s: %v", hubID, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func restock(pharmacy string, delta int) hub.Event {
	at := time.Date(2020, 2, 6, 9, 0, 0, 0, time.UTC)
	return hub.Event{
		Kind: hub.EventRestock, At: at, Cells: []hub.Cell{0x8928308280fffff}, DistrictID: "d1", PharmacyID: pharmacy, SKU: hub.MaskAdult,
		Payload: hub.RestockPayload{
			StockEntry: hub.StockEntry{Seq: 3, After: delta, StockChange: hub.StockChange{PharmacyID: pharmacy, SKU: hub.MaskAdult, Delta: delta, Reason: "RESTOCK", At: at}},
			Cell:       0x8928308280fffff, Rings: [][]hub.Cell{{0x8928308280fffff}},
		},
	}
}

// receive waits for the next delivery of a subscription.
func receive(t *testing.T, sub *broker.Subscription) broker.Delivery {
	t.Helper()
	select {
	case d, ok := <-sub.C():
		if !ok {
			t.Fatalf("subscription ended: %v", sub.Err())
		}
		return d
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15 s")
	}
	return broker.Delivery{}
}

// TestFanOut publishes on one hub and receives on both.
func TestFanOut(t *testing.T) {
	db := testDB(t)
	a, b := newBus(t, db, "hub-a", nil), newBus(t, db, "hub-b", nil)
	subA, err := a.Subscribe(t.Context(), broker.Filter{PharmacyID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	subB, err := b.Subscribe(t.Context(), broker.Filter{Kinds: []hub.EventKind{hub.EventRestock}, Cells: []hub.Cell{0x8928308280fffff}})
	if err != nil {
		t.Fatal(err)
	}
	ev := restock("p1", 200)
	seq, err := a.Publish(t.Context(), ev)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if seq == 0 {
		t.Error("Publish returned Seq 0: its event did not come back through the change stream in time")
	}
	for _, sub := range []*broker.Subscription{subA, subB} {
		d := receive(t, sub)
		got := *d.Event
		got.Seq = 0
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("received %+v, want %+v", got, ev)
		}
	}
	if _, err := b.Publish(t.Context(), hub.Event{Kind: hub.EventRestock, Cells: []hub.Cell{0}}); hub.ErrorCode(err) != hub.EINVALID {
		t.Errorf("Publish of an invalid event: %v, want EINVALID", err)
	}
}

// TestResume closes a hub, publishes while it is down, and opens it
// again: it delivers what it missed.
func TestResume(t *testing.T) {
	db := testDB(t)
	a := newBus(t, db, "hub-a", nil)
	b, err := mongobus.New(t.Context(), db, mongobus.Options{HubID: "hub-b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Publish(t.Context(), restock("p1", 1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for b.Stats().Received < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // past a save of the token
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(t.Context(), restock("p1", 1)); err != broker.ErrClosed {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}

	for i := range 3 {
		if _, err := a.Publish(t.Context(), restock("p2", 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	var gaps int
	var mu sync.Mutex
	b = newBus(t, db, "hub-b", func(mongobus.Gap) { mu.Lock(); gaps++; mu.Unlock() })
	deadline = time.Now().Add(15 * time.Second)
	for b.Stats().Received < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := b.Stats().Received; got != 3 {
		t.Errorf("the restarted hub delivered %d events it missed, want 3", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if gaps != 0 {
		t.Errorf("%d gaps reported on a resume that lost nothing", gaps)
	}
}

// TestUnusableToken starts a hub whose saved token the server refuses:
// it reports the gap and carries on from now.
func TestUnusableToken(t *testing.T) {
	db := testDB(t)
	_, err := db.Collection("busCursors").InsertOne(t.Context(), bson.D{
		{Key: "_id", Value: "hub-c"},
		{Key: "token", Value: bson.D{{Key: "_data", Value: "8263F0000000000000"}}},
		{Key: "savedAt", Value: time.Now().Add(-48 * time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var gaps []mongobus.Gap
	var mu sync.Mutex
	c := newBus(t, db, "hub-c", func(g mongobus.Gap) { mu.Lock(); gaps = append(gaps, g); mu.Unlock() })
	mu.Lock()
	if len(gaps) != 1 || gaps[0].Reason == "" || c.Stats().Gaps != 1 {
		t.Errorf("gaps %+v (stats %+v), want one with a reason", gaps, c.Stats())
	}
	mu.Unlock()
	sub, err := c.Subscribe(t.Context(), broker.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(t.Context(), restock("p1", 5)); err != nil {
		t.Fatal(err)
	}
	if d := receive(t, sub); d.Event.PharmacyID != "p1" {
		t.Errorf("received %+v", d.Event)
	}
}
