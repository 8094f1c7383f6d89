package extract

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"strings"
)

// safeZip reads a zip container under MaxZipEntries, MaxZipEntryBytes,
// MaxZipTotalBytes and MaxZipRatio. Entries are inflated from their raw
// bytes through a limited reader, so a bomb that lies about its sizes is
// stopped after at most MaxZipEntryBytes+1 bytes.
type safeZip struct {
	z     *zip.Reader
	byKey map[string]*zip.File
	total int64
}

func openZip(r io.ReaderAt, size int64) (*safeZip, error) {
	z, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: not a valid zip container: %v", ErrCorrupt, err)
	}
	if len(z.File) > MaxZipEntries {
		return nil, fmt.Errorf("%w: %d entries in the archive (at most %d)", ErrTooLarge, len(z.File), MaxZipEntries)
	}
	s := &safeZip{z: z, byKey: make(map[string]*zip.File, len(z.File))}
	for _, f := range z.File {
		k := strings.ToLower(strings.TrimPrefix(path.Clean("/"+f.Name), "/"))
		if _, dup := s.byKey[k]; !dup {
			s.byKey[k] = f
		}
	}
	return s, nil
}

// find returns the entry named name (case-insensitive, cleaned), or nil.
func (s *safeZip) find(name string) *zip.File {
	return s.byKey[strings.ToLower(strings.TrimPrefix(path.Clean("/"+name), "/"))]
}

// read inflates one entry, at most max bytes (and the zip caps).
func (s *safeZip) read(f *zip.File, max int64) ([]byte, error) {
	max = min(max, MaxZipEntryBytes)
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("%w: %s inflates to %s (at most %s per part)", ErrTooLarge, f.Name, human(int64(min(f.UncompressedSize64, 1<<62))), human(max))
	}
	if f.CompressedSize64 > 0 && f.UncompressedSize64/f.CompressedSize64 > MaxZipRatio && f.UncompressedSize64 > zipRatioFloor {
		return nil, fmt.Errorf("%w: %s is compressed %d:1, a zip bomb", ErrTooLarge, f.Name, f.UncompressedSize64/f.CompressedSize64)
	}
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Name, err)
	}
	var rd io.Reader
	switch f.Method {
	case zip.Store:
		rd = raw
	case zip.Deflate:
		fr := flate.NewReader(raw)
		defer fr.Close()
		rd = fr
	default:
		return nil, fmt.Errorf("%w: %s uses zip compression method %d", ErrUnsupported, f.Name, f.Method)
	}
	budget := min(max, MaxZipTotalBytes-s.total)
	var buf bytes.Buffer
	buf.Grow(int(min(int64(f.UncompressedSize64), budget) + 1))
	crc := crc32.NewIEEE()
	lr := io.LimitReader(rd, budget+1)
	chunk := make([]byte, 32<<10)
	var n int64
	comp := int64(max64(f.CompressedSize64, 1))
	for {
		k, err := lr.Read(chunk)
		if k > 0 {
			n += int64(k)
			if n > budget {
				if budget < max {
					return nil, fmt.Errorf("%w: the archive inflates to more than %s in total", ErrTooLarge, human(MaxZipTotalBytes))
				}
				return nil, fmt.Errorf("%w: %s inflates to more than %s", ErrTooLarge, f.Name, human(max))
			}
			if uint64(n) > f.UncompressedSize64 {
				return nil, fmt.Errorf("%w: %s inflates past its declared size of %s, a zip bomb", ErrTooLarge, f.Name, human(int64(f.UncompressedSize64)))
			}
			if n > zipRatioFloor && n/comp > MaxZipRatio {
				return nil, fmt.Errorf("%w: %s is compressed more than %d:1, a zip bomb", ErrTooLarge, f.Name, MaxZipRatio)
			}
			buf.Write(chunk[:k])
			crc.Write(chunk[:k])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Name, err)
		}
	}
	s.total += n
	if uint64(n) != f.UncompressedSize64 || (f.CRC32 != 0 && crc.Sum32() != f.CRC32) {
		return nil, fmt.Errorf("%w: %s: size or checksum does not match the archive directory", ErrCorrupt, f.Name)
	}
	return buf.Bytes(), nil
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// readNamed reads the entry name, or returns (nil, nil) when absent.
func (s *safeZip) readNamed(name string, max int64) ([]byte, error) {
	f := s.find(name)
	if f == nil {
		return nil, nil
	}
	return s.read(f, max)
}
