package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/modelreg/modelreg/internal/bench"
)

// runBench implements "modelreg bench": it runs the workload of
// shared/bench/WORKLOAD.md in-process and prints a comparison with the old
// JavaScript registry (or, with --json, the figures as one JSON object with
// the keys of the JavaScript harness). Progress goes to stderr. It returns
// an error wrapping bench.ErrCheckFailed when a correctness check fails,
// after printing the figures.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	p := bench.DefaultParams()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&p.N, "n", p.N, "tenants (N)")
	fs.IntVar(&p.M, "m", p.M, "models per tenant (M)")
	fs.IntVar(&p.C, "churn", p.C, "W5 churn cycles (C)")
	fs.IntVar(&p.S, "sample", p.S, "W5 heap sample period in cycles (S)")
	fs.IntVar(&p.B, "big", p.B, "models of the big tenant in W3 (B)")
	fs.IntVar(&p.R, "reps", p.R, "big-tenant cleanup repetitions in W3 (R)")
	fs.Float64Var(&p.OpsScale, "ops-scale", p.OpsScale, "multiplier of the W2 lookup op counts")
	fs.IntVar(&p.W, "warmup", p.W, "warm-up tenants (W)")
	fs.BoolVar(&p.SkipW5, "skip-w5", false, "skip W5 (churn with heap samples)")
	fs.IntVar(&p.Others, "others", 0, "also time the big-tenant cleanup with this many other tenants live (e.g. 100000)")
	fs.IntVar(&p.OthersM, "others-m", p.OthersM, "models of each of the -others tenants")
	define := fs.String("define", string(p.Define), `how W1 hands definitions to the registry: "json" (DefineJSON, parsing included) or "parsed" (Define)`)
	asJSON := fs.Bool("json", false, "print the figures as JSON (the JS harness's keys) instead of the table")
	quiet := fs.Bool("q", false, "no progress on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile at the end of the run to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: modelreg bench [flags]\n\n"+
			"Runs the tenant-registry workload (W1–W5 and probes P1–P6 of WORKLOAD.md)\n"+
			"in-process and compares it with the old JavaScript registry.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	p.Define = bench.DefineMode(*define)
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	res, err := bench.Run(ctx, p, progress)
	if err != nil {
		return err
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	} else if err := res.WriteTable(stdout); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return res.Check()
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("bench: %w", err)
	}
	return f.Close()
}
