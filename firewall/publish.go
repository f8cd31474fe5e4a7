package firewall

import (
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Publishing is encoded here, not through google/nftables' types, for two
// things that library cannot express: the NAT flag
// NF_NAT_RANGE_PROTO_OFFSET, which maps a run of host ports onto a run of
// container ports (ranges.go), and DNAT maps whose values are ranges the
// way nft itself stores them (address . port . address . port, marked as
// an interval in the set's user data), so that "nft list ruleset" prints
// them. publishMessages creates the maps, fills them and replaces the
// publish chain's rules, at the end of the transaction that installs
// everything (txn.go); every other expression is
// encoded by the library. Later element changes go through the library,
// which only needs the maps' names.

// natProtoOffset is NF_NAT_RANGE_PROTO_OFFSET from linux/netfilter/nf_nat.h.
const natProtoOffset = 1 << 5

// publishRule is one DNAT rule: "dnat to <key> map @m".
type publishRule struct {
	match []expr.Any // nfproto check, key build, map lookup
	fam   uint32     // NFPROTO_IPV4 or NFPROTO_IPV6
	// Registers the lookup leaves the address and the port window in.
	addrLo, portLo, addrHi, portHi uint32
}

// publishRules are the publish chain's rules, in order.
func (s *schema) publishRules() []publishRule {
	dnat := func(fam byte, m *nftables.Set, withAddr bool) publishRule {
		addrLen, addrOff := uint32(4), uint32(16)
		if fam == unix.NFPROTO_IPV6 {
			addrLen, addrOff = 16, 24
		}
		key := []expr.Any{}
		next := uint32(reg32a)
		if withAddr {
			key = append(key, &expr.Payload{DestRegister: next, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: addrLen})
			next += addrLen / 4
		}
		key = append(key,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next},
			&expr.Payload{DestRegister: next + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		)
		// The value (address . lo . address . hi, nft's own layout for
		// a NAT range) lands in the registers from reg1 on.
		lo := uint32(reg32a) + addrLen/4
		return publishRule{
			match: cat(nfproto(fam), key, one(
				&expr.Lookup{SourceRegister: reg32a, DestRegister: reg1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
			)),
			fam: uint32(fam), addrLo: reg1, portLo: lo, addrHi: lo + 1, portHi: lo + 1 + addrLen/4,
		}
	}
	// A single port is looked up in a hash map (constant cost to add,
	// whatever the number of mappings); a run of ports in an interval map.
	return []publishRule{
		dnat(unix.NFPROTO_IPV4, s.pub4, true),
		dnat(unix.NFPROTO_IPV4, s.run4, true),
		dnat(unix.NFPROTO_IPV4, s.pub4any, false),
		dnat(unix.NFPROTO_IPV4, s.run4any, false),
		dnat(unix.NFPROTO_IPV6, s.pub6, true),
		dnat(unix.NFPROTO_IPV6, s.run6, true),
		dnat(unix.NFPROTO_IPV6, s.pub6any, false),
		dnat(unix.NFPROTO_IPV6, s.run6any, false),
	}
}

// encode builds the rule's NFTA_RULE_EXPRESSIONS list.
func (r publishRule) encode() ([]byte, error) {
	var elems []netlink.Attribute
	for _, e := range r.match {
		b, err := expr.Marshal(unix.NFPROTO_INET, e)
		if err != nil {
			return nil, err
		}
		elems = append(elems, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: b})
	}
	be := binaryutil.BigEndian.PutUint32
	natData, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_NAT_TYPE, Data: be(unix.NFT_NAT_DNAT)},
		{Type: unix.NFTA_NAT_FAMILY, Data: be(r.fam)},
		{Type: unix.NFTA_NAT_REG_ADDR_MIN, Data: be(r.addrLo)},
		{Type: unix.NFTA_NAT_REG_ADDR_MAX, Data: be(r.addrHi)},
		{Type: unix.NFTA_NAT_REG_PROTO_MIN, Data: be(r.portLo)},
		{Type: unix.NFTA_NAT_REG_PROTO_MAX, Data: be(r.portHi)},
		{Type: unix.NFTA_NAT_FLAGS, Data: be(unix.NF_NAT_RANGE_PROTO_SPECIFIED | natProtoOffset)},
	})
	if err != nil {
		return nil, err
	}
	nat, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_EXPR_NAME, Data: []byte("nat\x00")},
		{Type: unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, Data: natData},
	})
	if err != nil {
		return nil, err
	}
	elems = append(elems, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: nat})
	return netlink.MarshalAttributes(elems)
}

