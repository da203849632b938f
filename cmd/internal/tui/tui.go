// Package tui is outpost's terminal UI: a dashboard of the box (machine
// counts, active jobs, alerts, recent boot events and the HQ link), a
// machines screen with search and a detail view with the timeline and
// actions, and a jobs screen. It talks only to outpostd, through
// cmd/internal/client, polling every two seconds; it needs no WAN.
package tui

import (
	"context"
	"io"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

// Options configure the UI.
type Options struct {
	Client *client.Client
	// Renderer styles the output; nil uses one for stdout.
	Renderer *lipgloss.Renderer
	// OnLogin, if set, keeps a session token after a login on the
	// login screen.
	OnLogin func(r client.LoginResult) error
	// Interval is how often the UI polls; 0 is 2 s.
	Interval time.Duration
	// User fills the login screen's user field.
	User string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Run runs the UI on a terminal until the user quits.
func Run(ctx context.Context, o Options, in io.Reader, out io.Writer) error {
	if o.Renderer == nil {
		o.Renderer = lipgloss.NewRenderer(out)
	}
	p := tea.NewProgram(New(o), tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	_, err := p.Run()
	return err
}

type screen int

const (
	screenLogin screen = iota
	screenDashboard
	screenMachines
	screenJobs
)

// Model is the UI's state. Its methods run on bubbletea's goroutine;
// fetches run in commands and come back as messages.
type Model struct {
	o      Options
	c      *client.Client
	st     styles
	width  int
	height int

	screen  screen
	help    bool
	started bool // a whoami answered: the user is known
	user    appliance.User
	site    string

	login loginForm

	// Polled data.
	data     snapshot
	polled   time.Time
	pollErr  error
	inflight bool

	// Machines screen.
	query     string // the search applied
	typing    bool   // typing a search after '/'
	input     string
	found     []appliance.Machine
	searched  bool
	cursor    int
	searchErr error

	// Jobs screen.
	jobCursor int

	// Machine detail, over the machines screen.
	detail *detail

	// A pending action: reason input, then y/n.
	pending *action

	// The last action's outcome.
	status    string
	statusErr bool
}

// snapshot is one poll's worth of data.
type snapshot struct {
	machines []appliance.Machine
	jobs     map[int64]appliance.Job
	jobAfter int64 // jobs with larger IDs are not known yet
	policies client.Policies
	sync     client.SyncStatus
	syncErr  error
	events   []bootEvent
}

type bootEvent struct {
	time    time.Time
	mac     string
	machine string
	kind    string
	summary string
}

type detail struct {
	id       int64
	m        appliance.Machine
	timeline []appliance.TimelineEntry
	job      *appliance.Job
	err      error
	scroll   int // lines scrolled up from the end of the timeline
	loaded   bool
}

type action struct {
	kind     string // recycle, power, freeze, unfreeze
	m        appliance.Machine
	question string
	// needReason asks for a reason before the question.
	needReason bool
	reason     string
	busy       bool
}

type loginForm struct {
	user, password string
	field          int // 0 user, 1 password
	err            string
	busy           bool
}

// New makes the model.
func New(o Options) *Model {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Renderer == nil {
		o.Renderer = lipgloss.DefaultRenderer()
	}
	m := &Model{o: o, c: o.Client, st: newStyles(o.Renderer), width: 80, height: 24, screen: screenDashboard}
	m.login.user = o.User
	if o.User != "" {
		m.login.field = 1
	}
	m.data.jobs = map[int64]appliance.Job{}
	if !m.c.IsSocket() && m.c.Token() == "" {
		m.screen = screenLogin
	}
	return m
}

// Messages from commands.
type (
	whoamiMsg struct {
		u      appliance.User
		health client.Health
		err    error
	}
	loginMsg struct {
		r   client.LoginResult
		err error
	}
	pollMsg struct {
		s   snapshot
		err error
	}
	tickMsg   struct{}
	searchMsg struct {
		query string
		ms    []appliance.Machine
		err   error
	}
	detailMsg struct {
		d *detail
	}
	actionMsg struct {
		text string
		err  error
		id   int64
	}
)

// Init asks who we are, unless a login comes first.
func (m *Model) Init() tea.Cmd {
	if m.screen == screenLogin {
		return nil
	}
	return m.whoami()
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case tea.KeyMsg:
		return m.key(msg)
	case whoamiMsg:
		if msg.err != nil {
			if client.StatusOf(msg.err) == 401 {
				m.screen = screenLogin
				m.login.err = msg.err.Error()
				return m, nil
			}
			// outpostd away: say so and try again.
			m.pollErr = msg.err
			return m, tea.Tick(m.o.Interval, func(time.Time) tea.Msg { return retryMsg{} })
		}
		m.user, m.site, m.started, m.pollErr = msg.u, msg.health.Site, true, nil
		if m.screen == screenLogin {
			m.screen = screenDashboard
		}
		return m, tea.Batch(m.poll(), m.tick())
	case retryMsg:
		return m, m.whoami()
	case loginMsg:
		m.login.busy = false
		if msg.err != nil {
			m.login.err = msg.err.Error()
			m.login.password = ""
			return m, nil
		}
		m.login.err, m.login.password = "", ""
		if m.o.OnLogin != nil {
			if err := m.o.OnLogin(msg.r); err != nil {
				m.setStatus("logged in, but the token was not kept: "+err.Error(), true)
			}
		}
		m.screen = screenDashboard
		return m, m.whoami()
	case tickMsg:
		var cmds []tea.Cmd
		if !m.inflight {
			cmds = append(cmds, m.poll())
		}
		if m.detail != nil && m.pending == nil {
			cmds = append(cmds, m.loadDetail(m.detail.id, m.detail.scroll))
		}
		if m.screen == screenMachines && m.detail == nil && m.searched {
			// Keep the list's states fresh; the search stays as typed.
			cmds = append(cmds, m.search(m.query))
		}
		return m, tea.Batch(append(cmds, m.tick())...)
	case pollMsg:
		m.inflight = false
		m.pollErr = msg.err
		if msg.err == nil {
			m.data = msg.s
			m.polled = m.o.Now()
		} else if client.StatusOf(msg.err) == 401 {
			m.screen = screenLogin
			m.login.err = "session ended: " + msg.err.Error()
		}
		return m, nil
	case searchMsg:
		if msg.query != m.query {
			return m, nil // an older search
		}
		m.found, m.searchErr, m.searched = msg.ms, msg.err, true
		m.cursor = min(m.cursor, max(0, len(m.found)-1))
		return m, nil
	case detailMsg:
		if m.detail != nil && m.detail.id == msg.d.id {
			msg.d.scroll = m.detail.scroll
			m.detail = msg.d
		}
		return m, nil
	case actionMsg:
		m.pending = nil
		if msg.err != nil {
			m.setStatus(msg.err.Error(), true)
		} else {
			m.setStatus(msg.text, false)
		}
		var cmds []tea.Cmd
		if m.detail != nil {
			cmds = append(cmds, m.loadDetail(m.detail.id, 0))
		}
		if !m.inflight {
			cmds = append(cmds, m.poll())
		}
		return m, tea.Batch(cmds...)
	}
	return m, nil
}

type retryMsg struct{}

func (m *Model) setStatus(s string, isErr bool) {
	m.status, m.statusErr = s, isErr
}

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.o.Interval, func(time.Time) tea.Msg { return tickMsg{} })
}

