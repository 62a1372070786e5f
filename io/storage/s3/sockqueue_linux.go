package s3

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"
)

// unackedBytes is the number of bytes in conn's send queue that the peer
// has not acknowledged (the SIOCOUTQ ioctl); known is false for a
// connection that is not a TCP socket.
func unackedBytes(conn net.Conn) (n int, known bool) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var v int32
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&v)))
	}); err != nil || errno != 0 {
		return 0, false
	}
	return int(v), true
}
