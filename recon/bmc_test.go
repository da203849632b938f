package recon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/bougou/go-ipmi/pkg/command/app"
	"github.com/bougou/go-ipmi/pkg/types"
)

// fakeBMC answers like a BMC would, from raw response bytes where the
// real client unpacks them, and records what was asked.
type fakeBMC struct {
	deviceID []byte           // Get Device ID response data
	media    map[uint8]byte   // channel -> medium
	lan      map[uint8][]byte // LAN parameter selector -> data
	fail     map[string]error // method -> error
	calls    []string
	access   *app.SetUserAccessRequest
}

func (f *fakeBMC) call(name string) error {
	f.calls = append(f.calls, name)
	return f.fail[name]
}

func (f *fakeBMC) GetDeviceID(ctx context.Context) (*app.GetDeviceIDResponse, error) {
	if err := f.call("GetDeviceID"); err != nil {
		return nil, err
	}
	r := &app.GetDeviceIDResponse{}
	return r, r.Unpack(f.deviceID)
}

func (f *fakeBMC) GetChannelInfo(ctx context.Context, ch uint8) (*app.GetChannelInfoResponse, error) {
	if err := f.call(fmt.Sprintf("GetChannelInfo %d", ch)); err != nil {
		return nil, err
	}
	m, ok := f.media[ch]
	if !ok {
		return nil, errors.New("completion code 0xcc: invalid data field")
	}
	r := &app.GetChannelInfoResponse{}
	return r, r.Unpack([]byte{ch, m, 0x01, 0x80, 0xf2, 0x1b, 0x00, 0x00, 0x00})
}

func (f *fakeBMC) GetLanConfigParamFor(ctx context.Context, ch uint8, p types.LanConfigParameter) error {
	sel, _, _ := p.LanConfigParameter()
	if err := f.call(fmt.Sprintf("GetLanConfigParam %d %d", ch, sel)); err != nil {
		return err
	}
	data, ok := f.lan[uint8(sel)]
	if !ok {
		return errors.New("parameter not supported")
	}
	return p.Unpack(data)
}

func (f *fakeBMC) SetUsername(ctx context.Context, id uint8, name string) (*app.SetUsernameResponse, error) {
	return &app.SetUsernameResponse{}, f.call(fmt.Sprintf("SetUsername %d %s", id, name))
}

func (f *fakeBMC) SetUserPassword(ctx context.Context, id uint8, pw string, stored20 bool) (*app.SetUserPasswordResponse, error) {
	return &app.SetUserPasswordResponse{}, f.call(fmt.Sprintf("SetUserPassword %d %v", id, stored20))
}

func (f *fakeBMC) SetUserAccess(ctx context.Context, req *app.SetUserAccessRequest) (*app.SetUserAccessResponse, error) {
	f.access = req
	return &app.SetUserAccessResponse{}, f.call(fmt.Sprintf("SetUserAccess %d %d", req.ChannelNumber, req.UserID))
}

func (f *fakeBMC) EnableUser(ctx context.Context, id uint8) error {
	return f.call(fmt.Sprintf("EnableUser %d", id))
}

// supermicroBMC is an X11 board's BMC: firmware 1.73, IPMI 2.0,
// manufacturer 10876 (Supermicro), LAN on channel 1.
func supermicroBMC() *fakeBMC {
	return &fakeBMC{
		deviceID: []byte{0x20, 0x01, 0x01, 0x73, 0x02, 0xbf, 0x7c, 0x2a, 0x00, 0x3e, 0x09, 0x00, 0x00, 0x00, 0x00},
		media:    map[uint8]byte{1: 0x04, 6: 0x0c, 7: 0x0c},
		lan: map[uint8][]byte{
			uint8(types.LanConfigParamSelector_IP):       {10, 20, 30, 40},
			uint8(types.LanConfigParamSelector_IPSource): {0x02},
			uint8(types.LanConfigParamSelector_MAC):      {0xAC, 0x1F, 0x6B, 0x01, 0x02, 0x03},
		},
	}
}

