package recon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/app"
	"github.com/bougou/go-ipmi/pkg/types"
)

// ipmiCmdTimeout bounds each in-band IPMI command: the kernel driver
// ignores contexts, and a wedged BMC must not stall recon for long.
const ipmiCmdTimeout = 5 * time.Second

// ErrNoLANChannel is returned when the BMC has no 802.3 LAN channel.
const ErrNoLANChannel = constError("ipmi: no LAN channel")

// ipmiConn is the part of the go-ipmi client recon uses, so the logic
// can be tested without a BMC.
type ipmiConn interface {
	GetDeviceID(ctx context.Context) (*app.GetDeviceIDResponse, error)
	GetChannelInfo(ctx context.Context, channel uint8) (*app.GetChannelInfoResponse, error)
	GetLanConfigParamFor(ctx context.Context, channel uint8, param types.LanConfigParameter) error
	SetUsername(ctx context.Context, userID uint8, username string) (*app.SetUsernameResponse, error)
	SetUserPassword(ctx context.Context, userID uint8, password string, stored20 bool) (*app.SetUserPasswordResponse, error)
	SetUserAccess(ctx context.Context, req *app.SetUserAccessRequest) (*app.SetUserAccessResponse, error)
	EnableUser(ctx context.Context, userID uint8) error
}

// openBMC connects to the BMC through the kernel's IPMI driver
// (/dev/ipmi0; needs the ipmi_si and ipmi_devintf modules).
func openBMC(ctx context.Context) (*client.Client, error) {
	c, err := client.NewOpenClient()
	if err != nil {
		return nil, fmt.Errorf("ipmi: %w", err)
	}
	c.WithTimeout(ipmiCmdTimeout)
	if err := c.Connect(ctx); err != nil {
		return nil, fmt.Errorf("ipmi: %w", err)
	}
	return c, nil
}

// ReadBMC asks the local BMC who it is and how its first LAN channel is
// configured. A BMC without a LAN channel is reported without address.
func ReadBMC(ctx context.Context) (*BMC, error) {
	c, err := openBMC(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return readBMC(ctx, c)
}

func readBMC(ctx context.Context, c ipmiConn) (*BMC, error) {
	id, err := c.GetDeviceID(ctx)
	if err != nil {
		return nil, fmt.Errorf("ipmi: get device id: %w", err)
	}
	b := bmcFromDeviceID(id)
	ch, err := lanChannel(ctx, c)
	if errors.Is(err, ErrNoLANChannel) {
		return &b, nil
	}
	if err != nil {
		return &b, err
	}
	var (
		ip  types.LanConfigParam_IP
		src types.LanConfigParam_IPSource
		mac types.LanConfigParam_MAC
	)
	var errs []error
	for _, p := range []types.LanConfigParameter{&ip, &src, &mac} {
		if err := ctx.Err(); err != nil {
			return &b, err
		}
		if err := c.GetLanConfigParamFor(ctx, ch, p); err != nil {
			sel, _, _ := p.LanConfigParameter()
			errs = append(errs, fmt.Errorf("ipmi: lan parameter %s on channel %d: %w", sel, ch, err))
		}
	}
	setLAN(&b, ch, ip.IP, src.Source, mac.MAC)
	return &b, errors.Join(errs...)
}

// bmcFromDeviceID converts a Get Device ID response. go-ipmi has already
// decoded the BCD minor firmware revision, so 2.45 arrives as 2 and 45.
func bmcFromDeviceID(r *app.GetDeviceIDResponse) BMC {
	return BMC{
		DeviceID:       int(r.DeviceID),
		DeviceRevision: int(r.DeviceRevision),
		Firmware:       fmt.Sprintf("%d.%02d", r.MajorFirmwareRevision, r.MinorFirmwareRevision),
		IPMIVersion:    fmt.Sprintf("%d.%d", r.MajorIPMIVersion, r.MinorIPMIVersion),
		ManufacturerID: int(r.ManufacturerID & 0x0fffff),
		ProductID:      int(r.ProductID),
	}
}

// setLAN fills the LAN fields; an unset address (0.0.0.0) stays empty.
func setLAN(b *BMC, ch uint8, ip net.IP, src types.LanIPAddressSource, mac net.HardwareAddr) {
	b.LANChannel = int(ch)
	if ip4 := ip.To4(); ip4 != nil && !ip4.IsUnspecified() {
		b.IP = ip4.String()
	}
	if src != types.IPAddressSourceUnspecified {
		b.IPSource = clean(src.String())
	}
	if len(mac) == 6 {
		b.MAC = mac.String()
	}
}

// lanChannel finds the first channel whose medium is 802.3 LAN. Channels
// 1 to 11 are the ones a BMC may assign; absent ones answer with an
// error completion code and are skipped.
func lanChannel(ctx context.Context, c ipmiConn) (uint8, error) {
	for ch := uint8(1); ch <= 0x0b; ch++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		info, err := c.GetChannelInfo(ctx, ch)
		if err != nil {
			continue
		}
		if info.ChannelMedium == types.ChannelMediumLAN {
			return ch, nil
		}
	}
	return 0, ErrNoLANChannel
}

