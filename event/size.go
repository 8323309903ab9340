package event

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonSize returns len(e.AppendJSON(nil)) without building the encoding.
func (e *Event) jsonSize() int {
	n := len(`{"specversion":,"id":,"source":,"type":}`) +
		stringSize(e.SpecVersion) + stringSize(e.ID) + stringSize(e.Source) + stringSize(e.Type)
	attr := func(name, v string) {
		if v != "" {
			n += len(name) + 4 + stringSize(v) // ,"name":
		}
	}
	attr("subject", e.Subject)
	if !e.Time.IsZero() {
		var buf [64]byte
		n += len(`,"time":""`) + len(e.Time.AppendFormat(buf[:0], time.RFC3339Nano))
	}
	attr("datacontenttype", e.DataContentType)
	attr("dataschema", e.DataSchema)
	attr("correlationid", e.CorrelationID)
	attr("causationid", e.CausationID)
	if e.Hops != 0 {
		var buf [24]byte
		n += len(`,"hops":`) + len(strconv.AppendInt(buf[:0], int64(e.Hops), 10))
	}
	for k, v := range e.Extensions {
		n += 2 + stringSize(k) + textSize(v) // , and :
	}
	if e.Data != nil {
		n += len(`,"data":`) + textSize(e.Data)
	} else if e.DataBase64 != nil {
		n += len(`,"data_base64":""`) + base64.StdEncoding.EncodedLen(len(e.DataBase64))
	}
	return n
}

// stringSize returns len(jsonw.String(nil, s)).
func stringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c != '"' && c != '\\':
				n++
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			default:
				n += 6
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// textSize returns len(appendText(nil, b)).
func textSize(b []byte) int {
	if utf8.Valid(b) {
		return len(b)
	}
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			n += len(`\ufffd`)
		} else {
			n += size
		}
		b = b[size:]
	}
	return n
}
