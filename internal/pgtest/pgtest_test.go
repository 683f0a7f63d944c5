package pgtest

import "testing"

func TestWithDatabase(t *testing.T) {
	tests := []struct{ server, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/db1?sslmode=disable"},
		{"postgresql://u:p%40ss@h/", "postgresql://u:p%40ss@h/db1"},
		{"postgres://u@h", "postgres://u@h/db1"},
		{"host=127.0.0.1 port=5432 user=postgres", "host=127.0.0.1 port=5432 user=postgres dbname=db1"},
	}
	for _, tc := range tests {
		if got, err := withDatabase(tc.server, "db1"); err != nil || got != tc.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tc.server, got, err, tc.want)
		}
	}
	if _, err := withDatabase("postgres://[::1", "db1"); err == nil {
		t.Errorf("withDatabase of a broken URL: no error")
	}
}

func TestAsRole(t *testing.T) {
	tests := []struct{ db, want string }{
		{"postgres://postgres@127.0.0.1:5432/db1?sslmode=disable", "postgres://r1@127.0.0.1:5432/db1?sslmode=disable"},
		{"postgresql://u:p%40ss@h/db1", "postgresql://r1@h/db1"},
		{"host=127.0.0.1 user=postgres dbname=db1", "host=127.0.0.1 user=postgres dbname=db1 user=r1 password=''"},
	}
	for _, tc := range tests {
		if got, err := AsRole(tc.db, "r1"); err != nil || got != tc.want {
			t.Errorf("AsRole(%q) = %q, %v; want %q", tc.db, got, err, tc.want)
		}
	}
}
