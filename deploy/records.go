package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/choreohq/choreo/event"
	"github.com/choreohq/choreo/store"
)

// Stream is the system stream that holds the deployments.
const Stream = "$choreographies"

// The records of Stream. Each has the choreography's name as its subject
// and JSON data.
const (
	// EventDeployed records a deployed version. Its data is {"name",
	// "version", "source", "sha256", "deployed_at", "rules"}: the source
	// text as given, the hex SHA-256 of that text, the time of the
	// deployment and the number of rules the source held then.
	EventDeployed = "choreo.choreography.deployed"
	// EventRemoved records a removal; its data is {"name", "version"},
	// the version that was current.
	EventRemoved = "choreo.choreography.removed"
	// EventRetired records that the runner of a replaced or removed
	// version appended the actions of every record up to the end of the
	// version; its data is {"name", "version", "end"}, end being the
	// global position of the record that ended the version. Its id derives
	// from the name and version, so the log keeps one per version.
	EventRetired = "choreo.choreography.retired"
	// EventSource is the source of the manager's records.
	EventSource = "choreo/deploy"
)

// readPage is how many records a read of Stream asks for.
const readPage = 256

type deployedRecord struct {
	Name       string    `json:"name"`
	Version    int       `json:"version"`
	Source     string    `json:"source"`
	SHA256     string    `json:"sha256"`
	DeployedAt time.Time `json:"deployed_at"`
	Rules      int       `json:"rules"`
}

type removedRecord struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

type retiredRecord struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	End     uint64 `json:"end"`
}

// sum returns the hex SHA-256 of source.
func sum(source []byte) string {
	h := sha256.Sum256(source)
	return hex.EncodeToString(h[:])
}

// record returns an event of Stream about name, with data v as JSON.
func record(typ, name string, v any, at time.Time) (*event.Event, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("deploy: encoding a %s record: %w", typ, err)
	}
	return &event.Event{
		SpecVersion:     event.SpecVersion,
		Source:          EventSource,
		Type:            typ,
		Time:            at,
		DataContentType: "application/json",
		Subject:         name,
		Data:            data,
	}, nil
}

// retiredEvent returns the EventRetired record of a version: a pure
// function of its arguments, so that managers that retire the same
// version write the same event and the log keeps it once.
func retiredEvent(name string, version int, end uint64) (*event.Event, error) {
	ev, err := record(EventRetired, name, retiredRecord{Name: name, Version: version, End: end}, time.Time{})
	if err != nil {
		return nil, err
	}
	ev.ID = EventRetired + ":" + name + ":" + strconv.Itoa(version)
	return ev, nil
}

var errMalformed = errors.New("malformed record")

// decodeDeployed decodes and checks an EventDeployed record.
func decodeDeployed(rec *store.Record) (deployedRecord, error) {
	var d deployedRecord
	if err := json.Unmarshal(rec.Event.Data, &d); err != nil {
		return d, fmt.Errorf("%w: %w", errMalformed, err)
	}
	switch {
	case d.Name == "" || d.Name != rec.Event.Subject:
		return d, fmt.Errorf("%w: name %q, subject %q", errMalformed, d.Name, rec.Event.Subject)
	case d.Version < 1:
		return d, fmt.Errorf("%w: version %d", errMalformed, d.Version)
	case sum([]byte(d.Source)) != d.SHA256:
		return d, fmt.Errorf("%w: the source does not match its sha256", errMalformed)
	}
	return d, nil
}

// decodeName decodes the name and version of an EventRemoved or
// EventRetired record.
func decodeName(rec *store.Record) (removedRecord, error) {
	var r removedRecord
	if err := json.Unmarshal(rec.Event.Data, &r); err != nil {
		return r, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if r.Name == "" || r.Name != rec.Event.Subject || r.Version < 1 {
		return r, fmt.Errorf("%w: name %q, subject %q, version %d", errMalformed, r.Name, rec.Event.Subject, r.Version)
	}
	return r, nil
}

// ends reports whether rec ends the versions of name deployed before it:
// a deployment or removal record about name. A runner's subscription
// checks each record it reads with it.
func ends(rec *store.Record, name string) bool {
	return rec.Stream == Stream && rec.Event.Subject == name &&
		(rec.Event.Type == EventDeployed || rec.Event.Type == EventRemoved)
}