func TestReadBMC(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeBMC)
		want    *BMC
		wantErr string
	}{
		{
			name: "supermicro",
			want: &BMC{DeviceID: 0x20, DeviceRevision: 1, Firmware: "1.73", IPMIVersion: "2.0", ManufacturerID: 10876, ProductID: 0x093e,
				LANChannel: 1, IP: "10.20.30.40", MAC: "ac:1f:6b:01:02:03", IPSource: "dhcp"},
		},
		{
			name: "LAN on channel 3 after missing and serial channels",
			setup: func(f *fakeBMC) {
				f.media = map[uint8]byte{2: 0x05, 3: 0x04, 8: 0x04}
				f.deviceID[3] = 0x45 // BCD: 2.45 style minor
				f.deviceID[2] = 0x02
				f.lan[uint8(types.LanConfigParamSelector_IPSource)] = []byte{0x01}
			},
			want: &BMC{DeviceID: 0x20, DeviceRevision: 1, Firmware: "2.45", IPMIVersion: "2.0", ManufacturerID: 10876, ProductID: 0x093e,
				LANChannel: 3, IP: "10.20.30.40", MAC: "ac:1f:6b:01:02:03", IPSource: "static"},
		},
		{
			name:  "no LAN channel: identity only",
			setup: func(f *fakeBMC) { f.media = map[uint8]byte{} },
			want:  &BMC{DeviceID: 0x20, DeviceRevision: 1, Firmware: "1.73", IPMIVersion: "2.0", ManufacturerID: 10876, ProductID: 0x093e},
		},
		{
			name: "unset address and one parameter failing",
			setup: func(f *fakeBMC) {
				f.lan[uint8(types.LanConfigParamSelector_IP)] = []byte{0, 0, 0, 0}
				delete(f.lan, uint8(types.LanConfigParamSelector_MAC))
			},
			want:    &BMC{DeviceID: 0x20, DeviceRevision: 1, Firmware: "1.73", IPMIVersion: "2.0", ManufacturerID: 10876, ProductID: 0x093e, LANChannel: 1, IPSource: "dhcp"},
			wantErr: "not supported",
		},
		{
			name:    "device id fails",
			setup:   func(f *fakeBMC) { f.fail = map[string]error{"GetDeviceID": errors.New("no response")} },
			wantErr: "no response",
		},
		{
			name:    "short device id",
			setup:   func(f *fakeBMC) { f.deviceID = f.deviceID[:5] },
			wantErr: "device id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := supermicroBMC()
			if tt.setup != nil {
				tt.setup(f)
			}
			got, err := readBMC(context.Background(), f)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want containing %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			checkStrings(t, got)
		})
	}
}

func TestReadBMCCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := supermicroBMC()
	if _, err := readBMC(ctx, f); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "GetLanConfigParam") {
			t.Errorf("%s sent after cancel", c)
		}
	}
}

func TestEnrollBMC(t *testing.T) {
	f := supermicroBMC()
	if err := enrollBMC(context.Background(), f, "outpost", 3, "s3cret-pw"); err != nil {
		t.Fatal(err)
	}
	want := []string{"GetChannelInfo 1", "SetUsername 3 outpost", "SetUserPassword 3 false", "SetUserAccess 1 3", "EnableUser 3"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls\n got %q\nwant %q", f.calls, want)
	}
	// On the wire: change bits, link auth and IPMI messaging on
	// channel 1, user 3, ADMINISTRATOR (4), no session limit.
	if got := f.access.Pack(); !bytes.Equal(got, []byte{0xb1, 0x03, 0x04, 0x00}) {
		t.Errorf("Set User Access request % x, want b1 03 04 00", got)
	}

	f = supermicroBMC()
	if err := enrollBMC(context.Background(), f, "outpost", 3, "a-20-byte-password!!"); err != nil {
		t.Fatal(err)
	}
	if f.calls[2] != "SetUserPassword 3 true" {
		t.Errorf("a 20-byte password not stored as such: %q", f.calls[2])
	}
}

func TestEnrollBMCErrors(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		id       uint8
		pw       string
		fail     map[string]error
		media    map[uint8]byte
		wantErr  string
		wantSent bool
	}{
		{name: "null user id", user: "outpost", id: 1, pw: "pw", wantErr: "user id"},
		{name: "id over 63", user: "outpost", id: 64, pw: "pw", wantErr: "user id"},
		{name: "empty name", user: "", id: 3, pw: "pw", wantErr: "user name"},
		{name: "long name", user: "a-seventeen-chars", id: 3, pw: "pw", wantErr: "user name"},
		{name: "name with space", user: "out post", id: 3, pw: "pw", wantErr: "printable"},
		{name: "empty password", user: "outpost", id: 3, pw: "", wantErr: "password"},
		{name: "long password", user: "outpost", id: 3, pw: "a-21-byte-password!!!", wantErr: "password"},
		{name: "NUL in password", user: "outpost", id: 3, pw: "a\x00b", wantErr: "NUL"},
		{name: "no LAN channel", user: "outpost", id: 3, pw: "pw", media: map[uint8]byte{}, wantErr: "no LAN channel", wantSent: true},
		{name: "access refused", user: "outpost", id: 3, pw: "pw", fail: map[string]error{"SetUserAccess 1 3": errors.New("cc 0xd4")}, wantErr: "set user access", wantSent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := supermicroBMC()
			f.fail = tt.fail
			if tt.media != nil {
				f.media = tt.media
			}
			err := enrollBMC(context.Background(), f, tt.user, tt.id, tt.pw)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want containing %q", err, tt.wantErr)
			}
			if err != nil && tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
				t.Errorf("error %q reveals the password", err)
			}
			if sent := len(f.calls) > 0; sent != tt.wantSent {
				t.Errorf("commands sent: %q", f.calls)
			}
		})
	}
}

func TestSetLAN(t *testing.T) {
	var b BMC
	setLAN(&b, 8, net.ParseIP("::1"), types.IPAddressSourceUnspecified, net.HardwareAddr{1, 2, 3})
	if want := (BMC{LANChannel: 8}); b != want {
		t.Errorf("got %+v, want %+v", b, want)
	}
}

// EnrollBMC checks its arguments before it touches /dev/ipmi0.
func TestEnrollBMCValidatesFirst(t *testing.T) {
	err := EnrollBMC(context.Background(), "outpost", 1, "pw")
	if err == nil || !strings.Contains(err.Error(), "user id") {
		t.Errorf("err = %v, want a user id error", err)
	}
}
