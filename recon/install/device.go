package install

import (
	"fmt"
	"os"
)

// errUnsupported: the device cannot do an optional operation (discard,
// zero-out offload) and the caller falls back to writing.
const errUnsupported = constError("not supported by the device")

// openDevice opens a block device or a regular file. Block devices are
// opened O_EXCL: the kernel then refuses one that is mounted or held by
// md, dm or LVM, instead of letting us scribble under a live filesystem.
func openDevice(dev string, flag int) (f *os.File, block bool, err error) {
	fi, err := os.Stat(dev)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrDevice, err)
	}
	switch m := fi.Mode(); {
	case m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0:
		block = true
		flag |= os.O_EXCL
	case m.IsRegular():
	default:
		return nil, false, fmt.Errorf("%w: %s is neither a block device nor a regular file", ErrDevice, dev)
	}
	f, err = os.OpenFile(dev, flag, 0)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrDevice, err)
	}
	return f, block, nil
}

// deviceSize is the size of a block device, or of a regular file.
func deviceSize(f *os.File, block bool) (int64, error) {
	if block {
		return blockSize(f)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
