// Package schedule applies the displays' schedules (CONTRACT §8): entries
// such as {at: "07:00", days: [mon, tue], set: {...}} that set fields of a
// display at a local time, as a command through the same checks, events,
// state and file as one from MQTT. At start-up, an entry that came due
// while the daemon was down is applied if it is newer than the restored
// state (newest wins, as always).
//
// Times are wall-clock times in the process's time zone. On the day the
// clocks go forward, an entry inside the skipped hour fires when the
// clocks jump (02:30 fires at 03:00 in Europe/Berlin); on the day they go
// back, an entry inside the repeated hour fires once, the first time.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// Clock is a time of day.
type Clock struct{ Hour, Minute, Second int }

// ParseClock reads "07:00" or "07:00:30" (24-hour).
func ParseClock(s string) (Clock, error) {
	var c Clock
	parts := strings.Split(s, ":")
	bad := fmt.Errorf("at %q: want HH:MM or HH:MM:SS, 24-hour (e.g. 07:00)", s)
	if len(parts) < 2 || len(parts) > 3 {
		return c, bad
	}
	vals := []*int{&c.Hour, &c.Minute, &c.Second}
	limits := []int{23, 59, 59}
	for i, p := range parts {
		if len(p) != 2 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' {
			return c, bad
		}
		*vals[i] = int(p[0]-'0')*10 + int(p[1]-'0')
		if *vals[i] > limits[i] {
			return c, bad
		}
	}
	return c, nil
}

// String formats the clock as HH:MM or HH:MM:SS.
func (c Clock) String() string {
	if c.Second != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", c.Hour, c.Minute, c.Second)
	}
	return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute)
}

// Days is a set of weekdays, indexed by time.Weekday.
type Days [7]bool

// dayNames are the lower-case three-letter names, by time.Weekday.
var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseDays reads lower-case three-letter day names; none is every day.
func ParseDays(names []string) (Days, error) {
	var d Days
	if len(names) == 0 {
		for i := range d {
			d[i] = true
		}
		return d, nil
	}
	for _, n := range names {
		i := slices.Index(dayNames[:], n)
		if i < 0 {
			return d, fmt.Errorf("day %q: want one of %s", n, strings.Join(dayNames[:], ", "))
		}
		d[i] = true
	}
	return d, nil
}

// Entry is one schedule entry of a display.
type Entry struct {
	// Device is the display's id.
	Device string
	// Index is the entry's position in the device's schedule, for logs.
	Index int
	At    Clock
	Days  Days
	// Set is the JSON object applied, as on <base>/<id>/set.
	Set []byte
}

// on returns when the entry comes due on the local date y-m-d in loc: the
// first instant whose wall clock shows At or later that day. That is At
// itself, the first of the two on the day the clocks go back, and the
// instant of the jump when At falls in the hour skipped as they go
// forward.
func (e Entry) on(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, e.At.Hour, e.At.Minute, e.At.Second, 0, loc)
	if sameWall(t, y, m, d, e.At) {
		// The wall time may exist twice: take the earlier one.
		start, _ := t.ZoneBounds()
		if !start.IsZero() {
			_, before := start.Add(-time.Nanosecond).Zone()
			_, now := t.Zone()
			if before > now {
				if earlier := t.Add(-time.Duration(before-now) * time.Second); earlier.Before(start) && sameWall(earlier, y, m, d, e.At) {
					return earlier
				}
			}
		}
		return t
	}
	// At does not exist that day: the clocks jumped over it. The first
	// instant after the jump is the transition itself.
	start, end := t.ZoneBounds()
	switch {
	case wallAfter(t, y, m, d, e.At) && !start.IsZero():
		return start
	case !end.IsZero():
		return end
	}
	return t
}

func sameWall(t time.Time, y int, m time.Month, d int, c Clock) bool {
	ty, tm, td := t.Date()
	h, mi, s := t.Clock()
	return ty == y && tm == m && td == d && h == c.Hour && mi == c.Minute && s == c.Second
}

// wallAfter reports whether t's wall clock is later than y-m-d c.
func wallAfter(t time.Time, y int, m time.Month, d int, c Clock) bool {
	ty, tm, td := t.Date()
	h, mi, s := t.Clock()
	a := time.Date(ty, tm, td, h, mi, s, 0, time.UTC)
	b := time.Date(y, m, d, c.Hour, c.Minute, c.Second, 0, time.UTC)
	return a.After(b)
}

// next returns the entry's first due time after t.
func (e Entry) next(t time.Time, loc *time.Location) time.Time {
	local := t.In(loc)
	var best time.Time
	for off := -1; off <= 8; off++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+off, 12, 0, 0, 0, loc)
		if !e.Days[day.Weekday()] {
			continue
		}
		at := e.on(day.Year(), day.Month(), day.Day(), loc)
		if at.After(t) && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	return best
}

