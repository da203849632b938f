package recon

import (
	"fmt"
	"sort"
	"strings"
)

// Class derives a compact hardware class from a report, so machines that
// are alike group together. The format is
//
//	<sockets>x<cores per socket>c-<memory GiB>g[-<count>x<type><GB>]...
//
// where:
//   - sockets is CPU.Sockets (1 if unknown) and cores per socket is
//     CPU.Cores / sockets, rounded down;
//   - memory is Memory.TotalBytes in GiB, rounded to the nearest;
//   - each disk group is the non-removable, non-empty disks of one type
//     (hdd, ssd, nvme) and one size, the size in decimal GB rounded down:
//     disks are sold by decimal size and are a little larger than it, so
//     a 960 GB SSD (960,197,124,096 B) gives 960 and an 8 GiB virtual
//     disk gives 8;
//   - groups are ordered by count (most first), then size (largest
//     first), then type name.
//
// E.g. 2x16c-256g-2xnvme960-2xssd480, or 1x4c-4g-1xhdd8 for a small VM.
func Class(r Report) string {
	sockets := max(r.CPU.Sockets, 1)
	const gib = 1 << 30
	mem := r.Memory.TotalBytes / gib
	if r.Memory.TotalBytes%gib >= gib/2 {
		mem++
	}
	parts := []string{fmt.Sprintf("%dx%dc", sockets, max(r.CPU.Cores, 0)/sockets), fmt.Sprintf("%dg", mem)}

	type group struct {
		typ string
		gb  uint64
	}
	counts := map[group]int{}
	for _, d := range r.Disks {
		if d.Removable || d.SizeBytes == 0 {
			continue
		}
		typ := string(d.Type)
		if typ == "" {
			typ = "disk"
		}
		counts[group{typ, d.SizeBytes / 1e9}]++
	}
	groups := make([]group, 0, len(counts))
	for g := range counts {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if counts[a] != counts[b] {
			return counts[a] > counts[b]
		}
		if a.gb != b.gb {
			return a.gb > b.gb
		}
		return a.typ < b.typ
	})
	for _, g := range groups {
		parts = append(parts, fmt.Sprintf("%dx%s%d", counts[g], g.typ, g.gb))
	}
	return strings.Join(parts, "-")
}
