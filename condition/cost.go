package condition

import (
	"cel.dev/cel-go/common/cost"
)

// estimator gives the compile-time cost estimate the sizes of the context
// variables: the event lists have known caps; any other value whose size
// is unknown is assumed to hold at most SizeHint elements or bytes.
type estimator struct{}

// EstimateSize implements cost.Estimator.
func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	p := n.Path()
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 {
		switch p[0] {
		case nameRecentEvents:
			return &cost.SizeEstimate{Min: 0, Max: MaxRecentEvents}
		case nameCorrelatedEvents:
			return &cost.SizeEstimate{Min: 0, Max: MaxCorrelatedEvents}
		}
	}
	return &cost.SizeEstimate{Min: 0, Max: SizeHint}
}

// EstimateCallCost implements cost.Estimator; the standard estimates apply.
func (estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}

// boundEstimator sizes only the event lists, whose caps evaluation
// enforces. A condition whose cost it bounds within the limit cannot go
// over it, whatever the event holds, so its evaluation needs no run-time
// cost tracking.
type boundEstimator struct{}

// EstimateSize implements cost.Estimator.
func (boundEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if p := n.Path(); len(p) == 1 {
		switch p[0] {
		case nameRecentEvents:
			return &cost.SizeEstimate{Min: 0, Max: MaxRecentEvents}
		case nameCorrelatedEvents:
			return &cost.SizeEstimate{Min: 0, Max: MaxCorrelatedEvents}
		}
	}
	return nil
}

// EstimateCallCost implements cost.Estimator; the standard estimates apply.
func (boundEstimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}
