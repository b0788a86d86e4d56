package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The fixed layout of a bbolt meta page (go.etcd.io/bbolt internal/common):
// a 16-byte page header, then magic, version, page size, flags (uint32
// each), the root bucket (root pgid, sequence), the freelist pgid, the high
// water mark pgid, the txid and an FNV-64a checksum of the 56 bytes before
// it, all in the machine's byte order (little endian on every platform we
// build for).
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	checksumOffset = 56
)

type metaPage struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

func parseMeta(b []byte) (metaPage, error) {
	if len(b) < pageHeaderSize+metaSize {
		return metaPage{}, errors.New("too short")
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic {
		return metaPage{}, errors.New("no bbolt magic number")
	}
	if v := le.Uint32(m[4:]); v != boltVersion {
		return metaPage{}, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:checksumOffset])
	if h.Sum64() != le.Uint64(m[checksumOffset:]) {
		return metaPage{}, errors.New("meta page checksum mismatch")
	}
	ps := le.Uint32(m[8:])
	if ps < 512 || ps > 1<<20 || ps&(ps-1) != 0 {
		return metaPage{}, fmt.Errorf("implausible page size %d", ps)
	}
	return metaPage{pageSize: ps, pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}

// checkFile looks at an existing file before bbolt maps it: bbolt trusts
// its header and can panic (or fault on a mapping past the end of a
// truncated file) instead of returning an error. It returns nil for a
// missing or empty file (a new store) and for a plausible bbolt file.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bolt: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bolt: stat %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("bolt: %s is not a regular file", path)
	}
	size := st.Size()
	if size == 0 {
		return nil
	}
	notDB := func(why string) error {
		return fmt.Errorf("bolt: %s is not a usable Eden Deploy database (%s): is it the right file, or was it truncated or overwritten?", path, why)
	}
	head := make([]byte, pageHeaderSize+metaSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return notDB(fmt.Sprintf("only %d bytes long", size))
	}
	// bbolt keeps two meta pages and uses the valid one with the higher
	// txid; the second sits one page after the first.
	var best *metaPage
	var firstErr error
	m0, err := parseMeta(head)
	if err == nil {
		best = &m0
		second := make([]byte, pageHeaderSize+metaSize)
		if _, err := f.ReadAt(second, int64(m0.pageSize)); err == nil {
			if m1, err := parseMeta(second); err == nil && m1.txid > m0.txid {
				best = &m1
			}
		}
	} else {
		firstErr = err
		// The first meta page may be torn; try the second at the
		// common page sizes.
		for _, ps := range []int64{4096, 8192, 16384, 65536} {
			second := make([]byte, pageHeaderSize+metaSize)
			if _, err := f.ReadAt(second, ps); err != nil {
				continue
			}
			if m1, err := parseMeta(second); err == nil && int64(m1.pageSize) == ps {
				best = &m1
				break
			}
		}
	}
	if best == nil {
		return notDB(firstErr.Error())
	}
	if need := int64(best.pgid) * int64(best.pageSize); need > size {
		return notDB(fmt.Sprintf("truncated: its header counts %d pages of %d bytes (%d bytes) but the file has %d", best.pgid, best.pageSize, need, size))
	}
	return nil
}
