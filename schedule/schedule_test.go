package schedule_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata" // Europe/Berlin on any machine

	"github.com/pidicon/pidicon-mqtt/schedule"
)

// applied is one entry the runner submitted.
type applied struct {
	at     time.Time
	device string
	set    string
}

// submissions records what the runner submits.
type submissions struct {
	mu   sync.Mutex
	list []applied
}

func (s *submissions) submit(_ context.Context, device string, set []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, applied{time.Now(), device, string(set)})
	return nil
}

func (s *submissions) take() []applied {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.list
	s.list = nil
	return l
}

func entry(t *testing.T, device, at string, days []string, set string) schedule.Entry {
	t.Helper()
	c, err := schedule.ParseClock(at)
	if err != nil {
		t.Fatal(err)
	}
	d, err := schedule.ParseDays(days)
	if err != nil {
		t.Fatal(err)
	}
	return schedule.Entry{Device: device, At: c, Days: d, Set: []byte(set)}
}

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// runFrom starts Run in a synctest bubble at the instant start, with
// restored state of the given time for every device, and stops it when
// the test ends.
func runFrom(t *testing.T, start time.Time, loc *time.Location, changed time.Time, entries ...schedule.Entry) *submissions {
	t.Helper()
	time.Sleep(time.Until(start))
	s := new(submissions)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		schedule.Run(ctx, schedule.Options{
			Entries:  entries,
			Location: loc,
			Submit:   s.submit,
			Changed:  func(string) time.Time { return changed },
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	synctest.Wait()
	return s
}

func times(list []applied, loc *time.Location) string {
	var out []string
	for _, a := range list {
		out = append(out, a.at.In(loc).Format("2006-01-02 15:04:05 MST")+" "+a.device+" "+a.set)
	}
	return strings.Join(out, "\n")
}

// TestRun_DaysAndTimes: entries fire at their local time on their days,
// as the command they hold, for their device.
func TestRun_DaysAndTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loc := berlin(t)
		start := time.Date(2026, 6, 1, 0, 0, 0, 0, loc) // a Monday
		s := runFrom(t, start, loc, start,
			entry(t, "demo", "07:00", []string{"mon", "tue", "wed", "thu", "fri"}, `{"displayOn":true}`),
			entry(t, "lab", "22:30:15", nil, `{"brightness":10}`),
		)
		time.Sleep(7 * 24 * time.Hour)
		synctest.Wait()
		var want []string
		for d := range 7 {
			day := start.AddDate(0, 0, d)
			if d < 5 {
				want = append(want, day.Add(7*time.Hour).Format("2006-01-02 15:04:05 MST")+` demo {"displayOn":true}`)
			}
			want = append(want, time.Date(day.Year(), day.Month(), day.Day(), 22, 30, 15, 0, loc).Format("2006-01-02 15:04:05 MST")+` lab {"brightness":10}`)
		}
		if got := times(s.take(), loc); got != strings.Join(want, "\n") {
			t.Errorf("applied:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
		}
	})
}

// TestRun_SpringForward: on the day the clocks go from 02:00 to 03:00, an
// entry at 02:30 fires once, at the jump; the others at their time.
func TestRun_SpringForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loc := berlin(t)
		start := time.Date(2026, 3, 28, 12, 0, 0, 0, loc)
		s := runFrom(t, start, loc, start,
			entry(t, "demo", "02:30", nil, `{"brightness":1}`),
			entry(t, "demo", "07:00", nil, `{"brightness":2}`),
		)
		time.Sleep(2 * 24 * time.Hour)
		synctest.Wait()
		want := `2026-03-29 03:00:00 CEST demo {"brightness":1}
2026-03-29 07:00:00 CEST demo {"brightness":2}
2026-03-30 02:30:00 CEST demo {"brightness":1}
2026-03-30 07:00:00 CEST demo {"brightness":2}`
		if got := times(s.take(), loc); got != want {
			t.Errorf("applied:\n%s\nwant:\n%s", got, want)
		}
	})
}

