package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/outpostdc/outpost/cmd/internal/client"
)

func (a *app) imagesCommand() *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the OS images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			is, err := c.Images(cmd.Context())
			if err != nil {
				return err
			}
			return printList(a, "images", is, []string{"NAME", "VERSION", "FORMAT", "SIZE", "DISK SIZE", "SHA256", "CREATED"}, func(i client.Image) []string {
				return []string{i.Name, i.Version, i.Format, bytesIEC(i.Size), bytesIEC(i.RawSize), short(i.SHA256), ts(i.CreatedAt)}
			})
		},
	}

	var meta client.ImageMeta
	var progress bool
	upload := &cobra.Command{
		Use:   "upload FILE --name NAME --version VERSION [--format raw|raw.gz|raw.zst]",
		Short: "Upload an OS image, with a progress bar",
		Long: `upload sends a disk image to outpostd. The format is taken from the file's
extension (.zst, .gz) or its first bytes when --format is not given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("progress") {
				progress = a.env.StderrTerminal()
			}
			return a.uploadImage(cmd.Context(), args[0], meta, progress)
		},
	}
	uf := upload.Flags()
	uf.StringVar(&meta.Name, "name", "", "image name, e.g. debian")
	uf.StringVar(&meta.Version, "version", "", "image version, e.g. 12")
	uf.StringVar(&meta.Format, "format", "", "raw, raw.gz or raw.zst (default: from the file)")
	uf.StringVar(&meta.SHA256, "sha256", "", "the file's SHA-256, checked by outpostd")
	uf.BoolVar(&progress, "progress", false, "draw a progress bar on stderr (default: when stderr is a terminal)")
	upload.MarkFlagRequired("name")
	upload.MarkFlagRequired("version")

	var yes bool
	del := &cobra.Command{
		Use:   "delete SHA256|NAME:VERSION",
		Short: "Delete an image no unfinished job uses",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			img, err := findImage(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := a.confirm(yes, fmt.Sprintf("Delete image %s (%s, %s)?", img.Ref(), short(img.SHA256), bytesIEC(img.Size))); err != nil {
				return err
			}
			if err := c.DeleteImage(ctx, img.SHA256); err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "image %s deleted\n", img.Ref())
			return nil
		},
	}
	addYes(del.Flags(), &yes)
	return group("images", "List, upload and delete OS images", list, upload, del)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func findImage(ctx context.Context, c *client.Client, ref string) (client.Image, error) {
	is, err := c.Images(ctx)
	if err != nil {
		return client.Image{}, err
	}
	for _, i := range is {
		if i.Ref() == ref || strings.EqualFold(i.SHA256, ref) {
			return i, nil
		}
	}
	return client.Image{}, &client.APIError{Status: 404, Code: "not_found", Message: fmt.Sprintf("no image %s", ref)}
}

// detectFormat names an image's format from its extension or magic.
func detectFormat(name string, head []byte) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".zst", ".zstd":
		return "raw.zst"
	case ".gz", ".gzip":
		return "raw.gz"
	}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "raw.gz"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "raw.zst"
	}
	return "raw"
}

func (a *app) uploadImage(ctx context.Context, path string, meta client.ImageMeta, progress bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return usageErrorf("%s is not a regular file", path)
	}
	if meta.Format == "" {
		head := make([]byte, 4)
		n, _ := io.ReadFull(f, head)
		meta.Format = detectFormat(path, head[:n])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var body io.Reader = f
	var pb *progressbar.ProgressBar
	if progress {
		pb = progressbar.NewOptions64(st.Size(),
			progressbar.OptionSetWriter(a.errw()),
			progressbar.OptionSetDescription(fmt.Sprintf("%s:%s", meta.Name, meta.Version)),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.errw()) }),
		)
		r := progressbar.NewReader(f, pb)
		body = &r
	}
	img, err := c.UploadImage(ctx, meta, body, st.Size())
	if pb != nil {
		if err != nil {
			pb.Exit() // leave the bar where it stopped
			fmt.Fprintln(a.errw())
		} else {
			pb.Finish()
		}
	}
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.out(), img)
	}
	fmt.Fprintf(a.out(), "image %s uploaded: %s, %s (%s on disk), sha256 %s\n", img.Ref(), img.Format, bytesIEC(img.Size),
		bytesIEC(img.RawSize), img.SHA256)
	return nil
}