// last returns the entry's latest due time at or before t (zero if none
// within the last eight days: the entry has no days).
func (e Entry) last(t time.Time, loc *time.Location) time.Time {
	local := t.In(loc)
	var best time.Time
	for off := 1; off >= -8; off-- {
		day := time.Date(local.Year(), local.Month(), local.Day()+off, 12, 0, 0, 0, loc)
		if !e.Days[day.Weekday()] {
			continue
		}
		at := e.on(day.Year(), day.Month(), day.Day(), loc)
		if !at.After(t) && at.After(best) {
			best = at
		}
	}
	return best
}

// Options configure Run.
type Options struct {
	// Entries are every display's schedule entries.
	Entries []Entry
	// Location is the time zone of the entries (default time.Local: the
	// process's, TZ).
	Location *time.Location
	// Submit applies an entry's set object to a display as a command
	// (the bridge's Submit on <base>/<id>/set), returning once it is done
	// or refused (the bridge reports refusals as events).
	Submit func(ctx context.Context, device string, set []byte) error
	// Restored is closed once the state is restored at start-up; nil:
	// it is.
	Restored <-chan struct{}
	// Changed returns the restored time of a display's last change
	// (zero: none): an entry that came due while the daemon was down
	// applies at start-up if it is newer.
	Changed func(device string) time.Time
	// Logger receives what the schedules do.
	Logger *slog.Logger
}

// maxSleep bounds a wait for the next entry, so that a change of the
// system clock is noticed within a minute.
const maxSleep = time.Minute

// Run applies the entries at their times until ctx is done; it returns
// nil then. It first waits for the restore, then applies the entries
// missed while the daemon was down.
func Run(ctx context.Context, opts Options) error {
	if len(opts.Entries) == 0 {
		return nil
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Changed == nil {
		opts.Changed = func(string) time.Time { return time.Time{} }
	}
	if opts.Restored != nil {
		select {
		case <-opts.Restored:
		case <-ctx.Done():
			return nil
		}
	}
	r := runner{opts: opts, log: opts.Logger}
	checked := time.Now()
	r.catchUp(ctx, checked)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := r.next(checked)
		timer.Reset(min(max(time.Until(next), 0), maxSleep))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now := time.Now()
		if !now.After(checked) {
			continue // the system clock went back: nothing fires twice
		}
		r.fireBetween(ctx, checked, now)
		checked = now
	}
}

type runner struct {
	opts Options
	log  *slog.Logger
}

// due is an entry and when it came due.
type due struct {
	at time.Time
	e  Entry
}

// catchUp applies, in the order they came due, the entries whose last due
// time is newer than their display's restored state.
func (r *runner) catchUp(ctx context.Context, now time.Time) {
	var missed []due
	for _, e := range r.opts.Entries {
		at := e.last(now, r.opts.Location)
		if at.IsZero() || !at.After(r.opts.Changed(e.Device)) {
			continue
		}
		missed = append(missed, due{at, e})
	}
	slices.SortStableFunc(missed, func(a, b due) int { return a.at.Compare(b.at) })
	for _, d := range missed {
		r.apply(ctx, d, "schedule entry came due while the daemon was down and is newer than the restored state; applying it")
	}
}

// next is the first due time after t over all entries.
func (r *runner) next(t time.Time) time.Time {
	var best time.Time
	for _, e := range r.opts.Entries {
		if at := e.next(t, r.opts.Location); !at.IsZero() && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	if best.IsZero() {
		return t.Add(maxSleep)
	}
	return best
}

// fireBetween applies each entry that came due in (from, to], once, in
// the order they came due.
func (r *runner) fireBetween(ctx context.Context, from, to time.Time) {
	var fire []due
	for _, e := range r.opts.Entries {
		if at := e.next(from, r.opts.Location); !at.IsZero() && !at.After(to) {
			fire = append(fire, due{at, e})
		}
	}
	slices.SortStableFunc(fire, func(a, b due) int { return a.at.Compare(b.at) })
	for _, d := range fire {
		r.apply(ctx, d, "schedule entry applied")
	}
}

func (r *runner) apply(ctx context.Context, d due, msg string) {
	err := r.opts.Submit(ctx, d.e.Device, d.e.Set)
	log := r.log.With(logkey.Device, d.e.Device, logkey.Entry, d.e.Index, logkey.At, d.e.At.String(),
		logkey.Due, d.at.In(r.opts.Location).Format(time.RFC3339))
	switch {
	case err == nil:
		log.Info(msg, logkey.Set, string(d.e.Set))
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
	default:
		// The bridge reported why on bridge/event.
		log.Warn("schedule entry refused", logkey.Set, string(d.e.Set), logkey.Error, err)
	}
}
