package a2a

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"

	"github.com/choreohq/choreo/agent"
)

// CardPath is where an A2A agent serves its card, below its base URL.
const CardPath = "/.well-known/agent-card.json"

// Keys of the Metadata of a Profile made from an agent card; each value is
// a JSON string.
const (
	MetaCardURL         = "card_url"         // the URL the card was fetched from
	MetaVersion         = "version"          // the agent's own version (card.version)
	MetaProtocolVersion = "protocol_version" // the A2A version the agent speaks (card.protocolVersion)
)

// cardClient fetches cards for the package-level ResolveCard. It keeps no
// idle connections: cards are fetched seldom, and a client that outlives
// every caller must not hold sockets.
var cardClient = &http.Client{
	Timeout: DefaultCardTimeout,
	Transport: &limitTransport{
		rt: func() http.RoundTripper {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.DisableKeepAlives = true
			return t
		}(),
		max: DefaultMaxCardBytes,
	},
}

// ResolveCard fetches the agent card served at baseURL + CardPath (a
// baseURL that already ends in CardPath is taken as the card URL), with
// the SDK's card resolver, a body limit of DefaultMaxCardBytes and a
// timeout of DefaultCardTimeout within ctx, and makes a Profile of it (see
// ProfileFromCard). It has the type of agent.CardResolver.
func ResolveCard(ctx context.Context, baseURL string) (agent.Profile, error) {
	return resolveCard(ctx, cardClient, baseURL)
}

// ResolveCard is the package-level ResolveCard over the Transport's shared
// HTTP client, with Config.MaxCardBytes and Config.RequestTimeout.
func (t *Transport) ResolveCard(ctx context.Context, baseURL string) (agent.Profile, error) {
	if t.isClosed() {
		return agent.Profile{}, &Error{Code: CodeClosed, Op: "agent card", URL: baseURL, Err: ErrClosed}
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.RequestTimeout)
	defer cancel()
	return resolveCard(ctx, t.card, baseURL)
}

func resolveCard(ctx context.Context, c *http.Client, baseURL string) (agent.Profile, error) {
	base, cardURL, err := cardURLs(baseURL)
	if err != nil {
		return agent.Profile{}, &Error{Code: CodeBadDelivery, Op: "agent card", URL: baseURL, Err: err}
	}
	card, err := agentcard.NewResolver(c).Resolve(ctx, base)
	if err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if !errors.Is(err, ErrTooLarge) && (errors.As(err, &syntax) || errors.As(err, &typ)) {
			return agent.Profile{}, &Error{Code: CodeBadCard, Op: "agent card", URL: cardURL, Err: err}
		}
		return agent.Profile{}, classify(ctx, "agent card", cardURL, err)
	}
	return ProfileFromCard(card, base)
}

// cardURLs normalises a base URL (lower-case scheme and host, no trailing
// slash, no query or fragment; a card URL is taken for its base) and
// returns it with the card URL below it.
func cardURLs(baseURL string) (base, card string, err error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return "", "", fmt.Errorf("base URL: %w", err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("base URL %q is not an http or https URL", baseURL)
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), CardPath)
	u.RawPath = ""
	u.RawQuery, u.Fragment, u.RawFragment, u.User = "", "", "", nil
	base = u.String()
	return base, base + CardPath, nil
}

// ProfileFromCard makes the registry's profile of an agent from its card,
// fetched from baseURL (the agent's base URL, or the card URL itself):
//
//   - ID is the base URL, normalised (lower-case scheme and host, no
//     trailing slash, no query), e.g. "https://agents.example.com/stock".
//     It names the agent's deployment and stays the same however often the
//     card is fetched again and whatever it says; two deployments of one
//     agent have one name but two ids. A base URL that is longer than
//     agent.MaxIDLen or has characters an agent id may not hold gives the
//     id "a2a-" followed by 32 hexadecimal digits of its SHA-256 instead.
//   - Name and Description are the card's.
//   - Capabilities are the ids of the card's skills, in order, without
//     repeats. Skill tags are not capabilities: they are free keywords for
//     people ("hello world"), and a rule's target_capability must name a
//     skill exactly.
//   - Endpoint is the card's service URL (card.url) when its preferred
//     transport is JSON-RPC (or unset, which means JSON-RPC), else the URL
//     of its first JSON-RPC additional interface.
//   - Protocol is agent.ProtocolA2A, Status agent.StatusActive, CardURL the
//     normalised base URL.
//   - Metadata holds MetaCardURL, MetaVersion and MetaProtocolVersion.
//
// A card with no skill id, or with no absolute http or https JSON-RPC URL,
// is an *Error with code CodeBadCard; a baseURL that is not an http or
// https URL, one with code CodeBadDelivery.
func ProfileFromCard(card *sdk.AgentCard, baseURL string) (agent.Profile, error) {
	base, cardURL, err := cardURLs(baseURL)
	if err != nil {
		return agent.Profile{}, &Error{Code: CodeBadDelivery, Op: "agent card", URL: baseURL, Err: err}
	}
	bad := func(format string, args ...any) (agent.Profile, error) {
		return agent.Profile{}, &Error{Code: CodeBadCard, Op: "agent card", URL: cardURL, Err: fmt.Errorf(format, args...)}
	}
	if card == nil {
		return bad("no card")
	}
	var caps []string
	for _, s := range card.Skills {
		if id := strings.TrimSpace(s.ID); id != "" && !slices.Contains(caps, id) {
			caps = append(caps, id)
		}
	}
	if len(caps) == 0 {
		return bad("the card of agent %q lists no skills; its skills are the capabilities rules ask for", card.Name)
	}
	endpoint := ""
	switch card.PreferredTransport {
	case "", sdk.TransportProtocolJSONRPC:
		endpoint = card.URL
		if endpoint == "" {
			return bad("the card of agent %q has no url (its service endpoint)", card.Name)
		}
	default:
		for _, i := range card.AdditionalInterfaces {
			if i.Transport == sdk.TransportProtocolJSONRPC && i.URL != "" {
				endpoint = i.URL
				break
			}
		}
		if endpoint == "" {
			return bad("agent %q offers no JSON-RPC interface (preferred transport %q)", card.Name, card.PreferredTransport)
		}
	}
	if err := checkEndpoint(endpoint); err != nil {
		return bad("the card of agent %q: %v", card.Name, err)
	}
	str := func(s string) json.RawMessage {
		b, _ := json.Marshal(s) // a string always encodes
		return b
	}
	return agent.Profile{
		ID:           agentID(base),
		Name:         card.Name,
		Description:  card.Description,
		Capabilities: caps,
		Endpoint:     endpoint,
		Protocol:     agent.ProtocolA2A,
		Status:       agent.StatusActive,
		CardURL:      base,
		Metadata: map[string]json.RawMessage{
			MetaCardURL:         str(cardURL),
			MetaVersion:         str(card.Version),
			MetaProtocolVersion: str(card.ProtocolVersion),
		},
	}, nil
}

// agentID is the agent id of the deployment at base.
func agentID(base string) string {
	if agent.ValidID(base) {
		return base
	}
	sum := sha256.Sum256([]byte(base))
	return "a2a-" + hex.EncodeToString(sum[:16])
}
