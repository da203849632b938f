package recon

import "testing"

func TestClass(t *testing.T) {
	const gib = 1 << 30
	nvme960 := Disk{Type: DiskNVMe, SizeBytes: 960197124096}
	tests := []struct {
		name string
		r    Report
		want string
	}{
		{
			name: "small VM: 8 GiB virtio disk is rotational",
			r: Report{
				CPU:    CPU{Sockets: 1, Cores: 4, Threads: 4},
				Memory: Memory{TotalBytes: 4025144 * 1024}, // MemTotal of a 4 GiB VM
				Disks:  []Disk{{Name: "vda", Type: DiskHDD, SizeBytes: 8 * gib}},
			},
			want: "1x4c-4g-1xhdd8",
		},
		{
			name: "two-socket server",
			r: Report{
				CPU:    CPU{Sockets: 2, Cores: 32, Threads: 64},
				Memory: Memory{TotalBytes: 256 * gib},
				Disks:  []Disk{nvme960, nvme960},
			},
			want: "2x16c-256g-2xnvme960",
		},
		{
			name: "groups: most first, then largest, then type",
			r: Report{
				CPU:    CPU{Sockets: 2, Cores: 48},
				Memory: Memory{TotalBytes: 512 * gib},
				Disks: []Disk{
					{Type: DiskSSD, SizeBytes: 480103981056},
					{Type: DiskHDD, SizeBytes: 4000787030016},
					{Type: DiskSSD, SizeBytes: 480103981056},
					{Type: DiskHDD, SizeBytes: 4000787030016},
					{Type: DiskHDD, SizeBytes: 4000787030016},
					nvme960,
					{Type: DiskSSD, SizeBytes: 960197124096},
				},
			},
			want: "2x24c-512g-3xhdd4000-2xssd480-1xnvme960-1xssd960",
		},
		{
			name: "removable and empty disks skipped",
			r: Report{
				CPU:    CPU{Sockets: 1, Cores: 8},
				Memory: Memory{TotalBytes: 32 * gib},
				Disks: []Disk{
					nvme960,
					{Type: DiskHDD, SizeBytes: 15376318464, Removable: true},
					{Type: DiskHDD},
				},
			},
			want: "1x8c-32g-1xnvme960",
		},
		{
			name: "memory rounds to nearest GiB",
			r:    Report{CPU: CPU{Sockets: 1, Cores: 2}, Memory: Memory{TotalBytes: 15*gib + gib/2}},
			want: "1x2c-16g",
		},
		{
			name: "memory rounds down below half",
			r:    Report{CPU: CPU{Sockets: 1, Cores: 2}, Memory: Memory{TotalBytes: 15*gib + gib/2 - 1}},
			want: "1x2c-15g",
		},
		{
			name: "unknown CPU and untyped disk",
			r:    Report{Disks: []Disk{{SizeBytes: 2e12}}},
			want: "1x0c-0g-1xdisk2000",
		},
		{
			name: "no memory overflow at the top",
			r:    Report{CPU: CPU{Sockets: 1, Cores: 1}, Memory: Memory{TotalBytes: 1<<64 - 1}},
			want: "1x1c-17179869184g",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Class(tt.r); got != tt.want {
				t.Errorf("Class = %q, want %q", got, tt.want)
			}
		})
	}
}
