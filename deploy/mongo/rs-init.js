// Initiates the replica set rs0 of deploy/compose.yaml once, and waits
// for a primary so that the hubs find one at their first ping. Run again
// on an initiated set it only waits.
try {
  const s = rs.status();
  print("replica set " + s.set + " is initiated already");
} catch (e) {
  if (e.codeName !== "NotYetInitialized") {
    throw e;
  }
  rs.initiate({
    _id: "rs0",
    members: [
      { _id: 0, host: "mongo1:27017", priority: 2 },
      { _id: 1, host: "mongo2:27017", priority: 1 },
      { _id: 2, host: "mongo3:27017", priority: 1 },
    ],
  });
  print("replica set rs0 initiated");
}
for (let i = 0; i < 120; i++) {
  const h = db.hello();
  if (h.primary) {
    print("primary: " + h.primary);
    quit(0);
  }
  sleep(1000);
}
print("no primary after 120 s: see the mongo1..3 logs");
quit(1);