// publishMap describes one DNAT map for NFT_MSG_NEWSET.
type publishMap struct {
	set    *nftables.Set
	key    []uint32 // field types (nft's type numbers) and
	keyLen []uint32 // their lengths
	addr   uint32   // the address type of the value
	alen   uint32
}

// nft's datatype numbers (src/datatype.h) and the bits a concatenation
// shifts each by.
const (
	typeIPv4    = 7
	typeIPv6    = 8
	typeProto   = 12
	typeService = 13
	typeBits    = 6
)

func (s *schema) publishMaps() []publishMap {
	v4 := []uint32{typeIPv4, typeProto, typeService}
	v6 := []uint32{typeIPv6, typeProto, typeService}
	anyKey := []uint32{typeProto, typeService}
	l4, l6, lany := []uint32{4, 1, 2}, []uint32{16, 1, 2}, []uint32{1, 2}
	return []publishMap{
		{s.pub4, v4, l4, typeIPv4, 4},
		{s.pub4any, anyKey, lany, typeIPv4, 4},
		{s.pub6, v6, l6, typeIPv6, 16},
		{s.pub6any, anyKey, lany, typeIPv6, 16},
		{s.run4, v4, l4, typeIPv4, 4},
		{s.run4any, anyKey, lany, typeIPv4, 4},
		{s.run6, v6, l6, typeIPv6, 16},
		{s.run6any, anyKey, lany, typeIPv6, 16},
	}
}

// Constants of linux/netfilter/nf_tables.h that x/sys/unix lacks.
const (
	nftaSetFieldLen   = 1    // NFTA_SET_FIELD_LEN
	nftaSetDescConcat = 2    // NFTA_SET_DESC_CONCAT
	nftSetConcat      = 0x80 // NFT_SET_CONCAT
	nftaSetElemKeyEnd = 10   // NFTA_SET_ELEM_KEY_END
)

func concatType(types ...uint32) uint32 {
	var t uint32
	for _, x := range types {
		t = t<<typeBits | x
	}
	return t
}

func regLen(n uint32) uint32 { return (n + 3) &^ 3 }

// newSet encodes NFT_MSG_NEWSET's attributes for m.
func (m publishMap) newSet(table string, id uint32) ([]byte, error) {
	be := binaryutil.BigEndian.PutUint32
	var keyLen uint32
	var fields []netlink.Attribute
	for _, l := range m.keyLen {
		keyLen += regLen(l)
		f, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: nftaSetFieldLen, Data: be(l)}})
		if err != nil {
			return nil, err
		}
		fields = append(fields, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: f})
	}
	udata := userdata.AppendUint32(nil, userdata.NFTNL_UDATA_SET_KEYBYTEORDER, 2)
	udata = userdata.AppendUint32(udata, userdata.NFTNL_UDATA_SET_DATA_INTERVAL, 1)
	attrs := []netlink.Attribute{
		{Type: unix.NFTA_SET_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_SET_NAME, Data: []byte(m.set.Name + "\x00")},
		{Type: unix.NFTA_SET_FLAGS, Data: be(unix.NFT_SET_MAP)},
		{Type: unix.NFTA_SET_KEY_TYPE, Data: be(concatType(m.key...))},
		{Type: unix.NFTA_SET_KEY_LEN, Data: be(keyLen)},
		{Type: unix.NFTA_SET_DATA_TYPE, Data: be(concatType(m.addr, typeService))},
		{Type: unix.NFTA_SET_DATA_LEN, Data: be(2 * (m.alen + 4))},
		{Type: unix.NFTA_SET_ID, Data: be(id)},
		{Type: unix.NFTA_SET_USERDATA, Data: udata},
	}
	if m.set.Interval {
		// Interval keys of several fields need the fields' lengths.
		concat, err := netlink.MarshalAttributes(fields)
		if err != nil {
			return nil, err
		}
		desc, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLA_F_NESTED | nftaSetDescConcat, Data: concat}})
		if err != nil {
			return nil, err
		}
		attrs[2].Data = be(unix.NFT_SET_INTERVAL | unix.NFT_SET_MAP | nftSetConcat)
		attrs = append(attrs, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_SET_DESC, Data: desc})
	}
	return netlink.MarshalAttributes(attrs)
}

