package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strconv"
	"sync"
	"unicode/utf8"
)

// One pass per record for the indexer: DecodeRecord scans a Kafka record value once and, from that one
// tree, validates it (the fast table of validate_fast.go), checks that it is in canonical form, verifies its
// hash over its own bytes, and decodes the envelope and the typed data (strings point into one copy of the
// record: no per-field allocation). Like fastValid it only ever says "yes": anything it cannot judge
// cheaply — escapes in keys, non-canonical bytes, a hash that does not match — is left to Parse, Validate
// and VerifyEvent, which decide and word the error, so accepting and refusing stay exactly theirs
// (decode_fast_test.go holds DecodeRecord to them, and its decoding to encoding/json's).

// Decoded is a record DecodeRecord accepted.
type Decoded struct {
	Event Event  // envelope; its strings share Raw's memory and Data aliases the record bytes
	Data  any    // the typed data struct (a pointer, as NewData returns), decoded
	Raw   string // the record value as a string
	// DataRaw is the canonical data member, a substring of Raw.
	DataRaw string
}

// DecodeRecord decodes, validates and verifies record in one scan. ok false means "not decided here": use
// Parse, Validate and VerifyEvent, whose verdict and words count.
func DecodeRecord(record []byte) (d Decoded, ok bool) {
	if !utf8.Valid(record) {
		return d, false
	}
	sc := scratchPool.Get().(*scratch)
	defer putScratch(sc)
	nodes, err := scanJSON(record, true, sc.nodes)
	sc.nodes = nodes[:0]
	if err != nil || nodes[0].kind != kObject {
		return d, false
	}
	fastTables.once.Do(loadFastTables)
	if nodes[0].start != 0 || int(nodes[0].end) != len(record) || !fastValidNodes(record, nodes) || !canonicalNodes(record, nodes) {
		return d, false
	}
	raw := string(record)
	d.Raw = raw
	e := &d.Event
	var hashKey int32 = -1
	var dataNode int32 = -1
	for k := int32(1); k < nodes[0].next; k = nodes[k+1].next {
		kn, vn := &nodes[k], &nodes[k+1]
		key := raw[kn.start+1 : kn.end-1]
		str := func() (string, bool) {
			if vn.kind != kString {
				return "", false
			}
			if vn.esc {
				return string(appendUnquoted(nil, record[vn.start:vn.end])), true
			}
			return raw[vn.start+1 : vn.end-1], true
		}
		good := true
		switch key {
		case "v":
			e.V = Version // fastValid accepts only "v":1
		case "id":
			e.ID, good = str()
		case "type":
			e.Type, good = str()
		case "time":
			e.Time, good = str()
		case "session":
			e.Session, good = str()
		case "seq":
			e.Seq, err = strconv.ParseUint(raw[vn.start:vn.end], 10, 64)
			good = err == nil
		case "prev":
			e.Prev, good = str()
		case "hash":
			e.Hash, good = str()
			hashKey = k
		case "gateway":
			for g := k + 2; g < vn.next; g = nodes[g+1].next {
				gk, gv := &nodes[g], &nodes[g+1]
				val := raw[gv.start+1 : gv.end-1]
				if gv.esc {
					val = string(appendUnquoted(nil, record[gv.start:gv.end]))
				}
				switch raw[gk.start+1 : gk.end-1] {
				case "instance":
					e.Gateway.Instance = val
				case "version":
					e.Gateway.Version = val
				}
			}
		case "data":
			dataNode = k + 1
			d.DataRaw = raw[vn.start:vn.end]
			e.Data = record[vn.start:vn.end:vn.end]
		}
		if !good {
			return d, false
		}
	}
	if hashKey < 0 || dataNode < 0 || record[nodes[hashKey].start-1] != ',' {
		return d, false
	}
	// The record is canonical, so without its hash member it is exactly the bytes the hash covers.
	h := sha256.New()
	h.Write(record[:nodes[hashKey].start-1])
	h.Write(record[nodes[hashKey+1].end:])
	var sum [sha256.Size]byte
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], h.Sum(sum[:0]))
	if string(hx[:]) != e.Hash {
		return d, false
	}
	mk := dataTypes[e.Type]
	if mk == nil {
		return d, false
	}
	d.Data = mk()
	dec := nodeDecoder{raw: raw, doc: record, nodes: nodes}
	if !dec.decode(reflect.ValueOf(d.Data).Elem(), dataNode) {
		return Decoded{}, false
	}
	return d, true
}

// fastValidNodes is fastValid over an already scanned record.
func fastValidNodes(record []byte, nodes []jnode) bool {
	v := fastValidator{doc: record, nodes: nodes}
	return v.envelope()
}

