package state

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/atomicfile"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// PersisterOptions configure a Persister.
type PersisterOptions struct {
	// Path is the state file.
	Path string
	// Debounce is how long to wait after the last change before writing.
	Debounce time.Duration
	// MaxDelay bounds how long a change may wait for the disk while changes
	// keep coming, counted from the first change not yet written.
	MaxDelay time.Duration
	// Logger receives write failures (rate-limited) and successes at debug.
	Logger *slog.Logger
	// OnError, if set, is called after every failed write attempt.
	OnError func(error)
	// BeforeWrite, if set, is called before every write attempt, on Run's
	// goroutine (and by Probe). When it fails nothing is written and the
	// attempt counts as a failed write: logged, passed to OnError, retried
	// with backoff. The daemon keeps an unusable state file this way until
	// it has been moved aside: a file that could not be moved is never
	// written over (CONTRACT §4).
	BeforeWrite func() error
}

// Persister writes the store to the state file: debounced, never later than
// MaxDelay after the first unwritten change, atomically, and once more when
// it stops. One goroutine (Run) owns the timer and does every write.
type Persister struct {
	store *Store
	opts  PersisterOptions
	flush chan chan error
	fs    atomicfile.FS // the file system; tests interrupt writes here
	// base is the store's revision when the Persister was made: the file is
	// taken to hold that. Run starts from it rather than from the revision
	// it finds, since changes made before Run's goroutine is scheduled
	// (the restore at start-up) would otherwise never be written.
	base uint64

	mu    sync.Mutex
	stats PersistStats
}

// PersistStats counts the writes of a Persister.
type PersistStats struct {
	Writes   uint64        // successful writes
	Failures uint64        // failed write attempts
	Last     time.Duration // duration of the last successful write
	Bytes    int           // size of the last file written
	// Err says why the file cannot be written now: the error of the last
	// write attempt or Probe, if it failed; nil once a write succeeds.
	Err error
}

// retry bounds how soon a failed write is tried again.
const (
	minRetry = time.Second
	maxRetry = time.Minute
	// failureLogEvery rate-limits the error log of repeated failures.
	failureLogEvery = 30 * time.Second
)

// NewPersister returns a Persister for store; call Run to start it. Every
// change to the store from now on is written, including those made before
// Run starts.
func NewPersister(store *Store, opts PersisterOptions) *Persister {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Persister{store: store, opts: opts, fs: atomicfile.OS{}, flush: make(chan chan error), base: store.snapshot().rev}
}

// Stats returns the write counters.
func (p *Persister) Stats() PersistStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Flush writes any change not yet on disk now and returns the result. It
// returns ctx's error if Run is not running or ctx ends first.
func (p *Persister) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case p.flush <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run writes changes until ctx is done, then writes what is left and
// returns that write's error, if any.
func (p *Persister) Run(ctx context.Context) error {
	changed := p.store.Changed()
	var (
		written    = p.base  // what the file reflects
		firstDirty time.Time // first change not yet on disk
		failures   int       // failed attempts in a row
		lastLog    time.Time // last failure logged
		timer      = time.NewTimer(0)
	)
	if !timer.Stop() {
		<-timer.C
	}
	defer timer.Stop()
	write := func() error {
		snap := p.store.snapshot()
		if snap.rev == written {
			firstDirty = time.Time{}
			return nil
		}
		start := time.Now()
		n, err := p.write(snap)
		p.mu.Lock()
		p.stats.Err = err
		if err != nil {
			p.stats.Failures++
		} else {
			p.stats.Writes++
			p.stats.Last = time.Since(start)
			p.stats.Bytes = n
		}
		p.mu.Unlock()
		if err != nil {
			failures++
			if now := time.Now(); failures == 1 || now.Sub(lastLog) >= failureLogEvery {
				lastLog = now
				p.opts.Logger.Error("cannot write state file; state is kept in memory and retried",
					logkey.Path, p.opts.Path, logkey.Attempts, failures, logkey.Error, err)
			}
			if p.opts.OnError != nil {
				p.opts.OnError(err)
			}
			return err
		}
		if failures > 0 {
			p.opts.Logger.Warn("state file written again after failures", logkey.Path, p.opts.Path, logkey.FailedAttempts, failures)
		}
		failures = 0
		written = snap.rev
		firstDirty = time.Time{}
		if p.store.snapshot().rev != written {
			firstDirty = time.Now() // changed while writing: a new round starts
		}
		return nil
	}
	schedule := func() {
		now := time.Now()
		if firstDirty.IsZero() {
			firstDirty = now
		}
		due := now.Add(p.opts.Debounce)
		if limit := firstDirty.Add(p.opts.MaxDelay); limit.Before(due) {
			due = limit
		}
		if failures > 0 {
			due = now.Add(retryDelay(failures))
		}
		timer.Reset(due.Sub(now))
	}
	if p.store.snapshot().rev != written {
		schedule() // changed between NewPersister and Run
	}
	for {
		select {
		case <-ctx.Done():
			return p.finalWrite(write)
		case <-changed:
			changed = p.store.Changed()
			if failures == 0 {
				schedule()
			}
		case <-timer.C:
			if write() != nil || !firstDirty.IsZero() {
				schedule()
			}
		case reply := <-p.flush:
			err := write()
			if err != nil {
				schedule()
			}
			reply <- err
		}
	}
}

func (p *Persister) finalWrite(write func() error) error {
	if err := write(); err != nil {
		return fmt.Errorf("final write: %w", err)
	}
	return nil
}

func retryDelay(failures int) time.Duration {
	d := minRetry << min(failures-1, 16)
	return min(d, maxRetry)
}

// Probe checks now, before any change has to be written, that the state
// file can be written: BeforeWrite passes and the file's folder takes a
// new file (a temporary file is created there and removed). Its error, if
// any, is kept in Stats().Err until a write succeeds; nothing is logged or
// reported. Call it before Run, at start-up, so that a folder the daemon
// cannot write is known at once rather than at the first change.
func (p *Persister) Probe() error {
	err := p.probe()
	if err != nil {
		p.mu.Lock()
		p.stats.Err = err
		p.mu.Unlock()
	}
	return err
}

func (p *Persister) probe() error {
	if p.opts.BeforeWrite != nil {
		if err := p.opts.BeforeWrite(); err != nil {
			return err
		}
	}
	f, err := p.fs.CreateTemp(filepath.Dir(p.opts.Path), atomicfile.TempPrefix(p.opts.Path)+"*")
	if err != nil {
		return fmt.Errorf("state file's folder not writable: %w", err)
	}
	name := f.Name()
	cerr := f.Close()
	if err := p.fs.Remove(name); err != nil {
		return fmt.Errorf("state file's folder: remove test file: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("state file's folder: close test file: %w", cerr)
	}
	return nil
}

func (p *Persister) write(snap snapshot) (int, error) {
	if p.opts.BeforeWrite != nil {
		if err := p.opts.BeforeWrite(); err != nil {
			return 0, err
		}
	}
	data, err := encodeDocument(snap, time.Now())
	if err != nil {
		return 0, err
	}
	if err := atomicfile.WriteFS(p.fs, p.opts.Path, data); err != nil {
		return 0, fmt.Errorf("write %s: %w", p.opts.Path, err)
	}
	return len(data), nil
}