// EnrollBMC creates or overwrites BMC user userID with the given name and
// password, enables it, and gives it ADMINISTRATOR privilege with IPMI
// messaging on the first LAN channel.
func EnrollBMC(ctx context.Context, user string, userID uint8, password string) error {
	if err := checkEnrollment(user, userID, password); err != nil {
		return err
	}
	c, err := openBMC(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return enrollBMC(ctx, c, user, userID, password)
}

// checkEnrollment enforces the IPMI 2.0 limits (22.28, 22.30) before
// anything is sent, since a BMC may silently truncate.
func checkEnrollment(user string, userID uint8, password string) error {
	// User ID 1 is the fixed null user; IDs are 6 bits.
	if userID < 2 || userID > 63 {
		return fmt.Errorf("ipmi: user id %d not in 2..63", userID)
	}
	if user == "" || len(user) > 16 {
		return fmt.Errorf("ipmi: user name must be 1 to 16 bytes, got %d", len(user))
	}
	for _, c := range []byte(user) {
		if c <= ' ' || c > '~' {
			return errors.New("ipmi: user name must be printable ASCII without spaces")
		}
	}
	// The password is never echoed back in errors.
	if password == "" || len(password) > 20 {
		return fmt.Errorf("ipmi: password must be 1 to 20 bytes, got %d", len(password))
	}
	for _, c := range []byte(password) {
		if c == 0 {
			return errors.New("ipmi: password contains NUL")
		}
	}
	return nil
}

func enrollBMC(ctx context.Context, c ipmiConn, user string, userID uint8, password string) error {
	if err := checkEnrollment(user, userID, password); err != nil {
		return err
	}
	ch, err := lanChannel(ctx, c)
	if err != nil {
		return err
	}
	if _, err := c.SetUsername(ctx, userID, user); err != nil {
		return fmt.Errorf("ipmi: set user name: %w", err)
	}
	// Passwords over 16 bytes need the IPMI 2.0 20-byte form.
	if _, err := c.SetUserPassword(ctx, userID, password, len(password) > 16); err != nil {
		return fmt.Errorf("ipmi: set user password: %w", err)
	}
	if _, err := c.SetUserAccess(ctx, enrollAccess(ch, userID)); err != nil {
		return fmt.Errorf("ipmi: set user access on channel %d: %w", ch, err)
	}
	if err := c.EnableUser(ctx, userID); err != nil {
		return fmt.Errorf("ipmi: enable user: %w", err)
	}
	return nil
}

// enrollAccess is the Set User Access request giving userID
// ADMINISTRATOR over LAN on channel ch.
func enrollAccess(ch, userID uint8) *app.SetUserAccessRequest {
	return &app.SetUserAccessRequest{
		EnableChanging:      true,
		EnableLinkAuth:      true,
		EnableIPMIMessaging: true,
		ChannelNumber:       ch,
		UserID:              userID,
		MaxPrivLevel:        uint8(types.PrivilegeLevelAdministrator),
	}
}
