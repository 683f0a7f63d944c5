package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/internal/bench"
)

var tinyBench = []string{"-n", "4", "-m", "2", "-churn", "6", "-sample", "3", "-big", "3", "-reps", "3",
	"-ops-scale", "0.001", "-warmup", "1", "-q"}

func TestRunBenchJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runBench(context.Background(), append(tinyBench, "--json"), &out, &errb); err != nil {
		t.Fatalf("runBench: %v\nstderr: %s", err, errb.String())
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"meta", "params", "w1", "w2", "w3", "w4", "w5", "probes"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	var p bench.Params
	if err := json.Unmarshal(res["params"], &p); err != nil || p.N != 4 || p.M != 2 || p.C != 6 || p.S != 3 ||
		p.B != 3 || p.R != 3 || p.W != 1 || p.OpsScale != 0.001 {
		t.Errorf("params = %+v, %v", p, err)
	}
	if errb.Len() != 0 {
		t.Errorf("-q still wrote progress: %s", errb.String())
	}
}

func TestRunBenchTable(t *testing.T) {
	var out, errb bytes.Buffer
	args := append([]string{}, tinyBench[:len(tinyBench)-1]...) // with progress
	if err := runBench(context.Background(), append(args, "-skip-w5"), &out, &errb); err != nil {
		t.Fatalf("runBench: %v", err)
	}
	for _, want := range []string{"define, per model", "old JS registry", "all correctness checks passed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "churn (W5)") {
		t.Error("-skip-w5 table has a W5 section")
	}
	if !strings.Contains(errb.String(), "W1") {
		t.Errorf("no progress on stderr: %q", errb.String())
	}
}

func TestRunBenchBadArgs(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-define", "xml"}, {"-ops-scale", "-1"}, {"-nosuchflag"}, {"extra"}} {
		var out, errb bytes.Buffer
		err := runBench(context.Background(), args, &out, &errb)
		if err == nil {
			t.Errorf("runBench(%q) succeeded", args)
		}
		if out.Len() != 0 {
			t.Errorf("runBench(%q) wrote results: %s", args, out.String())
		}
		if !errors.Is(err, errUsage) {
			t.Errorf("runBench(%q) = %v, not a usage error (exit status 2)", args, err)
		}
	}
	var pe *bench.ParamError
	if err := runBench(context.Background(), []string{"-reps", "0"}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.As(err, &pe) || pe.Name != "reps" {
		t.Errorf("-reps 0: %v, want a *bench.ParamError for reps", err)
	}
	var errb bytes.Buffer
	if err := runBench(context.Background(), []string{"-h"}, &bytes.Buffer{}, &errb); err != nil {
		t.Errorf("-h: %v", err)
	}
	if !strings.Contains(errb.String(), "-ops-scale") {
		t.Errorf("-h does not list the flags: %s", errb.String())
	}
}

func TestRunBenchCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runBench(ctx, tinyBench, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
