package deploy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Webhook is an HTTP endpoint told when the deployment's runs end and when
// its Auto Scaling lifecycle actions are abandoned. Its signing secret is
// kept in the secret store only (WebhookSecretName), never here.
type Webhook struct {
	ID           string    `json:"id"`
	DeploymentID string    `json:"deployment_id"`
	URL          string    `json:"url"`
	CreatedBy    string    `json:"created_by"`
	Version      int       `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
}

// WebhookSecretName is the secret-store name of a webhook's signing secret.
func WebhookSecretName(webhookID string) string { return "webhook-" + webhookID }

// CheckWebhookURL refuses a URL that is not absolute http(s), carries
// credentials or a fragment, or points at the control plane itself: its
// host and port equal one of self (the control plane's own base URLs or
// host:port, such as the Host a request came to), where every loopback
// name counts as the same host.
func CheckWebhookURL(raw string, self []string) error {
	const field = "url"
	if len(raw) > 2048 {
		return Invalid(field, "at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return Invalid(field, "must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Invalid(field, "scheme %q is not allowed: only http and https", u.Scheme)
	}
	if u.User != nil {
		return Invalid(field, "must not carry credentials: the signature authenticates the sender")
	}
	if u.Fragment != "" || u.Host == "" || u.Hostname() == "" {
		return Invalid(field, "must name a host and no fragment")
	}
	if strings.ContainsAny(u.Hostname(), " \t\r\n") {
		return Invalid(field, "the host is malformed")
	}
	host, port := hostPort(u.Scheme, u.Host)
	for _, s := range self {
		if s == "" {
			continue
		}
		scheme, hp := "", s
		if su, err := url.Parse(s); err == nil && su.Host != "" {
			scheme, hp = su.Scheme, su.Host
		}
		sh, sp := hostPort(scheme, hp)
		// A bare host (a request's Host header) stands for every port.
		anyPort := scheme == "" && !strings.Contains(strings.TrimPrefix(hp, "["+strings.Trim(sh, "[]")+"]"), ":")
		if (anyPort || port == sp) && sameMachineHost(host, sh) {
			return Invalid(field, "points at the control plane itself")
		}
	}
	return nil
}

func hostPort(scheme, hp string) (string, string) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		h, p = strings.Trim(hp, "[]"), ""
	}
	if p == "" {
		p = "80"
		if scheme == "https" {
			p = "443"
		}
	}
	return strings.ToLower(strings.TrimSuffix(h, ".")), p
}

func sameMachineHost(a, b string) bool {
	if a == b {
		return true
	}
	return loopbackOrAny(a) && loopbackOrAny(b)
}

// loopbackOrAny reports whether h names this machine: localhost, a
// loopback address, or the unspecified address a server listens on.
func loopbackOrAny(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && (a.Unmap().IsLoopback() || a.IsUnspecified())
}

// DeliveryStatus is where a webhook delivery is.
type DeliveryStatus string

// The delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // not yet delivered; more attempts to come
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // every attempt failed
)

// DeliveryAttempt is one POST of a delivery.
type DeliveryAttempt struct {
	At time.Time `json:"at"`
	// StatusCode is the receiver's HTTP status (0 when none came).
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// Delivery is one notification sent to one webhook, with every attempt.
type Delivery struct {
	ID           string `json:"id"`
	WebhookID    string `json:"webhook_id"`
	DeploymentID string `json:"deployment_id"`
	// EventID and EventType name the notification (Notice.ID, Notice.Type).
	EventID   string            `json:"event_id"`
	EventType string            `json:"event_type"`
	RunID     string            `json:"run_id,omitempty"`
	Status    DeliveryStatus    `json:"status"`
	Attempts  []DeliveryAttempt `json:"attempts"`
	// NextAttemptAt, while pending, is when the next attempt is due.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// Payload is the JSON document sent (the Notice), byte for byte.
	Payload   json.RawMessage `json:"payload"`
	Version   int             `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// DerivedID returns an identifier shaped like NewID's (so it sorts by t)
// whose random part is instead derived from seed: the same seed and time
// give the same ID, so a repeated request names the same thing.
func DerivedID(prefix string, t time.Time, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	copy(b[6:], sum[:10])
	return prefix + idEncoding.EncodeToString(b[:])[:26]
}