// canonicalNodes reports whether the scanned document is already in canonical form (Canonical would return
// it unchanged): no whitespace between tokens, object keys without escapes in strictly ascending byte order,
// strings escaped the canonical way, integers only, written canonically.
func canonicalNodes(doc []byte, nodes []jnode) bool {
	for i := range nodes {
		n := &nodes[i]
		switch n.kind {
		case kObject:
			pos := n.start + 1 // just past '{'
			var prev []byte
			first := true
			for k := int32(i) + 1; k < n.next; k = nodes[k+1].next {
				kn, vn := &nodes[k], &nodes[k+1]
				if !first {
					if doc[pos] != ',' {
						return false
					}
					pos++
				}
				if kn.start != pos || kn.esc || doc[kn.end] != ':' || vn.start != kn.end+1 {
					return false
				}
				key := doc[kn.start+1 : kn.end-1]
				if !first && compareBytes(prev, key) >= 0 {
					return false
				}
				prev, first, pos = key, false, vn.end
			}
			if n.end != pos+1 {
				return false
			}
		case kArray:
			pos := n.start + 1
			first := true
			for c := int32(i) + 1; c < n.next; c = nodes[c].next {
				if !first {
					if doc[pos] != ',' {
						return false
					}
					pos++
				}
				if nodes[c].start != pos {
					return false
				}
				pos, first = nodes[c].end, false
			}
			if n.end != pos+1 {
				return false
			}
		case kString:
			if n.esc && !canonicalEscapes(doc[n.start+1:n.end-1]) {
				return false
			}
		case kNumber:
			lit := doc[n.start:n.end]
			for _, c := range lit {
				if c == '.' || c == 'e' || c == 'E' {
					return false
				}
			}
			if string(lit) == "-0" {
				return false
			}
		}
	}
	return true
}

// canonicalEscapes reports whether every escape in a string's content is the one Canonical writes: \" \\
// \b \t \n \f \r, and \u00xx (lower-case hex) only for the other control characters.
func canonicalEscapes(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		switch s[i+1] {
		case '"', '\\', 'b', 't', 'n', 'f', 'r':
			i++
		case 'u':
			if i+5 >= len(s) || s[i+2] != '0' || s[i+3] != '0' || !isLowHex(s[i+4]) || !isLowHex(s[i+5]) {
				return false
			}
			c := (hexVal(s[i+4]) << 4) | hexVal(s[i+5])
			if c >= 0x20 || c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r' {
				return false
			}
			i += 5
		default:
			return false
		}
	}
	return true
}

func hexVal(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// nodeDecoder fills Go values from a scanned, validated tree, as encoding/json.Unmarshal would.
type nodeDecoder struct {
	raw   string
	doc   []byte
	nodes []jnode
}

// fieldPlan maps JSON member names of a struct to field indexes.
type fieldPlan map[string]int

var plans sync.Map // reflect.Type → fieldPlan

func planOf(t reflect.Type) fieldPlan {
	if p, ok := plans.Load(t); ok {
		return p.(fieldPlan)
	}
	p := fieldPlan{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("json")
		for j := 0; j < len(name); j++ {
			if name[j] == ',' {
				name = name[:j]
				break
			}
		}
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		p[name] = i
	}
	plans.Store(t, p)
	return p
}

func (d *nodeDecoder) str(i int32) string {
	n := &d.nodes[i]
	if !n.esc {
		return d.raw[n.start+1 : n.end-1]
	}
	return string(appendUnquoted(nil, d.doc[n.start:n.end]))
}

func (d *nodeDecoder) decode(v reflect.Value, i int32) bool {
	n := &d.nodes[i]
	if n.kind == kNull {
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			v.SetZero()
		}
		return true
	}
	switch v.Kind() {
	case reflect.String:
		if n.kind != kString {
			return false
		}
		v.SetString(d.str(i))
	case reflect.Bool:
		switch n.kind {
		case kTrue:
			v.SetBool(true)
		case kFalse:
			v.SetBool(false)
		default:
			return false
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.kind != kNumber {
			return false
		}
		x, err := strconv.ParseInt(d.raw[n.start:n.end], 10, v.Type().Bits())
		if err != nil {
			return false
		}
		v.SetInt(x)
	case reflect.Uint64, reflect.Uint32:
		if n.kind != kNumber {
			return false
		}
		x, err := strconv.ParseUint(d.raw[n.start:n.end], 10, v.Type().Bits())
		if err != nil {
			return false
		}
		v.SetUint(x)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(v.Elem(), i)
	case reflect.Slice:
		if n.kind != kArray {
			return false
		}
		cnt := 0
		for c := i + 1; c < n.next; c = d.nodes[c].next {
			cnt++
		}
		s := reflect.MakeSlice(v.Type(), cnt, cnt)
		j := 0
		for c := i + 1; c < n.next; c = d.nodes[c].next {
			if !d.decode(s.Index(j), c) {
				return false
			}
			j++
		}
		v.Set(s)
	case reflect.Map:
		if n.kind != kObject || v.Type().Key().Kind() != reflect.String {
			return false
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		et := v.Type().Elem()
		for k := i + 1; k < n.next; k = d.nodes[k+1].next {
			ev := reflect.New(et).Elem()
			if !d.decode(ev, k+1) {
				return false
			}
			v.SetMapIndex(reflect.ValueOf(d.str(k)).Convert(v.Type().Key()), ev)
		}
	case reflect.Struct:
		if n.kind != kObject {
			return false
		}
		p := planOf(v.Type())
		for k := i + 1; k < n.next; k = d.nodes[k+1].next {
			if d.nodes[k].esc {
				return false
			}
			f, ok := p[d.raw[d.nodes[k].start+1:d.nodes[k].end-1]]
			if !ok {
				return false
			}
			if !d.decode(v.Field(f), k+1) {
				return false
			}
		}
	default:
		return false
	}
	return true
}
