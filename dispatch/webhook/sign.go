package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook request.
const (
	HeaderIdempotencyKey = "Idempotency-Key"      // the action id
	HeaderAction         = "X-Choreo-Action"      // the action's name
	HeaderAttempt        = "X-Choreo-Attempt"     // the attempt number, from 1
	HeaderCorrelation    = "X-Choreo-Correlation" // the correlation id
	HeaderTimestamp      = "X-Choreo-Timestamp"   // Unix seconds, signed requests only
	HeaderSignature      = "X-Choreo-Signature"   // "sha256=<hex>", signed requests only
)

// DefaultMaxSkew is how far a signature timestamp may be from the
// receiver's clock when no skew is given.
const DefaultMaxSkew = 5 * time.Minute

const signaturePrefix = "sha256="

// Sign returns the X-Choreo-Signature value for body sent at timestamp
// (Unix seconds): "sha256=" and the hexadecimal HMAC-SHA256, keyed with
// secret, of the decimal timestamp, a full stop, and body.
func Sign(secret []byte, timestamp int64, body []byte) string {
	return string(newSigner(secret).appendSignature(nil, timestamp, body))
}

// signer computes MACs with an HMAC-SHA256 keyed with a secret. It holds
// its scratch space, which would escape to the heap through the
// hash.Hash interface if it were on the stack. A signer is used by one
// goroutine at a time.
type signer struct {
	mac hash.Hash
	ts  [24]byte
	sum [sha256.Size]byte
}

func newSigner(secret []byte) *signer { return &signer{mac: hmac.New(sha256.New, secret)} }

// appendSignature appends to dst the signature of body sent at
// timestamp.
func (s *signer) appendSignature(dst []byte, timestamp int64, body []byte) []byte {
	dst = append(dst, signaturePrefix...)
	return hex.AppendEncode(dst, s.macSum(timestamp, body))
}

// macSum returns the MAC of the timestamp and body, valid until the next
// call.
func (s *signer) macSum(timestamp int64, body []byte) []byte {
	s.mac.Reset()
	b := strconv.AppendInt(s.ts[:0], timestamp, 10)
	b = append(b, '.')
	s.mac.Write(b)
	s.mac.Write(body)
	return s.mac.Sum(s.sum[:0])
}

// Verify checks the signature of a webhook request: r's X-Choreo-Timestamp
// must be within maxSkew of now (zero or less means DefaultMaxSkew) and its
// X-Choreo-Signature must be the HMAC-SHA256 of the timestamp and body, the
// request body exactly as read, keyed with secret. It compares in constant
// time. The error is ErrNoSecret, ErrUnsigned, ErrBadTimestamp,
// ErrStaleTimestamp or ErrBadSignature, possibly wrapped.
func Verify(secret []byte, r *http.Request, body []byte, maxSkew time.Duration, now time.Time) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	if r == nil {
		return ErrUnsigned
	}
	tsText := r.Header.Get(HeaderTimestamp)
	sigText := r.Header.Get(HeaderSignature)
	if tsText == "" || sigText == "" {
		return ErrUnsigned
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(tsText), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %.40q", ErrBadTimestamp, tsText)
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	n, lim := now.Unix(), int64(maxSkew/time.Second)
	if ts < n-lim || ts > n+lim {
		return fmt.Errorf("%w: timestamp %d, now %d", ErrStaleTimestamp, ts, n)
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(sigText), signaturePrefix)
	if !ok || len(hexSig) != 2*sha256.Size {
		return fmt.Errorf("%w: want %s and %d hexadecimal digits", ErrBadSignature, signaturePrefix, 2*sha256.Size)
	}
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], []byte(hexSig)); err != nil {
		return fmt.Errorf("%w: not hexadecimal", ErrBadSignature)
	}
	if !hmac.Equal(got[:], newSigner(secret).macSum(ts, body)) {
		return ErrBadSignature
	}
	return nil
}
