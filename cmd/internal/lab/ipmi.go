package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BMC is OpenIPMI's ipmi_sim acting as the BMC of one QEMU VM: IPMI over
// LAN powers the VM on and off through a chassis_control program, which
// also keeps the boot device the VM starts with. The VM sees the BMC over
// KCS through QEMU's ipmi-bmc-extern.
type BMC struct {
	Addr     string // LAN address, in the network's namespace
	User     string
	Password string
	dir      string
	proc     *Proc
}

// Console returns everything the VM has printed on its serial port, over
// all power cycles.
func (b *BMC) Console() string {
	out, _ := os.ReadFile(filepath.Join(b.dir, "console.log"))
	return string(out)
}

// VMPid returns the running VM's process ID, or 0.
func (b *BMC) VMPid() int {
	var pid int
	raw, err := os.ReadFile(filepath.Join(b.dir, "qemu.pid"))
	if err != nil {
		return 0
	}
	fmt.Sscan(strings.TrimSpace(string(raw)), &pid)
	if pid > 0 && syscall.Kill(pid, 0) == nil {
		return pid
	}
	return 0
}

// KillVM kills the VM as a pulled power cord would.
func (b *BMC) KillVM() {
	if pid := b.VMPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// StartBMC runs ipmi_sim for vm on addr (an address it adds to the
// network's bridge). The VM is off until the BMC powers it on.
func StartBMC(t *testing.T, n *Net, addr string, vm *VM) *BMC {
	t.Helper()
	RequireCmd(t, "ipmi_sim", "qemu-system-x86_64")
	dir := t.TempDir()
	b := &BMC{Addr: addr, User: "admin", Password: "outpost-lab-pw", dir: dir}
	n.IP(t, "addr", "add", addr+"/32", "dev", n.Bridge)

	const serialPort = 9002
	vm.Extra = append(vm.Extra, "-chardev", fmt.Sprintf("socket,id=ipmi0,host=127.0.0.1,port=%d,reconnect=2", serialPort),
		"-device", "ipmi-bmc-extern,chardev=ipmi0,id=bmc0", "-device", "isa-ipmi-kcs,bmc=bmc0")
	args := vm.Args(t)
	// The VM reboots in place when its OS asks; only the BMC powers it off.
	for i, a := range args {
		if a == "-no-reboot" {
			args = append(args[:i:i], args[i+1:]...)
			break
		}
	}
	// The VM's NIC is always first in its boot order, as in a rack that
	// netboots everything and lets Outpost decide; the boot device the BMC
	// is given is kept and read back, but does not reorder QEMU.
	var quoted []string
	for _, a := range args {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	script := fmt.Sprintf(`#!/bin/sh
# chassis_control for ipmi_sim: $1 is get or set, then name [value] pairs.
D=%[1]s
running() { [ -f $D/qemu.pid ] && kill -0 $(cat $D/qemu.pid) 2>/dev/null; }
start() {
	setsid qemu-system-x86_64 %[2]s >>$D/console.log 2>&1 </dev/null &
	echo $! > $D/qemu.pid
}
stop() { running && kill -9 $(cat $D/qemu.pid); rm -f $D/qemu.pid; sleep 0.3; }
echo "$(date +%%T.%%N) $*" >> $D/calls.log
op=$1; shift
if [ "$op" = get ]; then
	for p in "$@"; do
		case $p in
		power) if running; then echo power:1; else echo power:0; fi;;
		boot) echo "boot:$(cat $D/boot 2>/dev/null || echo default)";;
		esac
	done
	exit 0
fi
while [ $# -ge 2 ]; do
	k=$1; v=$2; shift 2
	case $k in
	power) if [ "$v" = 1 ]; then running || start; else stop; fi;;
	reset) stop; start;;
	boot) echo "$v" > $D/boot;;
	esac
done
`, dir, strings.Join(quoted, " "))
	prog := filepath.Join(dir, "chassis.sh")
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	lan := fmt.Sprintf(`name "outpost-lab"
set_working_mc 0x20
  startlan 1
    addr %s 623
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  serial 15 127.0.0.1 %d codec VM
  chassis_control "%s"
  startnow false
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
`, addr, serialPort, prog, b.User, b.Password)
	os.WriteFile(filepath.Join(dir, "lan.conf"), []byte(lan), 0o644)
	os.WriteFile(filepath.Join(dir, "bmc.emu"), []byte("mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "state"), 0o755)
	cmd := n.Cmd(context.Background(), "ipmi_sim", "-n", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "bmc.emu"),
		"-s", filepath.Join(dir, "state"))
	b.proc = Start(t, "ipmi_sim", cmd)
	t.Cleanup(func() {
		b.KillVM()
		if t.Failed() {
			calls, _ := os.ReadFile(filepath.Join(dir, "calls.log"))
			t.Logf("--- chassis_control calls ---\n%s\n--- VM console (tail) ---\n%s", calls, tail(b.Console(), 80))
		}
	})
	// ipmi_sim answers once its LAN channel is up.
	WaitFor(t, 10*time.Second, "ipmi_sim listening", func() bool {
		out, err := exec.Command("ip", "netns", "exec", n.NS, "ss", "-uln").CombinedOutput()
		return err == nil && strings.Contains(string(out), addr+":623")
	})
	return b
}
