// Package testcert makes certificate authorities, certificates and keys
// for tests: an own certificate for an instance, a certificate that names
// another host or pairs with another key, a CA for a local ACME server's
// listener. Keys are ECDSA P-256 (fast to make); every certificate is
// valid from an hour ago for a year unless its options say otherwise.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a self-signed certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is the CA's certificate.
	PEM []byte
}

// NewCA returns a new CA called name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: c, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	// Chain is the certificate followed by its CA's, PEM.
	Chain []byte
	// Cert is the certificate alone, PEM.
	Cert []byte
	// Key is the private key, PEM (PKCS #8).
	Key []byte
	// SHA256 is the hex SHA-256 fingerprint of the certificate.
	SHA256 string
}

// Option changes the template of an issued certificate.
type Option func(*x509.Certificate)

// ValidUntil sets the end of the certificate's validity.
func ValidUntil(end time.Time) Option { return func(c *x509.Certificate) { c.NotAfter = end } }

// ValidFrom sets the start of the certificate's validity.
func ValidFrom(start time.Time) Option { return func(c *x509.Certificate) { c.NotBefore = start } }

// Issue returns a server certificate for names (DNS names or IP
// addresses) signed by ca.
func (ca *CA) Issue(t testing.TB, names []string, opts ...Option) Leaf {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	for _, o := range opts {
		o(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	sum := sha256.Sum256(der)
	return Leaf{Chain: append(append([]byte(nil), cert...), ca.PEM...), Cert: cert, Key: KeyPEM(t, key), SHA256: hex.EncodeToString(sum[:])}
}

// NewKeyPEM returns a fresh private key, PEM: one that matches no
// certificate.
func NewKeyPEM(t testing.TB) []byte {
	t.Helper()
	return KeyPEM(t, newKey(t))
}

// KeyPEM encodes key as a PKCS #8 PEM block.
func KeyPEM(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
