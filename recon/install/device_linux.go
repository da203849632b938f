package install

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

func blockSize(f *os.File) (int64, error) {
	var n uint64
	if err := ioctlPtr(f, unix.BLKGETSIZE64, unsafe.Pointer(&n)); err != nil {
		return 0, os.NewSyscallError("ioctl BLKGETSIZE64", err)
	}
	return int64(n), nil
}

// discard tells the device that [off, off+n) is unused (TRIM, UNMAP,
// NVMe deallocate). It returns errUnsupported when the device cannot.
func discard(f *os.File, off, n int64) error {
	r := [2]uint64{uint64(off), uint64(n)}
	return rangeIoctl(f, unix.BLKDISCARD, "BLKDISCARD", &r)
}

// zeroOut has the kernel write zeros over [off, off+n), offloaded to the
// device where it can (WRITE ZEROES, WRITE SAME). The ioctl never
// unmaps, so the zeros are really written.
func zeroOut(f *os.File, off, n int64) error {
	r := [2]uint64{uint64(off), uint64(n)}
	return rangeIoctl(f, unix.BLKZEROOUT, "BLKZEROOUT", &r)
}

func rangeIoctl(f *os.File, req uint, name string, r *[2]uint64) error {
	err := ioctlPtr(f, req, unsafe.Pointer(r))
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
		return errUnsupported
	}
	if err != nil {
		return os.NewSyscallError("ioctl "+name, err)
	}
	return nil
}

// rereadPartitions makes the kernel read the new partition table. It is
// called on our O_EXCL descriptor: the kernel refuses it to anyone else
// while we hold the device. Devices without partitions (a loop device
// without partscan) answer EINVAL, and files ENOTTY: both are fine.
func rereadPartitions(f *os.File) error {
	err := ioctlPtr(f, unix.BLKRRPART, nil)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("ioctl BLKRRPART", err)
	}
	return nil
}

// dropCache evicts f's clean cached pages, so what is read next comes
// from the device. f must have been synced.
func dropCache(f *os.File) error {
	err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	if errors.Is(err, unix.ESPIPE) || errors.Is(err, unix.EINVAL) {
		return nil // nothing cached to drop, e.g. on some pseudo filesystems
	}
	if err != nil {
		return os.NewSyscallError("fadvise", err)
	}
	return nil
}

func ioctlPtr(f *os.File, req uint, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno error
	err = rc.Control(func(fd uintptr) {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg))
		if e != 0 {
			errno = e
		}
	})
	if err != nil {
		return err
	}
	return errno
}
