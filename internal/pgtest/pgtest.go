// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The tests need a PostgreSQL server, named by the environment variable
// MODELREG_TEST_POSTGRES: the URL of a role allowed to CREATE DATABASE,
// such as
//
//	MODELREG_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' go test ./store/postgres
//
// Without it they are skipped, except in CI (the environment variable CI
// set, as .ci/run runs): there they fail, as .ci/run starts a server for
// them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable that names the test server.
const EnvURL = "MODELREG_TEST_POSTGRES"

// Server returns the URL of the test server, as MODELREG_TEST_POSTGRES
// names it. Without it, it skips t, or fails it in CI.
func Server(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvURL)
	if server == "" {
		const how = EnvURL + " is not set: set it to the URL of a PostgreSQL server, as a role allowed to CREATE DATABASE " +
			"(e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to run the PostgreSQL tests"
		if os.Getenv("CI") != "" {
			t.Fatal(how + "; CI must run them (.ci/run starts a server)")
		}
		t.Skip(how)
	}
	return server
}

// URL returns the URL of a new, empty database on the test server (see
// Server), which t's cleanup drops, disconnecting whatever still uses it.
func URL(t testing.TB) string {
	t.Helper()
	server := Server(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "modelreg_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec(ctx, server, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating a database on %s: %v", EnvURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec(ctx, server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping the database %s: %v", name, err)
		}
	})
	u, err := withDatabase(server, name)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	return u
}

// exec runs one statement on a connection of its own to server.
func exec(ctx context.Context, server, sql string) error {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns the connection string server with the database
// name, in either form (a URL, or keyword/value pairs).
func withDatabase(server, name string) (string, error) {
	if strings.HasPrefix(server, "postgres://") || strings.HasPrefix(server, "postgresql://") {
		u, err := url.Parse(server)
		if err != nil {
			return "", fmt.Errorf("not a URL: %v", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	return server + " dbname=" + name, nil
}

// TableRole returns a connection string for the database of db (a URL
// from URL) as a new role that may only read and write its tables
// (SELECT, INSERT, UPDATE, DELETE on the tables db's public schema has
// now; no right to create any), and its name. t's cleanup drops the role,
// before URL's cleanup drops the database.
func TableRole(t testing.TB, db string) (conn, role string) {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	role = "modelreg_test_role_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA public TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role,
	} {
		if err := exec(ctx, db, q); err != nil {
			t.Fatalf("pgtest: %s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if err := exec(ctx, db, q); err != nil {
				t.Errorf("pgtest: %s: %v", q, err)
			}
		}
	})
	conn, err := AsRole(db, role)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return conn, role
}

// AsRole returns the connection string db (in either form) with role as
// its user, and no password.
func AsRole(db, role string) (string, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		u, err := url.Parse(db)
		if err != nil {
			return "", fmt.Errorf("not a URL: %v", err)
		}
		u.User = url.User(role)
		return u.String(), nil
	}
	return db + " user=" + role + " password=''", nil
}
