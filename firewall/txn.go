package firewall

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A txn is one nftables transaction, built in memory and sent to the
// kernel in one batch by Firewall.commitLocked. Nothing reaches the kernel
// before then, and a txn that fails to build is dropped with everything
// it holds: no message of it can go out with a later transaction (a
// shared google/nftables Conn keeps what was queued until its next Flush,
// and keeps an encoding error forever).
//
// google/nftables encodes most messages: each txn has a Conn of its own
// whose Flush hands the encoded batch to capture (through the library's
// dial hook, the only way it offers to obtain its encoding) instead of a
// socket. The messages patchbay encodes itself (publish.go) follow them in
// the same batch, so a full install is one transaction.
type txn struct {
	*nftables.Conn
	lib []netlink.Message // what the Conn encoded, once built
	raw []netlink.Message // encoded by patchbay, sent after lib
}

func newTxn() *txn {
	t := &txn{}
	// New cannot fail without a lasting connection: it dials nothing.
	t.Conn, _ = nftables.New(nftables.WithTestDial(t.capture))
	return t
}

// capture stands for the kernel while the Conn flushes: it keeps the
// batch sent and acknowledges each message the Conn then waits for.
func (t *txn) capture(req []netlink.Message) ([]netlink.Message, error) {
	if req == nil {
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 4)}}, nil
	}
	for _, m := range req {
		switch m.Header.Type {
		case netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), netlink.HeaderType(unix.NFNL_MSG_BATCH_END):
			continue
		}
		// The real socket numbers and addresses them again.
		m.Header.Length, m.Header.Sequence, m.Header.PID = 0, 0, 0
		t.lib = append(t.lib, m)
	}
	return nil, nil
}

// messages returns the transaction's messages, in order.
func (t *txn) messages() ([]netlink.Message, error) {
	if err := t.Flush(); err != nil {
		return nil, fmt.Errorf("encode nftables transaction: %w", err)
	}
	return append(t.lib, t.raw...), nil
}

// replyWait bounds the wait for a reply. The kernel handles a batch while
// sending it, so every reply is queued before SendMessages returns; only
// a batch refused as a whole, answered once instead of once per message,
// makes the wait end this way.
const replyWait = 5 * time.Second

// send sends body as one batch on c and reads one answer per message, an
// acknowledgement or an error (patchbay's messages all ask for one), so none is
// left for the next transaction to read. On error the kernel applied none of the batch; broken reports
// that c may still hold replies and must be closed.
func send(c *netlink.Conn, body []netlink.Message) (broken bool, err error) {
	batch := make([]netlink.Message, 0, len(body)+2)
	batch = append(batch, batchMsg(unix.NFNL_MSG_BATCH_BEGIN))
	batch = append(batch, body...)
	batch = append(batch, batchMsg(unix.NFNL_MSG_BATCH_END))
	if _, err := c.SendMessages(batch); err != nil {
		return true, fmt.Errorf("send nftables transaction: %w", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(replyWait)); err != nil {
		return true, err
	}
	want := 0
	for _, m := range body {
		if m.Header.Flags&netlink.Acknowledge != 0 {
			want++
		}
	}
	var first error
	for got := 0; got < want; {
		replies, err := c.Receive()
		var oe *netlink.OpError
		switch {
		case err == nil:
			// Acknowledgements, and the rules google/nftables asks the
			// kernel to echo back, which are no answer of their own.
			for _, r := range replies {
				if r.Header.Type == netlink.Error {
					got++
				}
			}
			continue
		case !errors.As(err, &oe) || errors.Is(oe.Err, unix.ENOBUFS) || errors.Is(oe.Err, unix.EPERM) || oe.Timeout():
			// Replies were lost, or the batch was refused whole.
			return true, fmt.Errorf("nftables transaction: %w", err)
		}
		// An error in place of an acknowledgement: the kernel goes on
		// answering the rest of the batch.
		got++
		if first == nil {
			first = fmt.Errorf("nftables transaction: %w", oe.Err)
		}
	}
	return false, first
}

// batchMsg is a batch's begin or end marker.
func batchMsg(typ int) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request},
		Data:   nfgen(0, unix.NFNL_SUBSYS_NFTABLES),
	}
}

// nfgen is the nfgenmsg header every nftables message starts with.
func nfgen(family uint8, resID uint16) []byte {
	return []byte{family, unix.NFNETLINK_V0, byte(resID >> 8), byte(resID)}
}
