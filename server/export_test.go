package server

// RouteQueries returns the routes mounted on s, each pattern with whether
// the route checks its query parameters.
func RouteQueries(s *Server) map[string]bool {
	out := make(map[string]bool, len(s.routes))
	for _, r := range s.routes {
		out[r.pattern] = !r.params.unchecked
	}
	return out
}
