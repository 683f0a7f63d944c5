package modelreg

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// EventKind is the kind of an Event.
type EventKind uint8

// The kinds of event.
const (
	// EventTenantCreated: a tenant scope was created (by a registration
	// or Acquire).
	EventTenantCreated EventKind = iota + 1
	// EventModelRegistered: a model was registered. Anonymous is set for
	// the anonymous models a definition created, Replaced when a named
	// model replaced one of the same name.
	EventModelRegistered
	// EventModelReused: a nested object resolved to an existing anonymous
	// model (Model is its id).
	EventModelReused
	// EventModelRemoved: a named model was removed with RemoveModel.
	EventModelRemoved
	// EventTenantCleaned: a tenant was cleaned up, by CleanupTenant or on
	// its last lease's release (Reason says which). Models is the number
	// of models removed.
	EventTenantCleaned
	// EventTenantEvicted: a tenant was evicted for idleness.
	EventTenantEvicted
	// EventHookFailed: an OnCleanup hook returned Err for Tenant.
	EventHookFailed
)

// String returns the kind's name without its Event prefix, e.g.
// "TenantCreated".
func (k EventKind) String() string {
	switch k {
	case EventTenantCreated:
		return "TenantCreated"
	case EventModelRegistered:
		return "ModelRegistered"
	case EventModelReused:
		return "ModelReused"
	case EventModelRemoved:
		return "ModelRemoved"
	case EventTenantCleaned:
		return "TenantCleaned"
	case EventTenantEvicted:
		return "TenantEvicted"
	case EventHookFailed:
		return "HookFailed"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something that happened in the registry. Events hold names,
// never Models, so a slow subscriber cannot keep models alive.
//
// The events of one tenant are sent in the order their operations took
// effect; events of different tenants may interleave in any order.
type Event struct {
	Kind      EventKind
	Tenant    string        // tenant id, "" for the global scope
	Model     string        // model name or anonymous id, if any
	Anonymous bool          // the model is anonymous
	Replaced  bool          // EventModelRegistered: it replaced a model
	Models    int           // EventTenantCleaned/Evicted: models removed
	Reason    CleanupReason // EventTenantCleaned/Evicted
	Err       error         // EventHookFailed
	Time      time.Time     // the registry clock's time
}

// MaxSubscribeBuffer is the largest buffer Subscribe gives a subscription.
const MaxSubscribeBuffer = 1 << 16

// Subscription receives events. Create it with Registry.Subscribe. One
// not made by Subscribe (the zero value, or nil) is closed: its channel
// is closed, Close does nothing and Dropped is 0.
type Subscription struct {
	r       *Registry
	ch      chan Event
	mu      sync.Mutex
	closed  bool
	dropped atomic.Uint64
}

// Subscribe returns a subscription that receives every later event in a
// channel of the given buffer size (at least 1, at most MaxSubscribeBuffer).
// Events never block the
// registry: when the buffer is full the event is dropped and counted
// (Dropped, and Counters.EventsDropped). Close the subscription when done.
func (r *Registry) Subscribe(buffer int) *Subscription {
	s := &Subscription{r: r, ch: make(chan Event, min(max(buffer, 1), MaxSubscribeBuffer))}
	r.subsMu.Lock()
	defer r.subsMu.Unlock()
	var list []*Subscription
	if p := r.subs.Load(); p != nil {
		list = slices.Clone(*p)
	}
	list = append(list, s)
	r.subs.Store(&list)
	return s
}

// C returns the channel the events arrive on. It is closed by Close.
func (s *Subscription) C() <-chan Event {
	if s == nil || s.ch == nil {
		ch := make(chan Event)
		close(ch) // not made by Subscribe: a closed subscription
		return ch
	}
	return s.ch
}

// Dropped returns the number of events this subscription lost because
// its buffer was full.
func (s *Subscription) Dropped() uint64 {
	if s == nil {
		return 0
	}
	return s.dropped.Load()
}

// Close ends the subscription and closes its channel. Closing twice is
// harmless.
func (s *Subscription) Close() {
	if s == nil || s.r == nil {
		return // not made by Subscribe
	}
	r := s.r
	r.subsMu.Lock()
	if p := r.subs.Load(); p != nil {
		list := slices.DeleteFunc(slices.Clone(*p), func(x *Subscription) bool { return x == s })
		if len(list) == 0 {
			r.subs.Store(nil)
		} else {
			r.subs.Store(&list)
		}
	}
	r.subsMu.Unlock()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
	s.mu.Unlock()
}

func (r *Registry) hasSubscribers() bool { return r.subs.Load() != nil }

// emit sends ev to every subscriber without blocking. It may be called
// with registry locks held: a send never waits, and Subscription.mu is
// only ever taken last.
func (r *Registry) emit(ev Event) {
	p := r.subs.Load()
	if p == nil {
		return
	}
	for _, s := range *p {
		s.mu.Lock()
		if !s.closed {
			select {
			case s.ch <- ev:
			default:
				s.dropped.Add(1)
				r.ctr.eventsDropped.Add(1)
			}
		}
		s.mu.Unlock()
	}
}
