package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/exec"
)

// writeCerts makes a CA and a certificate it signs for 127.0.0.1 and
// localhost, as PEM files in dir: ca.pem, cert.pem, key.pem.
func writeCerts(t *testing.T, dir, name string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, der []byte) string {
		p := filepath.Join(dir, name+"-"+file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// TestTLS: with SHOAL_TLS_CERT, SHOAL_TLS_KEY and SHOAL_TLS_CA set, the
// head, a node and the worker it starts (which inherits them) serve TLS, a
// task runs, and clients without TLS or trusting another CA are refused.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir, "cluster")
	otherCA, _, _ := writeCerts(t, dir, "other")
	t.Setenv(EnvTLSCert, cert)
	t.Setenv(EnvTLSKey, key)
	t.Setenv(EnvTLSCA, ca)

	h := startHead(t)
	n := startTaskNode(t, h.Addr(), 2)
	ctx := context.Background()
	c := connectT(t, h.Addr(), testToken, ProtocolVersion)
	st, err := c.Status(ctx)
	if err != nil || len(st.Nodes) != 1 {
		t.Fatalf("status over TLS: %+v, %v", st.Nodes, err)
	}
	path, hash := testBinary(t)
	if err := n.client.EnsureBinary(ctx, path, hash); err != nil {
		t.Fatal(err)
	}
	in := putInts(t, n.client, 1, 2, 3)
	defer n.client.Release(ctx, in)
	res, err := n.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, Operator: "double",
		Inputs: []RemoteBlock{{Addr: n.Addr(), ID: in}}})
	if err != nil {
		t.Fatalf("a task on a worker over TLS: %v", err)
	}
	out := objDialToken(t, res.Addr, testToken)
	if got := getInts(t, out, res.Outputs[0].ID, memory.DefaultAllocator); len(got) != 3 || got[2] != 6 {
		t.Fatalf("the task's output over TLS: %v", got)
	}
	_ = out.Release(ctx, res.Outputs[0].ID)

	// Without TLS, and trusting another CA: refused.
	for _, tc := range []struct{ name, ca string }{{"plain", ""}, {"another CA", otherCA}} {
		t.Setenv(EnvTLSCA, tc.ca)
		bad, err := Connect(h.Addr(), testToken)
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = bad.Status(sctx)
			cancel()
			bad.Close()
		}
		if err == nil {
			t.Errorf("a client %s reached a TLS head", tc.name)
		}
	}
	// Settings that do not load stop a server before it starts.
	t.Setenv(EnvTLSCA, ca)
	t.Setenv(EnvTLSKey, "")
	if _, err := StartHead(HeadConfig{Addr: "127.0.0.1:0", Token: testToken}); err == nil || !strings.Contains(err.Error(), EnvTLSKey) {
		t.Errorf("a head with a certificate and no key: %v", err)
	}
}