// key handles a key press, most specific mode first.
func (m *Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.Type == tea.KeyCtrlC {
		return m, tea.Quit
	}
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 && !m.inTextField() {
		// Keys typed fast arrive together: take them one by one, since
		// one of them may open a text field for the rest ("/web").
		var cmds []tea.Cmd
		for _, r := range k.Runes {
			_, c := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: k.Alt})
			cmds = append(cmds, c)
		}
		return m, tea.Batch(cmds...)
	}
	if m.screen == screenLogin {
		return m.loginKey(k)
	}
	if m.pending != nil {
		return m.pendingKey(k)
	}
	if m.typing {
		return m.searchKey(k)
	}
	if m.help {
		m.help = false
		return m, nil
	}
	switch k.String() {
	case "q":
		return m, tea.Quit
	case "?":
		m.help = true
		return m, nil
	case "tab":
		m.detail, m.status = nil, ""
		m.screen = screenDashboard + (m.screen-screenDashboard+1)%3
		return m, m.enterScreen()
	case "shift+tab":
		m.detail, m.status = nil, ""
		m.screen = screenDashboard + (m.screen-screenDashboard+2)%3
		return m, m.enterScreen()
	case "1", "2", "3":
		m.detail, m.status = nil, ""
		m.screen = screenDashboard + screen(k.String()[0]-'1')
		return m, m.enterScreen()
	}
	switch {
	case m.detail != nil:
		return m.detailKey(k)
	case m.screen == screenMachines:
		return m.machinesKey(k)
	case m.screen == screenJobs:
		return m.jobsKey(k)
	}
	return m, nil
}

// inTextField reports whether keys are being typed into a field.
func (m *Model) inTextField() bool {
	return m.screen == screenLogin || m.typing || m.pending != nil && m.pending.needReason
}

func (m *Model) enterScreen() tea.Cmd {
	if m.screen == screenMachines && !m.searched {
		return m.search(m.query)
	}
	return nil
}

func (m *Model) loginKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.login.busy {
		return m, nil
	}
	f := &m.login.user
	if m.login.field == 1 {
		f = &m.login.password
	}
	switch k.Type {
	case tea.KeyTab, tea.KeyShiftTab, tea.KeyUp, tea.KeyDown:
		m.login.field = 1 - m.login.field
	case tea.KeyEnter:
		if m.login.field == 0 {
			m.login.field = 1
			return m, nil
		}
		if m.login.user == "" {
			m.login.err, m.login.field = "enter a user name", 0
			return m, nil
		}
		m.login.busy, m.login.err = true, ""
		return m, m.doLogin(m.login.user, m.login.password)
	case tea.KeyEsc:
		return m, tea.Quit
	default:
		edit(f, k)
	}
	return m, nil
}

