package widget

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// wsBufferSize is the read and the write buffer of one widget socket. net/http hands a
// hijacked connection over with a 4 KiB reader and a new 4 KiB writer; an idle socket would
// keep both for its lifetime. Frames are small (16 KiB at most, most under 1 KiB): a frame
// larger than the buffer is read or written past it, at the cost of one more system call.
const wsBufferSize = 1 << 10

// leanHijack hands coder/websocket the hijacked connection with small buffers (see
// wsBufferSize). What the server already read past the handshake is kept in front of the
// connection.
type leanHijack struct{ http.ResponseWriter }

func (w leanHijack) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w leanHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // nothing is buffered there at hijack, but be sure
		conn.Close()
		return nil, nil, err
	}
	n := brw.Reader.Buffered()
	if n == 0 {
		return conn, bufio.NewReadWriter(bufio.NewReaderSize(conn, wsBufferSize), bufio.NewWriterSize(conn, wsBufferSize)), nil
	}
	// The client's first frames came in with the handshake. They must sit in the new reader's
	// buffer, not behind it: coder/websocket keeps what is buffered and reads the connection
	// directly after it.
	early, _ := brw.Reader.Peek(n)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), max(wsBufferSize, n))
	if _, err := br.Peek(n); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, wsBufferSize)), nil
}
