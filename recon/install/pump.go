package install

import (
	"context"
	"io"
)

// pump moves r to fn through bufs buffers of size bytes. A goroutine
// fills each buffer completely (all but the last) while fn consumes the
// one before, so reading (network, decompression) and writing overlap,
// and every write is a large one. fn's slice is valid only during the
// call. On fn's first error pump calls stop, which must make a blocked
// r.Read return, and returns that error once the goroutine is done.
func pump(ctx context.Context, r io.Reader, size, bufs int, stop func(), fn func([]byte) error) error {
	free := make(chan []byte, bufs)
	full := make(chan []byte, bufs) // room for every buffer: sends never block
	for range bufs {
		free <- make([]byte, size)
	}
	quit := make(chan struct{})
	var rerr error // set before full is closed
	go func() {
		defer close(full)
		for {
			var b []byte
			select {
			case b = <-free:
			case <-quit:
				return
			}
			if err := ctx.Err(); err != nil {
				rerr = err
				return
			}
			n, err := fill(r, b)
			if n > 0 {
				full <- b[:n]
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				rerr = err
				return
			}
		}
	}()
	var ferr error
	for b := range full {
		if ferr == nil {
			if ferr = fn(b); ferr != nil {
				close(quit)
				stop()
			}
		}
		free <- b[:cap(b)]
	}
	if ferr != nil {
		return ferr
	}
	return rerr
}

// fill reads into b until it is full or r fails. Unlike io.ReadFull it
// passes io.ErrUnexpectedEOF from r through as the error it is (a
// truncated gzip stream), and reports a clean end as io.EOF.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
