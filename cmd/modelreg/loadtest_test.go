package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestLoadtestOpenLoopCountsStalls checks what the two modes measure: a
// server that stalls once for 300 ms. A closed loop sends nothing while
// it waits, so only the conc requests in flight see the stall, and its
// p90 stays small; an open loop counts every request scheduled during the
// stall from its scheduled time, so a fifth of them take 100 ms or more.
func TestLoadtestOpenLoopCountsStalls(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: two 1.2 s load tests")
	}
	for _, tc := range []struct {
		name        string
		rate        float64
		p90AtLeast  time.Duration
		p90Under    time.Duration
		minRequests int
	}{
		{"open loop", 1000, 100 * time.Millisecond, 0, 900},
		{"closed loop", 0, 0, 100 * time.Millisecond, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var once sync.Once
			start := time.Now()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if time.Since(start) > 500*time.Millisecond {
					once.Do(func() { time.Sleep(300 * time.Millisecond) })
				}
				w.Write([]byte(`{"document":{}}`))
			}))
			defer srv.Close()
			rep, err := loadtest(context.Background(), srv.URL+"/v", "tok", []byte(`{}`), 2, tc.rate, 200*time.Millisecond, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			p90 := time.Duration(rep.P90ms * float64(time.Millisecond))
			if rep.Errors != 0 || rep.Requests < tc.minRequests {
				t.Fatalf("%d requests, %d errors (%s)", rep.Requests, rep.Errors, rep.FirstError)
			}
			if tc.p90AtLeast > 0 && p90 < tc.p90AtLeast {
				t.Errorf("p90 %v with a 300 ms stall in a 1 s open-loop run at 1000/s, want ≥ %v", p90, tc.p90AtLeast)
			}
			if tc.p90Under > 0 && p90 >= tc.p90Under {
				t.Errorf("closed loop p90 %v, want < %v: only the requests in flight see the stall", p90, tc.p90Under)
			}
		})
	}
}

// TestLoadtestCountsFailures checks that answers other than a 200 with a
// validated document count as errors, never as successes, also with many
// connections (their workers once shared one error variable).
func TestLoadtestCountsFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"200 without a document", 200, `<html>a proxy's page</html>`},
		{"500", 500, `{"document":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			rep, err := loadtest(context.Background(), srv.URL+"/v", "tok", []byte(`{}`), 16, 0, 0, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 0 || rep.Errors == 0 {
				t.Errorf("%d successes and %d errors", rep.Requests, rep.Errors)
			}
		})
	}
}
