// Package event defines choreo's event: an immutable fact in the
// CloudEvents 1.0 shape, with the extensions correlationid, causationid and
// hops.
//
// Decode reads structured-mode JSON and AppendJSON writes it; the pair
// round-trips every attribute, unknown extensions included. Validate checks
// an event against the specification and a size limit, and reports the
// field at fault as an *Error with a stable code. Fill gives an event what
// a publisher may leave out: an id (UUIDv7, see NewID) and its correlation.
// AppendBinary and DecodeBinary are the compact form stores keep.
package event
