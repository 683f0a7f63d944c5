package modelreg

import (
	"context"
	"sync"
	"time"
)

// A Janitor evicts idle tenants periodically. Start it with
// Registry.StartJanitor and stop it with Stop. A Janitor not made by
// StartJanitor (the zero value, or nil) runs nothing: Stop returns at
// once and Done is closed.
type Janitor struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// StartJanitor starts a goroutine that calls CleanupIdle(ctx, maxIdle)
// every interval, until Stop is called or ctx is done. ctx is also passed
// to the OnCleanup hooks; hook errors are counted and sent as events. The
// interval is measured with real timers (fake ones under testing/synctest),
// idleness with the registry's clock. A non-positive interval is refused
// with ErrInvalidArgument.
func (r *Registry) StartJanitor(ctx context.Context, interval, maxIdle time.Duration) (*Janitor, error) {
	if interval <= 0 {
		return nil, invalidArgf("janitor interval %v is not positive", interval)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	j := &Janitor{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(j.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-j.stop:
				return
			case <-t.C:
				r.CleanupIdle(ctx, maxIdle)
			}
		}
	}()
	return j, nil
}

// Stop stops the janitor and waits until its goroutine has exited. It may
// be called more than once, and after ctx is done. It must not be called
// from an OnCleanup hook during one of this janitor's sweeps, which run on
// its goroutine: Stop would wait for itself. A hook that needs to stop
// the janitor cancels the context the janitor was started with, or calls
// Stop from a new goroutine.
func (j *Janitor) Stop() {
	if j == nil || j.stop == nil {
		return // not started by StartJanitor: no goroutine
	}
	j.once.Do(func() { close(j.stop) })
	<-j.done
}

// Done returns a channel closed when the janitor's goroutine has exited
// (already closed for a Janitor not started by StartJanitor).
func (j *Janitor) Done() <-chan struct{} {
	if j == nil || j.done == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	return j.done
}
