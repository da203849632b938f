package install

import (
	"context"
	"testing"
)

// BenchmarkInstallZstd installs a 64 MiB zstd image of disk-like data
// from a local server to a file: download, decompress, write, fsync and
// read-back verification. The "write-MB/s" metric is Result.MBps.
func BenchmarkInstallZstd(b *testing.B) {
	const size = 64 << 20
	ti := newTestImage(b, FormatZstd, osLikeData(size, 99))
	ti.start(b, serveFile(ti.stored, `"bench"`))
	disk := tempDisk(b, size)
	b.SetBytes(size)
	var mbps float64
	for b.Loop() {
		res, err := Install(context.Background(), disk, ti.img, Options{})
		if err != nil {
			b.Fatal(err)
		}
		mbps += res.MBps
	}
	b.ReportMetric(mbps/float64(b.N), "install-MB/s")
}
