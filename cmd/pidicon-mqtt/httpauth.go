package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pidicon/pidicon-mqtt/broker"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/internal/lograte"
)

// Bounds of the password checks of the web page's logins.
const (
	// passwordChecks is how many run at once: bcrypt takes tens of
	// milliseconds of CPU by design, and a flood of wrong passwords must
	// not take the daemon's CPU.
	passwordChecks = 2
	// checkedLogins is how many checked logins are remembered, so that the
	// page's requests (a frame a second per display) do not each cost a
	// bcrypt check.
	checkedLogins = 256
)

// webAccess decides who may use the web page and its API (CONTRACT §9):
// logins (http.users) when there are any; otherwise anyone on a loopback
// address (by its own name only, against DNS rebinding), or anyone at all
// with http.allow_anonymous, and a 403 that says how to enable the page on
// an address other machines reach. /healthz and /metrics never pass
// through it.
type webAccess struct {
	listen    string
	loopback  bool
	users     map[string]broker.User
	anonymous bool
	log       *slog.Logger

	checking chan struct{} // a slot per password check running
	key      [32]byte      // keys the checked logins: never a password in memory longer than needed
	mu       sync.Mutex
	checked  map[[sha256.Size]byte]struct{}

	refusedLog lograte.Limiter
	refused    atomic.Uint64
}

func newWebAccess(cfg HTTPConfig, users []broker.User, log *slog.Logger) *webAccess {
	host, _, _ := net.SplitHostPort(cfg.Listen)
	a := &webAccess{
		listen:     cfg.Listen,
		loopback:   isLoopback(host),
		users:      make(map[string]broker.User, len(users)),
		anonymous:  cfg.AllowAnonymous,
		log:        log,
		checking:   make(chan struct{}, passwordChecks),
		checked:    make(map[[sha256.Size]byte]struct{}),
		refusedLog: lograte.Limiter{Every: time.Second},
	}
	for _, u := range users {
		a.users[u.Username] = u
	}
	rand.Read(a.key[:]) // never fails (crypto/rand)
	return a
}

// warn logs, at every start, a set-up that leaves the page off or open to
// the network.
func (a *webAccess) warn() {
	switch {
	case len(a.users) > 0:
	case a.anonymous && !a.loopback:
		a.log.Warn("http.allow_anonymous is on: anyone who reaches the web page may control the displays", logkey.Address, a.listen)
	case !a.loopback:
		a.log.Warn("the web page answers 403: "+a.offReason(), logkey.Address, a.listen)
	}
}

func (a *webAccess) offReason() string {
	return fmt.Sprintf("http.listen %s is reachable from other machines and http.users is empty. "+
		"Add http.users (\"pidicon-mqtt hash-password\" makes a password hash), listen on 127.0.0.1, "+
		"or set http.allow_anonymous: true if anyone on the network may control the displays", a.listen)
}

// guard lets through the requests that may use the page.
func (a *webAccess) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, hasLogin := r.BasicAuth()
		switch {
		case len(a.users) > 0 && hasLogin:
			if !a.login(r.Context(), user, password) {
				a.refuse(r, user)
				a.challenge(w, "wrong username or password")
				return
			}
		case len(a.users) > 0 && !a.anonymous:
			a.challenge(w, "log in with one of http.users")
			return
		case a.anonymous:
		case !a.loopback:
			deny(w, "The web page is off: "+a.offReason()+". /healthz and /metrics answer anyway.")
			return
		case !localName(r.Host):
			deny(w, fmt.Sprintf("This page answers to its local address only, not to the name %q: open http://%s/, "+
				"or set http.users (or http.allow_anonymous) to serve it under other names.", r.Host, a.listen))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// login reports whether password is user's.
func (a *webAccess) login(ctx context.Context, user, password string) bool {
	u, ok := a.users[user]
	if !ok {
		return false
	}
	mac := hmac.New(sha256.New, a.key[:])
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	var sum [sha256.Size]byte
	copy(sum[:], mac.Sum(nil))
	a.mu.Lock()
	_, known := a.checked[sum]
	a.mu.Unlock()
	if known {
		return true
	}
	select {
	case a.checking <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	ok = u.Check([]byte(password))
	<-a.checking
	if ok {
		a.mu.Lock()
		if len(a.checked) >= checkedLogins {
			clear(a.checked)
		}
		a.checked[sum] = struct{}{}
		a.mu.Unlock()
	}
	return ok
}

// refuse counts and logs (at most a line a second) a refused login, never
// its password.
func (a *webAccess) refuse(r *http.Request, user string) {
	a.refused.Add(1)
	if ok, suppressed := a.refusedLog.Allow(time.Now()); ok {
		a.log.Warn("web page login refused", logkey.Username, user, logkey.Remote, r.RemoteAddr, logkey.NotLoggedSince, suppressed)
	}
}

// challenge asks the browser for a login.
func (a *webAccess) challenge(w http.ResponseWriter, why string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="pidicon-mqtt", charset="UTF-8"`)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, "401 Unauthorized: %s\n", why)
}

func deny(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, "403 Forbidden: %s\n", why)
}

// localName reports whether a request's Host names this machine's loopback:
// localhost or a loopback address. A page of another site that points its
// own name at 127.0.0.1 (DNS rebinding) sends its own name.
func localName(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return isLoopback(strings.Trim(host, "[]")) || strings.HasSuffix(host, ".localhost")
}
