package event

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"slices"
	"time"
	"unsafe"
)

// The binary form is how stores keep events: compact and quick to decode,
// with data and extension values kept as their JSON text. Layout, version 1:
//
//	byte     1 (version)
//	strings  specversion id source type subject datacontenttype dataschema
//	         correlationid causationid (each uvarint length + bytes)
//	time     byte 0 (absent) or 1, then varint unix seconds, uvarint
//	         nanoseconds, varint zone offset in seconds
//	uvarint  hops
//	uvarint  count of extensions, then name and value strings, by name
//	byte     0 no data, 1 data (JSON text), 2 data_base64 (raw bytes);
//	         then uvarint length + bytes
const binaryVersion = 1

// ErrCorrupt is returned by DecodeBinary for bytes it cannot read.
var ErrCorrupt = errors.New("event: corrupt binary encoding")

// AppendBinary appends the event's binary form to dst.
func (e *Event) AppendBinary(dst []byte) []byte {
	dst = slices.Grow(dst, e.BinarySize())
	dst = append(dst, binaryVersion)
	for _, s := range [...]string{e.SpecVersion, e.ID, e.Source, e.Type, e.Subject,
		e.DataContentType, e.DataSchema, e.CorrelationID, e.CausationID} {
		dst = appendStr(dst, s)
	}
	if e.Time.IsZero() {
		dst = append(dst, 0)
	} else {
		_, off := e.Time.Zone()
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, e.Time.Unix())
		dst = binary.AppendUvarint(dst, uint64(e.Time.Nanosecond()))
		dst = binary.AppendVarint(dst, int64(off))
	}
	dst = binary.AppendUvarint(dst, uint64(e.Hops))
	dst = binary.AppendUvarint(dst, uint64(len(e.Extensions)))
	if len(e.Extensions) > 0 {
		var few [8]string
		names := few[:0]
		for k := range e.Extensions {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			dst = appendStr(dst, k)
			dst = appendBytes(dst, e.Extensions[k])
		}
	}
	switch {
	case e.Data != nil:
		dst = append(dst, 1)
		dst = appendBytes(dst, e.Data)
	case e.DataBase64 != nil:
		dst = append(dst, 2)
		dst = appendBytes(dst, e.DataBase64)
	default:
		dst = append(dst, 0)
	}
	return dst
}

// BinarySize returns the size of e's AppendBinary encoding: a dst with
// that much room left is not grown.
func (e *Event) BinarySize() int {
	n := 1 + strSize(e.SpecVersion) + strSize(e.ID) + strSize(e.Source) + strSize(e.Type) + strSize(e.Subject) +
		strSize(e.DataContentType) + strSize(e.DataSchema) + strSize(e.CorrelationID) + strSize(e.CausationID)
	n++
	if !e.Time.IsZero() {
		_, off := e.Time.Zone()
		n += varintSize(e.Time.Unix()) + uvarintSize(uint64(e.Time.Nanosecond())) + varintSize(int64(off))
	}
	n += uvarintSize(uint64(e.Hops)) + uvarintSize(uint64(len(e.Extensions)))
	for k, v := range e.Extensions {
		n += strSize(k) + uvarintSize(uint64(len(v))) + len(v)
	}
	n++
	switch {
	case e.Data != nil:
		n += uvarintSize(uint64(len(e.Data))) + len(e.Data)
	case e.DataBase64 != nil:
		n += uvarintSize(uint64(len(e.DataBase64))) + len(e.DataBase64)
	}
	return n
}

// strSize is the size of s written by appendStr.
func strSize(s string) int { return uvarintSize(uint64(len(s))) + len(s) }

// varintSize is the size of x written by binary.AppendVarint.
func varintSize(x int64) int { return uvarintSize(uint64(x<<1) ^ uint64(x>>63)) }

// uvarintSize is the size of x written by binary.AppendUvarint.
func uvarintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// DecodeBinary reads an event written by AppendBinary. The event does not
// share memory with b.
func DecodeBinary(b []byte) (*Event, error) {
	e := new(Event)
	if err := e.decodeBinary(b, false); err != nil {
		return nil, err
	}
	return e, nil
}

// DecodeBinaryShared is DecodeBinary for readers that own b and will never
// change it: the event's strings and data point into b instead of being
// copied, which saves most of the decoding work. Treat the event, and b,
// as read-only.
// It decodes into e, which it first resets, so readers can allocate
// events in bulk.
func DecodeBinaryShared(b []byte, e *Event) error {
	*e = Event{}
	return e.decodeBinary(b, true)
}

func (e *Event) decodeBinary(b []byte, shared bool) error {
	if len(b) == 0 || b[0] != binaryVersion {
		return ErrCorrupt
	}
	// One string holds every string field; one byte slice holds data.
	r := binReader{b: b, i: 1, shared: shared}
	if shared {
		r.s = unsafe.String(unsafe.SliceData(b), len(b))
	} else {
		r.s = string(b)
	}
	for _, p := range [...]*string{&e.SpecVersion, &e.ID, &e.Source, &e.Type, &e.Subject,
		&e.DataContentType, &e.DataSchema, &e.CorrelationID, &e.CausationID} {
		*p = r.str()
	}
	switch r.byte() {
	case 0:
	case 1:
		sec, nsec, off := r.varint(), r.uvarint(), r.varint()
		loc := time.UTC
		if off != 0 {
			loc = time.FixedZone("", int(off))
		}
		e.Time = time.Unix(sec, int64(nsec)).In(loc)
	default:
		r.bad = true
	}
	e.Hops = int(r.uvarint())
	if n := r.uvarint(); n > 0 && !r.bad {
		if n > uint64(len(b)) {
			return ErrCorrupt
		}
		e.Extensions = make(map[string]json.RawMessage, n)
		for range n {
			k := r.str()
			e.Extensions[k] = json.RawMessage(r.bytes())
		}
	}
	switch r.byte() {
	case 0:
	case 1:
		e.Data = json.RawMessage(r.bytes())
	case 2:
		e.DataBase64 = r.bytes()
	default:
		r.bad = true
	}
	if r.bad || r.i != len(b) {
		return ErrCorrupt
	}
	return nil
}

type binReader struct {
	b      []byte
	s      string // b as a string: a copy, or b itself when shared
	i      int
	bad    bool
	shared bool // slices of b may be kept
}

func (r *binReader) byte() byte {
	if r.i >= len(r.b) {
		r.bad = true
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *binReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[min(r.i, len(r.b)):])
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.i += n
	return v
}

func (r *binReader) varint() int64 {
	v, n := binary.Varint(r.b[min(r.i, len(r.b)):])
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.i += n
	return v
}

func (r *binReader) span() (int, int) {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)-r.i) {
		r.bad = true
		return 0, 0
	}
	start := r.i
	r.i += int(n)
	return start, r.i
}

func (r *binReader) str() string {
	i, j := r.span()
	return r.s[i:j]
}

func (r *binReader) bytes() []byte {
	i, j := r.span()
	if r.bad {
		return nil
	}
	if r.shared {
		return r.b[i:j:j]
	}
	return slices.Clone(r.b[i:j])
}
