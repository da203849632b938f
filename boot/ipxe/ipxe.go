// Package ipxe renders boot decisions as iPXE scripts.
package ipxe

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/outpostdc/outpost/boot"
)

const scripts = `
{{- define "linux" -}}
#!ipxe
{{- template "message" .}}
kernel {{.Kernel}} {{.Cmdline}} || goto failed
{{- range $i, $u := .Initrds}}
initrd {{$u}} || goto failed
{{- end}}
boot || goto failed
:failed
echo Outpost: boot failed; retrying in 10 seconds
sleep 10
reboot
{{end -}}

{{- define "local" -}}
#!ipxe
{{- template "message" .}}
echo Outpost: booting from local disk
{{- if .EFI}}
exit
{{- else}}
sanboot --no-describe --drive 0x80 || exit
{{- end}}
{{end -}}

{{- define "halt" -}}
#!ipxe
{{- template "message" .}}
echo Outpost: halted; this machine will not boot until its state changes
:halt
sleep 3600
goto halt
{{end -}}

{{- define "message" -}}
{{- range .Lines}}
echo {{.}}
{{- end}}
{{- end -}}

{{- define "chain" -}}
#!ipxe
chain {{.Base}}/boot.ipxe?mac=${mac}&uuid=${uuid}&serial=${serial:uristring}&buildarch=${buildarch}&platform=${platform}
{{end -}}
`

// Renderer turns decisions into scripts.
type Renderer struct {
	t *template.Template
}

// New parses the templates.
func New() *Renderer {
	return &Renderer{t: template.Must(template.New("ipxe").Option("missingkey=error").Parse(scripts))}
}

type data struct {
	boot.Decision
	EFI   bool
	Lines []string
	Base  string
}

// Render writes the script for d. efi selects how a local boot is done:
// EFI firmware continues to the next boot entry on exit, BIOS needs
// sanboot of the first disk.
func (r *Renderer) Render(d boot.Decision, efi bool) ([]byte, error) {
	for _, s := range append([]string{d.Kernel, d.Cmdline}, d.Initrds...) {
		if strings.ContainsAny(s, "\n\r") {
			return nil, fmt.Errorf("ipxe: line break in %q", s)
		}
	}
	var name string
	switch d.Action {
	case boot.ActionLinux:
		if d.Kernel == "" {
			return nil, fmt.Errorf("ipxe: linux decision without a kernel")
		}
		name = "linux"
	case boot.ActionLocal:
		name = "local"
	case boot.ActionHalt:
		name = "halt"
	default:
		return nil, fmt.Errorf("ipxe: unknown action %q", d.Action)
	}
	var b bytes.Buffer
	if err := r.t.ExecuteTemplate(&b, name, data{Decision: d, EFI: efi, Lines: messageLines(d.Message)}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Chain renders the first-stage script, which sends iPXE's own view of the
// machine back to base+"/boot.ipxe".
func (r *Renderer) Chain(base string) ([]byte, error) {
	var b bytes.Buffer
	err := r.t.ExecuteTemplate(&b, "chain", data{Base: base})
	return b.Bytes(), err
}

// messageLines makes text safe to echo: one line each, and no iPXE
// setting expansion.
func messageLines(msg string) []string {
	if msg == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimRight(l, "\r")
		l = strings.NewReplacer("$", "", "||", "|", "&&", "&").Replace(l)
		out = append(out, "Outpost: "+l)
	}
	return out
}
