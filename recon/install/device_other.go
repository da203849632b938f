//go:build !linux

package install

import "os"

// Block devices are only handled on Linux, where recon runs; elsewhere
// regular files still work, for development.

func blockSize(*os.File) (int64, error)    { return 0, errUnsupported }
func discard(*os.File, int64, int64) error { return errUnsupported }
func zeroOut(*os.File, int64, int64) error { return errUnsupported }
func rereadPartitions(*os.File) error      { return errUnsupported }
func dropCache(*os.File) error             { return nil }
