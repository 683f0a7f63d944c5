package bench

import (
	"fmt"
	"io"
	"time"
)

// progress writes phase lines, and throttled updates inside long loops, to
// a writer (stderr in the command). A nil *progress writes nothing.
type progress struct {
	w     io.Writer
	start time.Time
	last  time.Time
	every time.Duration
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		return nil
	}
	now := time.Now()
	return &progress{w: w, start: now, last: now, every: 2 * time.Second}
}

// phase announces the start of a phase.
func (p *progress) phase(format string, args ...any) {
	if p == nil {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "bench %6.1fs  %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// tick reports done of total steps of a loop at most once per p.every.
// It is called outside timed regions only.
func (p *progress) tick(what string, done, total int) {
	if p == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "bench %6.1fs    %s: %d/%d (%.0f%%)\n", now.Sub(p.start).Seconds(), what, done, total,
		100*float64(done)/float64(max(total, 1)))
}
