package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook delivery.
const (
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256>": the HMAC,
	// keyed with the webhook's secret, of "<t>." followed by the raw body.
	HeaderSignature = "Eden-Signature"
	// HeaderDelivery is the delivery's ID (the same on every attempt).
	HeaderDelivery = "Eden-Delivery"
	// HeaderEvent is the notice's type (run.ended, lifecycle.abandoned).
	HeaderEvent = "Eden-Event"
)

// Sign returns the HeaderSignature value of body sent at t with secret.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("notify: the signature does not match")
	ErrStale        = errors.New("notify: the signature's timestamp is too far from now")
	ErrMalformed    = errors.New("notify: malformed signature header")
)

// Verify is the check a receiver makes (docs/aws.md describes it for any
// language): parse t and every v1 from header, refuse a t further than
// tolerance from now (a replay), recompute the HMAC-SHA256 of "<t>." and
// the raw body with the secret and compare it in constant time with each
// v1.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := []byte(mac(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return ErrBadSignature
}
