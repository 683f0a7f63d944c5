package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modelreg/modelreg/internal/pgtest"
)

// eventually waits until cond holds: what one replica writes reaches the
// others once the store has told them, a moment after the commit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicasShareAPostgreSQLStore runs two servers on one PostgreSQL
// database: what is written through one is served by the other, a
// tenant deleted through one is gone from the other (its token too), and
// a replica that restarts finds everything.
func TestReplicasShareAPostgreSQLStore(t *testing.T) {
	url := pgtest.URL(t)
	a := start(t, "", nil, "--store", url)
	b := start(t, "", nil, "--store", url)

	a.must(201, "PUT", "/v1/tenants/acme/models/User", adminToken, userDef)
	tok := a.token("acme")
	etag := a.must(201, "PUT", "/v1/tenants/acme/models/Customer", tok, customerDef).header.Get("ETag")
	if got := b.must(200, "GET", "/v1/tenants/acme/models/Customer", tok, "").header.Get("ETag"); got != etag {
		t.Errorf("b serves Customer at %s, a wrote %s", got, etag)
	}
	doc := `{"name": "Ann", "owner": {"email": "ann@example.com"}, "age": "3"}`
	b.must(200, "POST", "/v1/tenants/acme/models/Customer/validate", tok, doc)

	// A replacement through b, now that a holds the tenant in memory.
	a.must(200, "GET", "/v1/tenants/acme/models/User", tok, "")
	v2 := `{"name": "User", "strict": true, "properties": {"email": {"type": "string", "required": true}}}`
	etag = b.must(200, "PUT", "/v1/tenants/acme/models/User", tok, v2).header.Get("ETag")
	eventually(t, "a serves the model replaced through b", func() bool {
		return a.do("GET", "/v1/tenants/acme/models/User", tok, "").header.Get("ETag") == etag
	})
	if r := a.do("POST", "/v1/tenants/acme/models/User/validate", tok, `{"email": "x@example.com", "extra": 1}`); r.status != 422 {
		t.Errorf("a validates with the model b replaced: %d %s", r.status, r.body)
	}

	// Global models, written through a, used by b.
	a.must(201, "PUT", "/v1/global/models/Address", adminToken, `{"name": "Address", "properties": {"street": "string"}}`)
	eventually(t, "b serves the global model written through a", func() bool {
		return b.do("GET", "/v1/global/models/Address", tok, "").status == 200
	})

	// A tenant deleted through b is gone from a, with its token.
	b.must(200, "DELETE", "/v1/tenants/acme", adminToken, "")
	eventually(t, "a refuses the deleted tenant's token", func() bool {
		return a.do("GET", "/v1/tenants/acme/models/User", tok, "").status == 401
	})
	a.must(404, "GET", "/v1/tenants/acme/models/User", adminToken, "")

	// A replica restarted finds everything in the store.
	a.must(201, "PUT", "/v1/tenants/beta/models/User", adminToken, userDef)
	if err := b.stop(t); err != nil {
		t.Errorf("b's clean stop: %v", err)
	}
	c := start(t, "", nil, "--store", url)
	c.must(200, "GET", "/v1/tenants/beta/models/User", adminToken, "")
	c.must(200, "GET", "/v1/global/models/Address", adminToken, "")
	c.must(404, "GET", "/v1/tenants/acme/models/User", adminToken, "")
	if got := c.metric(`modelreg_store_changes_total{kind="resync"}`); got != 1 {
		t.Errorf("a fresh replica counted %v resyncs, want 1", got)
	}
}

// TestReplicaResyncsAfterLosingTheFeed: a replica that loses its
// connection for the other replicas' changes reports itself not ready,
// and once it listens again, serves what was written meanwhile (its
// Resync dropped what it held).
func TestReplicaResyncsAfterLosingTheFeed(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a := start(t, "", nil, "--store", url) // migrates, as the database's owner

	// Replica b connects as a role of its own, whose new connections
	// can be refused while a's go on.
	asRole, role := pgtest.TableRole(t, url)
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	b := start(t, "", nil, "--store", asRole)

	a.must(201, "PUT", "/v1/tenants/acme/models/User", adminToken, userDef)
	b.must(200, "GET", "/v1/tenants/acme/models/User", adminToken, "") // resident on b
	b.must(200, "GET", "/readyz", "", "")

	// b's feed connection is cut, and b cannot connect again.
	var dbName string
	if err := db.QueryRow(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `REVOKE CONNECT ON DATABASE `+pgx.Identifier{dbName}.Sanitize()+` FROM PUBLIC, `+role); err != nil {
		t.Fatal(err)
	}
	var cut int
	if err := db.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE usename = $1 AND application_name = 'modelreg watch'`, role).Scan(&cut); err != nil || cut != 1 {
		t.Fatalf("cut %d feed connections of b (%v), want 1", cut, err)
	}
	eventually(t, "b reports itself not ready", func() bool { return b.do("GET", "/readyz", "", "").status == 503 })

	// Written while b hears nothing.
	v2 := `{"name": "User", "properties": {"email": {"type": "string", "required": true}, "nick": "string"}}`
	etag := a.must(200, "PUT", "/v1/tenants/acme/models/User", adminToken, v2).header.Get("ETag")
	a.must(201, "PUT", "/v1/global/models/Address", adminToken, `{"name": "Address", "properties": {"street": "string"}}`)

	if _, err := db.Exec(ctx, `GRANT CONNECT ON DATABASE `+pgx.Identifier{dbName}.Sanitize()+` TO `+role); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b ready again", func() bool { return b.do("GET", "/readyz", "", "").status == 200 })
	if got := b.must(200, "GET", "/v1/tenants/acme/models/User", adminToken, "").header.Get("ETag"); got != etag {
		t.Errorf("b serves User at %s after its resync, a wrote %s", got, etag)
	}
	b.must(200, "GET", "/v1/global/models/Address", adminToken, "")
	if got := b.metric(`modelreg_store_changes_total{kind="lost"}`); got != 1 {
		t.Errorf("b counted %v lost connections, want 1", got)
	}
}
