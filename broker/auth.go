package broker

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"

	mochi "github.com/mochi-mqtt/server/v2"
	"golang.org/x/crypto/bcrypt"
)

// DaemonUsername is the username of the daemon's own connection to the
// embedded broker. Configured users may not take it.
const DaemonUsername = "pidicon-mqtt-daemon"

// Login refusals of the embedded broker, for its log.
var (
	ErrAnonymous     = errors.New("anonymous clients are not allowed (the broker has users)")
	ErrUnknownUser   = errors.New("unknown user")
	ErrWrongPassword = errors.New("wrong password")
	// ErrDaemonOnly refuses a client that uses the daemon's client id or
	// username without the daemon's secret, or from another machine: it
	// would take over the daemon's session or pose as the daemon.
	ErrDaemonOnly = errors.New("the client id and username of the daemon are reserved for the daemon itself")
)

// User is a login of the embedded broker. Exactly one of Password and
// PasswordHash is set.
type User struct {
	Username string
	// Password is the password in clear (read from the environment or a
	// file, or written in the config).
	Password string
	// PasswordHash is a bcrypt hash of the password.
	PasswordHash []byte
}

// Check reports whether password is the user's: a bcrypt comparison for
// a hash (slow by design), else a constant-time one. The web page's logins
// (http.users) use it too.
func (u User) Check(password []byte) bool {
	if len(u.PasswordHash) > 0 {
		return bcrypt.CompareHashAndPassword(u.PasswordHash, password) == nil
	}
	return subtle.ConstantTimeCompare([]byte(u.Password), password) == 1
}

// CheckPasswordHash reports whether hash is a bcrypt hash the broker can use.
func CheckPasswordHash(hash string) error {
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("not a bcrypt hash ($2a$, $2b$ or $2y$): %w", err)
	}
	return nil
}

// HashPassword returns a bcrypt hash of password, for broker.users.
func HashPassword(password []byte) (string, error) {
	h, err := bcrypt.GenerateFromPassword(password, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// daemonLogin is the daemon's own identity on the embedded broker: its
// client id and a secret generated at start-up that never leaves the
// process. A connection is the daemon's only with both, on the plain TCP
// listener, from this machine.
type daemonLogin struct {
	clientID string
	password string
}

func newDaemonLogin(clientID string) (*daemonLogin, error) {
	if clientID == "" {
		return nil, nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate the daemon's broker password: %w", err)
	}
	return &daemonLogin{clientID: clientID, password: hex.EncodeToString(secret)}, nil
}

// claims reports whether a connection presents itself as the daemon.
func (d *daemonLogin) claims(cl *mochi.Client, username string) bool {
	return d != nil && (cl.ID == d.clientID || username == DaemonUsername)
}

// verify checks a connection that claims to be the daemon.
func (d *daemonLogin) verify(cl *mochi.Client, username string, password []byte, listener string) error {
	if !d.matches(cl.ID, username, password, cl.Net.Listener, listener, cl.Net.Conn) {
		return ErrDaemonOnly
	}
	return nil
}

// matches reports whether a login is the daemon's: its client id,
// username and secret, on the daemon's listener, from this machine.
func (d *daemonLogin) matches(clientID, username string, password []byte, on, listener string, conn net.Conn) bool {
	return d != nil && clientID == d.clientID && username == DaemonUsername &&
		subtle.ConstantTimeCompare([]byte(d.password), password) == 1 &&
		on == listener && fromThisMachine(conn)
}

// is reports whether an authenticated client is the daemon. Only the
// daemon can have connected with both its client id and its username.
func (d *daemonLogin) is(cl *mochi.Client) bool {
	return d != nil && cl.ID == d.clientID && string(cl.Properties.Username) == DaemonUsername
}

// fromThisMachine reports whether a client connected from loopback or from
// the address it connected to (the daemon dialling the broker's own
// non-loopback address).
func fromThisMachine(conn net.Conn) bool {
	if conn == nil {
		return false
	}
	remote := hostOf(conn.RemoteAddr())
	if remote == nil {
		return false
	}
	return remote.IsLoopback() || remote.Equal(hostOf(conn.LocalAddr()))
}

func hostOf(a net.Addr) net.IP {
	if a == nil {
		return nil
	}
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}
