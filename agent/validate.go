package agent

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a Profile may hold. They keep every registration small
// enough for one event of the log and bound the registry's memory.
const (
	MaxIDLen           = 128      // bytes of an agent id
	MaxNameLen         = 256      // bytes of Name
	MaxDescriptionLen  = 4096     // bytes of Description
	MaxCapabilities    = 64       // capabilities of one agent
	MaxCapabilityLen   = 128      // bytes of one capability
	MaxEndpointLen     = 2048     // bytes of Endpoint and of CardURL
	MaxMetadataEntries = 64       // keys of Metadata
	MaxMetadataSize    = 64 << 10 // bytes of Metadata's keys and values together
)

// Validate checks p as Registry.Register would, and returns an *Error
// naming the first field at fault:
//
//   - ID: required; at most MaxIDLen bytes of ASCII letters, digits and
//     . _ - : @ /, starting with a letter or a digit.
//   - Capabilities: at least one and at most MaxCapabilities, each
//     non-empty, at most MaxCapabilityLen bytes of UTF-8 with no control
//     character and no space at either end.
//   - Endpoint: required, at most MaxEndpointLen bytes. For the protocols
//     ProtocolWebhook and ProtocolA2A it must be an absolute http or https
//     URL with a host.
//   - Protocol: empty or one of the Protocol constants.
//   - Status: empty (meaning StatusActive) or a valid Status.
//   - Load: within [0, 1].
//   - Name, Description: UTF-8 of at most MaxNameLen and
//     MaxDescriptionLen bytes.
//   - Metadata: at most MaxMetadataEntries non-empty keys of UTF-8, each
//     value valid JSON text (UTF-8 included), MaxMetadataSize bytes in all.
//   - CardURL: empty, or an absolute http or https URL.
//
// Every string must be valid UTF-8: a decoder that replaced invalid bytes
// with U+FFFD would hide them from this check, so the server refuses a
// request body that is not UTF-8 before it decodes it.
//
// LastHeartbeat is not checked: the registry sets it.
func (p *Profile) Validate() error {
	if err := checkID(p.ID); err != nil {
		return err
	}
	if err := checkText("name", p.Name, MaxNameLen); err != nil {
		return err
	}
	if err := checkText("description", p.Description, MaxDescriptionLen); err != nil {
		return err
	}
	if err := checkCapabilities(p.Capabilities); err != nil {
		return err
	}
	switch p.Protocol {
	case "", ProtocolA2A, ProtocolWebhook, ProtocolInProcess:
	default:
		return invalid("protocol", "unknown protocol %q: want %q, %q or %q", clip(p.Protocol), ProtocolA2A, ProtocolWebhook, ProtocolInProcess)
	}
	if err := checkEndpoint(p.Endpoint, p.Transport()); err != nil {
		return err
	}
	if p.Status != "" && !p.Status.Valid() {
		return invalid("status", "unknown status %q: want %q, %q, %q or %q", clip(string(p.Status)), StatusActive, StatusBusy, StatusMaintenance, StatusOffline)
	}
	if err := checkLoad(p.Load); err != nil {
		return err
	}
	if err := checkMetadata(p.Metadata); err != nil {
		return err
	}
	if p.CardURL != "" {
		if err := checkURL("card_url", p.CardURL); err != nil {
			return err
		}
	}
	return nil
}

// ValidID reports whether id may name an agent (see Profile.Validate).
func ValidID(id string) bool { return checkID(id) == nil }

func checkID(id string) error {
	if id == "" {
		return missing("id")
	}
	if len(id) > MaxIDLen {
		return invalid("id", "longer than %d bytes", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum || i > 0 && strings.IndexByte("._-:@/", c) >= 0 {
			continue
		}
		if i == 0 {
			return invalid("id", "%q must start with a letter or a digit", clip(id))
		}
		return invalid("id", "%q has a character other than letters, digits and . _ - : @ / at byte %d", clip(id), i)
	}
	return nil
}

func checkText(field, s string, maxLen int) error {
	if len(s) > maxLen {
		return invalid(field, "longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	return nil
}

func checkCapabilities(caps []string) error {
	if len(caps) == 0 {
		return &Error{Code: CodeMissingField, Field: "capabilities", Msg: "at least one capability is required"}
	}
	if len(caps) > MaxCapabilities {
		return invalid("capabilities", "%d capabilities, more than %d", len(caps), MaxCapabilities)
	}
	for i, c := range caps {
		field := fmt.Sprintf("capabilities[%d]", i)
		if err := checkCapability(field, c); err != nil {
			return err
		}
	}
	return nil
}

func checkCapability(field, c string) error {
	switch {
	case c == "":
		return &Error{Code: CodeMissingField, Field: field, Msg: "empty capability"}
	case len(c) > MaxCapabilityLen:
		return invalid(field, "longer than %d bytes", MaxCapabilityLen)
	case !utf8.ValidString(c):
		return invalid(field, "not valid UTF-8")
	case strings.TrimSpace(c) != c:
		return invalid(field, "%q has a space at an end", clip(c))
	case strings.IndexFunc(c, unicode.IsControl) >= 0:
		return invalid(field, "%q has a control character", clip(c))
	}
	return nil
}

func checkEndpoint(ep, transport string) error {
	if ep == "" {
		return missing("endpoint")
	}
	if len(ep) > MaxEndpointLen {
		return invalid("endpoint", "longer than %d bytes", MaxEndpointLen)
	}
	if transport == ProtocolInProcess {
		if !utf8.ValidString(ep) || strings.IndexFunc(ep, unicode.IsControl) >= 0 {
			return invalid("endpoint", "handler name %q is not printable UTF-8", clip(ep))
		}
		return nil
	}
	return checkURL("endpoint", ep)
}

// checkURL requires an absolute http or https URL with a host.
func checkURL(field, s string) error {
	if len(s) > MaxEndpointLen {
		return invalid(field, "longer than %d bytes", MaxEndpointLen)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid(field, "%q is not a URL", clip(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid(field, "%q is not an absolute http or https URL", clip(s))
	}
	if u.Host == "" {
		return invalid(field, "%q has no host", clip(s))
	}
	return nil
}

func checkLoad(l float64) error {
	if math.IsNaN(l) || l < 0 || l > 1 {
		return invalid("load", "%v is outside [0, 1]", l)
	}
	return nil
}

func checkMetadata(m map[string]json.RawMessage) error {
	if len(m) > MaxMetadataEntries {
		return invalid("metadata", "%d entries, more than %d", len(m), MaxMetadataEntries)
	}
	size := 0
	for k, v := range m {
		if k == "" {
			return invalid("metadata", "empty key")
		}
		if !utf8.ValidString(k) {
			return invalid("metadata", "key is not valid UTF-8")
		}
		if !json.Valid(v) {
			return invalid("metadata."+clip(k), "not valid JSON")
		}
		if !utf8.Valid(v) {
			return invalid("metadata."+clip(k), "not valid UTF-8")
		}
		size += len(k) + len(v)
	}
	if size > MaxMetadataSize {
		return invalid("metadata", "%d bytes, more than %d", size, MaxMetadataSize)
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
