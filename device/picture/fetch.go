package picture

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The Fetcher's defaults.
const (
	// FetchTimeout bounds a fetch, body included, unless Fetcher.Timeout
	// says otherwise.
	FetchTimeout = 5 * time.Second
	// maxRedirects is how many redirects a fetch follows.
	maxRedirects = 3
)

// Fetcher gets an image's file from an http or https URL. The zero Fetcher
// uses its defaults.
type Fetcher struct {
	// Client sends the requests; nil means a client of the fetch's own
	// that ignores proxy settings and keeps no connection. Its redirect
	// policy, if any, is asked after the Fetcher's own.
	Client *http.Client
	// Timeout bounds the whole fetch; zero means FetchTimeout.
	Timeout time.Duration
	// MaxBytes caps the file; zero means MaxFetch.
	MaxBytes int64
}

// Fetch returns the file at rawURL: an http or https URL (also after each
// of at most 3 redirects) answering 200 with an image/* content type and
// at most MaxBytes bytes, counted as they arrive whatever Content-Length
// says. The error wraps ErrFetch (bad URL, no answer in time, another
// status), ErrNotImage (another content type) or ErrTooLarge. The file is
// not decoded: Decode or Store.Put does that.
func (f Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, u.Redacted(), err)
	}
	where := u.Redacted()
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = FetchTimeout
	}
	limit := f.MaxBytes
	if limit <= 0 {
		limit = MaxFetch
	}
	errSlow := fmt.Errorf("%w: %s: no complete answer within %v: %w", ErrFetch, where, timeout, context.DeadlineExceeded)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errSlow)
	defer cancel()
	// slow tells a failure the fetch's own timeout caused.
	slow := func(err error) error {
		if errors.Is(context.Cause(ctx), errSlow) {
			return errSlow
		}
		return err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, where, err)
	}
	req.Header.Set("Accept", "image/png, image/gif, image/jpeg, image/*;q=0.8")
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, slow(fmt.Errorf("%w: %w", ErrFetch, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: status %s", ErrFetch, where, resp.Status)
	}
	contentType := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || !strings.HasPrefix(mt, "image/") {
		return nil, fmt.Errorf("%w: %s: content type %q, want image/*", ErrNotImage, where, contentType)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %s: %d bytes, more than %d", ErrTooLarge, where, resp.ContentLength, limit)
	}
	data, err := readAll(resp.Body, limit)
	switch {
	case errors.Is(err, ErrTooLarge):
		return nil, fmt.Errorf("%s: %w", where, err)
	case err != nil:
		return nil, slow(fmt.Errorf("%w: %s: read body: %w", ErrFetch, where, err))
	}
	return data, nil
}

// checkURL refuses a URL the daemon does not fetch.
func checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// client returns the client to send with: the Fetcher's, or one of its
// own, with the redirect policy.
func (f Fetcher) client() *http.Client {
	var c http.Client
	if f.Client != nil {
		c = *f.Client
	} else {
		c.Transport = &http.Transport{
			DialContext:            (&net.Dialer{}).DialContext,
			DisableKeepAlives:      true,
			MaxResponseHeaderBytes: 64 << 10,
		}
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		if err := checkURL(req.URL); err != nil {
			return fmt.Errorf("redirect to %s: %w", req.URL.Redacted(), err)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &c
}