// elemList encodes NFT_MSG_NEWSETELEM's attributes.
func elemList(table, set string, els []nftables.SetElement) ([]byte, error) {
	data := func(b []byte) ([]byte, error) {
		return netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: b}})
	}
	var items []netlink.Attribute
	for _, e := range els {
		k, err := data(e.Key)
		if err != nil {
			return nil, err
		}
		ke, err := data(e.KeyEnd)
		if err != nil {
			return nil, err
		}
		v, err := data(e.Val)
		if err != nil {
			return nil, err
		}
		attrs := []netlink.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_KEY, Data: k}}
		if e.KeyEnd != nil {
			attrs = append(attrs, netlink.Attribute{Type: unix.NLA_F_NESTED | nftaSetElemKeyEnd, Data: ke})
		}
		attrs = append(attrs, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_DATA, Data: v})
		item, err := netlink.MarshalAttributes(attrs)
		if err != nil {
			return nil, err
		}
		items = append(items, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: item})
	}
	list, err := netlink.MarshalAttributes(items)
	if err != nil {
		return nil, err
	}
	return netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(set + "\x00")},
		{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_LIST_ELEMENTS, Data: list},
	})
}

// publishMessages encodes what makes the DNAT maps hold els (replacing
// the maps named in old, of an older type) and the publish chain hold its
// rules, for the end of a transaction that has made the table and the
// chain exist.
func (s *schema) publishMessages(els map[*nftables.Set][]nftables.SetElement, old []string) ([]netlink.Message, error) {
	msg := func(typ int, flags netlink.HeaderFlags, attrs []byte) netlink.Message {
		return netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), Flags: netlink.Request | netlink.Acknowledge | flags},
			Data:   append(nfgen(unix.NFPROTO_INET, 0), attrs...),
		}
	}
	table := s.inet.Name
	chainAttrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(s.publish.Name + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	// Flush the chain first: its rules refer to the maps.
	body := []netlink.Message{msg(unix.NFT_MSG_DELRULE, 0, chainAttrs)}
	for i, m := range s.publishMaps() {
		name, err := netlink.MarshalAttributes([]netlink.Attribute{
			{Type: unix.NFTA_SET_TABLE, Data: []byte(table + "\x00")},
			{Type: unix.NFTA_SET_NAME, Data: []byte(m.set.Name + "\x00")},
		})
		if err != nil {
			return nil, err
		}
		if slices.Contains(old, m.set.Name) {
			body = append(body, msg(unix.NFT_MSG_DELSET, 0, name))
		}
		set, err := m.newSet(table, uint32(i+1))
		if err != nil {
			return nil, fmt.Errorf("encode map %s: %w", m.set.Name, err)
		}
		body = append(body, msg(unix.NFT_MSG_NEWSET, netlink.Create, set))
		// A set element message naming no elements flushes the set.
		flush, err := netlink.MarshalAttributes([]netlink.Attribute{
			{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(table + "\x00")},
			{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(m.set.Name + "\x00")},
		})
		if err != nil {
			return nil, err
		}
		body = append(body, msg(unix.NFT_MSG_DELSETELEM, 0, flush))
		// Many elements go in messages of bounded size.
		for _, e := range chunks(els[m.set]) {
			list, err := elemList(table, m.set.Name, e)
			if err != nil {
				return nil, fmt.Errorf("encode map %s: %w", m.set.Name, err)
			}
			body = append(body, msg(unix.NFT_MSG_NEWSETELEM, netlink.Create, list))
		}
	}
	for _, r := range s.publishRules() {
		exprs, err := r.encode()
		if err != nil {
			return nil, fmt.Errorf("encode publish rule: %w", err)
		}
		list, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: exprs}})
		if err != nil {
			return nil, err
		}
		body = append(body, msg(unix.NFT_MSG_NEWRULE, netlink.Create|unix.NLM_F_APPEND, append(append([]byte(nil), chainAttrs...), list...)))
	}
	return body, nil
}