// TestRun_FallBack: on the day the clocks go from 03:00 back to 02:00, an
// entry at 02:30 fires once, the first time 02:30 comes.
func TestRun_FallBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loc := berlin(t)
		start := time.Date(2026, 10, 24, 12, 0, 0, 0, loc)
		s := runFrom(t, start, loc, start,
			entry(t, "demo", "02:30", nil, `{"brightness":1}`),
			entry(t, "demo", "02:00", nil, `{"brightness":3}`),
		)
		time.Sleep(2 * 24 * time.Hour)
		synctest.Wait()
		want := `2026-10-25 02:00:00 CEST demo {"brightness":3}
2026-10-25 02:30:00 CEST demo {"brightness":1}
2026-10-26 02:00:00 CET demo {"brightness":3}
2026-10-26 02:30:00 CET demo {"brightness":1}`
		if got := times(s.take(), loc); got != want {
			t.Errorf("applied:\n%s\nwant:\n%s", got, want)
		}
	})
}

// TestRun_StartUp: at start-up an entry that came due while the daemon was
// down applies if it is newer than the restored state, in the order they
// came due; an older one does not.
func TestRun_StartUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		restored time.Time // in Berlin, on 2026-06-03 (a Wednesday)
		want     string
	}{
		{"state older than both", time.Date(2026, 6, 2, 12, 0, 0, 0, time.UTC), `{"displayOn":true}` + "\n" + `{"brightness":5}`},
		{"state between them", time.Date(2026, 6, 3, 6, 0, 0, 0, time.UTC), `{"brightness":5}`},
		{"state newer than both", time.Date(2026, 6, 3, 7, 0, 0, 0, time.UTC), ""},
		// Without a restored state every entry's last time counts, in
		// order: the display ends as the schedule says it is now.
		{"no state", time.Time{}, `{"brightness":99}` + "\n" + `{"brightness":50}` + "\n" + `{"displayOn":true}` + "\n" + `{"brightness":5}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				loc := berlin(t)
				start := time.Date(2026, 6, 3, 10, 0, 0, 0, loc)
				s := runFrom(t, start, loc, tc.restored,
					entry(t, "demo", "08:30", nil, `{"brightness":5}`),
					entry(t, "demo", "07:00", nil, `{"displayOn":true}`),
					entry(t, "demo", "11:00", nil, `{"brightness":50}`),             // not due yet
					entry(t, "demo", "07:00", []string{"sat"}, `{"brightness":99}`), // last due on Saturday
				)
				var got []string
				for _, a := range s.take() {
					if !a.at.Equal(start) {
						t.Errorf("applied at %v, want at once", a.at)
					}
					got = append(got, a.set)
				}
				if strings.Join(got, "\n") != tc.want {
					t.Errorf("applied at start-up:\n%s\nwant:\n%s", strings.Join(got, "\n"), tc.want)
				}
			})
		})
	}
}

// TestRun_WaitsForRestore: nothing is applied before the state is
// restored.
func TestRun_WaitsForRestore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		restored := make(chan struct{})
		s := new(submissions)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go schedule.Run(ctx, schedule.Options{
			Entries:  []schedule.Entry{entry(t, "demo", "00:00", nil, `{"brightness":1}`)},
			Location: time.UTC,
			Submit:   s.submit,
			Restored: restored,
		})
		time.Sleep(3 * 24 * time.Hour)
		synctest.Wait()
		if got := s.take(); len(got) != 0 {
			t.Fatalf("%d applied before the restore", len(got))
		}
		close(restored)
		synctest.Wait()
		if got := s.take(); len(got) != 1 {
			t.Errorf("%d applied at the restore, want the one missed", len(got))
		}
	})
}

func TestParse(t *testing.T) {
	for _, s := range []string{"7:00", "24:00", "07:60", "07", "07:00:61", "a:b", "07:00:00:00", ""} {
		if _, err := schedule.ParseClock(s); err == nil {
			t.Errorf("ParseClock(%q) accepted", s)
		}
	}
	for s, want := range map[string]string{"07:00": "07:00", "23:59:30": "23:59:30", "00:00:00": "00:00"} {
		if c, err := schedule.ParseClock(s); err != nil || c.String() != want {
			t.Errorf("ParseClock(%q) = %v, %v", s, c, err)
		}
	}
	if _, err := schedule.ParseDays([]string{"mon", "Tue"}); err == nil || !strings.Contains(err.Error(), `"Tue"`) {
		t.Errorf("ParseDays with Tue: %v", err)
	}
	d, err := schedule.ParseDays([]string{"sat", "sun"})
	if err != nil || !d[time.Saturday] || !d[time.Sunday] || d[time.Monday] {
		t.Errorf("ParseDays(sat, sun) = %v, %v", d, err)
	}
}
