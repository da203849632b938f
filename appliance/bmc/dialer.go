package bmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/rmcpplus"
)

// Dialer opens BMC sessions and remembers, per host:port, which Strategy
// worked so the next connection skips the failed probes. Share one Dialer.
type Dialer struct {
	opts Options

	mu    sync.Mutex
	known map[string]Strategy
}

// NewDialer returns a Dialer; zero Options fields take defaults.
func NewDialer(opts Options) *Dialer {
	return &Dialer{opts: opts.withDefaults(), known: map[string]Strategy{}}
}

// Known reports the strategy that last worked for host:port.
func (d *Dialer) Known(host string, port int) (Strategy, bool) {
	return d.known1(Creds{Host: host, Port: port}.hostPort())
}

func (d *Dialer) known1(key string) (Strategy, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.known[key]
	return s, ok
}

func (d *Dialer) remember(key string, s Strategy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.known[key] = s
}

// Dial connects to the BMC and returns a Client holding the session. On
// failure the error is a *ConnectError listing every attempt.
func (d *Dialer) Dial(ctx context.Context, creds Creds) (*Client, error) {
	if creds.Host == "" {
		return nil, fmt.Errorf("%w: empty BMC host", ErrInvalid)
	}
	if len(creds.User) > rmcpplus.MaxUserNameLength {
		return nil, fmt.Errorf("%w: user name longer than %d bytes", ErrInvalid, rmcpplus.MaxUserNameLength)
	}
	c := &Client{d: d, creds: creds, log: d.opts.Logger.With(slog.Any("bmc", creds))}
	ic, s, err := d.connect(ctx, creds, c.log)
	if err != nil {
		return nil, err
	}
	c.ic, c.strategy = ic, s
	return c, nil
}

// connect walks the strategies in rounds. Within a round a strategy the BMC
// refused is dropped for good; a BMC that does not answer at all ends the
// round early, because every strategy starts with the same packet.
func (d *Dialer) connect(ctx context.Context, creds Creds, log *slog.Logger) (*client.Client, Strategy, error) {
	key := creds.hostPort()
	order := orderStrategies(d.known1(key))
	red := redactor(creds.Password)
	cerr := &ConnectError{Target: creds.String()}
	refused := map[Strategy]bool{}
	answered := false

	for round := 1; round <= d.opts.Attempts; round++ {
		if round > 1 {
			wait := backoffFor(d.opts, round)
			log.Debug("bmc: backing off before next connection round", "round", round, "wait", wait)
			if err := sleep(ctx, d.opts.Clock, wait); err != nil {
				cerr.Kind = err
				return nil, Strategy{}, cerr
			}
		}
		again := false
	strategies:
		for _, s := range order {
			if refused[s] {
				continue
			}
			start := d.opts.Clock.Now()
			ic, err := d.attempt(ctx, creds, s)
			elapsed := d.opts.Clock.Now().Sub(start)
			if err == nil {
				d.remember(key, s)
				if s != order[0] || round > 1 {
					log.Info("bmc: connected after fallback", "strategy", s.String(), "round", round)
				}
				return ic, s, nil
			}
			kind, retry := classify(err)
			if ctx.Err() != nil {
				kind, retry = ctx.Err(), false
			}
			a := Attempt{Round: round, Strategy: s, Elapsed: elapsed, Kind: kind, Err: red.text(err)}
			cerr.Attempts = append(cerr.Attempts, a)
			log.Warn("bmc: connection attempt failed", "round", round, "strategy", s.String(), "kind", kindText(kind), "err", a.Err)

			switch {
			case kind == ErrAuth || ctx.Err() != nil:
				cerr.Kind = kind
				return nil, Strategy{}, cerr
			case kind == ErrUnreachable:
				again = true
				break strategies
			default:
				answered = true
				if retry {
					again = true
				} else {
					refused[s] = true
				}
			}
		}
		if !again {
			break
		}
	}
	cerr.Kind = ErrUnreachable
	if answered {
		cerr.Kind = ErrNegotiation
	}
	return nil, Strategy{}, cerr
}

// attempt makes one connection try, bounded by opts.Timeout.
func (d *Dialer) attempt(ctx context.Context, creds Creds, s Strategy) (*client.Client, error) {
	ic, err := client.NewClient(creds.Host, creds.port(), creds.User, creds.Password)
	if err != nil {
		return nil, err
	}
	// We retry ourselves: go-ipmi's retries would multiply our timeout.
	ic.WithTimeout(d.opts.Timeout).WithRetry(0)
	switch s.Interface {
	case Lan:
		ic.WithInterface(client.InterfaceLan)
	default:
		ic.WithInterface(client.InterfaceLanplus).WithCipherSuiteID(s.cipherSuite())
	}

	actx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	err = ic.Connect(actx)
	if err == nil {
		return ic, nil
	}
	discard(ctx, ic)
	if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("no complete handshake within %s: %w", d.opts.Timeout, err)
	}
	return nil, err
}

// discard drops a go-ipmi client without waiting on the BMC: its Close would
// send Close Session, which a dead BMC never answers. A pre-cancelled context
// makes that a no-op while still closing the UDP socket. When the caller has
// given up, go-ipmi may still hold its socket lock for one read timeout, so
// the socket is closed in the background rather than delaying the return.
func discard(ctx context.Context, ic *client.Client) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if ctx.Err() != nil {
		go func() { _ = ic.Close(done) }()
		return
	}
	_ = ic.Close(done)
}

// backoffFor is the pause before round: Backoff, doubling, capped.
func backoffFor(o Options, round int) time.Duration {
	if round <= 1 {
		return 0
	}
	wait := o.Backoff
	for i := 2; i < round && wait < o.MaxBackoff; i++ {
		wait *= 2
	}
	return min(wait, o.MaxBackoff)
}
