// Command installbench is the Go side of `bench/run.sh install`: it makes
// the test image, serves it, and installs it with recon/install exactly
// as the recon agent does, printing timings for the script to compare
// with `curl | zstd -d | dd`.
//
//	installbench gen -out RAW -size BYTES        OS-like raw disk data
//	installbench serve -dir DIR                  prints "URL http://127.0.0.1:PORT", serves DIR
//	installbench install -url URL -out FILE -size N -sha HEX -raw-size N -raw-sha HEX
//	                                             prints "total_s=… write_s=… bytes=… mbps=…"
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/outpostdc/outpost/recon/install"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: installbench gen|serve|install [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "install":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "installbench:", err)
		os.Exit(1)
	}
}

// gen writes data that compresses like a disk image: a mix of zeroed
// blocks, incompressible blocks (binaries, compressed files) and text,
// in 64 KiB blocks (the same mix as recon/install's own benchmark).
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	out := fs.String("out", "", "file to write")
	size := fs.Int64("size", 1<<30, "bytes")
	seed := fs.Uint64("seed", 99, "random seed")
	fs.Parse(args)
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 4<<20)
	r := rand.New(rand.NewPCG(*seed, 1))
	words := []string{"kernel ", "systemd ", "lib ", "usr/", "share ", "=", "\n", "0x", "config ", "#include ", "return ", "{}", "ELF "}
	const blk = 64 << 10
	b := make([]byte, blk)
	for off := int64(0); off < *size; off += blk {
		n := int(min(blk, *size-off))
		clear(b)
		switch k := r.IntN(10); {
		case k < 4: // zeros
		case k < 7:
			for i := 0; i < n; i += 8 {
				v := r.Uint64()
				for j := i; j < min(i+8, n); j++ {
					b[j] = byte(v)
					v >>= 8
				}
			}
		default:
			for i := 0; i < n; {
				i += copy(b[i:n], words[r.IntN(len(words))])
			}
		}
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// serve is a plain net/http file server on a loopback port: both
// contenders download from it.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("dir", ".", "directory to serve")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Printf("URL http://%s\n", ln.Addr())
	os.Stdout.Sync()
	return http.Serve(ln, http.FileServer(http.Dir(*dir)))
}

// run installs the image into a file with install.Install, the function
// the recon agent runs for an install job: download, SHA-256 of the
// file, zstd decompression, 4 MiB writes, fsync, then a read-back of
// everything written past the page cache, checked against raw-sha.
func run(args []string) error {
	fs := flag.NewFlagSet("install", flag.ExitOnError)
	url := fs.String("url", "", "image URL")
	out := fs.String("out", "", "target file (created empty)")
	format := fs.String("format", install.FormatZstd, "image format")
	size := fs.Int64("size", 0, "stored (compressed) size")
	sha := fs.String("sha", "", "SHA-256 of the stored file")
	rawSize := fs.Int64("raw-size", 0, "decompressed size")
	rawSHA := fs.String("raw-sha", "", "SHA-256 of the decompressed data")
	fs.Parse(args)
	if err := os.WriteFile(*out, nil, 0o644); err != nil {
		return err
	}
	// The write phase's last report comes after the fsync; its MBps is
	// over the phase's whole duration, which gives that duration.
	var write install.Progress
	img := install.Image{URL: *url, Format: *format, Size: *size, SHA256: *sha, RawSize: *rawSize, RawSHA256: *rawSHA}
	t0 := time.Now()
	res, err := install.Install(context.Background(), *out, img, install.Options{Progress: func(p install.Progress) {
		if p.Phase == install.PhaseWrite {
			write = p
		}
	}})
	if err != nil {
		return err
	}
	total := time.Since(t0)
	writeS := 0.0
	if write.MBps > 0 {
		writeS = float64(write.Done) / (write.MBps * 1e6)
	}
	fmt.Printf("total_s=%.3f write_s=%.3f bytes=%d mbps=%.1f\n", total.Seconds(), writeS, res.BytesWritten, res.MBps)
	return nil
}
