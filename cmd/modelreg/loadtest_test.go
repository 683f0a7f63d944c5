package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/server"
	"github.com/modelreg/modelreg/store/storetest"
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

// TestLoadtestRevokesItsToken: a run against a real server issues a tenant
// token for itself and revokes it at its end: runs leave no live
// credentials behind.
func TestLoadtestRevokesItsToken(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewMemory(nil)
	const admin = "loadtest-admin-token-0123"
	srv, err := server.New(ctx, server.Config{Store: st, AdminTokenHash: sha256.Sum256([]byte(admin)), IdleTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"loadtest", "--url", hs.URL, "--token", admin, "--tenant", "lt", "--duration", "200ms", "--warmup", "0", "--concurrency", "2"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	toks, err := st.Tokens(ctx, "lt")
	if err != nil || len(toks) != 0 {
		t.Errorf("tokens of the load test's tenant after the run: %d (%v), want none", len(toks), err)
	}
	if _, err := st.Model(ctx, "lt", "Order"); err != nil {
		t.Errorf("the run's model: %v", err)
	}
}

// TestLoadtestOpenLoopStops: an open-loop worker whose next scheduled send
// falls after the measured time, or that waits for it when the run is
// cancelled, stops at once instead of sleeping until that time (which at
// a low --rate is far beyond the run, and would also stretch the measured
// seconds the throughput is computed from).
func TestLoadtestOpenLoopStops(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rate   float64
		dur    time.Duration
		cancel bool // cancel the run after the first answer
	}{
		// 2 connections at 0.001/s: connection 0 sends at once, then
		// every 2000 s; connection 1 first at 1000 s.
		{"next send after the end", 0.001, 100 * time.Millisecond, false},
		// 2 connections at 0.01/s: connection 1 waits 100 s for its
		// first send, connection 0 200 s for its second.
		{"cancelled while waiting", 0.01, time.Hour, true},
		// A rate so low that the interval overflows a time.Duration.
		{"interval beyond time.Duration", 1e-12, 100 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answered := make(chan struct{}, 100)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"document":{}}`))
				select {
				case answered <- struct{}{}:
				default:
				}
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const conc = 2
			if tc.cancel {
				go func() {
					<-answered
					cancel()
				}()
			}
			done := make(chan loadReport, 1)
			go func() {
				rep, err := loadtest(ctx, srv.URL+"/v", "tok", []byte(`{}`), conc, tc.rate, 0, tc.dur)
				if err != nil {
					t.Error(err)
				}
				done <- rep
			}()
			select {
			case rep := <-done:
				// A cancelled run may also drop the first answer.
				if rep.Requests != 1 && !(tc.cancel && rep.Requests == 0) || rep.Errors != 0 {
					t.Errorf("%d requests, %d errors (%s), want 1 request", rep.Requests, rep.Errors, rep.FirstError)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the load test is still waiting for a send it will never make")
			}
		})
	}
}

func TestNearestRankMs(t *testing.T) {
	// 1..n milliseconds, ascending.
	ms := func(n int) []time.Duration {
		d := make([]time.Duration, n)
		for i := range d {
			d[i] = time.Duration(i+1) * time.Millisecond
		}
		return d
	}
	tests := []struct {
		n    int
		p    float64
		want float64
	}{
		{0, .5, 0},
		{1, .5, 1}, {1, .999, 1}, {1, 1, 1},
		{2, .5, 1}, {2, .9, 2},
		{10, .5, 5}, {10, .9, 9}, {10, .99, 10},
		{100, .5, 50}, {100, .9, 90}, {100, .99, 99}, {100, .999, 100}, {100, 1, 100},
		{1000, .99, 990}, {1000, .999, 999}, {1000, 1, 1000},
		{1001, .5, 501}, {1001, .999, 1000},
	}
	for _, tt := range tests {
		if got := nearestRankMs(ms(tt.n), tt.p); got != tt.want {
			t.Errorf("nearestRankMs(1..%d ms, %v) = %v, want %v", tt.n, tt.p, got, tt.want)
		}
	}
	if got := nearestRankMs([]time.Duration{1500 * time.Microsecond}, .5); got != 1.5 {
		t.Errorf("1.5 ms reported as %v ms", got)
	}
}

// TestLoadtestCancelledDuringRequest: cancelling a run ends it although a
// request is still waiting for a stalled server's answer, rather than
// after the 30 s request deadline.
func TestLoadtestCancelledDuringRequest(t *testing.T) {
	for _, rate := range []float64{0, 100} {
		t.Run(fmt.Sprintf("rate %g", rate), func(t *testing.T) {
			stalled, release := make(chan struct{}, 100), make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case stalled <- struct{}{}:
				default:
				}
				<-release
			}))
			defer srv.Close()
			defer close(release)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-stalled
				cancel()
			}()
			done := make(chan loadReport, 1)
			go func() {
				rep, err := loadtest(ctx, srv.URL+"/v", "tok", []byte(`{}`), 1, rate, 0, time.Hour)
				if err != nil {
					t.Error(err)
				}
				done <- rep
			}()
			select {
			case rep := <-done:
				if rep.Requests != 0 || rep.Errors != 0 {
					t.Errorf("%d requests, %d errors (%s), want none: the cancelled request is neither", rep.Requests, rep.Errors, rep.FirstError)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the cancelled load test is still waiting for the stalled answer")
			}
		})
	}
}

// TestLoadtestBadFlags: out-of-range flags are usage errors (exit status
// 2), refused before the server is contacted.
func TestLoadtestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrency", "0"},
		{"--concurrency", "100000000"}, // 100 million connections
		{"--duration", "0s"},
		{"--warmup", "-1s"},
		{"--rate", "-1"},
		{"--rate", "NaN"},
	} {
		var out, errb bytes.Buffer
		args = append([]string{"--url", "http://127.0.0.1:1", "--token", "t"}, args...)
		if err := runLoadtest(context.Background(), args, &out, &errb); !errors.Is(err, errUsage) {
			t.Errorf("loadtest %q = %v, want a usage error", args, err)
		}
	}
}