// edit applies a key to a one-line text field.
func edit(f *string, k tea.KeyMsg) {
	switch k.Type {
	case tea.KeyBackspace:
		if r := []rune(*f); len(r) > 0 {
			*f = string(r[:len(r)-1])
		}
	case tea.KeyCtrlU:
		*f = ""
	case tea.KeyRunes, tea.KeySpace:
		*f += string(k.Runes)
	}
}

func (m *Model) searchKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.Type {
	case tea.KeyEnter:
		m.typing = false
		m.query = strings.TrimSpace(m.input)
		m.cursor, m.searched = 0, false
		return m, m.search(m.query)
	case tea.KeyEsc:
		m.typing = false
		m.input = m.query
	default:
		edit(&m.input, k)
	}
	return m, nil
}

func (m *Model) machinesKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.String() {
	case "/":
		m.typing, m.input = true, m.query
	case "esc":
		if m.query != "" {
			m.query, m.input, m.cursor, m.searched = "", "", 0, false
			return m, m.search("")
		}
	case "up", "k":
		m.cursor = max(0, m.cursor-1)
	case "down", "j":
		m.cursor = min(max(0, len(m.found)-1), m.cursor+1)
	case "pgup":
		m.cursor = max(0, m.cursor-m.listRows())
	case "pgdown":
		m.cursor = min(max(0, len(m.found)-1), m.cursor+m.listRows())
	case "home", "g":
		m.cursor = 0
	case "end", "G":
		m.cursor = max(0, len(m.found)-1)
	case "r":
		m.searched = false
		return m, m.search(m.query)
	case "enter":
		if m.cursor < len(m.found) {
			id := m.found[m.cursor].ID
			m.detail = &detail{id: id, m: m.found[m.cursor]}
			m.status = ""
			return m, m.loadDetail(id, 0)
		}
	}
	return m, nil
}

func (m *Model) jobsKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	n := len(m.jobList())
	switch k.String() {
	case "up", "k":
		m.jobCursor = max(0, m.jobCursor-1)
	case "down", "j":
		m.jobCursor = min(max(0, n-1), m.jobCursor+1)
	}
	return m, nil
}

func (m *Model) detailKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	d := m.detail
	switch k.String() {
	case "esc", "backspace", "left", "h":
		m.detail = nil
		m.status = ""
		if !m.searched {
			return m, m.search(m.query)
		}
		return m, nil
	case "up", "k":
		d.scroll++
	case "down", "j":
		d.scroll = max(0, d.scroll-1)
	case "pgup":
		d.scroll += 10
	case "pgdown":
		d.scroll = max(0, d.scroll-10)
	case "home", "g":
		d.scroll = len(d.timeline)
	case "end", "G":
		d.scroll = 0
	case "r":
		m.pending = &action{kind: "recycle", m: d.m, question: "Recycle " + machineName(d.m) + ", wiping its disks?"}
	case "p":
		m.pending = &action{kind: "power", m: d.m, question: "Power cycle " + machineName(d.m) + "?"}
	case "f":
		if d.m.State == appliance.StateFrozen {
			m.setStatus(machineName(d.m)+" is already frozen", true)
			return m, nil
		}
		m.pending = &action{kind: "freeze", m: d.m, needReason: true, question: "Freeze " + machineName(d.m) + "?"}
	case "u":
		if d.m.State != appliance.StateFrozen {
			m.setStatus(machineName(d.m)+" is not frozen", true)
			return m, nil
		}
		m.pending = &action{kind: "unfreeze", m: d.m, question: "Unfreeze " + machineName(d.m) + ", back to " + string(d.m.FrozenFrom) + "?"}
	}
	d.scroll = min(d.scroll, max(0, len(d.timeline)-1))
	return m, nil
}

func (m *Model) pendingKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := m.pending
	if p.busy {
		return m, nil
	}
	if p.needReason {
		switch k.Type {
		case tea.KeyEsc:
			m.pending = nil
		case tea.KeyEnter:
			if strings.TrimSpace(p.reason) == "" {
				m.setStatus("a freeze needs a reason", true)
				return m, nil
			}
			p.needReason = false
			p.question = strings.TrimSuffix(p.question, "?") + " (" + p.reason + ")?"
			m.status = ""
		default:
			edit(&p.reason, k)
		}
		return m, nil
	}
	switch k.String() {
	case "y", "Y":
		p.busy = true
		return m, m.runAction(*p)
	case "n", "N", "esc", "q":
		m.pending = nil
		m.setStatus("cancelled; nothing done", false)
	}
	return m, nil
}

func machineName(m appliance.Machine) string {
	s := "machine " + itoa(m.ID) + " (" + m.Serial
	if m.Hostname != "" {
		s += ", " + m.Hostname
	}
	return s + ")"
}
