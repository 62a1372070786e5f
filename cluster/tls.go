package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLS is optional and set by environment, so that every process of a
// cluster (head, nodes, the workers nodes start, drivers) picks it up the
// same way: servers with SHOAL_TLS_CERT and SHOAL_TLS_KEY (PEM files)
// serve TLS; clients with SHOAL_TLS_CA (a PEM bundle) speak TLS and trust
// only those CAs. The token is still checked on every call; TLS keeps it,
// and the data, from being read on the network.
const (
	EnvTLSCert = "SHOAL_TLS_CERT"
	EnvTLSKey  = "SHOAL_TLS_KEY"
	EnvTLSCA   = "SHOAL_TLS_CA"
)

// serverTLS is the servers' TLS config, nil when SHOAL_TLS_CERT and
// SHOAL_TLS_KEY are unset.
func serverTLS() (*tls.Config, error) {
	cert, key := os.Getenv(EnvTLSCert), os.Getenv(EnvTLSKey)
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, fmt.Errorf("cluster: TLS needs both %s and %s", EnvTLSCert, EnvTLSKey)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("cluster: loading the TLS certificate (%s=%s, %s=%s): %w", EnvTLSCert, cert, EnvTLSKey, key, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// clientTLS is the clients' TLS config, nil when SHOAL_TLS_CA is unset.
func clientTLS() (*tls.Config, error) {
	ca := os.Getenv(EnvTLSCA)
	if ca == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("cluster: reading the TLS CA (%s): %w", EnvTLSCA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster: %s=%s holds no PEM certificate", EnvTLSCA, ca)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// checkTLS says, before a server starts, whether its TLS settings load.
func checkTLS() error {
	_, serr := serverTLS()
	_, cerr := clientTLS()
	return errors.Join(serr, cerr)
}

// serverCreds is the server option for TLS, none without it. Settings
// that do not load were refused by checkTLS before the server started.
func serverCreds() []grpc.ServerOption {
	cfg, err := serverTLS()
	if err != nil || cfg == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}
}

// clientCreds are a client's transport credentials: TLS with
// SHOAL_TLS_CA, plain TCP without.
func clientCreds() (credentials.TransportCredentials, error) {
	cfg, err := clientTLS()
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return insecure.NewCredentials(), nil
	}
	return credentials.NewTLS(cfg), nil
}
